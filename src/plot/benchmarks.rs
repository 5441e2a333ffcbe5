//! Figure 5, the study's benchmark-clustering analysis: the correlation of benchmark scores
//! across runs (a heatmap), and the benchmarks projected on the first two principal
//! components of their per-run scores, coloured by category.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{Entry, legend, mesh, separate, widest};
use super::render::{DrawResult, Figure};
use super::stats::{Projection, pca, pearson, standardise};
use super::style::{INK, LABEL_PX, MUTED, PANEL_TITLE_PX, TICK_PX, bold, category_colour, text};
use super::sweep::{CATEGORIES, Run, Scorer, Sweep, category_name};
use crate::data::benchmark::Category;

pub struct Benchmarks {
    caption: String,
    names: Vec<String>,
    categories: Vec<Category>,
    /// [benchmarks][benchmarks]; None where too few runs share the pair or one is constant.
    correlation: Vec<Vec<Option<f64>>>,
    projection: Projection,
    legend: Vec<Entry>,
}

impl Benchmarks {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Benchmarks, String> {
        let benchmarks = &sweep.benchmarks;
        if benchmarks.len() < 3 {
            return Err(format!("only {} benchmark(s); clustering needs at least 3", benchmarks.len()));
        }
        let score = |run: &Run, name: &str| run.rows.get(name).and_then(|row| Scorer::Generation.score(row));
        let correlation = benchmarks
            .iter()
            .map(|a| {
                benchmarks
                    .iter()
                    .map(|b| {
                        let pairs: Vec<(f64, f64)> =
                            sweep.runs.iter().filter_map(|r| Some((score(r, &a.name)?, score(r, &b.name)?))).collect();
                        pearson(&pairs)
                    })
                    .collect()
            })
            .collect();
        // Runs with every benchmark: each benchmark is a point with one coordinate per run,
        // standardised over the runs so that no benchmark's scale dominates.
        let complete: Vec<_> = sweep.runs.iter().filter(|r| benchmarks.iter().all(|b| r.rows.contains_key(&b.name))).collect();
        if complete.len() < 3 {
            return Err(format!("only {} run(s) have every benchmark; clustering needs at least 3", complete.len()));
        }
        let points: Vec<Vec<f64>> = benchmarks
            .iter()
            .map(|b| {
                let scores: Vec<f64> = complete.iter().filter_map(|r| score(r, &b.name)).collect();
                standardise(&scores)
            })
            .collect();
        let projection = pca(&points).ok_or("the benchmark scores do not vary across runs")?;
        let caption = format!(
            "Left: Pearson correlation of generation scores between benchmarks across runs ({} in all; each pair over \
             the runs that have both). \
             Right: each benchmark as a point whose coordinates are its scores in the {} runs that have every \
             benchmark (standardised), projected on its first two principal components; benchmarks that rank the \
             runs alike fall together.",
            sweep.runs.len(),
            complete.len()
        );
        let legend = CATEGORIES
            .into_iter()
            .filter(|c| sweep.categories.contains(c))
            .map(|c| Entry::new(category_name(c), category_colour(c)))
            .collect();
        Ok(Benchmarks {
            caption,
            names: benchmarks.iter().map(|b| b.name.clone()).collect(),
            categories: benchmarks.iter().map(|b| b.category).collect(),
            correlation,
            projection,
            legend,
        })
    }
}

impl Figure for Benchmarks {
    const NAME: &'static str = "benchmarks";
    const TITLE: &'static str = "Benchmark clustering";

    fn caption(&self) -> &str {
        &self.caption
    }

    fn size(&self) -> (u32, u32) {
        (1600, 900)
    }

    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = legend(body, &self.legend)?.margin(0, 10, 10, 10);
        let (width, _) = body.dim_in_pixel();
        let (left, right) = body.split_horizontally(width * 47 / 100);
        self.heatmap(&left)?;
        self.scatter(&right.margin(0, 0, 30, 0))
    }
}

