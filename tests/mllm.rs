//! The probe end to end through the CLI, as a researcher runs it: a tiny random-init ViT, a
//! tiny LLM made by `init-llm`, `train` (stage 1 on captions, stage 2 on questions), `eval`
//! with both scorers and with vision disabled. The task: name the colour of a square at a
//! random place on a noisy background, four choices in a fixed order, balanced colours, so
//! text alone gives chance (0.25) and only the image tells; or, for a spatial question, say
//! which half of the image a red square is in (two choices, chance 0.5).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::colour_task::{Ask, write_task};
use common::{cambrian, fixtures, init_llm, kill_when, losses, scratch, stderr};
use serde_json::{Value, json};

/// One tiny ViT, concatenation connector.
fn concat_model() -> String {
    let spec = fixtures().join("mllm/tiny-vit.toml");
    format!("[[encoders]]\nname = \"{}\"\ninit = \"random\"\n\n[connector]\nprojector = \"mlp2x_gelu\"\n", spec.display())
}

/// `model`: the encoders and the connector; `stage1_extra`: more [stage1] lines.
fn run_config(dir: &Path, model: &str, stage1_extra: &str, checkpoint_every: u64, stage2_epochs: u64) -> PathBuf {
    let text = format!(
        r#"seed = 3
llm = "llm"
template = "vicuna_v1"
max_length = 256

{model}
[stage1]
data = "captions.json"
images = "."
batch_size = 16
micro_batch_size = 8
lr = 1e-3
checkpoint_every = {checkpoint_every}
{stage1_extra}

[stage2]
data = "questions.json"
images = "."
batch_size = 16
lr = 2e-3
epochs = {stage2_epochs}
checkpoint_every = {checkpoint_every}
"#
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The task's data, a tiny LLM over its words, and the run config, in a fresh folder.
fn setup(name: &str, train: usize, checkpoint_every: u64, stage2_epochs: u64) -> (PathBuf, PathBuf) {
    setup_with(name, Ask::Colour, train, &concat_model(), "", checkpoint_every, stage2_epochs)
}

fn setup_with(
    name: &str,
    ask: Ask,
    train: usize,
    model: &str,
    stage1_extra: &str,
    checkpoint_every: u64,
    stage2_epochs: u64,
) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    write_task(&dir, ask, train, ask.test_items());
    init_llm(&dir, &["captions.json", "questions.json", "bench.jsonl"]);
    let config = run_config(&dir, model, stage1_extra, checkpoint_every, stage2_epochs);
    (dir, config)
}

fn train(config: &Path, run: &Path) -> std::process::Output {
    cambrian(&["-q", "train", &config.display().to_string(), "--out", &run.display().to_string()])
}

/// Scores of `eval` with the image and without, from the files it wrote.
fn evaluate(dir: &Path, run: &Path) -> Vec<Value> {
    common::evaluate(dir, run, &["image", "no-image"], "-q").0
}

#[test]
fn a_tiny_mllm_learns_a_visual_question_above_chance() {
    let (dir, config) = setup("mllm-learns", 192, 0, 12);
    let run = dir.join("run");
    let started = Instant::now();
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    println!("trained in {:.1} s: {}", started.elapsed().as_secs_f64(), String::from_utf8_lossy(&out.stdout));
    let [seeing, blind] = &evaluate(&dir, &run)[..] else { unreachable!() };
    let score = |report: &Value, scorer: &str| report[scorer]["score"].as_f64().unwrap();
    let chance = seeing["chance"].as_f64().unwrap();
    println!(
        "with the image: generation {:.3}, likelihood {:.3}; without: {:.3}, {:.3}; chance 0.25",
        score(seeing, "generation"),
        score(seeing, "likelihood"),
        score(blind, "generation"),
        score(blind, "likelihood"),
    );
    assert!((chance - 0.25).abs() < 1e-9);
    assert!(score(seeing, "likelihood") >= 0.6, "likelihood scorer at {:.3}", score(seeing, "likelihood"));
    assert!(score(seeing, "generation") >= 0.6, "generation scorer at {:.3}", score(seeing, "generation"));
    // Without the image the answer cannot be known: at most one colour's worth of items.
    assert!(score(blind, "likelihood") <= 0.4, "blind likelihood {:.3}", score(blind, "likelihood"));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(metrics.starts_with("stage,step,loss,lr,grad_norm,tokens_per_sec,secs"), "{metrics}");
    assert_eq!(metrics.lines().count(), 1 + 12 + 144, "12 stage-1 and 144 stage-2 steps");
}

/// Where things are reaches the LLM: which half of the image the square is in, told by the
/// image tokens' places alone (every token of a 4 × 4 map sees one 8 × 8 patch).
#[test]
fn a_tiny_mllm_learns_where_the_square_is_above_chance() {
    let (dir, config) = setup_with("mllm-learns-where", Ask::Half, 192, &concat_model(), "", 0, 12);
    let run = dir.join("run");
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    let [seeing, blind] = &evaluate(&dir, &run)[..] else { unreachable!() };
    let score = |report: &Value| report["likelihood"]["score"].as_f64().unwrap();
    println!("left or right, with the image: {:.3}; without: {:.3}; chance 0.5", score(seeing), score(blind));
    assert!((seeing["chance"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    // 100 questions: 65 right or more happens by chance with probability below 0.2%.
    assert!(score(seeing) >= 0.65, "with the image {:.3}", score(seeing));
    assert!(score(blind) <= 0.6, "without the image {:.3}", score(blind));
}

/// Two tiny ViTs (4×4 and 8×8 maps) through the SVA on a 4×4 grid, with one sampler inside
/// the LLM; stage 1 trains the samplers and queries at their own learning rate.
fn sva_model() -> String {
    let settings = "image_token_len = 16\nvision_hidden_size = 32\nconnector_only = false\n\
                    num_of_vision_sampler_layers = 1\nstart_of_vision_sampler_layers = 0\n";
    common::sva_model(&["tiny-vit.toml", "tiny-vit-p4.toml"], settings)
}

#[test]
fn a_tiny_mllm_with_the_sva_over_two_encoders_learns_above_chance() {
    let (dir, config) = setup_with("mllm-sva-learns", Ask::Colour, 192, &sva_model(), "sva_lr = 1e-3", 0, 12);
    let run = dir.join("run");
    let started = Instant::now();
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    println!("trained in {:.1} s", started.elapsed().as_secs_f64());
    let [seeing, blind] = &evaluate(&dir, &run)[..] else { unreachable!() };
    let score = |report: &Value, scorer: &str| report[scorer]["score"].as_f64().unwrap();
    println!(
        "SVA, with the image: generation {:.3}, likelihood {:.3}; without: {:.3}, {:.3}; chance 0.25",
        score(seeing, "generation"),
        score(seeing, "likelihood"),
        score(blind, "generation"),
        score(blind, "likelihood"),
    );
    assert!(score(seeing, "likelihood") >= 0.6, "likelihood scorer at {:.3}", score(seeing, "likelihood"));
    assert!(score(seeing, "generation") >= 0.6, "generation scorer at {:.3}", score(seeing, "generation"));
    assert!(score(blind, "likelihood") <= 0.4, "blind likelihood {:.3}", score(blind, "likelihood"));
}

fn spawn_train(config: &Path, run: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cambrian"))
        .args(["-q", "train", &config.display().to_string(), "--out", &run.display().to_string()])
        .spawn()
        .expect("start cambrian train")
}

/// Steps done by the newest checkpoint of `stage` in `dir`.
fn newest_checkpoint(dir: &Path, stage: u8) -> Option<u64> {
    let prefix = format!("stage{stage}-step");
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().filter_map(|e| e.file_name().to_string_lossy().strip_prefix(&prefix).and_then(|s| s.parse().ok())).max()
}

fn has_entry(dir: &Path, prefix: &str) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(prefix)))
        .unwrap_or(false)
}

#[test]
fn a_run_killed_at_any_moment_resumes_to_the_same_result() {
    let (dir, config) = setup("mllm-resume", 96, 2, 3);
    let whole = dir.join("whole");
    let out = train(&config, &whole);
    assert!(out.status.success(), "{}", stderr(&out));

    let run = dir.join("killed");
    let checkpoints = run.join("checkpoints");
    let mut child = spawn_train(&config, &run);
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    // Each later kill waits for a checkpoint of at least that many steps (one that stays until
    // the stage ends, so the moment cannot slip by unseen however slow the machine), or kills
    // at once when that stage already finished (a fast machine gets past stage 1 early).
    for (stage, steps) in [(1, 2), (2, 4), (2, 12)] {
        let mut child = spawn_train(&config, &run);
        let finished = run.join(format!("stage{stage}"));
        let ready = || finished.is_dir() || newest_checkpoint(&checkpoints, stage).is_some_and(|s| s >= steps);
        assert!(kill_when(&mut child, ready), "still running at stage {stage}, step {steps}");
    }
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));

    assert_eq!(losses(&run), losses(&whole), "metrics differ");
    let (resumed, uninterrupted) = (evaluate(&dir, &run), evaluate(&dir, &whole));
    assert_eq!(resumed, uninterrupted, "evaluations differ");
    assert!(!has_entry(&checkpoints, "stage"), "finished stages leave no checkpoints");

    let other = config.with_file_name("other.toml");
    std::fs::write(&other, std::fs::read_to_string(&config).unwrap().replace("seed = 3", "seed = 4")).unwrap();
    let refused = train(&other, &run);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("different configuration"), "{}", stderr(&refused));
}

