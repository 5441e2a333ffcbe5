//! `cambrian train`: a run's two stages into its folder, resuming what an earlier (killed)
//! invocation left; prints each stage's summary.

use anyhow::Context;
use burn::tensor::Device;

use super::args::TrainArgs;
use super::bar::Bar;
use crate::train::config::RunConfig;
use crate::train::train;

pub fn run(args: &TrainArgs, device: &Device, quiet: bool) -> anyhow::Result<()> {
    let config = RunConfig::from_file(&args.config)?;
    let bar = Bar::new(quiet);
    let (_, summaries) =
        train(&config, &args.out, device, &bar).with_context(|| format!("training into {}", args.out.display()))?;
    for s in &summaries {
        let loss = s.final_loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        println!(
            "stage {}: {} steps, final loss {loss}, {:.1} s; skipped {} records and {} examples (reasons in stage{}/state.json)",
            s.stage, s.steps, s.train_secs, s.skipped_records, s.skipped_examples, s.stage
        );
    }
    Ok(())
}
