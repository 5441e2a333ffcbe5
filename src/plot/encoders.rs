//! Figure 1, the study's main figure: every single encoder's score per category and on
//! average, grouped and coloured by family, under the sweep's main recipe.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::bars::{BarRow, Bars};
use super::layout::Entry;
use super::render::{DrawResult, Figure};
use super::style::{FAMILIES, family_colour};
use super::sweep::{Column, Setting, Sweep, describe_recipe};

pub struct Encoders {
    caption: String,
    bars: Bars,
}

impl Encoders {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Encoders, String> {
        let recipe = sweep.main_recipe().ok_or("no single-encoder runs")?;
        let columns = sweep.columns();
        let mut settings: Vec<_> = sweep.settings().into_iter().filter(|s| s.families.len() == 1 && s.recipe == recipe).collect();
        let family_rank = |s: &Setting| FAMILIES.iter().position(|&f| f == s.families[0]);
        let average = |s: &Setting| s.stat(Column::Average, sweep).map_or(f64::NEG_INFINITY, |a| a.mean);
        settings.sort_by(|a, b| family_rank(a).cmp(&family_rank(b)).then(average(b).total_cmp(&average(a))));
        let rows: Vec<BarRow> = settings
            .iter()
            .enumerate()
            .map(|(i, s)| BarRow {
                label: s.encoder.to_string(),
                heading: false,
                colour: family_colour(s.families[0]),
                emphasis: false,
                group_start: i > 0 && settings[i - 1].families != s.families,
                values: columns.iter().map(|&c| s.stat(c, sweep)).collect(),
            })
            .collect();
        let seeds = settings.iter().any(|s| s.runs.len() > 1);
        let caption = format!(
            "Generation score (%): mean over each category's benchmarks; Average = mean of the categories.{} Recipe: {}.",
            if seeds { " Bars: mean over seeds, whiskers ±1 s.d." } else { "" },
            describe_recipe(recipe)
        );
        let present: Vec<_> = FAMILIES.iter().filter(|f| settings.iter().any(|s| s.families[0] == **f)).collect();
        let legend = present.into_iter().map(|&f| Entry::new(f.to_string(), family_colour(f))).collect();
        let panels = columns.iter().map(|c| c.label()).collect();
        Ok(Encoders { caption, bars: Bars { panels, rows, marks: Vec::new(), legend } })
    }
}

impl Figure for Encoders {
    const NAME: &'static str = "encoders";
    const TITLE: &'static str = "Vision encoders by family";

    fn caption(&self) -> &str {
        &self.caption
    }

    fn size(&self) -> (u32, u32) {
        self.bars.size()
    }

    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        self.bars.draw(body)
    }
}
