//! `cambrian init-llm`: a small random-init Llama-architecture model folder.

use anyhow::Context;
use burn::tensor::Device;

use super::args::InitLlmArgs;
use crate::llm::new::{Shape, create};

pub fn run(args: &InitLlmArgs, device: &Device) -> anyhow::Result<()> {
    let shape = Shape {
        hidden_size: args.hidden_size,
        intermediate_size: args.intermediate_size,
        layers: args.layers,
        heads: args.heads,
        kv_heads: args.kv_heads,
        max_positions: args.max_positions,
    };
    create(&args.out, &args.corpus, &shape, args.seed, device).with_context(|| format!("creating {}", args.out.display()))?;
    let config = crate::llm::LlmConfig::from_dir(&args.out)?;
    println!("{}: {} layers, width {}, vocabulary {}", args.out.display(), config.layers, config.hidden_size, config.vocab_size);
    Ok(())
}
