//! `cambrian init-llm`: a small random-init Llama-architecture model folder.

use anyhow::Context;
use burn::tensor::Device;

use super::args::InitLlmArgs;
use crate::data::corpus;
use crate::llm::random_init::{Shape, create};

/// The default shape: a Llama of 2 layers, width 64, 4 heads (2 key/value), MLP 172.
const SHAPE: Shape = Shape { hidden_size: 64, intermediate_size: 172, layers: 2, heads: 4, kv_heads: 2, max_positions: 0 };

pub fn run(args: &InitLlmArgs, device: &Device) -> anyhow::Result<()> {
    let shape = args.shape.or(Shape { max_positions: args.max_positions, ..SHAPE });
    let text = corpus::read(&args.corpus)?;
    create(&args.out, &text, &shape, args.seed, device).with_context(|| format!("creating {}", args.out.display()))?;
    let config = crate::llm::LlmConfig::from_dir(&args.out)?;
    println!("{}: {} layers, width {}, vocabulary {}", args.out.display(), config.layers, config.hidden_size, config.vocab_size);
    Ok(())
}
