//! Pieces of page layout every figure uses: a title block, a legend strip, row labels, the
//! house mesh style, and spacing of labels that would otherwise overlap.

use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::render::DrawResult;
use super::style::{GRID, LABEL_PX, MUTED, TICK_PX, TITLE_PX, bold, muted, text};

/// Draws the title and a muted subtitle (what is plotted, which score; wrapped to the width)
/// at the top; returns the area below them.
pub fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, _) = root.dim_in_pixel();
    let lines = wrap(root, subtitle, &muted(LABEL_PX), width.saturating_sub(48))?;
    let line_px = 26;
    let (head, body) = root.split_vertically(64 + line_px * lines.len() as i32);
    head.draw(&Text::new(title.to_string(), (24, 14), bold(TITLE_PX)))?;
    for (i, line) in lines.into_iter().enumerate() {
        head.draw(&Text::new(line, (24, 52 + line_px * i as i32), muted(LABEL_PX)))?;
    }
    Ok(body)
}

/// Words of `text` in lines no wider than `max_px`.
fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_px: u32,
) -> Result<Vec<String>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if !line.is_empty() && area.estimate_text_size(&candidate, style)?.0 > max_px {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    lines.push(line);
    Ok(lines)
}

/// How a legend entry shows its colour.
#[derive(Clone, Copy, PartialEq)]
pub enum Swatch {
    Square,
    Dashed,
    Dot,
    Ring,
    /// A short vertical line (a reference value on a row).
    Tick,
}

/// A legend entry: a swatch and its label.
pub struct Entry {
    pub label: String,
    pub colour: RGBColor,
    pub swatch: Swatch,
}

impl Entry {
    pub fn new(label: impl Into<String>, colour: RGBColor) -> Entry {
        Entry { label: label.into(), colour, swatch: Swatch::Square }
    }

    pub fn with(label: impl Into<String>, colour: RGBColor, swatch: Swatch) -> Entry {
        Entry { label: label.into(), colour, swatch }
    }
}

/// Draws the entries in one centred row at the bottom of `area`; returns the area above.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, height) = area.dim_in_pixel();
    let style = text(LABEL_PX);
    let size = 18;
    let gap = 34;
    let row_px = 40;
    let widths: Vec<i32> = entries
        .iter()
        .map(|e| area.estimate_text_size(&e.label, &style).map(|(w, _)| w as i32 + size + 8))
        .collect::<Result<_, _>>()?;
    // Entries fill rows left to right; a row that would overflow the figure starts a new one.
    let usable = width as i32 - 2 * gap;
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, w) in widths.iter().enumerate() {
        let row = rows.last_mut().expect("one row at least");
        if !row.is_empty() && used + gap + w > usable {
            rows.push(vec![i]);
            used = *w;
        } else {
            used += if row.is_empty() { *w } else { gap + w };
            row.push(i);
        }
    }
    let strip_px = 12 + row_px * rows.len() as u32;
    let (body, strip) = area.split_vertically(height.saturating_sub(strip_px));
    for (r, row) in rows.iter().enumerate() {
        let total = row.iter().map(|&i| widths[i]).sum::<i32>() + gap * (row.len() as i32 - 1).max(0);
        let mut x = (width as i32 - total).max(0) / 2;
        let y = 26 + row_px as i32 * r as i32;
        for &i in row {
            swatch(&strip, &entries[i], (x, y), size)?;
            strip.draw(&Text::new(entries[i].label.clone(), (x + size + 8, y), style.pos(Pos::new(HPos::Left, VPos::Center))))?;
            x += widths[i] + gap;
        }
    }
    Ok(body)
}

fn swatch<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entry: &Entry, (x, y): (i32, i32), size: i32) -> DrawResult<DB> {
    let half = size / 2;
    let colour = entry.colour;
    match entry.swatch {
        Swatch::Square => area.draw(&Rectangle::new([(x, y - half), (x + size, y + half)], colour.filled())),
        Swatch::Dashed => area.draw(&DashedPathElement::new(vec![(x, y), (x + size, y)], 5, 3, colour.stroke_width(3))),
        Swatch::Dot => area.draw(&Circle::new((x + half, y), 7, colour.filled())),
        Swatch::Ring => area.draw(&Circle::new((x + half, y), 7, colour.stroke_width(2))),
        Swatch::Tick => area.draw(&PathElement::new(vec![(x + half, y - half), (x + half, y + half)], colour.stroke_width(3))),
    }
}

