//! `cambrian score`: re-scores a benchmark's answers without a model, from an ANSWERS.jsonl
//! (`{"index": i, "answer": "..."}` per line, `i` the question's 0-based position) or from an
//! eval report (`RUN/eval/NAME.MODE.json`, its generated replies), by the benchmark's scorer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::data::benchmark::Category;
use crate::eval::evaluate::Report;
use crate::eval::questions::{Questions, Source};
use crate::eval::score::answers::{Answers, from_pairs, read_answers};

#[derive(Args)]
pub struct ScoreArgs {
    /// A benchmark preset, a spec (`.toml`), a folder with a `benchmark.toml`, a CV-Bench
    /// folder or a multiple-choice JSONL (as `eval --benchmark` takes them).
    #[arg(long)]
    pub benchmark: String,
    /// ANSWERS.jsonl, or an eval report (`.json`).
    #[arg(long)]
    pub answers: PathBuf,
    /// For a preset or spec: a folder with the dataset repository's layout.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The category of a JSONL benchmark.
    #[arg(long, value_enum)]
    pub category: Option<Category>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Scores {
    benchmark: String,
    /// The headline in [0, 1].
    score: f64,
    /// The headline in the study's units (percent; MME's perception points).
    paper_score: f64,
    parts: BTreeMap<String, f64>,
    questions: usize,
    answered: usize,
    missing: usize,
}

pub fn run(args: &ScoreArgs) -> anyhow::Result<()> {
    let source = Source { benchmark: &args.benchmark, data: args.data.as_deref(), category: args.category, name: None };
    let benchmark = Questions::load(&source).context("loading the benchmark")?;
    let scorer = benchmark
        .scorer
        .with_context(|| format!("benchmark `{}` has hidden answers: its official server scores it", benchmark.name))?;
    let questions = benchmark.questions.len();
    let answers = read(&args.answers, questions)?;
    let scored =
        scorer.score(&benchmark.truths(), &answers.predictions).with_context(|| format!("scoring {}", benchmark.name))?;
    let scores = Scores {
        benchmark: benchmark.name.clone(),
        score: scored.score,
        paper_score: scored.paper_score,
        parts: scored.parts,
        questions,
        answered: answers.answered(),
        missing: answers.missing(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores)?);
        return Ok(());
    }
    println!(
        "{}: {:.4} (paper units {:.2}), {} of {} questions answered",
        scores.benchmark, scores.score, scores.paper_score, scores.answered, questions
    );
    for (part, value) in &scores.parts {
        println!("  {part:<40} {value:.2}");
    }
    if scores.missing > 0 {
        eprintln!("warning: {} questions have no answer; they count as wrong", scores.missing);
    }
    Ok(())
}

/// The answers in `path`: an eval report's replies when it is one, else ANSWERS.jsonl lines.
fn read(path: &Path, questions: usize) -> anyhow::Result<Answers> {
    if path.extension().is_some_and(|e| e == "json") {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let report: Report = serde_json::from_slice(&bytes).with_context(|| format!("{}: not an eval report", path.display()))?;
        let replies = report.items.into_iter().filter_map(|item| Some((item.index, item.reply?)));
        return from_pairs(replies, questions).with_context(|| format!("reading the replies of {}", path.display()));
    }
    Ok(read_answers(path, questions)?)
}
