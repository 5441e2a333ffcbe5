//! `cambrian synth`: the synthetic benchmark and training set, timed.

use std::time::Instant;

use anyhow::Context;

use super::args::SynthArgs;
use crate::data::synth::{Config, write};
use crate::progress::Silent;

pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let config = Config {
        samples: args.samples,
        train_samples: args.train_samples.unwrap_or(args.samples),
        size: args.size,
        seed: args.seed,
    };
    let start = Instant::now();
    let summary = write(&config, &args.out, &Silent).with_context(|| format!("writing {}", args.out.display()))?;
    let secs = start.elapsed().as_secs_f64();
    let total: u64 = summary.questions.values().sum();
    println!(
        "{total} benchmark items and {} training scenes at {} px in {}, {secs:.2} s",
        summary.train,
        config.size,
        args.out.display()
    );
    for (task, n) in &summary.questions {
        println!("  {task:<9} {n}");
    }
    Ok(())
}