#[test]
fn bad_records_are_skipped_and_counted() {
    let (dir, _) = setup("mllm-bad-data", 32, 0, 1);
    let mut records: Vec<Value> = serde_json::from_slice(&std::fs::read(dir.join("questions.json")).unwrap()).unwrap();
    let png = std::fs::read(dir.join("images/0000.png")).unwrap();
    std::fs::write(dir.join("images/truncated.png"), &png[..png.len() / 2]).unwrap();
    let question = |image: &str, prompt: &str, answer: &str| json!({"image": image, "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": answer}]});
    records.push(question("images/missing.png", "<image>\nWhat colour?", "A"));
    records.push(question("images/0001.png", "What colour?", "A"));
    records.push(question("images/0002.png", "<image>\nWhat colour?", " "));
    records.push(question("images/truncated.png", "<image>\nWhat colour?", "A"));
    std::fs::write(dir.join("questions.json"), serde_json::to_vec(&records).unwrap()).unwrap();
    let config = dir.join("run.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let stage2_only = &text[text.find("[[encoders]]").unwrap()..text.find("[stage1]").unwrap()];
    let stage2 = &text[text.find("[stage2]").unwrap()..];
    std::fs::write(&config, format!("seed = 3\nllm = \"llm\"\nmax_length = 256\n\n{stage2_only}{stage2}")).unwrap();

    let run = dir.join("run");
    let out = train(&config, &run);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("skipped 3 records and 1 examples"), "{stdout}");
    let state: Value = serde_json::from_slice(&std::fs::read(run.join("stage2/state.json")).unwrap()).unwrap();
    let reasons =
        |key: &str| state[key].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    let records = reasons("skipped_records");
    assert!(records[0].contains("missing.png"), "{records:?}");
    assert!(records[1].contains("no prompt has <image>"), "{records:?}");
    assert!(records[2].contains("empty answer"), "{records:?}");
    assert!(reasons("skipped_examples")[0].contains("truncated.png"), "{:?}", reasons("skipped_examples"));
    assert_eq!(state["skipped_examples"][0]["index"], 35);
}

