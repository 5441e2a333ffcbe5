//! The benchmark suite end to end, on the fixture cache (tests/fixtures/benchmarks/):
//! `cambrian score --json` gives each scorer's figures for every preset from an answers file
//! (the truths taken from the reference's prompts.json, not from our loader), refuses bad
//! answers files naming the line, and takes an eval report; `cambrian eval` runs a trained
//! probe on open-ended and multiple-choice presets, with the likelihood scorer only where the
//! questions have choices, and with vision disabled.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cambrian::eval::score::{Scorer, Truth};
use common::colour_task::{Ask, write_task};
use common::{cambrian_with_env, fixtures, init_llm, scratch, stderr};
use serde::Deserialize;
use serde_json::Value;

fn cache() -> PathBuf {
    fixtures().join("benchmarks/hub")
}

/// `cambrian ARGS` reading the fixture cache offline.
fn offline(args: &[&str]) -> std::process::Output {
    let cache = cache().display().to_string();
    cambrian_with_env(args, &[("HF_HUB_CACHE", &cache), ("HF_HUB_OFFLINE", "1")])
}

#[derive(Deserialize)]
struct Reference {
    presets: BTreeMap<String, ReferencePreset>,
}

#[derive(Deserialize)]
struct ReferencePreset {
    questions: Vec<ReferenceQuestion>,
}

#[derive(Deserialize)]
struct ReferenceQuestion {
    /// The row's index, which the reference keeps beside the truth.
    index: usize,
    truth: Truth,
}

fn reference() -> Reference {
    serde_json::from_slice(&std::fs::read(fixtures().join("benchmarks/prompts.json")).unwrap()).unwrap()
}

/// One answer per question but the last: the truth's first answer, every third one wrong.
fn answers(truths: &[Truth]) -> Vec<Option<String>> {
    let mut answers: Vec<Option<String>> = truths
        .iter()
        .enumerate()
        .map(|(i, t)| Some(if i % 3 == 2 { "zzz".to_string() } else { t.answers.first().cloned().unwrap_or_default() }))
        .collect();
    if let Some(last) = answers.last_mut() {
        *last = None;
    }
    answers
}

fn write_answers(path: &Path, answers: &[Option<String>]) {
    let lines: String = answers
        .iter()
        .enumerate()
        .filter_map(|(index, answer)| Some(format!("{}\n", serde_json::json!({"index": index, "answer": answer.as_ref()?}))))
        .collect();
    std::fs::write(path, lines).unwrap();
}

fn score_json(benchmark: &str, answers: &Path) -> Value {
    let out = offline(&["score", "--benchmark", benchmark, "--answers", &answers.display().to_string(), "--json"]);
    assert!(out.status.success(), "{benchmark}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{benchmark}: {err}"))
}

#[test]
fn score_gives_each_presets_scorer_figures_from_an_answers_file() {
    let dir = scratch("suite-score");
    let mut scored = 0;
    for (name, preset) in reference().presets {
        let spec = cambrian::data::suite::preset(&name).unwrap();
        let Some(scorer) = spec.scorer else { continue };
        let truths: Vec<Truth> = preset.questions.into_iter().map(|q| Truth { index: q.index, ..q.truth }).collect();
        let answers = answers(&truths);
        let path = dir.join(format!("{name}.jsonl"));
        write_answers(&path, &answers);
        let expected = scorer.score(&truths, &answers).unwrap();
        let got = score_json(&name, &path);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9;
        assert!(close(got["score"].as_f64().unwrap(), expected.score), "{name}: {got} vs {expected:?}");
        assert!(close(got["paper_score"].as_f64().unwrap(), expected.paper_score), "{name}: {got}");
        let parts: BTreeMap<String, f64> = serde_json::from_value(got["parts"].clone()).unwrap();
        assert_eq!(parts.keys().collect::<Vec<_>>(), expected.parts.keys().collect::<Vec<_>>(), "{name}");
        assert!(parts.iter().all(|(k, v)| close(*v, expected.parts[k])), "{name}: {parts:?}");
        assert_eq!((got["questions"].as_u64(), got["missing"].as_u64()), (Some(truths.len() as u64), Some(1)), "{name}");
        assert_eq!(got["benchmark"], name.as_str());
        scored += 1;
    }
    assert_eq!(scored, 15, "every preset with a scorer");
}

