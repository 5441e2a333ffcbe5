//! clap definitions of every command and flag.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::device::DeviceArg;
use crate::encoders::Family;
use crate::llm::chat::Template;

#[derive(Parser)]
#[command(name = "cambrian", version, about = "Which vision encoders make the best eyes for a multimodal LLM?")]
pub struct Cli {
    /// Where tensors live and run.
    #[arg(long, global = true, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only, no progress bars.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the preset encoders.
    Encoders(EncodersArgs),
    /// Run an encoder on images and save the patch tokens as safetensors.
    Encode(EncodeArgs),
    /// Greedy text generation with a language model (a transformers folder).
    Llm(LlmArgs),
    /// Measure throughput and memory next to the PyTorch reference.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Forward pass of each encoder at its native resolution, ours and PyTorch's.
    Encoders(BenchEncodersArgs),
    /// One measurement of ours, in its own process (used by `bench encoders`).
    #[command(hide = true)]
    EncoderOnce(BenchOnceArgs),
}

#[derive(Args)]
pub struct BenchEncodersArgs {
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
    /// The PyTorch side: a script that builds the reference model from a spec.
    #[arg(long, default_value = "tools/bench/encoders.py")]
    pub reference: PathBuf,
    /// Python interpreter with torch, transformers, timm and open_clip.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Measure ours only.
    #[arg(long)]
    pub no_reference: bool,
}

#[derive(Args)]
pub struct BenchOnceArgs {
    #[arg(long)]
    pub encoder: String,
    #[arg(long, default_value_t = 1)]
    pub batch_size: u64,
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    #[arg(long, default_value_t = 3)]
    pub iters: u64,
}

#[derive(Args)]
pub struct EncodersArgs {
    /// Only this family.
    #[arg(long, value_enum)]
    pub family: Option<Family>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Init {
    Random,
}

#[derive(Args)]
pub struct EncodeArgs {
    /// A preset name (see `cambrian encoders`) or a spec file (.toml). May be left out when
    /// --weights is a transformers model folder.
    #[arg(long)]
    pub encoder: Option<String>,
    /// Checkpoint: a transformers folder, a .safetensors file (or a sharded index), or a
    /// PyTorch .pth/.bin/.pth.tar. Without it, a preset's weights come from the Hugging Face cache.
    #[arg(long, conflicts_with = "init")]
    pub weights: Option<PathBuf>,
    /// Random weights instead of a checkpoint (for smoke tests and timing).
    #[arg(long, value_enum)]
    pub init: Option<Init>,
    /// Seed of --init random.
    #[arg(long, default_value_t = 0, requires = "init")]
    pub seed: u64,
    /// Hidden state to hand on, counted like transformers' hidden_states (0 = embeddings,
    /// -1 = last block). Default: the encoder's feature layer in Cambrian-1.
    #[arg(long, allow_negative_numbers = true)]
    pub layer: Option<i64>,
    /// Resize the output grid bilinearly to this many tokens (a square number), as
    /// Cambrian's `interp` does. Default: the encoder's own setting (576 for DINOv2@518,
    /// ConvNeXt and SAM; none for the others).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub tokens: Option<u64>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: u64,
    /// Output safetensors file: `features` [N, T, C] f32 and `grid` [2].
    #[arg(long)]
    pub out: PathBuf,
    /// Image files (PNG, JPEG, WebP, BMP).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct LlmArgs {
    /// A transformers model folder: config.json, safetensors weights (one file or sharded),
    /// tokenizer.json.
    #[arg(long)]
    pub model: PathBuf,
    /// The user's text.
    #[arg(long)]
    pub prompt: String,
    /// Tokens to generate at most (fewer if an end-of-sequence token comes first).
    #[arg(long, default_value_t = 32)]
    pub max_new_tokens: usize,
    /// Wrap the prompt in one of Cambrian's conversation templates; without it the prompt is
    /// tokenized as given.
    #[arg(long, value_enum)]
    pub template: Option<Template>,
    /// Also save the logits of every prompt position and generated step (safetensors:
    /// prompt_ids, prompt_logits [T, V], generated_ids, step_logits [N, V]).
    #[arg(long)]
    pub dump_logits: Option<PathBuf>,
}