/// The loss of a step is over its answer tokens whatever the micro-batch split, so
/// accumulating 4 micro-batches of 4 trains as one batch of 16 (up to float rounding). The
/// data mixes one-letter answers with captions, so micro-batches hold different numbers of
/// answer tokens and a per-micro-batch mean would differ.
#[test]
fn gradient_accumulation_matches_one_large_batch() {
    let (dir, config) = setup("mllm-accumulation", 64, 0, 1);
    let read = |f: &str| -> Vec<Value> { serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap() };
    let mixed: Vec<Value> = read("captions.json").into_iter().zip(read("questions.json")).flat_map(|(a, b)| [a, b]).collect();
    std::fs::write(dir.join("questions.json"), serde_json::to_vec(&mixed).unwrap()).unwrap();
    let text = std::fs::read_to_string(&config).unwrap();
    let stage2 = &text[text.find("[stage2]").unwrap()..];
    let head = &text[..text.find("[stage1]").unwrap()];
    let mut rows = Vec::new();
    // The third run also recomputes activations in the backward pass: the same numbers.
    for (micro, checkpointing) in [(16, false), (4, false), (4, true)] {
        let head = head.replace("max_length = 256", &format!("max_length = 256\ngradient_checkpointing = {checkpointing}"));
        let path = dir.join(format!("micro-{micro}-{checkpointing}.toml"));
        std::fs::write(&path, format!("{head}{stage2}micro_batch_size = {micro}\nmax_steps = 3\n")).unwrap();
        let run = dir.join(format!("run-{micro}-{checkpointing}"));
        let out = train(&path, &run);
        assert!(out.status.success(), "{}", stderr(&out));
        let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        let parsed: Vec<(f64, f64)> = metrics
            .lines()
            .skip(1)
            .map(|line| {
                let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
                (f[2], f[4])
            })
            .collect();
        rows.push(parsed);
    }
    assert_eq!(rows[0].len(), 3);
    for ((loss_a, norm_a), (loss_b, norm_b)) in rows[0].iter().zip(&rows[1]) {
        assert!((loss_a - loss_b).abs() <= 1e-4 * loss_a.abs(), "loss {loss_a} vs {loss_b}");
        assert!((norm_a - norm_b).abs() <= 1e-3 * norm_a.abs(), "grad norm {norm_a} vs {norm_b}");
    }
    assert_eq!(rows[1], rows[2], "gradient checkpointing changes nothing but memory and time");
}

