//! Figure 3: the recipe axes. For each encoder trained under two or more values of one
//! setting (frozen or trained encoder, stage-1 data, connector) with everything else equal,
//! its average at each value, joined by a line.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::layout::{Entry, axis_max, legend, mesh, separate, widest};
use super::render::{DrawResult, Figure};
use super::stats::Stat;
use super::style::{COMBINATION, FAMILIES, GRID, INK, LABEL_PX, PANEL_TITLE_PX, TICK_PX, bold, family_colour, text};
use super::sweep::{Column, Setting, Sweep, recipe_difference, samples};
use crate::results::Recipe;

#[derive(Clone, Copy)]
pub(super) enum Axis {
    Trainable,
    Stage1,
    Connector,
}

impl Axis {
    fn title(self) -> &'static str {
        match self {
            Axis::Trainable => "Encoder frozen or trained",
            Axis::Stage1 => "Stage-1 (alignment) samples",
            Axis::Connector => "Connector",
        }
    }

    /// The setting's sort key and label.
    fn value(self, recipe: &Recipe) -> (u64, String) {
        match self {
            Axis::Trainable if recipe.encoder_trainable => (1, "unfrozen".into()),
            Axis::Trainable => (0, "frozen".into()),
            Axis::Stage1 if recipe.stage1_samples == 0 => (0, "0 (one-stage)".into()),
            Axis::Stage1 => (recipe.stage1_samples, samples(recipe.stage1_samples)),
            Axis::Connector => {
                let known = ["linear", "mlp2x_gelu", "sva"].iter().position(|c| *c == recipe.connector);
                (known.unwrap_or(3) as u64, recipe.connector.clone())
            }
        }
    }

    /// The recipe with this setting blanked: what must be equal for two runs to pair.
    pub(super) fn rest(self, recipe: &Recipe) -> Recipe {
        let mut rest = recipe.clone();
        match self {
            Axis::Trainable => rest.encoder_trainable = false,
            Axis::Stage1 => rest.stage1_samples = 0,
            Axis::Connector => rest.connector.clear(),
        }
        rest
    }
}

struct Line {
    label: String,
    colour: RGBColor,
    /// (tick index, average)
    points: Vec<(usize, Stat)>,
}

struct Panel {
    title: &'static str,
    ticks: Vec<String>,
    lines: Vec<Line>,
}

pub struct Recipes {
    caption: String,
    panels: Vec<Panel>,
    legend: Vec<Entry>,
    /// Score axis range, shared by the panels.
    y_range: (f64, f64),
}

impl Recipes {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Recipes, String> {
        let settings = sweep.settings();
        let main = sweep.main_recipe();
        let panels: Vec<Panel> = [Axis::Trainable, Axis::Stage1, Axis::Connector]
            .into_iter()
            .filter_map(|axis| panel(axis, &settings, sweep, main))
            .collect();
        if panels.is_empty() {
            return Err("no encoder was trained under two recipes that differ in one setting".into());
        }
        let stats = panels.iter().flat_map(|p| &p.lines).flat_map(|l| &l.points).map(|p| p.1);
        let (low, high) = stats.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
            let sd = s.sd.unwrap_or(0.0);
            (lo.min(s.mean - sd), hi.max(s.mean + sd))
        });
        let y_range = ((((low - 2.0) / 5.0).floor() * 5.0).max(0.0), axis_max(high + 2.0, 100.0));
        let colours: Vec<RGBColor> = panels.iter().flat_map(|p| &p.lines).map(|l| l.colour).collect();
        let mut legend: Vec<Entry> = FAMILIES
            .iter()
            .filter(|f| colours.contains(&family_colour(**f)))
            .map(|&f| Entry::new(f.to_string(), family_colour(f)))
            .collect();
        if colours.contains(&COMBINATION) {
            legend.push(Entry::new("combination", COMBINATION));
        }
        let caption = "Average generation score (%) of each encoder trained under different values of one setting, \
                       everything else equal; seeds pooled, whiskers ±1 s.d. where there are several. A label in \
                       brackets says where a pair's other settings differ from the sweep's main recipe."
            .to_string();
        Ok(Recipes { caption, panels, legend, y_range })
    }
}

