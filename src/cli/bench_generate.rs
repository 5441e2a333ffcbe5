//! `cambrian bench generate`: greedy decoding speed of a Llama-architecture LLM (prefill and
//! per-token decoding), ours next to transformers' `LlamaForCausalLM` running the same loop
//! (tools/bench/generate.py) on the same machine, from the same model folder and prompt.
//! The folder is made here (`init-llm` with a vocabulary of synthetic words, random
//! weights): the speed does not depend on the weights.

use std::process::Command;

use anyhow::{Context, bail};
use burn::tensor::Device;
use serde::Deserialize;

use super::args::BenchGenerateArgs;
use crate::device::DtypeArg;
use crate::llm::Llm;
use crate::llm::generate::greedy;
use crate::llm::new::{Shape, create};

#[derive(Debug, Deserialize)]
struct Speed {
    prefill_tokens_per_sec: f64,
    decode_tokens_per_sec: f64,
    peak_rss_mib: Option<f64>,
}

pub fn run(args: &BenchGenerateArgs, device: &Device, device_name: &str, dtype: DtypeArg) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("cambrian-bench-generate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = measure(args, device, device_name, dtype, &dir);
    std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    result
}

fn measure(
    args: &BenchGenerateArgs,
    device: &Device,
    device_name: &str,
    dtype: DtypeArg,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let corpus = dir.join("corpus.txt");
    let words: Vec<String> = (0..args.vocab).map(|i| format!("w{i}")).collect();
    std::fs::write(&corpus, words.join(" ")).with_context(|| format!("writing {}", corpus.display()))?;
    let shape = Shape {
        hidden_size: args.hidden_size,
        intermediate_size: args.intermediate_size,
        layers: args.layers,
        heads: args.heads,
        kv_heads: args.kv_heads,
        max_positions: (args.prompt_tokens + args.new_tokens) as usize,
    };
    let model_dir = dir.join("llm");
    create(&model_dir, &[corpus], &shape, 0, device)?;
    let llm = Llm::load(&model_dir, device)?;
    let vocab = llm.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32).map(|i| 3 + (i * 7919) % (vocab - 3)).collect();
    println!(
        "Llama {} layers, width {}, {} heads ({} key/value), vocabulary {vocab}; prompt {} tokens, {} new; device {device_name}, {}",
        args.layers,
        args.hidden_size,
        args.heads,
        args.kv_heads,
        args.prompt_tokens,
        args.new_tokens,
        dtype.name()
    );

    let run = || greedy(&llm.model, &prompt, args.new_tokens as usize, &[], false, device);
    for _ in 0..args.warmup {
        run()?;
    }
    let (mut prefill, mut decode) = (0.0, 0.0);
    for _ in 0..args.iters {
        let generation = run()?;
        prefill += generation.prefill_secs;
        decode += generation.decode_secs;
    }
    let iters = args.iters as f64;
    let ours = Speed {
        prefill_tokens_per_sec: args.prompt_tokens as f64 * iters / prefill,
        decode_tokens_per_sec: (args.new_tokens - 1) as f64 * iters / decode,
        peak_rss_mib: None,
    };
    let torch = match (args.no_reference, super::bench::reference_device(device_name)) {
        (true, _) => Err(anyhow::anyhow!("not run (--no-reference)")),
        (false, Some(on)) => reference(args, &model_dir, &prompt, on, dtype),
        (false, None) => Err(anyhow::anyhow!("not run: tools/bench/generate.py measures on the CPU or a CUDA GPU only")),
    };
    println!("{:<10} {:>16} {:>16}", "", "PREFILL tok/s", "DECODE tok/s");
    println!("{:<10} {:>16.1} {:>16.2}", "ours", ours.prefill_tokens_per_sec, ours.decode_tokens_per_sec);
    match torch {
        Ok(torch) => {
            let rss = torch.peak_rss_mib.map_or(String::new(), |m| format!("  (peak RSS {m:.0} MiB)"));
            println!("{:<10} {:>16.1} {:>16.2}{rss}", "pytorch", torch.prefill_tokens_per_sec, torch.decode_tokens_per_sec);
            println!(
                "{:<10} {:>15.2}× {:>15.2}×",
                "ratio",
                ours.prefill_tokens_per_sec / torch.prefill_tokens_per_sec,
                ours.decode_tokens_per_sec / torch.decode_tokens_per_sec
            );
        }
        Err(err) => println!("pytorch    {err:#}"),
    }
    Ok(())
}

fn reference(
    args: &BenchGenerateArgs,
    model: &std::path::Path,
    prompt: &[u32],
    device: &str,
    dtype: DtypeArg,
) -> anyhow::Result<Speed> {
    if !args.reference.is_file() {
        bail!("not run: {} not found (run from the repository root or pass --reference)", args.reference.display());
    }
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = Command::new(&args.python)
        .arg(&args.reference)
        .args(["--model", &model.display().to_string(), "--prompt-ids", &ids.join(",")])
        .args([
            "--new-tokens",
            &args.new_tokens.to_string(),
            "--warmup",
            &args.warmup.to_string(),
            "--iters",
            &args.iters.to_string(),
        ])
        .args(["--threads", &threads.to_string(), "--device", device, "--dtype", dtype.name()])
        .output()
        .with_context(|| format!("not run: cannot start `{}`", args.python))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{} failed: {}",
            args.reference.display(),
            stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no JSON line from the reference")?;
    serde_json::from_str(line).with_context(|| format!("the reference printed `{line}`"))
}
