//! `cambrian bench feature-cache`: what the frozen-feature cache saves in training. One fixed
//! configuration: the encoder (default MoCo v3 ViT-B/16 at 224, random weights, frozen), the
//! default MLP connector and a tiny LLM made by `cambrian init-llm`, trained in stage 1
//! (connector only) on synthetic 128 px scenes, `--steps` steps of `--batch-size` new images.
//! The same run three times, each in a fresh run folder: without the cache; with an empty
//! cache (every feature computed and stored); with that cache warm (every feature read), as
//! the second run of a sweep finds it. Steps/s is over the stage's step time (`train_secs`:
//! image decoding, features, forward, backward, optimizer), model building excluded.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use burn::tensor::Device;

use super::WorkDir;
use crate::data::synth;
use crate::features::CacheDtype;
use crate::progress::Silent;
use crate::train::config::RunConfig;
use crate::train::train;

#[derive(clap::Args)]
pub struct FeatureCacheArgs {
    /// The frozen encoder (a preset or a spec file), random weights.
    #[arg(long, default_value = "moco-v3-vit-b-16")]
    pub encoder: String,
    /// Optimizer steps per run; each step sees new images.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
    /// Examples per step.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// How the cache stores features (the run config's `feature_cache_dtype`).
    #[arg(long, value_enum, default_value_t = CacheDtype::F32)]
    pub cache_dtype: CacheDtype,
    /// Folder for the data, LLM, cache and runs, kept afterwards (must not exist). Default: a
    /// temporary folder, removed afterwards.
    #[arg(long)]
    pub work: Option<PathBuf>,
}

const IMAGE_PX: u32 = 128;

pub fn run(args: &FeatureCacheArgs, device: &Device) -> anyhow::Result<()> {
    let work = WorkDir::new(args.work.as_deref(), "feature-cache")?;
    measure(args, &work.path, device)
}

/// One run's figures.
struct Row {
    name: &'static str,
    steps_per_sec: f64,
    final_loss: Option<f64>,
}

fn measure(args: &FeatureCacheArgs, work: &Path, device: &Device) -> anyhow::Result<()> {
    let images = args.steps * args.batch_size;
    let data = work.join("data");
    let config = synth::Config { open_samples: 0, open_train_samples: 0, ..synth::Config::new(1, images, IMAGE_PX, 0) };
    synth::write(&config, &data, &Silent).with_context(|| format!("writing {}", data.display()))?;
    init_llm(&data.join("train/pretrain.json"), &work.join("llm"))?;

    let dtype = serde_json::to_value(args.cache_dtype)?.as_str().unwrap_or_default().to_string();
    println!(
        "{} (random weights, frozen) → mlp2x_gelu → tiny LLM (init-llm defaults); stage 1, {} steps of {} new {IMAGE_PX} px images; cache entries {dtype}",
        args.encoder, args.steps, args.batch_size
    );
    let mut rows = Vec::new();
    for (name, cached) in [("none", false), ("cold", true), ("warm", true)] {
        let path = write_run_config(work, name, cached, args)?;
        let config = RunConfig::from_file(&path)?;
        let run = work.join("runs").join(name);
        let (_, summaries) = train(&config, &run, device, &Silent).with_context(|| format!("training {}", run.display()))?;
        let stage = summaries.first().context("stage 1 did not run")?;
        rows.push(Row { name, steps_per_sec: stage.steps as f64 / stage.train_secs, final_loss: stage.final_loss });
    }
    println!("{:<6} {:>9} {:>10} {:>9} {:>18}", "CACHE", "STEPS/S", "SECS/STEP", "SPEED-UP", "FINAL LOSS");
    let base = rows[0].steps_per_sec;
    for row in &rows {
        let loss = row.final_loss.map_or("-".to_string(), |l| l.to_string());
        let (rate, speedup) = (row.steps_per_sec, row.steps_per_sec / base);
        println!("{:<6} {rate:>9.3} {:>10.3} {speedup:>8.2}× {loss:>18}", row.name, 1.0 / rate);
    }
    let (entries, bytes) = entries_size(&work.join("cache"))?;
    println!(
        "cache: {entries} entries, {:.1} MiB; SPEED-UP is steps/s over the run without the cache",
        bytes as f64 / (1024.0 * 1024.0)
    );
    Ok(())
}

/// `cambrian init-llm` with its default shape over the captions.
fn init_llm(corpus: &Path, out: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the cambrian binary")?;
    let output = Command::new(exe)
        .args(["-q", "init-llm", "--corpus"])
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .output()
        .context("running cambrian init-llm")?;
    if !output.status.success() {
        bail!("cambrian init-llm failed: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn write_run_config(work: &Path, name: &str, cached: bool, args: &FeatureCacheArgs) -> anyhow::Result<PathBuf> {
    let cache = match (cached, args.cache_dtype) {
        (false, _) => String::new(),
        (true, CacheDtype::F32) => "feature_cache = \"cache\"\n".to_string(),
        (true, CacheDtype::F16) => "feature_cache = \"cache\"\nfeature_cache_dtype = \"f16\"\n".to_string(),
    };
    // A spec file named on the command line is relative to here, not to the run file.
    let encoder = match args.encoder.ends_with(".toml") {
        true => std::path::absolute(&args.encoder)?.to_string_lossy().into_owned(),
        false => args.encoder.clone(),
    };
    let encoder = toml::Value::String(encoder);
    let text = format!(
        "llm = \"llm\"\nmax_length = 512\n{cache}\n[[encoders]]\nname = {encoder}\ninit = \"random\"\n\n[connector]\n\n\
         [stage1]\ndata = \"data/train/pretrain.json\"\nimages = \"data\"\nbatch_size = {}\nlr = 1e-3\nmax_steps = {}\n",
        args.batch_size, args.steps
    );
    let path = work.join(format!("{name}.toml"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Cache entries (safetensors files) under `dir` and their total size in bytes.
fn entries_size(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut entries, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            let (e, b) = entries_size(&path)?;
            (entries, bytes) = (entries + e, bytes + b);
        } else if path.extension().is_some_and(|e| e == "safetensors") {
            (entries, bytes) = (entries + 1, bytes + meta.len());
        }
    }
    Ok((entries, bytes))
}
