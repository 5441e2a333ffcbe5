//! Figure 6: training curves, loss against optimizer step, one small panel per run on a
//! shared loss scale; stage 1 (connector alignment) in grey, stage 2 (instruction tuning) in
//! the run's family colour. Runs still training, with no results yet, are included. A step
//! whose examples were all skipped has no loss: a tick on the step axis marks it.

use std::path::Path;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{Entry, Swatch, legend, mesh};
use super::render::{DrawResult, Figure};
use super::style::{COMBINATION, FAMILIES, LABEL_PX, MUTED, TICK_PX, bold, family_colour, muted, text};
use super::sweep::{Sweep, recipe_difference};
use crate::results::{MetricRow, read_metrics};

const STAGE1: RGBColor = RGBColor(150, 150, 150);
const SKIPPED: RGBColor = RGBColor(214, 110, 20);
const COLUMNS: usize = 4;
const PANEL_PX: u32 = 340;

struct Curve {
    title: String,
    detail: String,
    colour: RGBColor,
    /// (step counted over both stages, loss) per stage
    stage1: Vec<(f64, f64)>,
    stage2: Vec<(f64, f64)>,
    /// Steps (counted over both stages) that were skipped.
    skipped: Vec<f64>,
}

pub struct Training {
    caption: String,
    curves: Vec<Curve>,
    legend: Vec<Entry>,
    loss_max: f64,
}

impl Training {
    /// Reads every run folder's metrics.csv. Err: why the figure does not apply; `notes`
    /// gets a line per log that could not be read.
    pub fn new(sweep: &Sweep, dir: &Path, notes: &mut Vec<String>) -> Result<Training, String> {
        let main = sweep.main_recipe();
        let mut curves = Vec::new();
        let mut logged = |id: &str, title: String, detail: String, colour: RGBColor, notes: &mut Vec<String>| {
            let path = dir.join(id).join("metrics.csv");
            if !path.exists() {
                return;
            }
            match read_metrics(&path) {
                Ok(rows) if rows.is_empty() => notes.push(format!("Run {id} has logged no training step yet.")),
                Ok(rows) => curves.push(curve(title, detail, colour, &rows)),
                Err(err) => notes.push(format!("Training curve of run {id} left out: {err}.")),
            }
        };
        for run in &sweep.runs {
            let mut detail = vec![format!("seed {}", run.seed)];
            detail.extend(main.map(|m| recipe_difference(&run.recipe, m)).unwrap_or_default());
            let colour = if run.is_combination() { COMBINATION } else { family_colour(run.families[0]) };
            logged(&run.id, run.encoder.clone(), detail.join(", "), colour, notes);
        }
        for id in unlisted_runs(sweep, dir) {
            logged(&id, id.clone(), "no results yet".into(), MUTED, notes);
        }
        if curves.is_empty() {
            return Err("no run folder has a metrics.csv with logged steps".into());
        }
        let loss_max = curves.iter().flat_map(|c| c.stage1.iter().chain(&c.stage2)).map(|p| p.1).fold(0.0, f64::max);
        let mut legend = vec![Entry::new("stage 1 (alignment)", STAGE1)];
        legend.extend(
            FAMILIES
                .iter()
                .filter(|f| curves.iter().any(|c| c.colour == family_colour(**f)))
                .map(|&f| Entry::new(format!("stage 2, {f}"), family_colour(f))),
        );
        if curves.iter().any(|c| c.colour == COMBINATION) {
            legend.push(Entry::new("stage 2, combination", COMBINATION));
        }
        if curves.iter().any(|c| c.colour == MUTED) {
            legend.push(Entry::new("stage 2, run without results yet", MUTED));
        }
        let skipped = curves.iter().any(|c| !c.skipped.is_empty());
        if skipped {
            legend.push(Entry::with("step skipped (no usable example)", SKIPPED, Swatch::Tick));
        }
        let caption = format!(
            "Training loss against optimizer step for the {} runs with a training log, on one loss scale; stage 2 \
             continues the step count after stage 1 (dashed line). Under each encoder: its seed and where its recipe \
             differs from the sweep's main recipe.{}",
            curves.len(),
            if skipped { " Ticks on the step axis mark steps whose examples were all skipped: they have no loss." } else { "" }
        );
        Ok(Training { caption, curves, legend, loss_max })
    }
}

/// The loss per stage and the skipped steps, with stage 2's steps counted on after stage 1's;
/// a loss that is not finite (an older log of a diverged run) is left out.
fn curve(title: String, detail: String, colour: RGBColor, rows: &[MetricRow]) -> Curve {
    let offset = rows.iter().filter(|r| r.stage == 1).map(|r| r.step as f64 + 1.0).fold(0.0, f64::max);
    let x = |r: &MetricRow| if r.stage == 1 { r.step as f64 } else { offset + r.step as f64 };
    let logged = |stage| {
        let finite = |r: &MetricRow| r.loss.filter(|loss| loss.is_finite()).map(|loss| (x(r), loss));
        rows.iter().filter(|r| r.stage == stage).filter_map(finite).collect()
    };
    let skipped: Vec<f64> = rows.iter().filter(|r| r.loss.is_none()).map(x).collect();
    let detail = match skipped.len() {
        0 => detail,
        1 => format!("{detail}, 1 step skipped"),
        n => format!("{detail}, {n} steps skipped"),
    };
    Curve { title, detail, colour, stage1: logged(1), stage2: logged(2), skipped }
}