/// The pairs along one axis, or None when no encoder has two values of it.
fn panel(axis: Axis, settings: &[Setting], sweep: &Sweep, main: Option<&Recipe>) -> Option<Panel> {
    let mut groups: BTreeMap<(&str, Recipe), Vec<&Setting>> = BTreeMap::new();
    for setting in settings {
        groups.entry((setting.encoder, axis.rest(setting.recipe))).or_default().push(setting);
    }
    let mut values: Vec<(u64, String)> = Vec::new();
    let mut paired = Vec::new();
    for ((encoder, rest), members) in groups.into_iter().filter(|(_, m)| m.len() > 1) {
        for member in &members {
            let value = axis.value(member.recipe);
            if !values.contains(&value) {
                values.push(value);
            }
        }
        paired.push((encoder, rest, members));
    }
    if paired.is_empty() {
        return None;
    }
    values.sort();
    let mut lines = Vec::new();
    for (encoder, rest, members) in paired {
        let mut points: Vec<(usize, Stat)> = members
            .iter()
            .filter_map(|m| {
                let tick = values.iter().position(|v| *v == axis.value(m.recipe))?;
                Some((tick, m.stat(Column::Average, sweep)?))
            })
            .collect();
        points.sort_by_key(|p| p.0);
        let differs = main.map(|main| recipe_difference(&rest, &axis.rest(main))).unwrap_or_default();
        let label = if differs.is_empty() { encoder.to_string() } else { format!("{encoder} ({})", differs.join(", ")) };
        let families = members[0].families;
        let colour = if families.len() == 1 { family_colour(families[0]) } else { COMBINATION };
        if points.len() > 1 {
            lines.push(Line { label, colour, points });
        }
    }
    (!lines.is_empty()).then(|| Panel { title: axis.title(), ticks: values.into_iter().map(|v| v.1).collect(), lines })
}

impl Figure for Recipes {
    const NAME: &'static str = "recipes";
    const TITLE: &'static str = "Recipe axes, paired per encoder";

    fn caption(&self) -> &str {
        &self.caption
    }

    fn size(&self) -> (u32, u32) {
        (1600, 900)
    }

    fn draw<DB: DrawingBackend>(&self, body: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        let body = legend(body, &self.legend)?;
        let areas = body.margin(0, 10, 10, 10).split_evenly((1, self.panels.len()));
        for (panel, area) in self.panels.iter().zip(&areas) {
            draw_panel(panel, area, self.y_range)?;
        }
        Ok(())
    }
}

fn draw_panel<DB: DrawingBackend>(panel: &Panel, area: &DrawingArea<DB, Shift>, (y_low, y_high): (f64, f64)) -> DrawResult<DB> {
    let last = panel.ticks.len() as f64 - 1.0;
    // Room on the right for the widest encoder label: with `units` of x range over the
    // plot's width, the label takes label/width of them.
    let labels = panel.lines.iter().map(|l| l.label.clone());
    let label_share = (f64::from(widest(area, labels, &text(TICK_PX))? + 24) / f64::from(area.dim_in_pixel().0 - 88)).min(0.6);
    let units = (last + 0.5) / (1.0 - label_share);
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, bold(PANEL_TITLE_PX))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(-0.3..units - 0.3, y_low..y_high)?;
    mesh(&mut chart)
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("average score (%)")
        .draw()?;
    let (xs, ys) = area.get_pixel_range();
    for (i, tick) in panel.ticks.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64, y_low));
        let style = text(LABEL_PX).pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(tick.clone(), (x - xs.start, y - ys.start + 12), style))?;
        chart.draw_series([PathElement::new(vec![(i as f64, y_low), (i as f64, y_high)], GRID)])?;
    }
    let mut labels = Vec::new();
    for line in &panel.lines {
        let coords: Vec<(f64, f64)> = line.points.iter().map(|&(t, s)| (t as f64, s.mean)).collect();
        chart.draw_series([PathElement::new(coords.clone(), line.colour.stroke_width(3))])?;
        for &(tick, stat) in &line.points {
            let x = tick as f64;
            if let Some(sd) = stat.sd {
                let whisker = vec![(x, stat.mean - sd), (x, stat.mean + sd)];
                chart.draw_series([PathElement::new(whisker, INK.stroke_width(2))])?;
            }
            chart.draw_series([Circle::new((x, stat.mean), 7, line.colour.filled())])?;
        }
        if let Some(&(tick, stat)) = line.points.last() {
            let (x, y) = chart.backend_coord(&(tick as f64 + 0.1, stat.mean));
            labels.push((line, x, y));
        }
    }
    let boxes: Vec<(f64, f64, f64)> = labels
        .iter()
        .map(|(line, x, y)| Ok((*x as f64, *y as f64, area.estimate_text_size(&line.label, &text(TICK_PX))?.0 as f64)))
        .collect::<Result<_, DrawingAreaErrorKind<DB::ErrorType>>>()?;
    let placed = separate(&boxes, TICK_PX + 4.0);
    for ((line, x, y), new_y) in labels.iter().zip(placed) {
        let (lx, ly) = (x - xs.start, new_y.round() as i32 - ys.start);
        if (new_y - *y as f64).abs() > 2.0 {
            area.draw(&PathElement::new(vec![(lx - 10, y - ys.start), (lx - 2, ly)], line.colour.stroke_width(1)))?;
        }
        let style = text(TICK_PX).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(line.label.clone(), (lx, ly), style))?;
    }
    Ok(())
}
