//! `cambrian bench train`: training steps of the probe per second, next to an equivalent
//! eager PyTorch/transformers loop (tools/bench/train.py) on the same machine in the same
//! invocation, each side in its own process so that its peak resident memory is its own.
//!
//! The workload is fixed and generated into a work folder: synthetic training scenes
//! (`cambrian synth`'s training split), a random-init Llama made by `init-llm`'s code over
//! their words, a frozen random-init encoder, and a stage-2 run with the study's defaults
//! (connector and LLM trained, vicuna_v1, AdamW, global-norm clipping at 1). Ours is
//! `cambrian train`'s code on that run (in a hidden `bench train-once` child), timed per
//! step as metrics.csv records it. The PyTorch side reads `workload.json`: every step's
//! examples in the run's data order, as token ids, answer marks and the image's place, so
//! both sides forward the same positions; the command checks that they did, step by step.
//! With `--feature-cache` neither side encodes: an untimed first run of ours fills the run's
//! feature cache, the timed one reads it, and the PyTorch side loads the same entries
//! (`features` per example) with safetensors. `--vocab V` pads the LLM's vocabulary with
//! synthetic words to a study's size: ours projects only the answer positions onto it,
//! transformers (as the HF Trainer runs it) every position. `--group-by-length` orders the
//! steps as the stage's `group_by_length` does, for both sides.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ReferenceArgs, WorkDir, parse_child, peak_rss_mib};
use crate::data::corpus;
use crate::data::{llava, open_rgb, synth};
use crate::encoders::spec::EncoderSpec;
use crate::encoders::{WeightsSource, registry};
use crate::features::key::{EncoderKey, ImageId};
use crate::features::{CacheDtype, FeatureCache};
use crate::llm::LlmConfig;
use crate::llm::random_init::{Shape, ShapeArgs, create};
use crate::llm::tokenizer::LlmTokenizer;
use crate::mllm::conversation::encode;
use crate::nn::precision::Precision;
use crate::progress::Silent;
use crate::train::checkpoint::finished_state;
use crate::train::config::RunConfig;
use crate::train::order::stage_order;
use crate::train::train;

/// The default encoder: timm's `vit_small_patch16_224` shape (ViT-S/16, the DeiT-S size of
/// Touvron et al. 2021), 14 × 14 tokens of width 384.
const VIT_S16: &str = r#"
name = "vit-s-16-224"
title = "ViT-S/16@224"
family = "class-supervised"

[architecture]
kind = "vit"
layout = "timm"
image_size = 224
patch_size = 16
hidden_size = 384
depth = 12
heads = 6
mlp_size = 1536
act = "gelu"
norm_eps = 1e-6

[preprocess]
pad_to_square = true
resize = "shortest-edge"
resize_size = 224
crop_size = 224
interpolation = "bicubic"
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
"#;

/// The LLM's default shape: a Llama of 4 layers, width 512, 8 heads, MLP 1376.
const LLM_SHAPE: Shape =
    Shape { hidden_size: 512, intermediate_size: 1376, layers: 4, heads: 8, kv_heads: 8, max_positions: 2048 };

/// Side of the synthetic scenes in pixels; the encoder's preprocessing resizes them.
/// The PyTorch side: the same steps with transformers and timm.
const SCRIPT: &str = "tools/bench/train.py";
const SCENE_PX: u32 = 128;
const SEED: u64 = 0;

#[derive(clap::Args)]
/// `bench train` (default LLM: 4 layers, width 512, 8 heads, MLP 1376).
pub struct TrainArgs {
    /// The frozen vision encoder (random weights): a preset name or a spec file. Default: a
    /// ViT-S/16 at 224 px.
    #[arg(long)]
    pub encoder: Option<String>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Entries in the LLM's vocabulary: the workload's words, then synthetic ones up to this
    /// many (a study's LLM has 32,000 to 152,064). Default: the workload's words alone.
    #[arg(long)]
    pub vocab: Option<usize>,
    /// Group examples of similar length into steps (the stage's `group_by_length`): less
    /// padding, another data order; both sides take it.
    #[arg(long)]
    pub group_by_length: bool,
    /// Examples per optimizer step.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Timed steps.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
    /// Threads each side computes with (our rayon pool, PyTorch's intra-op threads).
    /// Default: every core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub threads: Option<u64>,
    /// Keep the generated workload (data, LLM, run config, runs) in this folder, which must
    /// not exist. Default: a temporary folder, removed afterwards.
    #[arg(long)]
    pub work: Option<PathBuf>,
    #[command(flatten)]
    pub torch: ReferenceArgs,
    /// The run's training precision; the PyTorch side runs bf16-mixed under
    /// `torch.autocast(bfloat16)` and bf16 as a bf16 model.
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// Take the frozen encoder's features from a warm feature cache instead of encoding the
    /// images: ours from the run's cache (filled by an untimed first run), PyTorch from the
    /// same safetensors entries.
    #[arg(long)]
    pub feature_cache: bool,
}

