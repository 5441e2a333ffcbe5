//! `cambrian pretrain`: one encoder pre-trained with one objective on a synth folder's
//! training scenes, resuming what an earlier (killed) invocation left in `--out`.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;
use clap::Args;

use super::bar::Bar;
use crate::encoders::registry::resolve;
use crate::pretrain::contrastive::ContrastiveLoss;
use crate::pretrain::{Objective, PretrainConfig, pretrain};
use crate::sweep::lock::RunLock;

#[derive(Args)]
pub struct PretrainArgs {
    #[arg(long, value_enum)]
    pub objective: Objective,
    /// The encoder spec: a tiny ViT in the timm layout (sweeps/encoders/tiny-vit.toml).
    #[arg(long)]
    pub encoder: String,
    /// A `cambrian synth` folder (its train/truth.jsonl and maps).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long)]
    pub steps: u64,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Peak learning rate (AdamW, 5% warmup, cosine decay).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f64,
    /// Only with `--objective contrastive`: CLIP's InfoNCE or SigLIP's sigmoid loss.
    #[arg(long, value_enum, default_value_t = ContrastiveLoss::Infonce)]
    pub contrastive_loss: ContrastiveLoss,
    /// Steps between checkpoints (0: none).
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// The run folder: encoder.safetensors and encoder.toml appear in it.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: &PretrainArgs, device: &Device, quiet: bool) -> anyhow::Result<()> {
    let spec = resolve(Some(args.encoder.as_str()), None)?.spec;
    let config = PretrainConfig {
        objective: args.objective,
        contrastive_loss: args.contrastive_loss,
        steps: args.steps,
        batch_size: args.batch_size,
        seed: args.seed,
        lr: args.lr,
        weight_decay: args.weight_decay,
        warmup_ratio: 0.05,
        max_grad_norm: 1.0,
        checkpoint_every: args.checkpoint_every,
    };
    let out = args.out.display();
    let Some(_lock) = RunLock::acquire(&args.out).with_context(|| format!("locking {out}"))? else {
        anyhow::bail!("another process is pre-training into {out} (it holds {out}/lock); wait for it, or use another folder");
    };
    let summary = pretrain(&config, &spec, &args.data, &args.out, device, &Bar::new(quiet))
        .with_context(|| format!("pre-training into {out}"))?;
    let last = summary.losses.last().map_or("-".into(), |l| format!("{l:.4}"));
    let first = summary.losses.first().map_or("-".into(), |l| format!("{l:.4}"));
    println!(
        "{}: {} steps on {} scenes, loss {first} → {last}, {:.1} s; encoder spec {}",
        summary.objective.name(),
        summary.steps,
        summary.scenes,
        summary.train_secs,
        summary.encoder.display()
    );
    Ok(())
}
