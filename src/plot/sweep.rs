//! A sweep's results arranged for plotting: its runs, the benchmarks and categories present,
//! encoder settings with their seeds pooled, and the recipe most encoders were trained with.

use std::collections::BTreeMap;

use crate::data::benchmark::Category;
use crate::encoders::Family;
use crate::results::{Recipe, ResultRow};

use super::stats::{Stat, mean};

/// The study's categories in its order.
pub const CATEGORIES: [Category; 4] = [Category::General, Category::Knowledge, Category::OcrChart, Category::VisionCentric];

pub fn category_name(category: Category) -> &'static str {
    match category {
        Category::General => "General",
        Category::Knowledge => "Knowledge",
        Category::OcrChart => "OCR & Chart",
        Category::VisionCentric => "Vision-Centric",
    }
}

/// Which score a figure reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scorer {
    /// The greedy reply, judged by the benchmark's scorer: the primary score.
    Generation,
    /// The option the model ranks most likely (multiple-choice benchmarks only).
    Likelihood,
}

impl Scorer {
    /// The score, where the benchmark has it (open-ended ones have no likelihood).
    pub fn score(self, row: &ResultRow) -> Option<f64> {
        match self {
            Scorer::Generation => Some(row.generation),
            Scorer::Likelihood => row.likelihood,
        }
    }

    /// The score with vision disabled, where it was evaluated.
    pub fn blind(self, row: &ResultRow) -> Option<f64> {
        match self {
            Scorer::Generation => row.generation_blind,
            Scorer::Likelihood => row.likelihood_blind,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scorer::Generation => "generation (greedy answer, judged by the benchmark's scorer)",
            Scorer::Likelihood => "likelihood (option ranking)",
        }
    }
}

/// One panel of a figure or one column of the report's table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column {
    Category(Category),
    /// The mean of the category means, as the study averages.
    Average,
}

impl Column {
    pub fn label(self) -> &'static str {
        match self {
            Column::Category(category) => category_name(category),
            Column::Average => "Average",
        }
    }
}

pub struct Benchmark {
    pub name: String,
    pub category: Category,
}

pub struct Run {
    pub id: String,
    pub encoder: String,
    pub families: Vec<Family>,
    /// `random` or the checkpoint, per encoder, as results.csv's `weights`.
    pub weights: String,
    pub recipe: Recipe,
    pub seed: u64,
    /// Benchmark name → its row.
    pub rows: BTreeMap<String, ResultRow>,
}

impl Run {
    pub fn is_combination(&self) -> bool {
        self.families.len() > 1
    }

    /// Mean score over this run's benchmarks of `category`, as a fraction.
    pub fn category_mean(&self, category: Category, scorer: Scorer) -> Option<f64> {
        let scores: Vec<f64> = self.rows.values().filter(|r| r.category == category).filter_map(|r| scorer.score(r)).collect();
        mean(&scores)
    }

    /// A category's mean, or the mean of the category means over `categories` (none when the
    /// run lacks one of them).
    pub fn value(&self, column: Column, categories: &[Category], scorer: Scorer) -> Option<f64> {
        match column {
            Column::Category(category) => self.category_mean(category, scorer),
            Column::Average => {
                let means: Option<Vec<f64>> = categories.iter().map(|&c| self.category_mean(c, scorer)).collect();
                mean(&means?)
            }
        }
    }
}

/// One encoder (or combination) with the same weights under one recipe, over its seeds.
pub struct Setting<'a> {
    pub encoder: &'a str,
    pub families: &'a [Family],
    pub weights: &'a str,
    pub recipe: &'a Recipe,
    pub runs: Vec<&'a Run>,
}

impl Setting<'_> {
    /// The column's value over seeds, in percent.
    pub fn stat(&self, column: Column, sweep: &Sweep) -> Option<Stat> {
        let values: Vec<f64> =
            self.runs.iter().filter_map(|r| r.value(column, &sweep.categories, Scorer::Generation)).map(|v| 100.0 * v).collect();
        Stat::of(&values)
    }
}

pub struct Sweep {
    pub name: String,
    /// In the study's category order, then in order of first appearance.
    pub benchmarks: Vec<Benchmark>,
    /// The categories that have at least one benchmark, in the study's order.
    pub categories: Vec<Category>,
    /// In order of first appearance.
    pub runs: Vec<Run>,
}