#[derive(clap::Args)]
pub struct TrainOnceArgs {
    /// The run's TOML.
    #[arg(long)]
    pub config: PathBuf,
    /// The run folder; it must not exist (a benchmark resumes nothing).
    #[arg(long)]
    pub out: PathBuf,
}

/// One side's figures per step, as both children print them (one JSON line on stdout).
#[derive(Debug, Serialize, Deserialize)]
pub struct Steps {
    pub step_secs: Vec<f64>,
    /// Positions forwarded (pads excluded).
    pub positions: Vec<u64>,
    pub peak_rss_mib: Option<f64>,
    /// The reference's versions and settings.
    #[serde(default)]
    pub about: Option<String>,
}

/// What tools/bench/train.py needs to run the same steps.
#[derive(Serialize)]
struct Workload {
    /// The encoder's spec TOML.
    encoder: PathBuf,
    /// [rows, cols] of the encoder's tokens.
    grid: [usize; 2],
    channels: usize,
    image_newline: bool,
    llm: PathBuf,
    max_length: usize,
    precision: Precision,
    lr: f64,
    max_grad_norm: f64,
    steps: Vec<Vec<StepExample>>,
}

#[derive(Serialize)]
struct StepExample {
    image: Option<PathBuf>,
    ids: Vec<u32>,
    targets: Vec<bool>,
    /// The image's tokens go before `ids[image_at]`.
    image_at: Option<usize>,
    /// With `--feature-cache`: the cache entry holding the image's features.
    features: Option<PathBuf>,
}

pub fn run(args: &TrainArgs, device: &Device, device_name: &str) -> anyhow::Result<()> {
    let work = WorkDir::new(args.work.as_deref(), "train")?;
    let spec = match &args.encoder {
        Some(name) => registry::resolve(Some(name), None)?.spec,
        None => EncoderSpec::from_toml(VIT_S16, "the default ViT-S/16")?,
    };
    let (config, workload) = generate(args, &spec, &work.path, device)?;
    let llm = LlmConfig::from_dir(&config.llm)?;
    if let Some(vocab) = args.vocab {
        ensure!(llm.vocab_size == vocab, "the LLM's vocabulary has {} entries, not --vocab {vocab}", llm.vocab_size);
    }
    let [rows, cols] = spec.output_grid()?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64));
    println!(
        "device {device_name}, threads {threads}; stage 2 (connector and LLM trained, encoder frozen), batch {}, {} warm-up + {} timed steps, precision {}",
        args.batch_size,
        args.warmup,
        args.steps,
        args.precision.name()
    );
    println!("  encoder   {}: {rows}×{cols} tokens of width {}, random weights", spec.title, spec.hidden_size());
    println!("  connector mlp2x_gelu and a newline after each row: {} positions per image", rows * (cols + 1));
    if args.feature_cache {
        println!("  features  read from a warm feature cache (f32 safetensors entries) by both sides, not encoded");
    }
    if args.group_by_length {
        println!("  order     grouped by length (group_by_length): each megabatch of steps runs longest first");
    }
    println!(
        "  LLM       Llama: {} layers, width {}, {} heads ({} key/value), MLP {}, vocabulary {}, random weights",
        llm.layers, llm.hidden_size, llm.heads, llm.kv_heads, llm.intermediate_size, llm.vocab_size
    );

    let entries: Vec<PathBuf> = workload.steps.iter().flatten().filter_map(|e| e.features.clone()).collect();
    let ours = match args.feature_cache {
        true => measure_ours_cached(&work.path, device_name, threads, &entries),
        false => measure_ours(&work.path, device_name, threads, "run"),
    }
    .map_err(|err| format!("{err:#}"));
    let torch = if args.torch.no_reference {
        Err("not run (--no-reference)".to_string())
    } else if device_name != "cpu" {
        // The reference script trains on the CPU: a ratio against our GPU would mislead.
        Err(format!("not run: {} trains on the CPU only", args.torch.script(SCRIPT).display()))
    } else {
        measure_torch(args, &work.path, threads).map_err(|err| format!("{err:#}"))
    };
    report(args.warmup as usize, &workload.padded_positions(), &ours, &torch)
}

