//! `cambrian encoders`: the preset registry as a table or JSON.

use serde::Serialize;

use super::args::EncodersArgs;
use crate::encoders::preprocess::ResizeMode;
use crate::encoders::registry::presets;
use crate::encoders::{EncoderSpec, Family};

#[derive(Serialize)]
struct Row {
    name: String,
    title: String,
    family: Family,
    architecture: String,
    resolution: usize,
    grid: [usize; 2],
    tokens: usize,
    /// Tokens handed on after Cambrian's interpolation, where the preset asks for one.
    feature_tokens: Option<usize>,
    /// A native-resolution encoder's token budget: each image's grid holds at most this many.
    max_patches: Option<usize>,
    /// Each image at its own size (`resize = "none"`): its tokens follow its pixels.
    own_size: bool,
    hidden_size: usize,
    hub: Option<String>,
    url: Option<String>,
}

impl From<&EncoderSpec> for Row {
    fn from(spec: &EncoderSpec) -> Self {
        Row {
            name: spec.name.clone(),
            title: spec.title.clone(),
            family: spec.family,
            architecture: spec.architecture_name(),
            resolution: spec.resolution(),
            grid: spec.native_grid(),
            tokens: spec.native_tokens(),
            feature_tokens: spec.feature_tokens,
            max_patches: spec.preprocess.max_patches,
            own_size: spec.preprocess.resize == ResizeMode::Keep,
            hidden_size: spec.hidden_size(),
            hub: spec.hub.clone(),
            url: spec.url.clone(),
        }
    }
}

pub fn run(args: &EncodersArgs) -> anyhow::Result<()> {
    let rows: Vec<Row> =
        presets().iter().filter(|spec| args.family.is_none_or(|family| spec.family == family)).map(Row::from).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let name_width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0).max(4);
    let arch_width = rows.iter().map(|r| r.architecture.chars().count()).max().unwrap_or(0).max(12);
    println!(
        "{:<name_width$} {:<20} {:<arch_width$} {:>4} {:>7} {:>10} {:>6}  WEIGHTS",
        "NAME", "FAMILY", "ARCHITECTURE", "RES", "GRID", "TOKENS", "HIDDEN"
    );
    for row in rows {
        println!(
            "{:<name_width$} {:<20} {:<arch_width$} {:>4} {:>7} {:>10} {:>6}  {}",
            row.name,
            row.family.to_string(),
            row.architecture,
            row.resolution,
            format!("{}x{}", row.grid[0], row.grid[1]),
            match (row.max_patches, row.feature_tokens) {
                (Some(budget), _) => format!("≤{budget}"),
                (None, _) if row.own_size => "per image".into(),
                (None, Some(out)) if out != row.tokens => format!("{}→{out}", row.tokens),
                _ => row.tokens.to_string(),
            },
            row.hidden_size,
            row.hub.or(row.url).unwrap_or_else(|| "--weights only".into())
        );
    }
    Ok(())
}