/// Every chart here: f64 on both axes.
pub type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart's mesh in the house style (light grid, muted axes, text sizes), for the caller
/// to finish and draw.
pub fn mesh<'a, 'b, DB: DrawingBackend>(chart: &'b mut Chart<'a, DB>) -> MeshStyle<'a, 'b, RangedCoordf64, RangedCoordf64, DB> {
    let mut mesh = chart.configure_mesh();
    mesh.max_light_lines(0).bold_line_style(GRID).axis_style(MUTED).label_style(text(TICK_PX)).axis_desc_style(text(LABEL_PX));
    mesh
}

/// Right-aligned row labels in a gutter, each centred on its pixel row (absolute backend
/// coordinates, as a chart's `backend_coord` gives them).
pub fn row_labels<DB: DrawingBackend>(gutter: &DrawingArea<DB, Shift>, labels: &[(String, i32, TextStyle)]) -> DrawResult<DB> {
    let (xs, ys) = gutter.get_pixel_range();
    let right = xs.end - xs.start - 12;
    for (label, y, style) in labels {
        let style = style.pos(Pos::new(HPos::Right, VPos::Center));
        gutter.draw(&Text::new(label.clone(), (right, y - ys.start), style))?;
    }
    Ok(())
}

/// Width in pixels of the widest label.
pub fn widest<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    labels: impl IntoIterator<Item = String>,
    style: &TextStyle,
) -> Result<u32, DrawingAreaErrorKind<DB::ErrorType>> {
    labels.into_iter().map(|l| area.estimate_text_size(&l, style).map(|(w, _)| w)).try_fold(0, |m, w| w.map(|w| m.max(w)))
}

/// An axis end above `value` on a step of 5 or 10, at most `limit`.
pub fn axis_max(value: f64, limit: f64) -> f64 {
    let step = if value > 30.0 { 10.0 } else { 5.0 };
    ((value / step).ceil() * step).clamp(step, limit)
}

/// Label boxes (pixels: left x, centre y, width) moved apart vertically, as little as
/// possible, until no two that overlap horizontally are closer than `gap`; returns the new
/// centre ys.
pub fn separate(labels: &[(f64, f64, f64)], gap: f64) -> Vec<f64> {
    let mut ys: Vec<f64> = labels.iter().map(|l| l.1).collect();
    for _ in 0..200 {
        let mut moved = false;
        for i in 0..labels.len() {
            for j in i + 1..labels.len() {
                let (a, b) = (labels[i], labels[j]);
                let side_by_side = a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0;
                let overlap = gap - (ys[j] - ys[i]).abs();
                if side_by_side || overlap <= 1e-6 {
                    continue;
                }
                // the lower one (larger y; j on a tie) goes down
                let direction = if ys[j] >= ys[i] { 1.0 } else { -1.0 };
                ys[i] -= direction * overlap / 2.0;
                ys[j] += direction * overlap / 2.0;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    ys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separate_moves_only_overlapping_labels() {
        // two labels at one x, 2 px apart; a third far below; a fourth beside the first
        let ys = separate(&[(0.0, 100.0, 50.0), (0.0, 102.0, 50.0), (0.0, 300.0, 50.0), (80.0, 100.0, 50.0)], 20.0);
        assert!(ys[1] - ys[0] >= 20.0 - 1e-6, "{ys:?}");
        assert!(((ys[0] + ys[1]) / 2.0 - 101.0).abs() < 1e-6, "{ys:?}");
        assert_eq!((ys[2], ys[3]), (300.0, 100.0));
    }

    #[test]
    fn axis_max_rounds_up_within_the_limit() {
        assert_eq!(axis_max(53.9, 100.0), 60.0);
        assert_eq!(axis_max(21.0, 100.0), 25.0);
        assert_eq!(axis_max(104.0, 100.0), 100.0);
    }
}
