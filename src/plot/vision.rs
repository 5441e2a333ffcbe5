//! Figure 4: which benchmarks need vision. Per benchmark, the score with the image and with
//! vision disabled (the same models, text only), beside the random-guess score, for both
//! scorers: a benchmark whose blind score sits near its image score is answered by the LLM.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{Entry, Swatch, legend, mesh, row_labels, widest};
use super::render::{DrawResult, Figure};
use super::stats::mean;
use super::style::{INK, LABEL_PX, MUTED, PANEL_TITLE_PX, TICK_PX, bold, category_colour, text};
use super::sweep::{CATEGORIES, Scorer, Sweep, category_name};
use crate::data::benchmark::Category;

/// One benchmark under one scorer, in percent, over the runs evaluated blind.
struct Row {
    benchmark: String,
    category: Category,
    with_image: f64,
    blind: f64,
    /// Where the benchmark's loader knows it.
    chance: Option<f64>,
}

struct Panel {
    scorer: Scorer,
    rows: Vec<Row>,
}

pub struct Vision {
    caption: String,
    panels: Vec<Panel>,
    legend: Vec<Entry>,
}

impl Vision {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Vision, String> {
        let panels: Vec<Panel> = [Scorer::Generation, Scorer::Likelihood]
            .into_iter()
            .map(|scorer| Panel { scorer, rows: rows(sweep, scorer) })
            .filter(|p| !p.rows.is_empty())
            .collect();
        let Some(first) = panels.first() else {
            return Err("no run was evaluated with vision disabled (generation_blind and likelihood_blind are empty)".into());
        };
        let runs = sweep
            .runs
            .iter()
            .filter(|r| r.rows.values().any(|row| row.generation_blind.is_some() || row.likelihood_blind.is_some()));
        let caption = format!(
            "Score (%) with the image (filled) and with vision disabled (ring), mean over the {} runs evaluated both \
             ways; the black tick is the random-guess score (multiple-choice benchmarks), the number the gain from seeing. Benchmarks by \
             category, largest gain first. Panels: {}.",
            runs.count(),
            panels.iter().map(|p| p.scorer.describe()).collect::<Vec<_>>().join("; ")
        );
        let mut legend: Vec<Entry> = CATEGORIES
            .into_iter()
            .filter(|c| first.rows.iter().any(|r| r.category == *c))
            .map(|c| Entry::new(category_name(c), category_colour(c)))
            .collect();
        legend.push(Entry::with("with image", MUTED, Swatch::Dot));
        legend.push(Entry::with("vision disabled", MUTED, Swatch::Ring));
        legend.push(Entry::with("random guess", INK, Swatch::Tick));
        Ok(Vision { caption, panels, legend })
    }
}

/// The benchmarks with blind scores under `scorer`, by category, largest gain first.
fn rows(sweep: &Sweep, scorer: Scorer) -> Vec<Row> {
    let mut rows: Vec<Row> = sweep
        .benchmarks
        .iter()
        .filter_map(|benchmark| {
            let evaluated: Vec<_> = sweep
                .runs
                .iter()
                .filter_map(|run| run.rows.get(&benchmark.name))
                .filter_map(|row| Some((scorer.score(row)?, scorer.blind(row)?, row.chance)))
                .collect();
            let percent = |values: Vec<f64>| mean(&values).map(|m| 100.0 * m);
            Some(Row {
                benchmark: benchmark.name.clone(),
                category: benchmark.category,
                with_image: percent(evaluated.iter().map(|(seeing, _, _)| *seeing).collect())?,
                blind: percent(evaluated.iter().map(|(_, blind, _)| *blind).collect())?,
                chance: evaluated.iter().map(|(_, _, chance)| *chance).collect::<Option<Vec<f64>>>().and_then(percent),
            })
        })
        .collect();
    let rank = |c: Category| CATEGORIES.iter().position(|&k| k == c);
    rows.sort_by(|a, b| {
        rank(a.category).cmp(&rank(b.category)).then((b.with_image - b.blind).total_cmp(&(a.with_image - a.blind)))
    });
    rows
}

impl Figure for Vision {
    const NAME: &'static str = "vision";
    const TITLE: &'static str = "Which benchmarks need vision";

    fn caption(&self) -> &str {
        &self.caption
    }

    fn size(&self) -> (u32, u32) {
        let rows = self.panels.iter().map(|p| p.rows.len()).max().unwrap_or(0) as u32;
        (1600, (320 + 44 * rows).max(480))
    }

    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = legend(body, &self.legend)?.margin(0, 10, 10, 10);
        let labels = self.panels.iter().flat_map(|p| p.rows.iter().map(|r| r.benchmark.clone()));
        let gutter_px = widest(&body, labels, &text(LABEL_PX))? + 24;
        let (gutter, panels) = body.split_horizontally(gutter_px);
        // Each panel gets its own labels in a gutter: their row orders may differ.
        let areas = panels.split_evenly((1, self.panels.len()));
        for (p, (panel, area)) in self.panels.iter().zip(&areas).enumerate() {
            let (label_area, plot_area) =
                if p == 0 { (gutter.clone(), area.clone()) } else { area.split_horizontally(gutter_px) };
            draw_panel(panel, &label_area, &plot_area)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(
    panel: &Panel,
    gutter: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
) -> DrawResult<DB> {
    let n = panel.rows.len() as f64;
    let title = match panel.scorer {
        Scorer::Generation => "Generation",
        Scorer::Likelihood => "Likelihood",
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, bold(PANEL_TITLE_PX))
        .margin_left(8)
        .margin_right(30)
        .x_label_area_size(58)
        .build_cartesian_2d(0f64..100f64, 0f64..n)?;
    mesh(&mut chart)
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("score (%)")
        .draw()?;
    let mut labels = Vec::new();
    for (i, row) in panel.rows.iter().enumerate() {
        let y = n - i as f64 - 0.5;
        labels.push((row.benchmark.clone(), chart.backend_coord(&(0.0, y)).1, text(LABEL_PX)));
        if i > 0 && panel.rows[i - 1].category != row.category {
            chart.draw_series([PathElement::new(vec![(0.0, y + 0.5), (100.0, y + 0.5)], MUTED.stroke_width(1))])?;
        }
        let colour = category_colour(row.category);
        if let Some(chance) = row.chance {
            chart.draw_series([PathElement::new(vec![(chance, y - 0.3), (chance, y + 0.3)], INK.stroke_width(3))])?;
        }
        chart.draw_series([PathElement::new(vec![(row.blind, y), (row.with_image, y)], colour.stroke_width(3))])?;
        chart.draw_series([Circle::new((row.blind, y), 8, WHITE.filled())])?;
        chart.draw_series([Circle::new((row.blind, y), 8, colour.stroke_width(3))])?;
        chart.draw_series([Circle::new((row.with_image, y), 8, colour.filled())])?;
        let gain = row.with_image - row.blind;
        let right = row.with_image.max(row.blind).max(row.chance.unwrap_or_default());
        let style = text(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series([EmptyElement::at((right, y)) + Text::new(format!("{gain:+.1}"), (14, 0), style)])?;
    }
    row_labels(gutter, &labels)
}