impl Benchmarks {
    fn heatmap<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let n = self.names.len() as i32;
        let (width, height) = area.dim_in_pixel();
        let title_px = 44;
        let label_px = widest(area, self.names.iter().cloned(), &text(TICK_PX))? as i32 + 30;
        let bar_px = 90;
        let cell = ((width as i32 - label_px - bar_px) / n).min((height as i32 - title_px - label_px) / n).max(8);
        let (x0, y0) = (label_px, title_px);
        area.draw(&Text::new(
            "Correlation across runs",
            (x0 + cell * n / 2, 6),
            bold(PANEL_TITLE_PX).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        for i in 0..n {
            let (name, category) = (&self.names[i as usize], self.categories[i as usize]);
            let centre = y0 + i * cell + cell / 2;
            // row label with a category swatch; the same for the column below
            area.draw(&Text::new(name.clone(), (x0 - 22, centre), text(TICK_PX).pos(Pos::new(HPos::Right, VPos::Center))))?;
            area.draw(&Rectangle::new([(x0 - 16, centre - 6), (x0 - 4, centre + 6)], category_colour(category).filled()))?;
            let column = x0 + i * cell + cell / 2;
            let bottom = y0 + n * cell;
            area.draw(&Rectangle::new(
                [(column - 6, bottom + 4), (column + 6, bottom + 16)],
                category_colour(category).filled(),
            ))?;
            let rotated = text(TICK_PX).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center));
            area.draw(&Text::new(name.clone(), (column, bottom + 22), rotated))?;
            for j in 0..n {
                let value = self.correlation[i as usize][j as usize];
                let corner = (x0 + j * cell, y0 + i * cell);
                let fill = value.map_or(RGBColor(235, 235, 235), diverging);
                area.draw(&Rectangle::new([corner, (corner.0 + cell, corner.1 + cell)], fill.filled()))?;
                // values written in the cells where they fit
                if cell >= 40 {
                    let label = value.map_or("–".to_string(), |v| format!("{v:.2}"));
                    let ink = if value.is_some_and(|v| v.abs() > 0.6) { WHITE } else { INK };
                    let px = if cell < 60 { 13.0 } else { TICK_PX };
                    let style = text(px).color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                    area.draw(&Text::new(label, (corner.0 + cell / 2, corner.1 + cell / 2), style))?;
                }
            }
        }
        colour_bar(area, (x0 + n * cell + 24, y0), cell * n)
    }

    fn scatter<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let coords = &self.projection.coords;
        let span = |axis: usize| {
            let (lo, hi) =
                coords.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| (lo.min(c[axis]), hi.max(c[axis])));
            let pad = ((hi - lo) * 0.12).max(0.5);
            (lo - pad, hi + pad)
        };
        let ((x_lo, x_hi), (y_lo, y_hi)) = (span(0), span(1));
        // extra room on the right for the labels of the rightmost points
        let x_hi = x_hi + (x_hi - x_lo) * 0.25;
        let mut chart = ChartBuilder::on(area)
            .caption("Principal components", bold(PANEL_TITLE_PX))
            .margin(10)
            .x_label_area_size(56)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        mesh(&mut chart)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .x_desc(format!("PC1 ({:.0}% of variance)", 100.0 * self.projection.explained[0]))
            .y_desc(format!("PC2 ({:.0}% of variance)", 100.0 * self.projection.explained[1]))
            .draw()?;
        let mut boxes = Vec::new();
        for (i, c) in coords.iter().enumerate() {
            chart.draw_series([Circle::new((c[0], c[1]), 9, category_colour(self.categories[i]).filled())])?;
            let (x, y) = chart.backend_coord(&(c[0], c[1]));
            let width = area.estimate_text_size(&self.names[i], &text(LABEL_PX))?.0 as f64;
            boxes.push((x as f64 + 14.0, y as f64, width));
        }
        let (xs, ys) = area.get_pixel_range();
        for (i, new_y) in separate(&boxes, LABEL_PX + 4.0).into_iter().enumerate() {
            let position = (boxes[i].0 as i32 - xs.start, new_y.round() as i32 - ys.start);
            if (new_y - boxes[i].1).abs() > 2.0 {
                let point = (position.0 - 14, boxes[i].1 as i32 - ys.start);
                area.draw(&PathElement::new(vec![point, (position.0 - 3, position.1)], MUTED.stroke_width(1)))?;
            }
            let style = text(LABEL_PX).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(self.names[i].clone(), position, style))?;
        }
        Ok(())
    }
}

/// A principal-component tick label, without a "-0.0".
fn tick(value: &f64) -> String {
    let value = if value.abs() < 0.05 { 0.0 } else { *value };
    format!("{value:.1}")
}

/// −1 blue, 0 white, +1 red.
fn diverging(value: f64) -> RGBColor {
    let (white, blue, red) = ([247.0, 247.0, 247.0], [33.0, 102.0, 172.0], [178.0, 24.0, 43.0]);
    let t = value.clamp(-1.0, 1.0);
    let end = if t < 0.0 { blue } else { red };
    let mix = |k: usize| (white[k] + (end[k] - white[k]) * t.abs()).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// A vertical scale from +1 (top) to −1, `height_px` tall, at `(x, y)`.
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, (x, y): (i32, i32), height_px: i32) -> DrawResult<DB> {
    for step in 0..height_px {
        let value = 1.0 - 2.0 * step as f64 / (height_px - 1).max(1) as f64;
        area.draw(&Rectangle::new([(x, y + step), (x + 18, y + step + 1)], diverging(value).filled()))?;
    }
    for (value, label) in [(1.0, "1"), (0.0, "0"), (-1.0, "−1")] {
        let at = y + ((1.0 - value) / 2.0 * (height_px - 1) as f64).round() as i32;
        area.draw(&Text::new(label, (x + 24, at), text(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center))))?;
    }
    Ok(())
}
