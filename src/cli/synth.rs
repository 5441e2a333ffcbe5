//! `cambrian synth`: the synthetic benchmark and training set, timed.

use std::time::Instant;

use anyhow::Context;

use super::args::SynthArgs;
use crate::data::synth::{Config, write};
use crate::progress::Silent;

pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let defaults = Config::new(args.samples, args.train_samples.unwrap_or(args.samples), args.size, args.seed);
    let config = Config {
        open_samples: args.open_samples.unwrap_or(defaults.open_samples),
        open_train_samples: args.open_train_samples.unwrap_or(defaults.open_train_samples),
        ..defaults
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
    if !summary.open.is_empty() {
        println!("open-ended benchmarks (questions), in open/TASK/:");
        for (task, n) in &summary.open {
            println!("  {task:<9} {n}");
        }
    }
    println!("{} open-ended training conversations", summary.open_train);
    Ok(())
}
