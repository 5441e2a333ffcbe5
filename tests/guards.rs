//! What training and evaluation refuse, or mark, rather than report a number that means
//! nothing: a loss that is not finite stops the run; a step with no usable example is logged
//! as skipped; a second process on a run folder is turned away; questions that `max_length`
//! cuts into are counted, and a benchmark with too many of them is not scored unless asked.

mod common;

use std::path::{Path, PathBuf};

use cambrian::results::read_metrics;
use cambrian::sweep::lock::RunLock;
use common::colour_task::{Ask, write_task};
use common::{cambrian, fixtures, init_llm, scratch, stderr};
use serde_json::{Value, json};

/// The colour task (`train` records, 40 questions) and a tiny LLM over its words.
fn setup(name: &str, train: usize) -> PathBuf {
    let dir = scratch(name);
    write_task(&dir, Ask::Colour, train, Ask::Colour.test_items());
    init_llm(&dir, &["captions.json", "questions.json", "bench.jsonl"]);
    dir
}

/// A run of stage 2 alone on the task's questions (a tiny ViT, 20 image positions), with
/// `stage2` lines added.
fn config(dir: &Path, batch_size: usize, lr: f64, stage2: &str) -> PathBuf {
    let spec = fixtures().join("mllm/tiny-vit.toml");
    let text = format!(
        "seed = 3\nllm = \"llm\"\nmax_length = 256\n\n[[encoders]]\nname = \"{}\"\ninit = \"random\"\n\n[connector]\n\n\
         [stage2]\ndata = \"questions.json\"\nimages = \".\"\nbatch_size = {batch_size}\nlr = {lr:e}\n{stage2}\n",
        spec.display()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn train(config: &Path, run: &Path) -> std::process::Output {
    cambrian(&["-q", "train", &config.display().to_string(), "--out", &run.display().to_string()])
}

/// 300 words: more than the run's 256 positions.
fn padding() -> String {
    " again".repeat(300)
}

#[test]
fn a_loss_that_is_not_finite_stops_training_at_its_step_and_saves_nothing_of_it() {
    let dir = setup("guards-not-finite", 16);
    let config = config(&dir, 4, 1e30, "checkpoint_every = 1\nmax_steps = 4");
    let run = dir.join("run");
    let out = train(&config, &run);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{message}");
    let step: u64 = message
        .split("stage 2, step ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no stage and step in {message}"));
    assert!(message.contains("training stopped before this step's update"), "{message}");
    let rows = read_metrics(&run.join("metrics.csv")).unwrap();
    assert_eq!(rows.len() as u64, step, "every step before it is logged, it is not");
    assert!(rows.iter().all(|r| r.loss.is_some_and(f64::is_finite)), "{rows:?}");
    let checkpoints: Vec<String> = std::fs::read_dir(run.join("checkpoints"))
        .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let last = (step > 0).then(|| format!("stage2-step{step:07}"));
    assert_eq!(checkpoints, last.into_iter().collect::<Vec<_>>(), "only the checkpoint before the failing step");
    assert!(!run.join("stage2").exists() && !run.join("summary.json").exists());
}

#[test]
fn a_step_whose_examples_were_all_skipped_is_logged_as_skipped() {
    let dir = setup("guards-skipped-step", 6);
    let path = dir.join("questions.json");
    let mut records: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let prompt = records[2]["conversations"][0]["value"].as_str().unwrap().to_string();
    records[2]["conversations"][0]["value"] = json!(format!("{prompt}{}", padding()));
    std::fs::write(&path, serde_json::to_vec(&records).unwrap()).unwrap();
    let config = config(&dir, 1, 2e-3, "");
    let run = dir.join("run");
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("skipped 0 records and 1 examples"));
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let empty: Vec<&str> = text.lines().filter(|line| line.split(',').nth(2) == Some("")).collect();
    assert_eq!(empty.len(), 1, "{text}");
    let rows = read_metrics(&run.join("metrics.csv")).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows.iter().filter(|r| r.loss.is_none()).count(), 1);
    assert!(rows.iter().flat_map(|r| r.loss).all(f64::is_finite), "{text}");
}

#[test]
fn a_second_process_training_into_a_folder_is_turned_away() {
    let dir = setup("guards-lock", 8);
    let config = config(&dir, 4, 2e-3, "max_steps = 1");
    let run = dir.join("run");
    let held = RunLock::acquire(&run).unwrap().expect("a free folder");
    let refused = train(&config, &run);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("another process is training into"), "{}", stderr(&refused));
    assert!(!run.join("config.toml").exists(), "the refused process touched nothing");
    drop(held);
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!run.join("lock").exists(), "the lock goes with the process");
}

#[test]
fn questions_cut_by_max_length_are_counted_and_too_many_are_not_scored_unless_asked() {
    let dir = setup("guards-degraded", 8);
    let run = dir.join("run");
    let out = train(&config(&dir, 4, 2e-3, "max_steps = 1"), &run);
    assert!(out.status.success(), "{}", stderr(&out));
    let (reports, _) = common::evaluate(&dir, &run, &["image"], "-q");
    assert_eq!(reports[0]["degraded"], json!([]));

    // One question in 40 (2.5%) runs past max_length.
    let bench = std::fs::read_to_string(dir.join("bench.jsonl")).unwrap();
    let mut items: Vec<Value> = bench.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let question = items[5]["question"].as_str().unwrap().to_string();
    items[5]["question"] = json!(format!("{question}{}", padding()));
    let long = dir.join("long.jsonl");
    std::fs::write(&long, items.iter().map(|item| format!("{item}\n")).collect::<String>()).unwrap();
    let id = items[5]["id"].to_string();
    let eval = |extra: &[&str]| {
        let (run, long) = (run.display().to_string(), long.display().to_string());
        let mut args = vec!["-q", "eval", "--run", &run, "--benchmark", &long, "--category", "vision-centric"];
        args.extend(extra);
        cambrian(&args)
    };
    let report = run.join("eval/long.image.json");
    let refused = eval(&[]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(message.contains("1 of 40 questions lose image or answer tokens at max_length 256"), "{message}");
    assert!(message.contains(&format!("first: item {id}")) && message.contains("--allow-degraded"), "{message}");
    assert!(!report.exists(), "no report for a benchmark not scored");

    let allowed = eval(&["--allow-degraded"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert!(stderr(&allowed).contains("warning: 1 questions lose image or answer tokens"), "{}", stderr(&allowed));
    let written: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(written["degraded"], json!([id]));
    assert_eq!(written["unreadable"], json!([]));
    assert_eq!(written["questions"], 40);
}

#[test]
fn a_benchmark_load_error_mentions_the_category_only_when_it_is_the_cause() {
    let dir = scratch("guards-eval-messages");
    let jsonl = dir.join("bench.jsonl");
    std::fs::write(&jsonl, "{\"id\": 1\n").unwrap();
    let eval = |benchmark: &Path, category: &[&str]| {
        let (benchmark, run) = (benchmark.display().to_string(), dir.join("run").display().to_string());
        let mut args = vec!["eval", "--run", &run, "--benchmark", &benchmark];
        args.extend(category);
        stderr(&cambrian(&args))
    };
    let without = eval(&jsonl, &[]);
    assert!(without.contains("needs a category (`eval --category`"), "{without}");
    let malformed = eval(&jsonl, &["--category", "general"]);
    assert!(malformed.contains("line 1") && !malformed.contains("category"), "{malformed}");
    let missing = eval(&dir.join("nowhere.jsonl"), &[]);
    assert!(missing.contains("nowhere.jsonl") && !missing.contains("category"), "{missing}");
}
