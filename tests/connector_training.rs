//! Each token-reducing connector in a tiny MLLM through the CLI: `train` runs a few steps of
//! both stages on the colour task with every loss finite, and `eval` reads the trained
//! connector back from the run folder and scores the benchmark. The encoder is the tests'
//! tiny ViT (4 × 4 tokens, width 32), the LLM `init-llm`'s (width 64).

mod common;

use std::path::Path;

use common::colour_task::{Ask, write_task};
use common::{cambrian, fixtures, init_llm, scratch, stderr};

const STEPS: usize = 2;

/// `connector`: the `[connector]` table and its settings.
fn trains_and_evaluates(name: &str, connector: &str) {
    let dir = scratch(&format!("connector-{name}"));
    write_task(&dir, Ask::Colour, 8, 8);
    init_llm(&dir, &["captions.json", "questions.json", "bench.jsonl"]);
    let spec = fixtures().join("mllm/tiny-vit.toml");
    let config = format!(
        r#"seed = 1
llm = "llm"
max_length = 256

[[encoders]]
name = "{}"
init = "random"

{connector}

[stage1]
data = "captions.json"
images = "."
batch_size = 4
lr = 1e-3
max_steps = {STEPS}

[stage2]
data = "questions.json"
images = "."
batch_size = 4
lr = 1e-3
max_steps = {STEPS}
"#,
        spec.display()
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config).unwrap();
    let run = dir.join("run");
    let out = cambrian(&["-q", "train", &path.display().to_string(), "--out", &run.display().to_string()]);
    assert!(out.status.success(), "{name}: {}", stderr(&out));
    check_losses(name, &run);
    let (reports, _) = common::evaluate(&dir, &run, &["image"], "-q");
    assert_eq!(reports[0]["questions"], 8, "{name}: {}", reports[0]);
    let score = reports[0]["likelihood"]["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{name}: score {score}");
}

/// metrics.csv has a row per step of both stages, each loss and gradient norm finite.
fn check_losses(name: &str, run: &Path) {
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = metrics.lines().skip(1).collect();
    assert_eq!(rows.len(), 2 * STEPS, "{name}: {metrics}");
    for row in rows {
        let fields: Vec<&str> = row.split(',').collect();
        for column in [2, 4] {
            let value: f64 = fields[column].parse().unwrap();
            assert!(value.is_finite() && value > 0.0, "{name}: {row}");
        }
    }
}

#[test]
fn a_c_abstractor_mllm_trains() {
    trains_and_evaluates(
        "c-abstractor",
        "[connector]\nkind = \"c-abstractor\"\n[connector.c-abstractor]\nnum_query_tokens = 4\ndepth = 1\nhidden_size = 32",
    );
}

#[test]
fn a_pixel_shuffle_mllm_trains() {
    trains_and_evaluates("pixel-shuffle", "[connector]\nkind = \"pixel-shuffle\"");
}

#[test]
fn a_perceiver_mllm_trains() {
    trains_and_evaluates(
        "perceiver",
        "[connector]\nkind = \"perceiver\"\nimage_newline = false\n\
         [connector.perceiver]\ndepth = 1\nheads = 2\ndim_head = 16\nnum_latents = 4",
    );
}

#[test]
fn an_ldp_mllm_trains_in_both_versions() {
    trains_and_evaluates("ldp", "[connector]\nkind = \"ldp\"");
    trains_and_evaluates("ldp-v2", "[connector]\nkind = \"ldp\"\n[connector.ldp]\nmm_projector_type = \"ldpnetv2\"");
}