impl Sweep {
    /// Groups rows by run. `families` of every row must parse (as `read_results` checks).
    pub fn new(rows: Vec<ResultRow>) -> Result<Sweep, String> {
        let name = rows.first().map(|r| r.sweep.clone()).unwrap_or_default();
        let mut runs: Vec<Run> = Vec::new();
        let mut benchmarks: Vec<Benchmark> = Vec::new();
        for row in rows {
            if !benchmarks.iter().any(|b| b.name == row.benchmark) {
                benchmarks.push(Benchmark { name: row.benchmark.clone(), category: row.category });
            }
            let index = match runs.iter().position(|r| r.id == row.run) {
                Some(index) => index,
                None => {
                    runs.push(Run {
                        id: row.run.clone(),
                        encoder: row.encoder.clone(),
                        families: row.families()?,
                        weights: row.weights.clone(),
                        recipe: row.recipe(),
                        seed: row.seed,
                        rows: BTreeMap::new(),
                    });
                    runs.len() - 1
                }
            };
            runs[index].rows.insert(row.benchmark.clone(), row);
        }
        benchmarks.sort_by_key(|b| CATEGORIES.iter().position(|&c| c == b.category));
        let categories = CATEGORIES.into_iter().filter(|&c| benchmarks.iter().any(|b| b.category == c)).collect();
        Ok(Sweep { name, benchmarks, categories, runs })
    }

    /// The categories present, then the average.
    pub fn columns(&self) -> Vec<Column> {
        self.categories.iter().map(|&c| Column::Category(c)).chain([Column::Average]).collect()
    }

    /// Runs grouped by encoder, weights and recipe, in order of first appearance.
    pub fn settings(&self) -> Vec<Setting<'_>> {
        let mut settings: Vec<Setting> = Vec::new();
        for run in &self.runs {
            match settings.iter_mut().find(|s| s.encoder == run.encoder && s.weights == run.weights && *s.recipe == run.recipe) {
                Some(setting) => setting.runs.push(run),
                None => settings.push(Setting {
                    encoder: &run.encoder,
                    families: &run.families,
                    weights: &run.weights,
                    recipe: &run.recipe,
                    runs: vec![run],
                }),
            }
        }
        settings
    }

    /// The recipe shared by the most single encoders (the first such on a tie): the one the
    /// encoder comparison uses.
    pub fn main_recipe(&self) -> Option<&Recipe> {
        let singles: Vec<&Recipe> = self.settings().iter().filter(|s| s.families.len() == 1).map(|s| s.recipe).collect();
        // max_by_key keeps the last of equals: look from the end to keep the first
        singles.iter().rev().max_by_key(|r| singles.iter().filter(|other| other == r).count()).copied()
    }

    /// Per run, the benchmarks that other runs have and it lacks (a sweep still running).
    pub fn missing(&self) -> Vec<(&Run, Vec<&str>)> {
        self.runs
            .iter()
            .map(|run| {
                let lacks: Vec<&str> =
                    self.benchmarks.iter().filter(|b| !run.rows.contains_key(&b.name)).map(|b| b.name.as_str()).collect();
                (run, lacks)
            })
            .filter(|(_, lacks)| !lacks.is_empty())
            .collect()
    }
}

/// A recipe in a few words, for labels: `mlp2x_gelu, stage 1 1.2M, stage 2 737K, frozen, vicuna-7b`.
pub fn describe_recipe(recipe: &Recipe) -> String {
    format!(
        "{}, {}, stage 2 {}, {}, {}",
        recipe.connector,
        match recipe.stage1_samples {
            0 => "one-stage".to_string(),
            n => format!("stage 1 {}", samples(n)),
        },
        samples(recipe.stage2_samples),
        if recipe.encoder_trainable { "unfrozen" } else { "frozen" },
        recipe.llm
    )
}

/// The settings in which `recipe` differs from `reference`, in a few words each
/// (`unfrozen`, `one-stage`, `linear`); empty when they are equal.
pub fn recipe_difference(recipe: &Recipe, reference: &Recipe) -> Vec<String> {
    let mut words = Vec::new();
    if recipe.connector != reference.connector {
        words.push(recipe.connector.clone());
    }
    if recipe.stage1_samples != reference.stage1_samples {
        words.push(match recipe.stage1_samples {
            0 => "one-stage".to_string(),
            n => format!("stage 1 {}", samples(n)),
        });
    }
    if recipe.stage2_samples != reference.stage2_samples {
        words.push(format!("stage 2 {}", samples(recipe.stage2_samples)));
    }
    if recipe.encoder_trainable != reference.encoder_trainable {
        words.push(if recipe.encoder_trainable { "unfrozen" } else { "frozen" }.to_string());
    }
    if recipe.llm != reference.llm {
        words.push(recipe.llm.clone());
    }
    words
}

/// A sample count the way the study writes it: 737K, 1.2M.
pub fn samples(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{}K", trim(n as f64 / 1e3)),
        _ => format!("{}M", trim(n as f64 / 1e6)),
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_counts_read_like_the_paper() {
        assert_eq!(samples(1_200_000), "1.2M");
        assert_eq!(samples(737_000), "737K");
        assert_eq!(samples(558_000), "558K");
        assert_eq!(samples(500), "500");
        assert_eq!(samples(5_000_000), "5M");
    }
}
