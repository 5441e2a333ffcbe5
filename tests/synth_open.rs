//! The synthetic open-ended benchmarks on disk: each `open/<task>/` is a dataset repository
//! that the suite's reader loads with its own `benchmark.toml`, in the real benchmark's
//! columns and `datasets` metadata; its prompts are those the training conversations use; the
//! spec's scorer gives the canonical answers full marks; writing is deterministic and leaves
//! the multiple-choice files as they were; and the questions cannot be answered from the text.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cambrian::data::suite::prompt::short_answer;
use cambrian::data::suite::spec::Prompt;
use cambrian::data::suite::{BenchmarkSpec, Dataset, Question};
use cambrian::data::synth::open::{OpenTask, item};
use cambrian::data::synth::{Config, Split, write};
use cambrian::progress::Silent;
use common::{cambrian, scratch, stderr};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;

const SIZE: u32 = 64;
const SEED: u64 = 5;

fn config(open_samples: u64, open_train_samples: u64) -> Config {
    Config { open_samples, open_train_samples, ..Config::new(4, 4, SIZE, SEED) }
}

fn written(name: &str, config: &Config) -> PathBuf {
    let out = scratch(name).join("synth");
    write(config, &out, &Silent).unwrap();
    out
}

fn questions(out: &Path, task: OpenTask) -> (BenchmarkSpec, Vec<Question>) {
    let dir = out.join("open").join(task.name());
    let spec = BenchmarkSpec::from_file(&dir.join("benchmark.toml")).unwrap();
    let dataset = Dataset::open(spec.clone(), Some(&dir)).unwrap();
    (spec, dataset.questions().unwrap().collect::<Result<_, _>>().unwrap())
}

fn suffix(spec: &BenchmarkSpec) -> Option<&str> {
    match &spec.prompt {
        Prompt::ShortAnswer(short) => short.suffix.as_deref(),
        other => panic!("{}: not a short-answer prompt: {other:?}", spec.name),
    }
}

