//! `cambrian bench generate`: greedy decoding speed of a Llama-architecture LLM (prefill and
//! per-token decoding), ours next to transformers' `LlamaForCausalLM` running the same loop
//! (tools/bench/generate.py) on the same machine, from the same model folder and prompt.
//! The folder is made here (`init-llm` with a vocabulary of synthetic words, random
//! weights): the speed does not depend on the weights.

use std::path::Path;

use burn::tensor::Device;
use serde::Deserialize;

use super::{ReferenceArgs, WorkDir, reference_device};
use crate::device::DtypeArg;
use crate::llm::Llm;
use crate::llm::generate::greedy;
use crate::llm::random_init::{Shape, ShapeArgs, create};

#[derive(clap::Args)]
/// `bench generate` (default LLM: 8 layers, width 1024, 16 heads with 4 key/value, MLP 2816).
pub struct GenerateArgs {
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Words in the vocabulary (plus the special tokens).
    #[arg(long, default_value_t = 32000, value_parser = clap::value_parser!(u32).range(16..))]
    pub vocab: u32,
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub prompt_tokens: u64,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(2..))]
    pub new_tokens: u64,
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub iters: u64,
    #[command(flatten)]
    pub torch: ReferenceArgs,
}

/// The PyTorch side: transformers' `generate` on the same model and prompt.
const SCRIPT: &str = "tools/bench/generate.py";

/// The LLM's default shape; `max_positions` follows the prompt and the new tokens.
const LLM_SHAPE: Shape =
    Shape { hidden_size: 1024, intermediate_size: 2816, layers: 8, heads: 16, kv_heads: 4, max_positions: 0 };

#[derive(Debug, Deserialize)]
struct Speed {
    prefill_tokens_per_sec: f64,
    decode_tokens_per_sec: f64,
    peak_rss_mib: Option<f64>,
}

pub fn run(args: &GenerateArgs, device: &Device, device_name: &str, dtype: DtypeArg) -> anyhow::Result<()> {
    let work = WorkDir::new(None, "generate")?;
    let words: Vec<String> = (0..args.vocab).map(|i| format!("w{i}")).collect();
    let max_positions = (args.prompt_tokens + args.new_tokens) as usize;
    let shape = args.shape.or(Shape { max_positions, ..LLM_SHAPE });
    let model_dir = work.path.join("llm");
    create(&model_dir, &words.join(" "), &shape, 0, device)?;
    let llm = Llm::load(&model_dir, device)?;
    let vocab = llm.config.vocab_size as u32;
    let prompt: Vec<u32> = (0..args.prompt_tokens as u32).map(|i| 3 + (i * 7919) % (vocab - 3)).collect();
    println!(
        "Llama {} layers, width {}, {} heads ({} key/value), vocabulary {vocab}; prompt {} tokens, {} new; device {device_name}, {}",
        shape.layers,
        shape.hidden_size,
        shape.heads,
        shape.kv_heads,
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
    let torch = match (args.torch.no_reference, reference_device(device_name)) {
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

fn reference(args: &GenerateArgs, model: &Path, prompt: &[u32], device: &str, dtype: DtypeArg) -> anyhow::Result<Speed> {
    let ids: Vec<String> = prompt.iter().map(u32::to_string).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (model, ids, threads) = (model.display().to_string(), ids.join(","), threads.to_string());
    let (new_tokens, warmup, iters) = (args.new_tokens.to_string(), args.warmup.to_string(), args.iters.to_string());
    let flags = ["--model", &model, "--prompt-ids", &ids, "--new-tokens", &new_tokens, "--warmup", &warmup, "--iters", &iters];
    let flags = [&flags[..], &["--threads", &threads, "--device", device, "--dtype", dtype.name()]].concat();
    args.torch.run(SCRIPT, &flags)
}