/// `encoder_lr` unfreezes the encoder (the study's unfrozen runs): its weights are saved with
/// the stage, and training takes a different course than with the encoder frozen.
#[test]
fn an_encoder_learning_rate_trains_the_encoder() {
    let (dir, config) = setup("mllm-unfrozen", 32, 0, 1);
    let text = std::fs::read_to_string(&config).unwrap();
    let head = &text[..text.find("[stage1]").unwrap()];
    let stage2 = &text[text.find("[stage2]").unwrap()..];
    let mut losses_by_run = Vec::new();
    for (name, extra) in [("frozen", ""), ("unfrozen", "encoder_lr = 1e-3\n")] {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, format!("{head}{stage2}max_steps = 3\n{extra}")).unwrap();
        let run = dir.join(name);
        let out = train(&path, &run);
        assert!(out.status.success(), "{}", stderr(&out));
        let parts: Value = serde_json::from_slice(&std::fs::read(run.join("stage2/parts.json")).unwrap()).unwrap();
        assert_eq!(parts["encoders"], !extra.is_empty());
        assert_eq!(run.join("stage2/encoder-0.bpk").is_file(), !extra.is_empty());
        losses_by_run.push(losses(&run));
    }
    let field = |run: usize, step: usize, column: usize| losses_by_run[run][1 + step].split(',').nth(column).unwrap().to_string();
    assert_eq!(field(0, 0, 2), field(1, 0, 2), "the first loss is the same");
    assert_ne!(field(0, 0, 4), field(1, 0, 4), "the encoder's gradients count in the global norm");
    assert_ne!(field(0, 2, 2), field(1, 2, 2), "the trained encoder changes the course");
}
