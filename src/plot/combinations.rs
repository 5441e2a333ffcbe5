//! Figure 2: each encoder combination above its members trained alone, with the member that
//! has the best average marked in every panel: does the mix beat its best part? A group is
//! one set of encoders under one recipe but for the connector, so that a combination through
//! the SVA sits beside the same encoders concatenated, as in Cambrian-1's connector
//! comparison; single encoders are trained with a projector, whichever the group's
//! connectors are.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::bars::{BarRow, Bars, Mark};
use super::layout::{Entry, Swatch};
use super::recipes::Axis;
use super::render::{DrawResult, Figure};
use super::style::{COMBINATION, FAMILIES, INK, family_colour};
use super::sweep::{Column, Setting, Sweep, recipe_difference};
use crate::encoders::Family;
use crate::results::Recipe;

pub struct Combinations {
    caption: String,
    bars: Bars,
}

/// A combination's encoders under one recipe but for the connector.
struct Group<'s, 'a> {
    encoder: &'a str,
    families: &'a [Family],
    /// The recipe, its connector blank.
    recipe: Recipe,
    /// One per connector, in order of first appearance.
    combinations: Vec<&'s Setting<'a>>,
}

fn groups<'s, 'a>(settings: &'s [Setting<'a>]) -> Vec<Group<'s, 'a>> {
    let mut groups: Vec<Group> = Vec::new();
    for setting in settings.iter().filter(|s| s.families.len() > 1) {
        let recipe = Axis::Connector.rest(setting.recipe);
        match groups.iter_mut().find(|g| g.encoder == setting.encoder && g.recipe == recipe) {
            Some(group) => group.combinations.push(setting),
            None => {
                groups.push(Group { encoder: setting.encoder, families: setting.families, recipe, combinations: vec![setting] })
            }
        }
    }
    groups
}

impl Combinations {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Combinations, String> {
        let settings = sweep.settings();
        let groups = groups(&settings);
        if groups.is_empty() {
            return Err("no encoder combinations in this sweep".into());
        }
        let main = sweep.main_recipe().map(|m| Axis::Connector.rest(m));
        let columns = sweep.columns();
        let values = |setting: Option<&Setting>| columns.iter().map(|&c| setting.and_then(|s| s.stat(c, sweep))).collect();
        let mut rows = Vec::new();
        let mut marks = Vec::new();
        let mut families_shown = Vec::new();
        for group in groups {
            let start = rows.len();
            let mut heading = group.encoder.replace('+', " + ");
            let differs = main.as_ref().map(|m| recipe_difference(&group.recipe, m)).unwrap_or_default();
            if !differs.is_empty() {
                heading.push_str(&format!(" [{}]", differs.join(", ")));
            }
            rows.push(BarRow {
                label: heading,
                heading: true,
                colour: COMBINATION,
                emphasis: true,
                group_start: true,
                values: vec![None; columns.len()],
            });
            for combination in &group.combinations {
                rows.push(BarRow {
                    label: format!("combination, {}", combination.recipe.connector),
                    heading: false,
                    colour: COMBINATION,
                    emphasis: true,
                    group_start: false,
                    values: values(Some(combination)),
                });
            }
            let connectors: Vec<&str> = group.combinations.iter().map(|c| c.recipe.connector.as_str()).collect();
            let mut members = Vec::new();
            for (name, &family) in group.encoder.split('+').zip(group.families) {
                families_shown.push(family);
                // Alone with a connector of the group's combinations, else with any other.
                let candidates: Vec<&Setting> =
                    settings.iter().filter(|s| s.encoder == name && Axis::Connector.rest(s.recipe) == group.recipe).collect();
                let alone = connectors
                    .iter()
                    .find_map(|c| candidates.iter().find(|s| s.recipe.connector == *c))
                    .or(candidates.first())
                    .copied();
                let label = match alone {
                    Some(s) if connectors.len() > 1 || connectors[0] != s.recipe.connector => {
                        format!("{name}, {}", s.recipe.connector)
                    }
                    _ => name.to_string(),
                };
                rows.push(BarRow {
                    label,
                    heading: false,
                    colour: family_colour(family),
                    emphasis: false,
                    group_start: false,
                    values: values(alone),
                });
                members.extend(alone);
            }
            let average = |s: &&Setting| s.stat(Column::Average, sweep).map(|a| a.mean);
            let best = members
                .iter()
                .filter(|s| average(s).is_some())
                .max_by(|a, b| average(a).unwrap_or(f64::NEG_INFINITY).total_cmp(&average(b).unwrap_or(f64::NEG_INFINITY)));
            if let Some(best) = best {
                let values = columns.iter().map(|&c| best.stat(c, sweep).map(|s| s.mean)).collect();
                marks.push(Mark { rows: start + 1..rows.len(), values });
            }
        }
        let mut legend = vec![Entry::new("combination", COMBINATION)];
        legend
            .extend(FAMILIES.iter().filter(|f| families_shown.contains(f)).map(|&f| Entry::new(f.to_string(), family_colour(f))));
        legend.push(Entry::with("best single member (by average)", INK, Swatch::Dashed));
        let caption = "Generation score (%) of each combination (grey; its connector named: a projector over the \
                       concatenated maps, or the SVA) and of its members trained alone with the same recipe (their \
                       connector named where it differs); the dashed line marks the member with the best average, in \
                       every panel. A group in brackets differs from the sweep's main recipe; a member never trained \
                       alone shows no data."
            .to_string();
        let panels = columns.iter().map(|c| c.label()).collect();
        Ok(Combinations { caption, bars: Bars { panels, rows, marks, legend } })
    }
}

impl Figure for Combinations {
    const NAME: &'static str = "combinations";
    const TITLE: &'static str = "Encoder combinations against their members";

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