#[test]
fn bad_answers_files_are_errors_naming_the_line() {
    let dir = scratch("suite-score-bad");
    for (name, text, message) in [
        ("json", "{\"index\": 0, \"answer\": \"no\"}\n{\"index\": 1, \"answer\": \n", "line 2: not an answer object"),
        (
            "twice",
            "{\"index\": 0, \"answer\": \"no\"}\n\n{\"index\": 0, \"answer\": \"yes\"}\n",
            "line 3: index 0 is answered twice (first on line 1)",
        ),
        ("range", "{\"index\": 3, \"answer\": \"no\"}\n", "line 1: index 3 is out of range: the benchmark has 3 questions"),
    ] {
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, text).unwrap();
        let out = offline(&["score", "--benchmark", "gqa", "--answers", &path.display().to_string()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(stderr(&out).contains(message), "{name}: {}", stderr(&out));
    }
    // The cause is said once, though the message names it and it is also the error's source.
    let missing = offline(&["score", "--benchmark", "gqa", "--answers", &dir.join("none.jsonl").display().to_string()]);
    assert_eq!(stderr(&missing).matches("No such file or directory").count(), 1, "{}", stderr(&missing));
    let hidden = offline(&["score", "--benchmark", "docvqa-test", "--answers", &dir.join("json.jsonl").display().to_string()]);
    assert_eq!(hidden.status.code(), Some(1));
    assert!(stderr(&hidden).contains("hidden answers"), "{}", stderr(&hidden));
}

/// A probe trained briefly on the colour task: the machinery, not a score, is under test.
fn trained_run(dir: &Path) -> PathBuf {
    write_task(dir, Ask::Colour, 8, Ask::Colour.test_items());
    init_llm(dir, &["captions.json", "questions.json", "bench.jsonl"]);
    let spec = fixtures().join("mllm/tiny-vit.toml");
    let config = format!(
        "seed = 3\nllm = \"llm\"\nmax_length = 512\n\n[[encoders]]\nname = \"{}\"\ninit = \"random\"\n\n[connector]\n\n\
         [stage2]\ndata = \"questions.json\"\nimages = \".\"\nbatch_size = 4\nlr = 2e-3\nmax_steps = 1\n",
        spec.display()
    );
    std::fs::write(dir.join("run.toml"), config).unwrap();
    let run = dir.join("run");
    let out = offline(&["-q", "train", &dir.join("run.toml").display().to_string(), "--out", &run.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    run
}

#[test]
fn eval_runs_open_ended_and_multiple_choice_presets_with_and_without_the_image() {
    let dir = scratch("suite-eval");
    let run = trained_run(&dir);
    let run_arg = run.display().to_string();
    let report = |name: &str, mode: &str| -> Value {
        serde_json::from_slice(&std::fs::read(run.join(format!("eval/{name}.{mode}.json"))).unwrap()).unwrap()
    };
    for (name, multiple_choice) in [("mme", false), ("mmbench-en-dev", true), ("scienceqa-img", true), ("textvqa-val", false)] {
        let out = offline(&["-q", "eval", "--run", &run_arg, "--benchmark", name, "--vision", "image", "--vision", "no-image"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        for mode in ["image", "no-image"] {
            let report = report(name, mode);
            let questions = report["questions"].as_u64().unwrap() as usize;
            assert_eq!(report["items"].as_array().unwrap().len(), questions, "{name}");
            assert!(report["generation"]["score"].as_f64().is_some(), "{name}: {report}");
            assert_eq!(report["likelihood"].is_null(), !multiple_choice, "{name} {mode}: likelihood {}", report["likelihood"]);
            assert_eq!(report["unreadable"].as_array().map(Vec::len), Some(0), "{name}");
            let replies = report["items"].as_array().unwrap().iter().filter(|i| i["reply"].is_string()).count();
            assert_eq!(replies, questions, "{name}: every question answered");
        }
        // The report's replies, re-scored, give the report's figure.
        let rescored = score_json(name, &run.join(format!("eval/{name}.image.json")));
        assert_eq!(rescored["score"], report(name, "image")["generation"]["score"], "{name}");
        let scorer: Scorer = serde_json::from_value(report(name, "image")["scorer"].clone()).unwrap();
        assert_eq!(Some(scorer), cambrian::data::suite::preset(name).unwrap().scorer);
    }
}

/// A sweep over a preset and a JSONL with an undecodable image: results.csv has the preset's
/// paper score and no likelihood for it (open-ended), and counts the unreadable question.
#[test]
fn a_sweep_scores_presets_and_counts_unreadable_images_in_results_csv() {
    let dir = scratch("suite-sweep");
    write_task(&dir, Ask::Colour, 8, Ask::Colour.test_items());
    let bench = std::fs::read_to_string(dir.join("bench.jsonl")).unwrap();
    let first: Value = serde_json::from_str(bench.lines().next().unwrap()).unwrap();
    std::fs::write(dir.join(first["image"].as_str().unwrap()), b"not an image").unwrap();
    let text = std::fs::read_to_string(fixtures().join("sweeps/tiny.toml")).unwrap();
    let spec = text
        .replace(r#"encoders = [["vit"], ["clip"], ["vit", "clip"]]"#, r#"encoders = [["vit"]]"#)
        .replace("../mllm/", &format!("{}/", fixtures().join("mllm").display()))
        .replace("../../../sweeps/", &format!("{}/sweeps/", env!("CARGO_MANIFEST_DIR")));
    let spec = format!(
        "{spec}\n[[benchmarks]]\nname = \"mme\"\npreset = \"mme\"\nvision = [\"image\", \"no-image\"]\n\n\
         [[benchmarks]]\nname = \"colour\"\npath = \"bench.jsonl\"\ncategory = \"Vision-Centric\"\n"
    );
    let path = dir.join("sweep.toml");
    std::fs::write(&path, spec).unwrap();
    let out = offline(&["-q", "sweep", &path.display().to_string(), "--results", &dir.display().to_string(), "--no-plots"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = cambrian::results::read_results(&dir.join("tiny/results.csv")).unwrap();
    let row = |name: &str| rows.iter().find(|r| r.benchmark == name).unwrap_or_else(|| panic!("no {name} row: {rows:?}"));
    let mme = row("mme");
    assert_eq!((mme.questions, mme.unreadable, mme.likelihood, mme.chance), (6, 0, None, None));
    assert!(mme.generation_blind.is_some() && mme.likelihood_blind.is_none());
    // MME's paper score is the perception sum, its score the sum's share of 200 points per
    // perception category present (the fixture has two: artwork and existence).
    assert!((mme.paper_score - 400.0 * mme.generation).abs() < 1e-9, "{mme:?}");
    let colour = row("colour");
    assert_eq!((colour.questions, colour.unreadable), (Ask::Colour.test_items() as u64, 1));
    assert!(colour.likelihood.is_some() && colour.chance.is_some());
    assert!((colour.paper_score - 100.0 * colour.generation).abs() < 1e-9);
}
