//! `cambrian plot`: a sweep's results.csv (and its runs' metrics.csv) turned into the figures
//! of a paper, each as PNG and SVG, and a report.md that ranks the encoders and embeds them.
//! Figures that do not apply to a sweep are skipped with a note; so is what a sweep still
//! running has not produced yet.

mod bars;
mod benchmarks;
mod combinations;
mod encoders;
mod layout;
pub(crate) mod png;
mod recipes;
mod render;
mod report;
mod stats;
pub(crate) mod style;
mod sweep;
mod training;
mod vision;

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::results::{ResultsError, read_results};
use render::{Figure, render};
use sweep::{Sweep, category_name};

#[derive(Debug, Error)]
pub enum PlotError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("the bundled font does not load")]
    Font,
    #[error("drawing {figure}: {message}")]
    Draw { figure: &'static str, message: String },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// A figure that was drawn, as the report lists it.
pub struct Drawn {
    pub name: &'static str,
    pub title: &'static str,
    pub caption: String,
    pub png: PathBuf,
}

pub struct Outcome {
    pub figures: Vec<Drawn>,
    /// Figures skipped and data missing, one sentence each.
    pub notes: Vec<String>,
    pub report: PathBuf,
}

/// Reads `<sweep_dir>/results.csv` and writes the figures and report.md into `out_dir`.
pub fn plot(sweep_dir: &Path, out_dir: &Path) -> Result<Outcome, PlotError> {
    let results = sweep_dir.join("results.csv");
    let rows = read_results(&results)?;
    let sweep = Sweep::new(rows).map_err(|message| PlotError::Invalid { path: results.clone(), message })?;
    std::fs::create_dir_all(out_dir).map_err(|source| PlotError::Write { path: out_dir.to_path_buf(), source })?;

    let mut notes = data_notes(&sweep);
    let mut figures = Vec::new();
    add(encoders::Encoders::new(&sweep), out_dir, &mut figures, &mut notes)?;
    add(combinations::Combinations::new(&sweep), out_dir, &mut figures, &mut notes)?;
    add(recipes::Recipes::new(&sweep), out_dir, &mut figures, &mut notes)?;
    add(vision::Vision::new(&sweep), out_dir, &mut figures, &mut notes)?;
    add(benchmarks::Benchmarks::new(&sweep), out_dir, &mut figures, &mut notes)?;
    let training = training::Training::new(&sweep, sweep_dir, &mut notes);
    add(training, out_dir, &mut figures, &mut notes)?;
    let report = out_dir.join("report.md");
    render::write(&report, report::markdown(&sweep, &figures, &notes).as_bytes())?;
    Ok(Outcome { figures, notes, report })
}

/// Renders a figure that applies; otherwise notes why not and removes its files from an
/// earlier run, so that the folder shows only what this sweep supports.
fn add<F: Figure>(
    built: Result<F, String>,
    dir: &Path,
    figures: &mut Vec<Drawn>,
    notes: &mut Vec<String>,
) -> Result<(), PlotError> {
    match built {
        Ok(figure) => {
            let png = render(&figure, dir)?;
            figures.push(Drawn { name: F::NAME, title: F::TITLE, caption: figure.caption().to_string(), png });
        }
        Err(why) => {
            notes.push(format!("{} ({}) skipped: {why}.", F::TITLE, F::NAME));
            for extension in ["png", "svg"] {
                let stale = dir.join(format!("{}.{extension}", F::NAME));
                if stale.exists() {
                    std::fs::remove_file(&stale).map_err(|source| PlotError::Write { path: stale, source })?;
                }
            }
        }
    }
    Ok(())
}

/// What the data lacks: categories without benchmarks, runs without some benchmarks.
fn data_notes(sweep: &Sweep) -> Vec<String> {
    let mut notes = Vec::new();
    let absent: Vec<&str> = sweep::CATEGORIES.into_iter().filter(|c| !sweep.categories.contains(c)).map(category_name).collect();
    if let Some((last, rest)) = absent.split_last() {
        let names = if rest.is_empty() { last.to_string() } else { format!("{} or {last}", rest.join(", ")) };
        notes.push(format!(
            "No {names} benchmarks in this sweep: no panel or column for them; the average is over the other \
             categories."
        ));
    }
    for (run, lacks) in sweep.missing() {
        notes.push(format!(
            "Run {} has no results yet for {} of {} benchmarks ({}): its category means use the benchmarks it \
             has, and it has no average while a category has none.",
            run.id,
            lacks.len(),
            sweep.benchmarks.len(),
            lacks.join(", ")
        ));
    }
    notes
}