/// Folders in the sweep with a metrics.csv but no rows in results.csv: runs still training.
fn unlisted_runs(sweep: &Sweep, dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("metrics.csv").is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|id| !sweep.runs.iter().any(|r| &r.id == id))
        .collect();
    ids.sort();
    ids
}

impl Figure for Training {
    const NAME: &'static str = "training";
    const TITLE: &'static str = "Training curves";

    fn caption(&self) -> &str {
        &self.caption
    }

    fn size(&self) -> (u32, u32) {
        let rows = self.curves.len().div_ceil(COLUMNS) as u32;
        (1600, 190 + PANEL_PX * rows)
    }

    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = legend(body, &self.legend)?.margin(0, 10, 10, 10);
        let rows = self.curves.len().div_ceil(COLUMNS);
        let (_, height) = body.dim_in_pixel();
        let grid = body.split_vertically((PANEL_PX * rows as u32).min(height)).0;
        for (curve, area) in self.curves.iter().zip(grid.split_evenly((rows, COLUMNS))) {
            self.panel(curve, &area)?;
        }
        Ok(())
    }
}

impl Training {
    fn panel<DB: DrawingBackend>(&self, curve: &Curve, area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let (width, _) = area.dim_in_pixel();
        let (head, plot) = area.split_vertically(52);
        head.draw(&Text::new(
            fit(&head, &curve.title, width - 20, bold(LABEL_PX - 2.0))?,
            (width as i32 / 2, 4),
            bold(LABEL_PX - 2.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        head.draw(&Text::new(
            curve.detail.clone(),
            (width as i32 / 2, 28),
            muted(TICK_PX - 2.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
        let steps =
            curve.stage1.iter().chain(&curve.stage2).map(|p| p.0).chain(curve.skipped.iter().copied()).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(&plot)
            .margin_right(16)
            .x_label_area_size(44)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..steps, 0.0..self.loss_max * 1.05)?;
        mesh(&mut chart)
            .x_labels(5)
            .y_labels(5)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(text(TICK_PX - 2.0))
            .x_desc("step")
            .y_desc("loss")
            .axis_desc_style(text(TICK_PX - 1.0))
            .draw()?;
        if let (Some(last), false) = (curve.stage1.last(), curve.stage2.is_empty()) {
            let boundary = last.0 + 0.5;
            chart.draw_series([DashedPathElement::new(vec![(boundary, 0.0), (boundary, self.loss_max * 1.05)], 4, 4, MUTED)])?;
        }
        chart.draw_series(LineSeries::new(curve.stage1.clone(), STAGE1.stroke_width(2)))?;
        chart.draw_series(LineSeries::new(curve.stage2.clone(), curve.colour.stroke_width(2)))?;
        let tick = self.loss_max * 0.06;
        chart.draw_series(curve.skipped.iter().map(|&x| PathElement::new(vec![(x, 0.0), (x, tick)], SKIPPED.stroke_width(3))))?;
        Ok(())
    }
}

/// `label`, shortened with an ellipsis in the middle until it fits `max_px`.
fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    label: &str,
    max_px: u32,
    style: TextStyle,
) -> Result<String, DrawingAreaErrorKind<DB::ErrorType>> {
    let chars: Vec<char> = label.chars().collect();
    let mut keep = chars.len();
    loop {
        let candidate = if keep == chars.len() {
            label.to_string()
        } else {
            let head: String = chars[..keep.div_ceil(2)].iter().collect();
            let tail: String = chars[chars.len() - keep / 2..].iter().collect();
            format!("{head}…{tail}")
        };
        if keep <= 8 || area.estimate_text_size(&candidate, &style)?.0 <= max_px {
            return Ok(candidate);
        }
        keep -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_step_is_marked_as_skipped_not_left_out() {
        let path = std::env::temp_dir().join(format!("cambrian-training-curve-{}.csv", std::process::id()));
        let log = "stage,step,loss,lr,grad_norm,tokens_per_sec,secs\n1,0,2.5,1e-3,1,10,1\n1,1,,1e-3,0,0,1\n\
                   2,0,1.5,1e-3,1,10,2\n2,1,,1e-3,0,0,2\n2,2,1.25,1e-3,1,10,3\n";
        std::fs::write(&path, log).unwrap();
        let rows = read_metrics(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let curve = curve("run".into(), "seed 0".into(), MUTED, &rows);
        assert_eq!(curve.stage1, [(0.0, 2.5)]);
        assert_eq!(curve.stage2, [(2.0, 1.5), (4.0, 1.25)], "stage 2 counts on after stage 1's skipped last step");
        assert_eq!(curve.skipped, [1.0, 3.0]);
        assert_eq!(curve.detail, "seed 0, 2 steps skipped");
    }
}