/// Writes the scenes, the LLM, the encoder spec, `run.toml` and `workload.json` into `work`;
/// returns the run and the workload.
fn generate(args: &TrainArgs, spec: &EncoderSpec, work: &Path, device: &Device) -> anyhow::Result<(RunConfig, Workload)> {
    let total_steps = args.warmup + args.steps;
    let scenes = synth::Config {
        open_samples: 0,
        open_train_samples: 0,
        ..synth::Config::new(1, args.batch_size * total_steps, SCENE_PX, SEED)
    };
    let synth_dir = work.join("synth");
    synth::write(&scenes, &synth_dir, &Silent).context("rendering the training scenes")?;
    let data = synth_dir.join("train/instruct.json");
    let llm = work.join("llm");
    let text = corpus::read(std::slice::from_ref(&data))?;
    let text = match args.vocab {
        Some(vocab) => padded_vocabulary(text, vocab, work, device)?,
        None => text,
    };
    create(&llm, &text, &args.shape.or(LLM_SHAPE), SEED, device).context("creating the LLM")?;
    let spec_path = work.join("encoder.toml");
    write(&spec_path, &toml::to_string(spec)?)?;

    // One stage, stage 2, whose defaults train the connector and the LLM with the encoder
    // frozen; only what differs from the recipe's defaults (train::config) is given.
    let mut config: RunConfig = serde_json::from_value(json!({
        "seed": SEED,
        "encoders": [{"name": spec_path, "init": "random"}],
        "connector": {"projector": "mlp2x_gelu"},
        "llm": llm,
        "template": "vicuna_v1",
        "stage2": {
            "data": data,
            "images": synth_dir,
            "batch_size": args.batch_size,
            "max_steps": total_steps,
            "lr": 2e-5,
            "group_by_length": args.group_by_length,
        },
    }))?;
    if args.feature_cache {
        config.feature_cache = Some(work.join("cache"));
    }
    config.precision = args.precision;
    config.validate().map_err(anyhow::Error::msg)?;
    write(&work.join("run.toml"), &toml::to_string(&config)?)?;

    let stage = config.stage2.as_ref().context("the run has a stage 2")?;
    let [rows, cols] = spec.output_grid()?;
    let workload = Workload {
        encoder: spec_path,
        grid: [rows, cols],
        channels: spec.hidden_size(),
        image_newline: config.connector.image_newline,
        llm: config.llm.clone(),
        max_length: config.max_length,
        precision: config.precision,
        lr: stage.lr,
        max_grad_norm: stage.max_grad_norm,
        steps: step_examples(&config, total_steps, device)?,
    };
    write(&work.join("workload.json"), &serde_json::to_string(&workload)?)?;
    Ok((config, workload))
}

impl Workload {
    /// Per step, the positions forwarded with the right padding: the batch times its longest
    /// example (text and image, within `max_length`).
    fn padded_positions(&self) -> Vec<u64> {
        let image = self.grid[0] * (self.grid[1] + usize::from(self.image_newline));
        let length = |e: &StepExample| (e.ids.len() + if e.image_at.is_some() { image } else { 0 }).min(self.max_length);
        self.steps.iter().map(|step| (step.len() * step.iter().map(length).max().unwrap_or(0)) as u64).collect()
    }
}

/// The examples of each step as the stage reads them: step s takes positions s·batch ..
/// (s+1)·batch of the stage's data order (train::order), encoded with the stage's template;
/// with a feature cache, where each image's entry lies (the key built as training builds it).
fn step_examples(config: &RunConfig, steps: u64, device: &Device) -> anyhow::Result<Vec<Vec<StepExample>>> {
    let stage = config.stage2.as_ref().context("the run has a stage 2")?;
    let cache = match &config.feature_cache {
        Some(root) => {
            let spec = registry::resolve(Some(&config.encoders[0].name), None)?.spec;
            let key = EncoderKey::new(&spec, &WeightsSource::Random { seed: config.seed }, CacheDtype::F32, false, device)?;
            Some((FeatureCache::new(root.clone(), CacheDtype::F32), key))
        }
        None => None,
    };
    let template = stage.template.unwrap_or(config.template);
    let data = llava::load(&stage.data, &stage.images)?;
    let tokenizer = LlmTokenizer::from_dir(&config.llm)?;
    let mut order = stage_order(stage, &data.samples, &tokenizer, template, config.seed, 2)?;
    let batch = stage.batch_size as u64;
    let mut all = Vec::new();
    for step in 0..steps {
        let mut examples = Vec::new();
        for position in step * batch..(step + 1) * batch {
            let sample = &data.samples[order.at(position)];
            let encoded = encode(&tokenizer, template, &sample.turns, sample.image.is_some())?;
            let features = match (&cache, &sample.image) {
                (Some((cache, key)), Some(image)) => Some(cache.entry_path(key, &ImageId::of(&open_rgb(image)?))),
                _ => None,
            };
            let (ids, targets, image_at) = (encoded.ids, encoded.targets, encoded.image_at);
            examples.push(StepExample { image: sample.image.clone(), ids, targets, image_at, features });
        }
        all.push(examples);
    }
    Ok(all)
}

