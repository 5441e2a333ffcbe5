//! `cambrian bench train` on a minuscule configuration, ours only (the tests need no Python):
//! it trains and reports its rates, and the workload it hands the PyTorch side is exactly
//! what our training forwards, step by step. No timing is asserted.

mod common;

use common::{cambrian, fixtures, scratch, stderr};
use serde_json::Value;

/// Positions per image of the tiny ViT (4 × 4 tokens) with a newline after each row.
const IMAGE_POSITIONS: u64 = 4 * 5;

#[test]
fn bench_train_reports_our_rates_on_the_workload_it_gives_pytorch() {
    let work = scratch("bench-train").join("work");
    let (spec, work_arg) = (fixtures().join("mllm/tiny-vit.toml").display().to_string(), work.display().to_string());
    let tiny_llm = ["--hidden-size", "32", "--intermediate-size", "64", "--layers", "1", "--heads", "2", "--kv-heads", "2"];
    let mut args = vec!["bench", "train", "--no-reference", "--encoder", &spec, "--work", &work_arg];
    args.extend(tiny_llm);
    args.extend(["--batch-size", "2", "--warmup", "1", "--steps", "2"]);
    let out = cambrian(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<f64> = stdout
        .lines()
        .find(|line| line.starts_with("ours"))
        .unwrap_or_else(|| panic!("no row for ours in\n{stdout}"))
        .split_whitespace()
        .skip(1)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(ours.len() == 2 && ours.iter().all(|v| *v > 0.0), "{stdout}");
    assert!(stdout.contains("not run (--no-reference)"), "{stdout}");

    let workload: Value = serde_json::from_slice(&std::fs::read(work.join("workload.json")).unwrap()).unwrap();
    let expected: Vec<u64> = workload["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| {
            let examples = step.as_array().unwrap();
            assert_eq!(examples.len(), 2, "batch size");
            examples.iter().map(|e| e["ids"].as_array().unwrap().len() as u64 + IMAGE_POSITIONS).sum()
        })
        .collect();
    assert_eq!(expected.len(), 3, "warm-up and timed steps");

    // The child on the same run config, again: its per-step positions are the workload's.
    let (config, rerun) = (work.join("run.toml").display().to_string(), work.join("again").display().to_string());
    let once = cambrian(&["-q", "bench", "train-once", "--config", &config, "--out", &rerun]);
    assert!(once.status.success(), "{}", stderr(&once));
    let steps: Value = serde_json::from_slice(&once.stdout).unwrap();
    let positions: Vec<u64> = steps["positions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!(positions, expected);
    assert!(steps["peak_rss_mib"].as_f64().unwrap() > 0.0);

    let refused = cambrian(&["-q", "bench", "train-once", "--config", &config, "--out", &rerun]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("a measurement trains a fresh run"), "{}", stderr(&refused));
}

/// With `--feature-cache` the measured run reads every feature from the cache that an untimed
/// first run filled (the command checks that it wrote nothing), and the workload names, for
/// each image, the entry the PyTorch side is to load.
#[test]
fn bench_train_with_the_feature_cache_names_each_image_s_entry() {
    let work = scratch("bench-train-cached").join("work");
    let (spec, work_arg) = (fixtures().join("mllm/tiny-vit.toml").display().to_string(), work.display().to_string());
    let tiny = ["--hidden-size", "32", "--intermediate-size", "64", "--layers", "1", "--heads", "2", "--kv-heads", "2"];
    let mut args = vec!["bench", "train", "--no-reference", "--feature-cache", "--encoder", &spec, "--work", &work_arg];
    args.extend(tiny);
    args.extend(["--batch-size", "2", "--warmup", "1", "--steps", "1"]);
    let out = cambrian(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("read from a warm feature cache"));

    let workload: Value = serde_json::from_slice(&std::fs::read(work.join("workload.json")).unwrap()).unwrap();
    let examples: Vec<&Value> = workload["steps"].as_array().unwrap().iter().flat_map(|s| s.as_array().unwrap()).collect();
    assert_eq!(examples.len(), 4);
    for example in examples {
        let entry = std::path::PathBuf::from(example["features"].as_str().expect("an entry per image"));
        assert!(entry.starts_with(work.join("cache")) && entry.is_file(), "{}", entry.display());
        let bytes = std::fs::read(&entry).unwrap();
        let tokens = safetensors::SafeTensors::deserialize(&bytes).unwrap().tensor("tokens").unwrap().shape().to_vec();
        assert_eq!(tokens, [16, 32], "4 × 4 tokens of width 32");
    }
}

/// `--vocab V` gives the LLM exactly V entries (the workload's words, then synthetic ones),
/// and `--group-by-length` orders the steps as training does: the workload handed to the
/// PyTorch side is, step by step, what our training forwarded, and each megabatch (2 steps
/// of one example here) runs longest first.
#[test]
fn bench_train_with_a_large_vocabulary_and_length_grouping() {
    let work = scratch("bench-train-vocab").join("work");
    let (spec, work_arg) = (fixtures().join("mllm/tiny-vit.toml").display().to_string(), work.display().to_string());
    let tiny = ["--hidden-size", "32", "--intermediate-size", "64", "--layers", "1", "--heads", "2", "--kv-heads", "2"];
    let mut args = vec!["bench", "train", "--no-reference", "--encoder", &spec, "--work", &work_arg, "--vocab", "3000"];
    args.extend(tiny);
    args.extend(["--group-by-length", "--batch-size", "1", "--warmup", "1", "--steps", "7"]);
    let out = cambrian(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("vocabulary 3000") && stdout.contains("grouped by length"), "{stdout}");
    let config: Value = serde_json::from_slice(&std::fs::read(work.join("llm/config.json")).unwrap()).unwrap();
    assert_eq!(config["vocab_size"], 3000);

    let workload: Value = serde_json::from_slice(&std::fs::read(work.join("workload.json")).unwrap()).unwrap();
    let lengths: Vec<u64> = workload["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step[0]["ids"].as_array().unwrap().len() as u64 + IMAGE_POSITIONS)
        .collect();
    assert_eq!(lengths.len(), 8);
    assert!(lengths.chunks(2).all(|pair| pair[0] >= pair[1]), "each megabatch longest first: {lengths:?}");
    let (config, rerun) = (work.join("run.toml").display().to_string(), work.join("again").display().to_string());
    let once = cambrian(&["-q", "bench", "train-once", "--config", &config, "--out", &rerun]);
    assert!(once.status.success(), "{}", stderr(&once));
    let steps: Value = serde_json::from_slice(&once.stdout).unwrap();
    let positions: Vec<u64> = steps["positions"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
    assert_eq!(positions, lengths, "training forwarded the workload's examples in the workload's order");
}
