//! Horizontal bar panels sharing one column of row labels: the shape of the encoder and
//! combination figures. Long encoder names read left to right; one panel per category.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{Chart, Entry, axis_max, legend, mesh, row_labels, widest};
use super::render::DrawResult;
use super::stats::Stat;
use super::style::{INK, LABEL_PX, MUTED, PANEL_TITLE_PX, TICK_PX, bold, muted, text};

pub struct BarRow {
    pub label: String,
    /// A heading row: its label (bold, long) runs across the panels and it has no bars.
    pub heading: bool,
    pub colour: RGBColor,
    /// Bold label (a combination among its members).
    pub emphasis: bool,
    /// A separator line above this row.
    pub group_start: bool,
    /// One per panel, in percent.
    pub values: Vec<Option<Stat>>,
}

/// A dashed vertical mark over some rows, at one value per panel (a combination's best
/// single member).
pub struct Mark {
    pub rows: Range<usize>,
    pub values: Vec<Option<f64>>,
}

pub struct Bars {
    pub panels: Vec<&'static str>,
    pub rows: Vec<BarRow>,
    pub marks: Vec<Mark>,
    pub legend: Vec<Entry>,
}

/// Pixels per bar row.
const ROW_PX: u32 = 38;

/// Few rows stretch, but not beyond this.
const MIN_HEIGHT_PX: u32 = 480;
/// The thickest a bar gets, however few the rows.
const MAX_BAR_PX: f64 = 44.0;

impl Bars {
    /// The figure's size: as tall as its rows need under a title, with legend and axes.
    pub fn size(&self) -> (u32, u32) {
        (1600, (300 + ROW_PX * self.rows.len() as u32).max(MIN_HEIGHT_PX))
    }

    /// The legend at the bottom, the panels above it.
    pub fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let area = legend(body, &self.legend)?.margin(0, 10, 10, 10);
        let area = &area;
        let n = self.rows.len() as f64;
        let labels = self.rows.iter().filter(|r| !r.heading).map(|r| r.label.clone());
        let gutter_px = widest(area, labels, &bold(LABEL_PX))? + 24;
        let (gutter, body) = area.split_horizontally(gutter_px);
        let mut label_rows = Vec::new();
        let mut headings = Vec::new();
        // One scale for every panel, with room for the value labels.
        let values = self.rows.iter().flat_map(|r| r.values.iter().flatten());
        let top = values.map(|s| s.mean + s.sd.unwrap_or(0.0)).fold(0.0, f64::max);
        let x_max = axis_max(top * 1.15 + 2.0, 100.0);
        for (p, panel) in body.split_evenly((1, self.panels.len())).iter().enumerate() {
            let mut chart = ChartBuilder::on(panel)
                .caption(self.panels[p], bold(PANEL_TITLE_PX))
                .margin_left(8)
                .margin_right(26)
                .x_label_area_size(58)
                .build_cartesian_2d(0f64..x_max, 0f64..n)?;
            mesh(&mut chart)
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(5)
                .x_label_formatter(&|v| format!("{v:.0}"))
                .x_desc("score (%)")
                .draw()?;
            let row_px = f64::from(chart.backend_coord(&(0.0, 0.0)).1 - chart.backend_coord(&(0.0, 1.0)).1);
            let half = (0.34f64).min(MAX_BAR_PX / 2.0 / row_px.max(1.0));
            // under the bars and their value labels
            for mark in &self.marks {
                if let Some(value) = mark.values[p] {
                    let (top, bottom) = (n - mark.rows.start as f64, n - mark.rows.end as f64);
                    chart.draw_series([DashedPathElement::new(
                        vec![(value, top - 0.05), (value, bottom + 0.05)],
                        6,
                        4,
                        INK.stroke_width(2),
                    )])?;
                }
            }
            for (i, row) in self.rows.iter().enumerate() {
                let y = n - i as f64 - 0.5;
                let pixel_y = chart.backend_coord(&(0.0, y)).1;
                if p == 0 && row.heading {
                    headings.push((row.label.clone(), pixel_y));
                } else if p == 0 {
                    let style = if row.emphasis { bold(LABEL_PX) } else { text(LABEL_PX) };
                    label_rows.push((row.label.clone(), pixel_y, style));
                }
                if row.group_start && i > 0 {
                    chart.draw_series([PathElement::new(vec![(0.0, y + 0.5), (x_max, y + 0.5)], MUTED.stroke_width(1))])?;
                }
                if !row.heading {
                    bar(&mut chart, row, row.values[p], y, half)?;
                }
            }
        }
        row_labels(&gutter, &label_rows)?;
        for (label, pixel_y) in headings {
            heading(area, &label, pixel_y)?;
        }
        Ok(())
    }
}

/// A heading's label on a white box, from the left edge across the panels.
fn heading<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, label: &str, pixel_y: i32) -> DrawResult<DB> {
    let style = bold(LABEL_PX);
    let (width, height) = area.estimate_text_size(label, &style)?;
    let y = pixel_y - area.get_pixel_range().1.start;
    let half = height as i32 / 2 + 5;
    area.draw(&Rectangle::new([(8, y - half), (24 + width as i32, y + half)], WHITE.filled()))?;
    area.draw(&Text::new(label.to_string(), (16, y), style.pos(Pos::new(HPos::Left, VPos::Center))))
}

/// One bar, `half` a row thick each side of `y`, with its ±1 s.d. whisker and its value, or
/// a note where the value is missing.
fn bar<DB: DrawingBackend>(chart: &mut Chart<DB>, row: &BarRow, value: Option<Stat>, y: f64, half: f64) -> DrawResult<DB> {
    let left = Pos::new(HPos::Left, VPos::Center);
    let Some(stat) = value else {
        let note = EmptyElement::at((0.0, y)) + Text::new("no data", (6, 0), muted(TICK_PX).pos(left));
        chart.draw_series([note])?;
        return Ok(());
    };
    chart.draw_series([Rectangle::new([(0.0, y - half), (stat.mean, y + half)], row.colour.filled())])?;
    let mut end = stat.mean;
    if let Some(sd) = stat.sd {
        let (low, high) = ((stat.mean - sd).max(0.0), stat.mean + sd);
        let ink = INK.stroke_width(2);
        chart.draw_series([
            PathElement::new(vec![(low, y), (high, y)], ink),
            PathElement::new(vec![(low, y - half / 2.0), (low, y + half / 2.0)], ink),
            PathElement::new(vec![(high, y - half / 2.0), (high, y + half / 2.0)], ink),
        ])?;
        end = high;
    }
    let value = format!("{:.1}", stat.mean);
    let (width, height) = chart.plotting_area().estimate_text_size(&value, &text(TICK_PX))?;
    let (width, half) = (width as i32, height as i32 / 2 + 2);
    let label = EmptyElement::at((end, y))
        + Rectangle::new([(4, -half), (8 + width, half)], WHITE.filled())
        + Text::new(value, (6, 0), text(TICK_PX).pos(left));
    chart.draw_series([label])?;
    Ok(())
}
