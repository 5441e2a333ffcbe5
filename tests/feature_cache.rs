//! The frozen-feature cache through the CLI, with the tiny random-init ViT, tiny LLM and
//! colour task of tests/mllm.rs: a run with the cache, cold and then warm, trains and answers exactly as a
//! run without it; anything that changes the features gives new entries; a damaged entry is
//! recomputed with a warning, never used; f16 entries hold the features to f16 precision.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::f16;
use common::colour_task::{Ask, write_task};
use common::{cambrian, fixtures, init_llm, losses, scratch, stderr};
use safetensors::SafeTensors;
use serde_json::Value;

/// The task and a tiny LLM over its words in a fresh folder.
fn setup(name: &str, train: usize, test: usize) -> PathBuf {
    let dir = scratch(name);
    write_task(&dir, Ask::Colour, train, test);
    init_llm(&dir, &["captions.json", "questions.json", "bench.jsonl"]);
    dir
}

/// A run file in `dir`: `head` lines (seed, cache keys) and the encoder spec, both stages.
fn run_config(dir: &Path, name: &str, head: &str, spec: &Path) -> PathBuf {
    let text = format!(
        r#"llm = "llm"
max_length = 128
{head}

[[encoders]]
name = "{}"
init = "random"

[connector]

[stage1]
data = "captions.json"
images = "."
batch_size = 8
micro_batch_size = 4
lr = 1e-3

[stage2]
data = "questions.json"
images = "."
batch_size = 8
lr = 2e-3
"#,
        spec.display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn tiny_vit() -> PathBuf {
    fixtures().join("mllm/tiny-vit.toml")
}

/// Trains with `-v`; returns stderr, which holds the cache's counts per stage.
fn train(config: &Path, run: &Path) -> String {
    let out = cambrian(&["-v", "train", &config.display().to_string(), "--out", &run.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    stderr(&out)
}

/// The reports of `eval` with the image and with its mean colour; and its stderr.
fn evaluate(dir: &Path, run: &Path) -> (Vec<Value>, String) {
    common::evaluate(dir, run, &["image", "mean-colour"], "-v")
}

/// Entry files under `folder`, sorted.
fn entries(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(folder) else { return found };
    for entry in dir.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(entries(&path));
        } else if path.extension().is_some_and(|e| e == "safetensors") {
            found.push(path);
        }
    }
    found.sort();
    found
}

/// The encoder folders of a cache (one per key).
fn key_folders(cache: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(cache).unwrap().flatten().map(|e| e.path()).filter(|p| p.join("key.json").is_file()).collect();
    found.sort();
    found
}

#[test]
fn a_run_with_the_cache_cold_or_warm_matches_a_run_without() {
    let dir = setup("cache-exact", 48, 8);
    let plain = run_config(&dir, "plain", "seed = 3", &tiny_vit());
    let cached = run_config(&dir, "cached", "seed = 3\nfeature_cache = \"cache\"", &tiny_vit());
    train(&plain, &dir.join("plain"));
    let cold = train(&cached, &dir.join("cold"));
    assert!(cold.contains("stage 1: image features 0 read from the cache, 48 computed and stored"), "{cold}");
    assert!(cold.contains("stage 2: image features 48 read from the cache, 0 computed and stored"), "{cold}");
    let cache = dir.join("cache");
    assert_eq!(key_folders(&cache).len(), 1);
    assert_eq!(entries(&cache).len(), 48, "one entry per training image");
    let warm = train(&cached, &dir.join("warm"));
    assert!(warm.contains("stage 1: image features 48 read from the cache, 0 computed and stored"), "{warm}");
    assert!(!warm.contains("WARN"), "{warm}");

    let expected = losses(&dir.join("plain"));
    assert_eq!(expected.len(), 1 + 6 + 6);
    assert_eq!(losses(&dir.join("cold")), expected, "cold cache");
    assert_eq!(losses(&dir.join("warm")), expected, "warm cache");

    let (expected, _) = evaluate(&dir, &dir.join("plain"));
    let (cold, log) = evaluate(&dir, &dir.join("cold"));
    assert!(log.contains("image: image features 0 read from the cache, 8 computed"), "each item asks once: {log}");
    let (warm, log) = evaluate(&dir, &dir.join("warm"));
    assert!(log.contains("image: image features 8 read from the cache, 0 computed"), "{log}");
    assert_eq!(cold, expected, "evaluation with a cold cache");
    assert_eq!(warm, expected, "evaluation with a warm cache");
}

#[test]
fn changing_the_seed_the_layer_or_the_preprocessing_makes_new_entries() {
    let dir = setup("cache-invalidation", 8, 0);
    let spec = std::fs::read_to_string(tiny_vit()).unwrap();
    let variant = |name: &str, text: String| {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    };
    let layer = variant("vit-layer", spec.replace("[architecture]", "feature_layer = 1\n\n[architecture]"));
    let preprocess = variant("vit-mean", spec.replace("mean = [0.5, 0.5, 0.5]", "mean = [0.5, 0.5, 0.4]"));
    let cache = dir.join("cache");
    let runs = [
        ("base", "seed = 3", tiny_vit()),
        ("seed", "seed = 4", tiny_vit()),
        ("layer", "seed = 3", layer),
        ("preprocess", "seed = 3", preprocess),
    ];
    let mut folders = Vec::new();
    for (name, seed, spec) in runs {
        let config = run_config(&dir, name, &format!("{seed}\nfeature_cache = \"cache\""), &spec);
        let log = train(&config, &dir.join(name));
        assert!(log.contains("stage 1: image features 0 read from the cache, 8 computed"), "{name}: {log}");
        let now = key_folders(&cache);
        let new: Vec<&PathBuf> = now.iter().filter(|f| !folders.contains(*f)).collect();
        assert_eq!(new.len(), 1, "{name}: a new encoder key");
        assert_eq!(entries(new[0]).len(), 8, "{name}");
        folders = now;
    }
    for folder in &folders {
        assert_eq!(entries(folder).len(), 8, "the other keys' entries stay");
    }
}

#[test]
fn a_damaged_entry_is_recomputed_with_a_warning() {
    let dir = setup("cache-damaged", 16, 0);
    let config = run_config(&dir, "cached", "seed = 3\nfeature_cache = \"cache\"", &tiny_vit());
    train(&config, &dir.join("first"));
    let found = entries(&dir.join("cache"));
    let bytes = std::fs::read(&found[0]).unwrap();
    std::fs::write(&found[0], &bytes[..bytes.len() / 2]).unwrap();
    let mut flipped = std::fs::read(&found[1]).unwrap();
    *flipped.last_mut().unwrap() ^= 0x40;
    std::fs::write(&found[1], flipped).unwrap();
    std::fs::copy(&found[3], &found[2]).unwrap();

    let log = train(&config, &dir.join("second"));
    assert_eq!(log.matches("recomputing it").count(), 3, "{log}");
    assert!(log.contains("unreadable"), "{log}");
    assert!(log.contains("checksum mismatch"), "{log}");
    assert!(log.contains("`image` is not this entry's"), "{log}");
    assert!(
        log.contains(
            "stage 1: image features 13 read from the cache, 3 computed and stored (3 of them replacing damaged or stale entries)"
        ),
        "{log}"
    );
    assert_eq!(losses(&dir.join("second")), losses(&dir.join("first")));
    let log = train(&config, &dir.join("third"));
    assert!(log.contains("stage 1: image features 16 read from the cache, 0 computed"), "repaired: {log}");
}

/// Two processes that fill one cache at once, writing the same entries, both succeed and
/// train as a run without the cache does.
#[test]
fn two_runs_filling_one_cache_at_once_both_succeed() {
    let dir = setup("cache-concurrent", 32, 0);
    let plain = run_config(&dir, "plain", "seed = 3", &tiny_vit());
    let cached = run_config(&dir, "cached", "seed = 3\nfeature_cache = \"cache\"", &tiny_vit());
    train(&plain, &dir.join("plain"));
    let spawn = |run: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cambrian"))
            .args(["-q", "train", &cached.display().to_string(), "--out", &dir.join(run).display().to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn("a"), spawn("b"));
    assert!(a.wait().unwrap().success() && b.wait().unwrap().success());
    assert_eq!(losses(&dir.join("a")), losses(&dir.join("plain")));
    assert_eq!(losses(&dir.join("b")), losses(&dir.join("plain")));
    assert_eq!(entries(&dir.join("cache")).len(), 32);
    let log = train(&cached, &dir.join("c"));
    assert!(log.contains("stage 1: image features 32 read from the cache, 0 computed"), "every entry is whole: {log}");
}

/// A stage with `encoder_lr` computes features, and so does every later stage and `eval`: the
/// trained encoder's features are not those the cache holds.
#[test]
fn trained_encoders_never_use_the_cache() {
    let dir = setup("cache-unfrozen", 16, 4);
    let mut runs = Vec::new();
    for (name, head) in [("plain", "seed = 3"), ("cached", "seed = 3\nfeature_cache = \"cache\"")] {
        let config = run_config(&dir, name, head, &tiny_vit());
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{text}encoder_lr = 1e-3\n")).unwrap();
        let log = train(&config, &dir.join(name));
        runs.push((losses(&dir.join(name)), evaluate(&dir, &dir.join(name)), log));
    }
    let (plain, cached) = (&runs[0], &runs[1]);
    assert!(cached.2.contains("stage 1: image features 0 read from the cache, 16 computed"), "{}", cached.2);
    assert!(cached.2.contains("stage 2: the encoders have trained, so their features are computed"), "{}", cached.2);
    assert!(!cached.1.1.contains("image features"), "eval computes: {}", cached.1.1);
    assert_eq!(entries(&dir.join("cache")).len(), 16, "stage 1's only");
    assert_eq!(cached.0, plain.0);
    assert_eq!(cached.1.0, plain.1.0);
}

/// The `tokens` of an entry, as f32.
fn tokens(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let view = file.tensor("tokens").unwrap();
    match view.dtype() {
        safetensors::Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
        safetensors::Dtype::F16 => {
            view.data().chunks_exact(2).map(|b| f16::from_le_bytes(b.try_into().unwrap()).to_f32()).collect()
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn f16_entries_hold_the_features_to_f16_precision() {
    let dir = setup("cache-f16", 16, 0);
    let exact = run_config(&dir, "f32", "seed = 3\nfeature_cache = \"f32\"", &tiny_vit());
    let half = run_config(&dir, "f16", "seed = 3\nfeature_cache = \"f16\"\nfeature_cache_dtype = \"f16\"", &tiny_vit());
    train(&exact, &dir.join("f32"));
    train(&half, &dir.join("f16-cold"));
    train(&half, &dir.join("f16-warm"));
    assert_eq!(losses(&dir.join("f16-cold")), losses(&dir.join("f16-warm")), "the run sees stored features, cold or warm");
    let (exact, half) = (entries(&dir.join("f32")), entries(&dir.join("f16")));
    assert_eq!(exact.len(), 16);
    let name = |p: &PathBuf| p.file_name().unwrap().to_owned();
    assert_eq!(exact.iter().map(name).collect::<Vec<_>>(), half.iter().map(name).collect::<Vec<_>>(), "same images");
    let mut rounded = 0;
    for (a, b) in exact.iter().zip(&half) {
        for (x, y) in tokens(a).into_iter().zip(tokens(b)) {
            assert!((x - y).abs() <= x.abs() * 2f32.powi(-11) + 1e-7, "{x} vs {y}");
            rounded += usize::from(x != y);
        }
    }
    assert!(rounded > 0, "f16 entries are rounded");
    let first = |run: &str| losses(&dir.join(run))[1].split(',').nth(2).unwrap().parse::<f64>().unwrap();
    assert!((first("f32") - first("f16-cold")).abs() < 1e-3 * first("f32"), "{} vs {}", first("f32"), first("f16-cold"));
}

/// `bench feature-cache` runs its three runs (here with the tiny ViT) and they agree.
#[test]
fn bench_feature_cache_measures_three_runs_that_agree() {
    let spec = tiny_vit().display().to_string();
    let out = cambrian(&["bench", "feature-cache", "--encoder", &spec, "--steps", "2", "--batch-size", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = ["none", "cold", "warm"]
        .iter()
        .map(|name| {
            stdout
                .lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name}: {stdout}"))
                .split_whitespace()
                .collect()
        })
        .collect();
    for row in &rows {
        assert!(row[1].parse::<f64>().unwrap() > 0.0, "steps/s: {row:?}");
        assert_eq!(row[4], rows[0][4], "final losses agree: {stdout}");
    }
    assert!(stdout.contains("cache: 4 entries"), "{stdout}");
}