/// `text` and synthetic words (`w0`, `w1`, ... as `bench generate` uses) such that `init-llm`'s
/// vocabulary over it has exactly `vocab` entries: counted by making a tiny model over `text`
/// alone in `work`, then removed.
fn padded_vocabulary(text: String, vocab: usize, work: &Path, device: &Device) -> anyhow::Result<String> {
    let (probe, tiny) = (
        work.join("vocabulary-probe"),
        Shape { hidden_size: 2, intermediate_size: 2, layers: 1, heads: 1, kv_heads: 1, max_positions: 2 },
    );
    create(&probe, &text, &tiny, SEED, device).context("counting the workload's words")?;
    let words = LlmConfig::from_dir(&probe)?.vocab_size;
    std::fs::remove_dir_all(&probe).with_context(|| format!("removing {}", probe.display()))?;
    ensure!(vocab >= words, "--vocab {vocab} is below the {words} entries the workload's text needs");
    let synthetic: Vec<String> = (0..vocab - words).map(|i| format!("w{i}")).collect();
    Ok(format!("{text} {}", synthetic.join(" ")))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `bench train-once` on the run into `work/<run>`.
fn measure_ours(work: &Path, device_name: &str, threads: u64, run: &str) -> anyhow::Result<Steps> {
    let exe = std::env::current_exe().context("locating the cambrian binary")?;
    let output = Command::new(exe)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(["--device", device_name, "-q", "bench", "train-once"])
        .arg("--config")
        .arg(work.join("run.toml"))
        .arg("--out")
        .arg(work.join(run))
        .output()
        .context("running the measurement")?;
    parse_child(&output, "cambrian bench train-once")
}

/// A first run fills the cache (untimed); the measured second run must then find every
/// entry the workload names (`entries`) and leave the cache as it was, so that it read them all.
fn measure_ours_cached(work: &Path, device_name: &str, threads: u64, entries: &[PathBuf]) -> anyhow::Result<Steps> {
    measure_ours(work, device_name, threads, "fill-cache").context("filling the feature cache")?;
    for entry in entries {
        ensure!(
            entry.is_file(),
            "the first run left no cache entry {}: the workload's cache keys are not training's",
            entry.display()
        );
    }
    let before = cache_stamps(&work.join("cache"))?;
    let steps = measure_ours(work, device_name, threads, "run")?;
    ensure!(cache_stamps(&work.join("cache"))? == before, "the measured run wrote cache entries: it did not read them all");
    Ok(steps)
}

/// Every file under `dir` with its modification time, sorted.
fn cache_stamps(dir: &Path) -> anyhow::Result<Vec<(PathBuf, std::time::SystemTime)>> {
    let mut stamps = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        match path.is_dir() {
            true => stamps.extend(cache_stamps(&path)?),
            false => stamps.push((path.clone(), std::fs::metadata(&path)?.modified()?)),
        }
    }
    stamps.sort();
    Ok(stamps)
}

fn measure_torch(args: &TrainArgs, work: &Path, threads: u64) -> anyhow::Result<Steps> {
    let (workload, threads) = (work.join("workload.json").display().to_string(), threads.to_string());
    let flags = ["--workload", &workload, "--threads", &threads];
    args.torch.run(SCRIPT, &flags)
}

/// A side's figures per step, or why there are none.
type Outcome = Result<Steps, String>;

