//! `cambrian cvbench build`: CV-Bench from detection annotations, with a summary of the
//! questions made and the inputs skipped, by reason.

use anyhow::Context;

use super::args::CvbenchBuildArgs;
use crate::data::cvbench::build::{Inputs, Options, build as build_benchmark};

pub fn build(args: &CvbenchBuildArgs) -> anyhow::Result<()> {
    let inputs =
        Inputs { images: args.images.clone(), coco: args.coco.clone(), ade20k: args.ade20k.clone(), omni3d: args.omni3d.clone() };
    let options = Options {
        min_box_frac: args.min_box_frac,
        margin_m: args.margin_m,
        zero_count_rate: args.zero_count_rate,
        seed: args.seed,
    };
    let report = build_benchmark(&inputs, &options, &args.out)
        .with_context(|| format!("building CV-Bench into {}", args.out.display()))?;
    let total: usize = report.questions.values().sum();
    println!("{total} questions in {}", args.out.display());
    for (task, n) in &report.questions {
        println!("  {task:<9} {n}");
    }
    if !report.skipped.is_empty() {
        println!("skipped:");
        for (reason, n) in &report.skipped {
            println!("  {n:>6}  {reason}");
        }
    }
    Ok(())
}
