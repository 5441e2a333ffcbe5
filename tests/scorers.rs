//! The benchmark scorers against Cambrian-1's own scoring functions (and lmms-eval's ANLS and
//! CV-Bench formula) on crafted cases: tests/fixtures/scorers/<scorer>.json, written by
//! tools/reference/make_scorer_fixtures.py. Per-item scores must be equal, aggregates within
//! 1e-9; then what the fixtures cannot show (missing answers, bad truths) and agreement with the
//! multiple-choice path's `Benchmark::score`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cambrian::data::benchmark::{Benchmark, Category, Item, Scoring};
use cambrian::eval::questions::item_truth;
use cambrian::eval::score::{ScoreError, Scorer, Truth};
use serde::Deserialize;

const SCORERS: [&str; 16] = [
    "gqa",
    "mme",
    "textvqa",
    "chartqa",
    "ocrbench",
    "anls",
    "mmmu",
    "mathvista",
    "scienceqa",
    "realworldqa",
    "mmvp",
    "seed",
    "mmbench",
    "ai2d",
    "cv-bench",
    "accuracy",
];

#[derive(Deserialize)]
struct Fixture {
    scorer: Scorer,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    truths: Vec<Truth>,
    predictions: Vec<String>,
    correct: Vec<f64>,
    score: f64,
    paper_score: f64,
    parts: BTreeMap<String, f64>,
}

fn fixture(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scorers").join(format!("{name}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9
}

#[test]
fn every_scorer_equals_the_reference() {
    for name in SCORERS {
        let fixture = fixture(name);
        assert_eq!(serde_json::to_value(fixture.scorer).unwrap(), name, "the fixture's scorer name");
        for case in fixture.cases {
            let context = format!("{name}, {}", case.name);
            let predictions: Vec<Option<String>> = case.predictions.into_iter().map(Some).collect();
            let scored = fixture.scorer.score(&case.truths, &predictions).unwrap_or_else(|e| panic!("{context}: {e}"));
            for (i, (ours, theirs)) in scored.correct.iter().zip(&case.correct).enumerate() {
                assert_eq!(ours, theirs, "{context}: item {i}, prediction {:?}", predictions[i]);
            }
            assert_eq!(scored.correct.len(), case.correct.len(), "{context}");
            assert!(close(scored.score, case.score), "{context}: score {} vs {}", scored.score, case.score);
            assert!(
                close(scored.paper_score, case.paper_score),
                "{context}: paper score {} vs {}",
                scored.paper_score,
                case.paper_score
            );
            assert_eq!(scored.parts.keys().collect::<Vec<_>>(), case.parts.keys().collect::<Vec<_>>(), "{context}: parts");
            for (key, value) in &case.parts {
                assert!(close(scored.parts[key], *value), "{context}: part {key}: {} vs {value}", scored.parts[key]);
            }
        }
    }
}

fn yes_no(index: usize, answer: &str) -> Truth {
    Truth { index, answers: vec![answer.into()], category: Some("existence".into()), ..Truth::default() }
}

/// A missing answer scores wrong, even where an empty answer would be right.
#[test]
fn missing_predictions_score_wrong() {
    let truths = [yes_no(0, ""), yes_no(1, "")];
    let scored = Scorer::Gqa.score(&truths, &[Some(String::new()), None]).unwrap();
    assert_eq!(scored.correct, [1.0, 0.0]);
    let scored = Scorer::Mme.score(&truths, &[Some(String::new()), None]).unwrap();
    assert_eq!((scored.parts["existence acc"], scored.parts["existence acc+"]), (50.0, 0.0));
    let ocr = Truth { answers: vec![String::new()], ..Truth::default() };
    assert_eq!(Scorer::OcrBench.score(&[ocr], &[None]).unwrap().score, 0.0);
}

