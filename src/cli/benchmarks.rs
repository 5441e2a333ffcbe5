//! `cambrian benchmarks`: the preset benchmarks as a table or JSON, with the number of
//! questions of each whose files are in the Hugging Face cache (nothing is downloaded).

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::data::suite::spec::{Submission, category_name_of};
use crate::data::suite::{BenchmarkSpec, Dataset, presets};
use crate::eval::score::Scorer;

#[derive(Args)]
pub struct BenchmarksArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    name: String,
    title: String,
    category: String,
    hub: String,
    split: Option<String>,
    /// The questions asked, when the files are cached.
    questions: Option<usize>,
    scorer: Option<Scorer>,
    submission: Option<Submission>,
    max_new_tokens: usize,
}

fn row(spec: BenchmarkSpec) -> anyhow::Result<Row> {
    let name = spec.name.clone();
    let questions = match Dataset::cached(spec.clone()).with_context(|| format!("benchmark `{name}`"))? {
        Some(dataset) => Some(dataset.count()?),
        None => None,
    };
    Ok(Row {
        category: category_name_of(spec.category),
        name,
        title: spec.title,
        hub: spec.hub,
        split: spec.split,
        questions,
        scorer: spec.scorer,
        submission: spec.submission,
        max_new_tokens: spec.max_new_tokens,
    })
}

pub fn run(args: &BenchmarksArgs) -> anyhow::Result<()> {
    let rows: Vec<Row> = presets().into_iter().map(row).collect::<anyhow::Result<_>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let width = |f: fn(&Row) -> usize, title: &str| rows.iter().map(f).max().unwrap_or(0).max(title.len());
    let (name_width, hub_width) = (width(|r| r.name.len(), "NAME"), width(|r| r.hub.len(), "HUB"));
    println!("{:<name_width$} {:<14} {:<hub_width$} {:<12} {:>10}  SCORER", "NAME", "CATEGORY", "HUB", "SPLIT", "QUESTIONS");
    for row in rows {
        let scorer = match (row.scorer, row.submission) {
            (Some(scorer), _) => serde_json::to_value(scorer)?.as_str().unwrap_or_default().to_string(),
            (None, Some(_)) => "submission file".to_string(),
            (None, None) => String::new(),
        };
        println!(
            "{:<name_width$} {:<14} {:<hub_width$} {:<12} {:>10}  {scorer}",
            row.name,
            row.category,
            row.hub,
            row.split.as_deref().unwrap_or("-"),
            row.questions.map_or("not cached".to_string(), |n| n.to_string()),
        );
    }
    Ok(())
}