fn read_json(path: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn each_open_benchmark_loads_with_its_spec_and_scores_the_canonical_answers_right() {
    let config = config(6, 3);
    let out = written("synth-open-load", &config);
    let instruct = read_json(&out.join("train/instruct.json"));
    assert_eq!(instruct.len(), 4 + 3 * 6, "4 scenes, then 3 items per open task (existence: two questions each)");
    for task in OpenTask::ALL {
        let (spec, questions) = questions(&out, task);
        assert_eq!(spec.name, format!("synth-{}", task.name()));
        assert_eq!((spec.category, spec.max_new_tokens), (task.category(), 16));
        let items: Vec<_> = (0..config.open_samples).map(|i| item(task, SEED, Split::Test, i, SIZE)).collect();
        let expected: Vec<_> = items.iter().flat_map(|item| item.questions.iter()).collect();
        assert_eq!(questions.len(), expected.len(), "{task:?}");
        for (question, truth) in questions.iter().zip(&expected) {
            assert_eq!(question.truth.answers, truth.answers, "{task:?}");
            assert_eq!(question.prompt, short_answer(&truth.question, suffix(&spec)), "{task:?}");
            assert!(question.has_image && question.images.len() == 1, "{task:?}");
        }
        if task == OpenTask::Existence {
            let answers: Vec<&str> = questions.iter().map(|q| q.truth.answers[0].as_str()).collect();
            assert!(answers.chunks(2).all(|pair| pair == ["Yes", "No"]), "MME's pairs: {answers:?}");
            assert!(questions.iter().all(|q| q.truth.category.as_deref() == Some("existence")));
        }

        // The training conversations ask exactly as the spec does.
        let prefix = format!("synth-{}-", task.name());
        let turns: Vec<&Value> = instruct.iter().filter(|c| c["id"].as_str().unwrap().starts_with(&prefix)).collect();
        let train: Vec<_> =
            (0..config.open_train_samples).flat_map(|i| item(task, SEED, Split::Train, i, SIZE).questions).collect();
        assert_eq!(turns.len(), train.len(), "{task:?}");
        for (conversation, question) in turns.iter().zip(&train) {
            let human = format!("<image>\n{}", short_answer(&question.question, suffix(&spec)));
            assert_eq!(conversation["conversations"][0]["value"], human.as_str());
            assert_eq!(conversation["conversations"][1]["value"], question.canonical());
            assert!(out.join(conversation["image"].as_str().unwrap()).is_file());
        }

        let scorer = spec.scorer.unwrap();
        let truths: Vec<_> = questions.iter().map(|q| q.truth.clone()).collect();
        let canonical: Vec<Option<String>> = expected.iter().map(|q| Some(q.canonical().to_string())).collect();
        let right = scorer.score(&truths, &canonical).unwrap();
        assert_eq!(right.score, 1.0, "{task:?}: {right:?}");
        let mut wrong = canonical.clone();
        wrong[0] = Some("zebra".to_string());
        let one_wrong = scorer.score(&truths, &wrong).unwrap();
        assert!(one_wrong.score < 1.0, "{task:?}: {one_wrong:?}");
        let none = scorer.score(&truths, &vec![Some("zebra".to_string()); truths.len()]).unwrap();
        assert_eq!(none.score, 0.0, "{task:?}: {none:?}");
    }
}

/// Each table carries the `datasets` features JSON, with the image column an `Image`.
#[test]
fn tables_carry_the_huggingface_features_metadata() {
    let out = written("synth-open-metadata", &config(2, 0));
    let expected: [(OpenTask, &[&str]); 5] = [
        (OpenTask::Existence, &["question_id", "image", "question", "answer", "category"]),
        (OpenTask::Colour, &["question_id", "question", "image", "answers"]),
        (OpenTask::Count, &["question_id", "question", "image", "answers"]),
        (OpenTask::Sign, &["question", "question_type", "answer", "image"]),
        (OpenTask::Chart, &["type", "question", "answer", "image"]),
    ];
    for (task, columns) in expected {
        let path = out.join("open").join(task.name()).join("data/test-00000-of-00001.parquet");
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let metadata = reader.metadata().file_metadata().key_value_metadata().unwrap();
        let hf = metadata.iter().find(|kv| kv.key == "huggingface").and_then(|kv| kv.value.clone()).unwrap();
        let features: Value = serde_json::from_str(&hf).unwrap();
        let features = features["info"]["features"].as_object().unwrap();
        let mut names: Vec<&str> = features.keys().map(String::as_str).collect();
        let mut sorted = columns.to_vec();
        names.sort();
        sorted.sort();
        assert_eq!(names, sorted, "{task:?}");
        assert_eq!(features["image"]["_type"], "Image", "{task:?}");
        let at: Vec<usize> = columns.iter().map(|c| hf.find(&format!("\"{c}\": {{")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{task:?}: features in column order: {hf}");
        let group = reader.metadata().row_group(0);
        assert!(group.columns().iter().all(|c| c.compression() == parquet::basic::Compression::SNAPPY));
    }
}

#[test]
fn writing_is_deterministic_and_leaves_the_multiple_choice_files_alone() {
    let files = |dir: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        let mut found = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(at) = stack.pop() {
            for entry in std::fs::read_dir(&at).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
                }
            }
        }
        found
    };
    let a = files(&written("synth-open-a", &config(3, 2)));
    let b = files(&written("synth-open-b", &config(3, 2)));
    assert!(a.keys().any(|path| path.starts_with("open/chart")));
    assert!(a == b, "two writes differ");

    let without = files(&written("synth-open-none", &config(0, 0)));
    assert!(!without.keys().any(|path| path.starts_with("open") || path.starts_with("train/open")));
    for (path, bytes) in &without {
        match path.to_str().unwrap() {
            "synth.json" => {}
            "train/instruct.json" => {
                let (all, mc): (Vec<Value>, Vec<Value>) =
                    (serde_json::from_slice(&a[path]).unwrap(), serde_json::from_slice(bytes).unwrap());
                assert_eq!(all[..mc.len()], mc[..], "the scenes' conversations come first, unchanged");
            }
            _ => assert!(a[path] == *bytes, "{} changed", path.display()),
        }
    }
}

