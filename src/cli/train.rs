//! `cambrian train`: a run's two stages into its folder, resuming what an earlier (killed)
//! invocation left; prints each stage's summary. The folder is locked (`RUN/lock`, the
//! sweep's per-run lock) for as long as it trains, so a second process on it stops at once.

use anyhow::Context;

use super::args::TrainArgs;
use super::bar::Bar;
use crate::device::{DeviceArg, DtypeArg};
use crate::sweep::lock::RunLock;
use crate::train::config::RunConfig;
use crate::train::train;

/// `dtype` is the global `--dtype`, which training refuses: a run's precision is its config's.
pub fn run(args: &TrainArgs, device: DeviceArg, dtype: DtypeArg, quiet: bool) -> anyhow::Result<()> {
    crate::device::require_f32(dtype, "train")?;
    let config = RunConfig::from_file(&args.config)?;
    let device = crate::device::open_for_training(device, config.precision)?;
    if let Some(limit) = args.memory_gb {
        let plan = crate::train::plan::plan(&config, &device).context("planning the run's memory")?;
        super::plan::check(&plan, limit)?;
    }
    let out = args.out.display();
    let Some(_lock) = RunLock::acquire(&args.out).with_context(|| format!("locking {out}"))? else {
        anyhow::bail!("another process is training into {out} (it holds {out}/lock); wait for it, or use another folder");
    };
    let bar = Bar::new(quiet);
    let (_, summaries) = train(&config, &args.out, &device, &bar).with_context(|| format!("training into {out}"))?;
    for s in &summaries {
        let loss = s.final_loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        println!(
            "stage {}: {} steps, final loss {loss}, {:.1} s; skipped {} records and {} examples (reasons in stage{}/state.json)",
            s.stage, s.steps, s.train_secs, s.skipped_records, s.skipped_examples, s.stage
        );
    }
    Ok(())
}
