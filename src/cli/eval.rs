//! `cambrian eval`: a trained run on a benchmark, per image mode; writes
//! `RUN/eval/NAME.MODE.json` (scores, per-question answers, the unreadable and the degraded
//! items) and prints the scores.

use anyhow::Context;
use burn::tensor::Device;

use super::args::EvalArgs;
use super::bar::Bar;
use crate::atomic::write_json;
use crate::data::cvbench::load::benchmark;
use crate::eval::mc::{Options, evaluate, report_file};
use crate::train::load_run;

pub fn run(args: &EvalArgs, device: &Device, quiet: bool) -> anyhow::Result<()> {
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args.benchmark.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "benchmark".into()),
    };
    let benchmark = benchmark(&args.benchmark, &name, args.category).context("loading the benchmark")?;
    let run = load_run(&args.run, device).with_context(|| format!("loading the run in {}", args.run.display()))?;
    let bar = Bar::new(quiet);
    println!("{:<16} {:<12} {:>10} {:>10} {:>8}", "benchmark", "vision", "generation", "likelihood", "chance");
    for &mode in &args.vision {
        let options = Options {
            template: run.config.template,
            max_length: run.config.max_length,
            max_new_tokens: args.max_new_tokens as usize,
            mode,
            features: run.features(),
            allow_degraded: args.allow_degraded,
        };
        let report = evaluate(&run.model, &run.tokenizer, &run.llm_config.eos_token_ids, &benchmark, &options, device, &bar)?;
        if let Some(cache) = &run.cache {
            tracing::info!("{}: image features {}", mode.name(), cache.take_counts());
        }
        let path = args.run.join("eval").join(report_file(&name, mode));
        std::fs::create_dir_all(args.run.join("eval"))
            .with_context(|| format!("creating {}", args.run.join("eval").display()))?;
        write_json(&path, &report)?;
        println!(
            "{name:<16} {:<12} {:>10.4} {:>10.4} {:>8.4}",
            mode.name(),
            report.generation.value,
            report.likelihood.value,
            report.chance
        );
        if !report.unreadable.is_empty() {
            eprintln!("warning: {} images could not be read; those items count as wrong", report.unreadable.len());
        }
        if !report.degraded.is_empty() {
            eprintln!(
                "warning: {} questions lose image or answer tokens at max_length {} (first: item {}); scored as they are",
                report.degraded.len(),
                run.config.max_length,
                report.degraded[0]
            );
        }
    }
    Ok(())
}
