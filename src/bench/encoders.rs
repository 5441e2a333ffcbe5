//! `cambrian bench encoders`: forward-pass throughput and peak memory of each encoder at its
//! native resolution, next to the reference PyTorch implementation run by
//! tools/bench/encoders.py on the same machine in the same invocation.
//!
//! Every measurement runs in its own process (ours: a hidden `bench encoder-once`), so that
//! its peak resident memory is its own. Random weights: the timing does not depend on them.
//! When ours runs on a GPU backend, PyTorch runs on the CUDA GPU (`--device cuda`), and
//! memory is the GPU allocator's, not the process's.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::{ReferenceArgs, parse_child, peak_rss_mib, reference_device};

/// The PyTorch side: a script that builds the reference model from a spec.
const SCRIPT: &str = "tools/bench/encoders.py";
use crate::device::DtypeArg;
use crate::encoders::preprocess::Pixels;
use crate::encoders::registry::{preset, presets, resolve};
use crate::encoders::{Encoder, EncoderSpec, WeightsSource};

#[derive(clap::Args)]
pub struct EncodersArgs {
    /// Encoders to measure (repeatable); default: every preset.
    #[arg(long)]
    pub encoder: Vec<String>,
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Untimed passes first.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// Timed passes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub iters: u64,
    #[command(flatten)]
    pub torch: ReferenceArgs,
}

#[derive(clap::Args)]
pub struct OnceArgs {
    #[arg(long)]
    pub encoder: String,
    #[arg(long, default_value_t = 1)]
    pub batch_size: u64,
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    #[arg(long, default_value_t = 3)]
    pub iters: u64,
}

/// One side's figures, as both children print them (one JSON line on stdout).
#[derive(Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub images_per_sec: f64,
    pub peak_rss_mib: Option<f64>,
    /// On a GPU, what the allocator held at its peak: ours, the largest reserved total after
    /// a pass (burn's `memory_pool_usage`); PyTorch's, `torch.cuda.max_memory_reserved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_device_mib: Option<f64>,
    /// PyTorch's `torch.cuda.max_memory_allocated` (live tensors only); burn reports no peak of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_allocated_mib: Option<f64>,
    /// `cpu`, or the accelerator's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

pub fn run(args: &EncodersArgs, device_name: &str, dtype: DtypeArg) -> anyhow::Result<()> {
    let names: Vec<String> =
        if args.encoder.is_empty() { presets().into_iter().map(|spec| spec.name).collect() } else { args.encoder.clone() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "device {device_name}, {}, {threads} threads, batch {}, {} warm-up + {} timed passes",
        dtype.name(),
        args.batch_size,
        args.warmup,
        args.iters
    );
    println!(
        "{:<24} {:>5} {:>10} {:>9} {:>10} {:>9} {:>8}",
        "ENCODER", "RES", "OURS img/s", "OURS MiB", "TORCH img/s", "TORCH MiB", "RATIO"
    );
    for name in names {
        let res = preset(&name)?.resolution();
        let ours = measure_ours(&name, args, device_name, dtype);
        let torch = match (args.torch.no_reference, reference_device(device_name)) {
            (true, _) => Err(anyhow::anyhow!("not run (--no-reference)")),
            (false, Some(on)) => measure_torch(&name, args, on, dtype),
            (false, None) => Err(anyhow::anyhow!("not run: tools/bench/encoders.py measures on the CPU or a CUDA GPU only")),
        };
        let speed = |m: &anyhow::Result<Measurement>| m.as_ref().map_or("-".to_string(), |m| format!("{:.3}", m.images_per_sec));
        let mib = |m: &anyhow::Result<Measurement>| {
            m.as_ref().ok().and_then(|m| m.peak_device_mib.or(m.peak_rss_mib)).map_or("-".to_string(), |v| format!("{v:.0}"))
        };
        let ratio = match (&ours, &torch) {
            (Ok(o), Ok(t)) if o.device == t.device => format!("{:.2}×", o.images_per_sec / t.images_per_sec),
            _ => "-".to_string(),
        };
        println!(
            "{name:<24} {res:>5} {:>10} {:>9} {:>10} {:>9} {ratio:>8}",
            speed(&ours),
            mib(&ours),
            speed(&torch),
            mib(&torch)
        );
        for (side, result) in [("ours", &ours), ("torch", &torch)] {
            match result {
                Err(err) => println!("  {side}: {err:#}"),
                Ok(m) if device_name != "cpu" => println!(
                    "  {side}: on {}{}",
                    m.device.as_deref().unwrap_or("an unnamed device"),
                    m.peak_allocated_mib.map_or(String::new(), |v| format!(", peak allocated {v:.0} MiB"))
                ),
                Ok(_) => {}
            }
        }
    }
    println!("RATIO = our images/s ÷ PyTorch's (above 1: we are faster), only when both ran on the same device.");
    if device_name == "cpu" {
        println!("Peak memory is the process's peak RSS.");
    } else {
        println!("Peak memory is the GPU allocator's peak reserved: ours after a pass, PyTorch's max_memory_reserved.");
    }
    Ok(())
}

