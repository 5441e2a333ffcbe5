//! Training precision (`precision` in a run config) on the CPU backend, over the tiny MLLM's
//! colour task (tests/common): bf16-mixed losses track f32's step by step, a bf16-mixed run
//! killed and resumed ends as an uninterrupted one (its checkpoints hold the f32 masters), and
//! a pure bf16 run trains in a process whose device makes bf16 tensors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::colour_task::{Ask, write_task};
use common::{cambrian, fixtures, init_llm, kill_when, losses, scratch, stderr};

/// Relative gap allowed between a bf16-mixed (or bf16) step's loss and f32's. Measured on
/// this task (8 steps, seed 3): bf16-mixed at most 0.01% apart, bf16 0.26% (`cargo test
/// --test mixed_precision -- --nocapture` prints them); bf16 keeps 8 bits of mantissa (a
/// relative rounding of 2^-9 = 0.2% per operand), so 0.2% and 2% are the margins.
const MIXED_TOLERANCE: f64 = 0.002;
const BF16_TOLERANCE: f64 = 0.02;

/// The colour task with a tiny ViT and the concatenation's MLP: 4 stage-1 and 4 stage-2 steps.
fn setup(name: &str) -> PathBuf {
    let dir = scratch(name);
    write_task(&dir, Ask::Colour, 64, 8);
    init_llm(&dir, &["captions.json", "questions.json", "bench.jsonl"]);
    dir
}

fn write_config(dir: &Path, precision: &str, checkpoint_every: u64) -> PathBuf {
    let spec = fixtures().join("mllm/tiny-vit.toml");
    let text = format!(
        r#"seed = 3
llm = "llm"
max_length = 256
precision = "{precision}"

[[encoders]]
name = "{}"
init = "random"

[connector]
projector = "mlp2x_gelu"

[stage1]
data = "captions.json"
images = "."
batch_size = 16
micro_batch_size = 8
lr = 1e-3
checkpoint_every = {checkpoint_every}

[stage2]
data = "questions.json"
images = "."
batch_size = 16
lr = 2e-3
checkpoint_every = {checkpoint_every}
"#,
        spec.display()
    );
    let path = dir.join(format!("{precision}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn train(config: &Path, run: &Path) {
    let out = cambrian(&["-q", "train", &config.display().to_string(), "--out", &run.display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Each step's loss, from metrics.csv.
fn step_losses(run: &Path) -> Vec<f64> {
    losses(run).iter().skip(1).map(|row| row.split(',').nth(2).unwrap().parse().unwrap()).collect()
}

/// The largest relative gap between the steps' losses of `a` and `b`.
fn largest_gap(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs() / y.abs()).fold(0.0, f64::max)
}

#[test]
fn bf16_mixed_and_bf16_losses_track_f32() {
    let dir = setup("precision-track");
    let runs: Vec<Vec<f64>> = ["f32", "bf16-mixed", "bf16"]
        .iter()
        .map(|precision| {
            let run = dir.join(format!("run-{precision}"));
            train(&write_config(&dir, precision, 0), &run);
            step_losses(&run)
        })
        .collect();
    let (f32, mixed, bf16) = (&runs[0], &runs[1], &runs[2]);
    assert_eq!(f32.len(), 8, "4 stage-1 and 4 stage-2 steps");
    let (mixed_gap, bf16_gap) = (largest_gap(mixed, f32), largest_gap(bf16, f32));
    println!("losses f32 {f32:?}\nbf16-mixed {mixed:?} (largest gap {mixed_gap:.4})\nbf16 {bf16:?} (largest gap {bf16_gap:.4})");
    assert!(mixed_gap <= MIXED_TOLERANCE, "bf16-mixed strays {mixed_gap:.4} from f32");
    assert!(bf16_gap <= BF16_TOLERANCE, "bf16 strays {bf16_gap:.4} from f32");
    // The products really ran in bf16: the losses are not f32's.
    assert!(mixed_gap > 0.0 && bf16_gap > 0.0, "a lower precision changed nothing");
}

#[test]
fn a_bf16_mixed_run_killed_and_resumed_equals_an_uninterrupted_one() {
    let dir = setup("precision-resume");
    let config = write_config(&dir, "bf16-mixed", 1);
    let whole = dir.join("whole");
    train(&config, &whole);

    let run = dir.join("killed");
    let checkpoints = run.join("checkpoints");
    let newest = |stage: u8| {
        let prefix = format!("stage{stage}-step");
        let entries = std::fs::read_dir(&checkpoints).into_iter().flatten().flatten();
        entries.filter_map(|e| e.file_name().to_string_lossy().strip_prefix(&prefix).and_then(|s| s.parse::<u64>().ok())).max()
    };
    for (stage, steps) in [(1, 2), (2, 2)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cambrian"))
            .args(["-q", "train", &config.display().to_string(), "--out", &run.display().to_string()])
            .spawn()
            .unwrap();
        let finished = run.join(format!("stage{stage}"));
        let ready = || finished.is_dir() || newest(stage).is_some_and(|s| s >= steps);
        assert!(kill_when(&mut child, ready), "the run finished before stage {stage}, step {steps}");
    }
    train(&config, &run);
    assert_eq!(losses(&run), losses(&whole), "the resumed run trained otherwise");
    let evaluate = |run: &Path| common::evaluate(&dir, run, &["image"], "-q").0;
    assert_eq!(evaluate(&run), evaluate(&whole), "the resumed run evaluates otherwise");
}