#[test]
fn bad_truths_name_the_question() {
    let cases: [(Scorer, Truth, &str); 8] = [
        (
            Scorer::Mme,
            Truth { index: 4, category: Some("smell".into()), ..yes_no(4, "Yes") },
            "mme scorer, question 4: category \"smell\"",
        ),
        (Scorer::Mme, Truth { category: None, ..yes_no(2, "Yes") }, "question 2: no category"),
        (Scorer::TextVqa, yes_no(3, "cat"), "question 3: VQA accuracy needs 10 answers, the question has 1"),
        (Scorer::Gqa, Truth { index: 5, ..Truth::default() }, "question 5: no answer"),
        (Scorer::MathVista, Truth { kind: Some("multi_choice".into()), ..yes_no(1, "7") }, "not one of the choices"),
        (Scorer::Mmmu, Truth { kind: Some("mcq".into()), ..yes_no(1, "A") }, "kind Some(\"mcq\")"),
        (Scorer::Seed, Truth { category: Some("10".into()), ..yes_no(6, "A") }, "question 6: category Some(\"10\")"),
        (Scorer::CvBench, yes_no(0, "(A)"), "type None is not \"2D\" or \"3D\""),
    ];
    for (scorer, truth, expected) in cases {
        // Checked whether the question was answered or not.
        for prediction in [Some("Yes".to_string()), None] {
            let error = scorer.score(std::slice::from_ref(&truth), &[prediction]).unwrap_err().to_string();
            assert!(error.starts_with(&format!("{scorer} scorer")), "{error}");
            assert!(error.contains(expected), "{scorer:?}: {error:?} lacks {expected:?}");
        }
    }
    assert!(matches!(Scorer::Gqa.score(&[], &[]), Err(ScoreError::Empty)));
    assert!(matches!(Scorer::Gqa.score(&[yes_no(0, "a")], &[]), Err(ScoreError::Length { truths: 1, predictions: 0 })));
    let text_only = Truth { kind: Some("text".into()), choices: vec!["a".into()], ..yes_no(0, "0") };
    let error = Scorer::ScienceQa.score(&[text_only], &[None]).unwrap_err().to_string();
    assert!(error.contains("no question with an image"), "{error}");
}

fn item(task: &str, kind: &str, source: &str, answer: usize, group: Option<String>) -> Item {
    Item {
        id: String::new(),
        image: PathBuf::new(),
        question: String::new(),
        choices: vec!["x".into(), "y".into(), "z".into()],
        answer,
        prompt: String::new(),
        task: task.into(),
        kind: kind.into(),
        source: source.into(),
        group,
    }
}

/// CV-Bench and plain accuracy score each reply as `read_answer` reads it, and CV-Bench's
/// formula, MMVP's pair counter and plain accuracy aggregate as `Benchmark::score` does.
#[test]
fn agrees_with_the_multiple_choice_path() {
    let replies = ["A", "(B)", "c.", "The answer is A", "", "Z", "b", "a) x", "C", "B", "(A)", "x"];
    let kinds = [("2D", "ADE20K"), ("2D", "COCO"), ("3D", "Omni3D")];
    let scorings =
        [(Scoring::CvBench, Scorer::CvBench), (Scoring::PairAccuracy, Scorer::Mmvp), (Scoring::Accuracy, Scorer::Accuracy)];
    for (scoring, scorer) in scorings {
        let items: Vec<Item> = (0..replies.len())
            .map(|i| {
                let (kind, source) = kinds[i % 3];
                item(if i % 2 == 0 { "Count" } else { "Depth" }, kind, source, (i * 7) % 3, Some(format!("pair {}", i / 2)))
            })
            .collect();
        let benchmark = Benchmark::new("agree", Category::VisionCentric, scoring, items).unwrap();
        let truths: Vec<Truth> = benchmark.items.iter().enumerate().map(|(i, item)| item_truth(i, item)).collect();
        let predictions: Vec<Option<String>> = replies.iter().map(|r| Some(r.to_string())).collect();
        let scored = scorer.score(&truths, &predictions).unwrap();
        if scorer != Scorer::Mmvp {
            let read: Vec<f64> = replies
                .iter()
                .zip(&benchmark.items)
                .map(|(r, item)| f64::from(u8::from(cambrian::eval::answer::read_answer(r, 3) == Some(item.answer))))
                .collect();
            assert_eq!(scored.correct, read, "{scorer:?}");
        }
        let chosen: Vec<Option<usize>> =
            benchmark.items.iter().zip(&scored.correct).map(|(item, &c)| (c == 1.0).then_some(item.answer)).collect();
        let expected = benchmark.score(&chosen).unwrap();
        assert!(close(scored.score, expected.value), "{scorer:?}: {} vs {}", scored.score, expected.value);
        for (name, value) in &expected.parts {
            assert!(close(scored.parts[name] / 100.0, *value), "{scorer:?}: part {name}");
        }
    }
}