/// Timed steps per second and positions per second, the warm-up steps left out.
fn rates(steps: &Steps, warmup: usize) -> Result<(f64, f64), String> {
    let timed = steps.step_secs.len().saturating_sub(warmup);
    let secs: f64 = steps.step_secs.iter().skip(warmup).sum();
    let positions: u64 = steps.positions.iter().skip(warmup).sum();
    match timed > 0 && secs > 0.0 {
        true => Ok((timed as f64 / secs, positions as f64 / secs)),
        false => Err(format!("no timed steps ({} steps reported)", steps.step_secs.len())),
    }
}

/// Prints the table; fails when ours failed or the sides did not run the same positions.
/// `padded`: per step, the positions forwarded with the padding.
fn report(warmup: usize, padded: &[u64], ours: &Outcome, torch: &Outcome) -> anyhow::Result<()> {
    let timed_mean = |per_step: &[u64]| {
        let timed = &per_step[warmup.min(per_step.len())..];
        timed.iter().sum::<u64>() as f64 / timed.len().max(1) as f64
    };
    if let Ok(steps) = ours {
        println!(
            "  data      synthetic scenes at {SCENE_PX} px, vicuna_v1: {:.0} positions per timed step on average (pads excluded), {:.0} with the padding",
            timed_mean(&steps.positions),
            timed_mean(padded)
        );
    }
    if let Ok(Steps { about: Some(about), .. }) = torch {
        println!("  PyTorch   {about}");
    }
    println!("{:<8} {:>9} {:>10} {:>9}", "SIDE", "steps/s", "tokens/s", "peak MiB");
    let (ours_rates, torch_rates) = (row("ours", ours, warmup), row("PyTorch", torch, warmup));
    let (Ok(ours_steps), Ok(torch_steps), Ok(o), Ok(t)) = (ours, torch, ours_rates, torch_rates) else {
        return ours.as_ref().map(|_| ()).map_err(|why| anyhow::anyhow!("our side failed: {why}"));
    };
    if ours_steps.positions != torch_steps.positions {
        bail!(
            "the two sides forwarded different positions per step (ours {:?}, PyTorch {:?}): not the same workload, no ratio",
            ours_steps.positions,
            torch_steps.positions
        );
    }
    println!("{:<8} {:>8.2}× {:>9.2}×", "RATIO", o.0 / t.0, o.1 / t.1);
    println!("RATIO = ours ÷ PyTorch (above 1: we are faster); both sides forwarded the same positions at every step.");
    Ok(())
}

/// Prints one side's row of the table; returns its rates.
fn row(side: &str, outcome: &Outcome, warmup: usize) -> Result<(f64, f64), String> {
    if let Ok(steps) = outcome {
        tracing::info!("{side}: seconds per step {:.3?}, positions {:?}", steps.step_secs, steps.positions);
    }
    let side_rates = outcome.as_ref().map_err(String::clone).and_then(|steps| rates(steps, warmup));
    let mib = outcome.as_ref().ok().and_then(|s| s.peak_rss_mib).map_or("-".to_string(), |v| format!("{v:.0}"));
    match &side_rates {
        Ok((per_step, per_position)) => println!("{side:<8} {per_step:>9.3} {per_position:>10.1} {mib:>9}"),
        Err(why) => println!("{side:<8} {:>9} {:>10} {mib:>9}  {why}", "-", "-"),
    }
    side_rates
}

/// The child: trains the run of `--config` into a fresh `--out` with `cambrian train`'s code
/// and prints each step's time and positions from the stages' metrics.
pub fn run_once(args: &TrainOnceArgs, device: crate::device::DeviceArg) -> anyhow::Result<()> {
    ensure!(!args.out.exists(), "{} exists: a measurement trains a fresh run", args.out.display());
    let config = RunConfig::from_file(&args.config)?;
    let device = crate::device::open_for_training(device, config.precision)?;
    let (_, summaries) =
        train(&config, &args.out, &device, &Silent).with_context(|| format!("training into {}", args.out.display()))?;
    let (mut step_secs, mut positions) = (Vec::new(), Vec::new());
    for summary in &summaries {
        // A row's `secs` is the stage's training time so far: a step's is the difference.
        let mut before = 0.0;
        for row in finished_state(&args.out, summary.stage)?.metrics {
            let secs = row.secs - before;
            before = row.secs;
            step_secs.push(secs);
            positions.push((row.tokens_per_sec * secs).round() as u64);
        }
    }
    let steps = Steps { step_secs, positions, peak_rss_mib: peak_rss_mib(), about: None };
    println!("{}", serde_json::to_string(&steps)?);
    Ok(())
}
