//! Figure 2: each encoder combination above its members (trained alone with the same recipe),
//! with the member that has the best average marked in every panel: does the mix beat its
//! best part?

use plotters::coord::Shift;
use plotters::prelude::*;

use super::bars::{BarRow, Bars, Mark};
use super::layout::{Entry, Swatch};
use super::render::{DrawResult, Figure};
use super::style::{COMBINATION, FAMILIES, INK, family_colour};
use super::sweep::{Column, Setting, Sweep};

pub struct Combinations {
    caption: String,
    bars: Bars,
}

impl Combinations {
    /// Err: why the figure does not apply.
    pub fn new(sweep: &Sweep) -> Result<Combinations, String> {
        let settings = sweep.settings();
        let combinations: Vec<_> = settings.iter().filter(|s| s.families.len() > 1).collect();
        if combinations.is_empty() {
            return Err("no encoder combinations in this sweep".into());
        }
        let columns = sweep.columns();
        let mut rows = Vec::new();
        let mut marks = Vec::new();
        let mut families_shown = Vec::new();
        for combination in combinations {
            let start = rows.len();
            rows.push(BarRow {
                label: combination.encoder.replace('+', " + "),
                heading: true,
                colour: COMBINATION,
                emphasis: true,
                group_start: true,
                values: vec![None; columns.len()],
            });
            rows.push(BarRow {
                label: "combination".into(),
                heading: false,
                colour: COMBINATION,
                emphasis: true,
                group_start: false,
                values: columns.iter().map(|&c| combination.stat(c, sweep)).collect(),
            });
            let members: Vec<_> = combination
                .encoder
                .split('+')
                .zip(combination.families)
                .map(|(name, &family)| {
                    let alone = settings.iter().find(|s| s.encoder == name && s.recipe == combination.recipe);
                    (name, family, alone)
                })
                .collect();
            for (name, family, alone) in &members {
                families_shown.push(*family);
                rows.push(BarRow {
                    label: name.to_string(),
                    heading: false,
                    colour: family_colour(*family),
                    emphasis: false,
                    group_start: false,
                    values: columns.iter().map(|&c| alone.and_then(|s| s.stat(c, sweep))).collect(),
                });
            }
            let average = |s: &&Setting| s.stat(Column::Average, sweep).map(|a| a.mean);
            let best = members.iter().filter_map(|m| m.2).filter(|s| average(s).is_some()).max_by(|a, b| {
                average(a).unwrap_or(f64::NEG_INFINITY).total_cmp(&average(b).unwrap_or(f64::NEG_INFINITY))
            });
            if let Some(best) = best {
                let values = columns.iter().map(|&c| best.stat(c, sweep).map(|s| s.mean)).collect();
                marks.push(Mark { rows: start + 1..rows.len(), values });
            }
        }
        let mut legend = vec![Entry::new("combination", COMBINATION)];
        legend.extend(
            FAMILIES
                .iter()
                .filter(|f| families_shown.contains(f))
                .map(|&f| Entry::new(f.to_string(), family_colour(f))),
        );
        legend.push(Entry::with("best single member (by average)", INK, Swatch::Dashed));
        let caption = "Generation score (%) of each combination (grey) and of its members trained alone with the same \
                       recipe; the dashed line marks the member with the best average, in every panel. A member never \
                       trained alone shows no data."
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