#[test]
fn cli_counts_the_open_tasks_and_refuses_too_many() {
    let root = scratch("synth-open-cli");
    let out = root.join("synth");
    let run = |extra: &[&str]| {
        let args = [&["synth", "--samples", "4", "--size", "64", "--out", out.to_str().unwrap()][..], extra].concat();
        cambrian(&args)
    };
    let ok = run(&["--open-samples", "2", "--open-train-samples", "1"]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(stdout.contains("  existence 4\n") && stdout.contains("  chart     2\n"), "{stdout}");
    assert!(stdout.contains("6 open-ended training conversations"), "{stdout}");
    assert_eq!(read_json(&out.join("train/instruct.json")).len(), 4 + 6);

    std::fs::remove_dir_all(&out).unwrap();
    let many = run(&["--open-samples", "1000001"]);
    assert!(!many.status.success());
    assert!(stderr(&many).contains("--open-samples 1000001 is over 1000000"), "{}", stderr(&many));
    assert!(!out.exists());
}

// ---------------------------------------------------------------------------------------------
// Text alone gives nothing away

/// A question's text and its canonical answer.
type Asked = (String, String);

fn asked(task: OpenTask, split: Split, n: u64) -> Vec<Asked> {
    let items = (0..n).map(|i| item(task, 11, split, i, SIZE));
    items.flat_map(|item| item.questions).map(|q| (q.question.clone(), q.canonical().to_lowercase())).collect()
}

/// Naive Bayes on the question's words and its whole text, fitted on the training questions:
/// the answer with the largest prior + summed log-likelihood.
struct TextOnly {
    answers: HashMap<String, f64>,
    features: HashMap<(String, String), f64>,
}

fn words(question: &str) -> Vec<String> {
    let mut f: Vec<String> = question.split_whitespace().map(|w| format!("word|{w}")).collect();
    f.push(format!("text|{question}"));
    f
}

impl TextOnly {
    fn fit(train: &[Asked]) -> Self {
        let (mut answers, mut features) = (HashMap::new(), HashMap::new());
        for (question, answer) in train {
            *answers.entry(answer.clone()).or_default() += 1.0;
            for f in words(question) {
                *features.entry((f, answer.clone())).or_default() += 1.0;
            }
        }
        Self { answers, features }
    }

    fn predict(&self, question: &str) -> &str {
        let score = |answer: &String, n: f64| {
            let likelihood: f64 = words(question)
                .iter()
                .map(|f| ((self.features.get(&(f.clone(), answer.clone())).copied().unwrap_or(0.0) + 0.5) / (n + 1.0)).ln())
                .sum();
            n.ln() + likelihood
        };
        let best = self.answers.iter().max_by(|a, b| score(a.0, *a.1).total_cmp(&score(b.0, *b.1)).then(b.0.cmp(a.0)));
        best.map(|(answer, _)| answer.as_str()).unwrap_or_default()
    }

    fn accuracy(&self, test: &[Asked]) -> f64 {
        test.iter().filter(|(question, answer)| self.predict(question) == answer).count() as f64 / test.len() as f64
    }
}

/// The number of answers each task draws from, uniformly and apart from the question's words.
fn answers_drawn(task: OpenTask) -> f64 {
    match task {
        OpenTask::Existence => 2.0,
        OpenTask::Colour => 7.0,
        OpenTask::Count => 4.0,
        OpenTask::Sign => 32.0,
        OpenTask::Chart => 90.0,
    }
}

#[test]
fn text_only_predictor_scores_at_chance_on_every_open_task() {
    for task in OpenTask::ALL {
        let (train, test) = (asked(task, Split::Train, 600), asked(task, Split::Test, 400));
        let model = TextOnly::fit(&train);
        let (accuracy, chance) = (model.accuracy(&test), 1.0 / answers_drawn(task));
        // Four standard deviations of a test accuracy at chance.
        let margin = 4.0 * (chance * (1.0 - chance) / test.len() as f64).sqrt();
        eprintln!("{:<9} text-only {accuracy:.3}, chance {chance:.3} (± {margin:.3})", task.name());
        assert!((accuracy - chance).abs() < margin, "{task:?}: text-only {accuracy:.3} vs chance {chance:.3}");

        // Control: answers that follow the question's text are found.
        let planted = |asked: &[Asked]| -> Vec<Asked> {
            asked.iter().map(|(q, _)| (q.clone(), format!("{}", q.len() % 3 + q.split_whitespace().count()))).collect()
        };
        let control = TextOnly::fit(&planted(&train)).accuracy(&planted(&test));
        assert!(control > 0.95, "{task:?}: the predictor should find a planted text bias: {control:.3}");
    }
}