fn measure_ours(name: &str, args: &EncodersArgs, device_name: &str, dtype: DtypeArg) -> anyhow::Result<Measurement> {
    let exe = std::env::current_exe().context("locating the cambrian binary")?;
    let output = Command::new(exe)
        .args(["--device", device_name, "--dtype", dtype.name(), "-q", "bench", "encoder-once", "--encoder", name])
        .args([
            "--batch-size",
            &args.batch_size.to_string(),
            "--warmup",
            &args.warmup.to_string(),
            "--iters",
            &args.iters.to_string(),
        ])
        .output()
        .context("running the measurement")?;
    parse_child(&output, "cambrian bench encoder-once")
}

fn measure_torch(name: &str, args: &EncodersArgs, device: &str, dtype: DtypeArg) -> anyhow::Result<Measurement> {
    let spec = Path::new("encoders").join(format!("{name}.toml"));
    let (spec, batch_size) = (spec.display().to_string(), args.batch_size.to_string());
    let (warmup, iters) = (args.warmup.to_string(), args.iters.to_string());
    let flags = ["--spec", &spec, "--batch-size", &batch_size, "--warmup", &warmup, "--iters", &iters];
    let flags = [&flags[..], &["--device", device, "--dtype", dtype.name()]].concat();
    args.torch.run(SCRIPT, &flags)
}

/// The aspect ratios (width, height) a native-resolution encoder's batch cycles through,
/// image i the i-th, each with about as many pixels as the preset's square side squared, so
/// that an encoder that keeps each image's size sees the patch count of its fixed-size
/// sibling (tools/bench/encoders.py uses the same sizes).
const ASPECTS: [(usize, usize); 6] = [(1, 1), (4, 3), (3, 4), (16, 9), (9, 16), (2, 1)];

/// The child: builds one encoder with random weights and times its forward pass: a batch of
/// square inputs, or for a native-resolution encoder a batch of the [`ASPECTS`], each at its
/// own grid within the budget (`Encoder::encode_native`).
pub fn run_once(args: &OnceArgs, device: &Device) -> anyhow::Result<()> {
    let spec = resolve(Some(&args.encoder), None)?.spec;
    let side = spec.resolution();
    let batch = args.batch_size as usize;
    let native: Vec<Pixels> = match spec.is_native() {
        true => (0..batch).map(|i| random_pixels(&spec, ASPECTS[i % ASPECTS.len()], device)).collect(),
        false => Vec::new(),
    };
    let encoder = Encoder::build(spec, WeightsSource::Random { seed: 0 }, device)?;
    let pass = || -> anyhow::Result<()> {
        // Reading the result back waits for the device.
        if !native.is_empty() {
            encoder.encode_native(&native, None, batch, device)?.into_iter().for_each(|f| drop(f.tokens.into_data()));
            return Ok(());
        }
        let pixels = Tensor::<4>::random([batch, 3, side, side], Distribution::Normal(0.0, 1.0), device);
        encoder.forward(pixels, None)?.tokens.into_data();
        Ok(())
    };
    let mut reserved_mib = None;
    for _ in 0..args.warmup {
        pass()?;
        reserved_mib = larger(reserved_mib, crate::device::allocator_reserved_mib(device));
    }
    let start = Instant::now();
    for _ in 0..args.iters {
        pass()?;
    }
    let secs = start.elapsed().as_secs_f64();
    let measurement = Measurement {
        images_per_sec: (batch as u64 * args.iters) as f64 / secs,
        peak_rss_mib: peak_rss_mib(),
        peak_device_mib: larger(reserved_mib, crate::device::allocator_reserved_mib(device)),
        peak_allocated_mib: None,
        device: Some(crate::device::accelerator_name(device).unwrap_or_else(|| "cpu".to_string())),
    };
    println!("{}", serde_json::to_string(&measurement)?);
    Ok(())
}

/// Standard normal pixels at the size the spec's preprocessing gives an image of `aspect`.
fn random_pixels(spec: &EncoderSpec, aspect: (usize, usize), device: &Device) -> Pixels {
    let (width, height) = aspect_size(spec.resolution(), aspect);
    let size = spec.preprocess.input_size(width, height);
    let values = Tensor::<1>::random([3 * size[0] * size[1]], Distribution::Normal(0.0, 1.0), device);
    Pixels { values: values.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 after convert"), size }
}

/// (width, height) in pixels of an image of `aspect` with about `side`² pixels.
fn aspect_size(side: usize, (width, height): (usize, usize)) -> (usize, usize) {
    let ratio = width as f64 / height as f64;
    ((side as f64 * ratio.sqrt()).round() as usize, (side as f64 / ratio.sqrt()).round() as usize)
}

fn larger(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    a.into_iter().chain(b).reduce(f64::max)
}
