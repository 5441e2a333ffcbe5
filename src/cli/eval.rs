//! `cambrian eval`: a trained run on a benchmark, per image mode; writes
//! `RUN/eval/NAME.MODE.json` (scores, per-question replies, the unreadable and the degraded
//! questions) and prints the scores. A split whose answers are hidden (DocVQA test) gets its
//! submission file, `RUN/eval/NAME.MODE.submission.json`, instead of a score.

use anyhow::Context;
use burn::tensor::Device;

use super::args::EvalArgs;
use super::bar::Bar;
use crate::atomic::write_json;
use crate::eval::evaluate::{DEFAULT_BATCH_SIZE, DEFAULT_NEW_TOKENS, Options, Probe, Report, evaluate, report_file};
use crate::eval::questions::{Questions, Source};
use crate::mllm::buckets::Buckets;
use crate::train::load_run;

pub fn run(args: &EvalArgs, device: &Device, quiet: bool) -> anyhow::Result<()> {
    let source =
        Source { benchmark: &args.benchmark, data: args.data.as_deref(), category: args.category, name: args.name.as_deref() };
    let benchmark = Questions::load(&source).context("loading the benchmark")?;
    let name = benchmark.name.clone();
    let run = load_run(&args.run, device).with_context(|| format!("loading the run in {}", args.run.display()))?;
    let probe = Probe { model: &run.model, tokenizer: &run.tokenizer, eos_token_ids: &run.llm_config.eos_token_ids };
    let eval_dir = args.run.join("eval");
    std::fs::create_dir_all(&eval_dir).with_context(|| format!("creating {}", eval_dir.display()))?;
    let bar = Bar::new(quiet);
    println!(
        "{:<20} {:<12} {:>10} {:>11} {:>10} {:>8}",
        "benchmark", "vision", "generation", "paper score", "likelihood", "chance"
    );
    for &mode in &args.vision {
        let options = Options {
            template: run.config.template,
            max_length: run.config.max_length,
            max_new_tokens: args.max_new_tokens.map(|n| n as usize).or(benchmark.max_new_tokens).unwrap_or(DEFAULT_NEW_TOKENS),
            mode,
            features: run.features(),
            allow_degraded: args.allow_degraded,
            batch_size: args.batch_size.map_or(DEFAULT_BATCH_SIZE, |n| n as usize),
            buckets: Buckets::for_device(device),
        };
        let report = evaluate(&probe, &benchmark, &options, device, &bar)?;
        if let Some(cache) = &run.cache {
            tracing::info!("{}: image features {}", mode.name(), cache.take_counts());
        }
        write_json(&eval_dir.join(report_file(&name, mode)), &report)?;
        if let Some(submission) = benchmark.submission {
            let path = eval_dir.join(format!("{name}.{}.submission.json", mode.name()));
            let replies: Vec<Option<String>> = report.items.iter().map(|item| item.reply.clone()).collect();
            submission.write(&path, &benchmark.questions, &replies)?;
            println!("{name:<20} {:<12} submission for the official server: {}", mode.name(), path.display());
        }
        print_scores(&report);
        if !report.unreadable.is_empty() {
            eprintln!("warning: {} images could not be read; those questions count as wrong", report.unreadable.len());
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

fn print_scores(report: &Report) {
    let Some(generation) = &report.generation else { return };
    let optional = |value: Option<f64>| value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.4}"));
    println!(
        "{:<20} {:<12} {:>10.4} {:>11.2} {:>10} {:>8}",
        report.benchmark,
        report.mode.name(),
        generation.score,
        generation.paper_score,
        optional(report.likelihood.as_ref().map(|l| l.score)),
        optional(report.chance)
    );
}
