//! `cambrian plan RUN.toml`: the run's expected peak device memory per stage, by part
//! (`crate::train::plan`), from its configs alone; with `--memory-gb`, whether it fits.

use std::path::PathBuf;

use anyhow::Context;
use burn::tensor::Device;

use crate::train::config::RunConfig;
use crate::train::plan::{Plan, plan};

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The run's TOML.
    pub config: PathBuf,
    /// The device's memory in GiB: fail when the run would not fit.
    #[arg(long)]
    pub memory_gb: Option<f64>,
}

pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let config = RunConfig::from_file(&args.config)?;
    // Counting parameters builds the model lazily: nothing is drawn or loaded.
    let plan = plan(&config, &Device::flex()).with_context(|| format!("planning {}", args.config.display()))?;
    print!("{}", plan.report());
    if let Some(limit) = args.memory_gb {
        check(&plan, limit)?;
        println!("fits in {limit} GiB");
    }
    Ok(())
}

/// Refuses `plan` when its peak is above `limit_gib` GiB.
pub fn check(plan: &Plan, limit_gib: f64) -> anyhow::Result<()> {
    anyhow::ensure!(limit_gib.is_finite() && limit_gib > 0.0, "--memory-gb {limit_gib} must be a positive number of GiB");
    Ok(plan.check_fits((limit_gib * (1u64 << 30) as f64) as u64)?)
}
