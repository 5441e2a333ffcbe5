//! `cambrian encoders`: the preset registry as a table or JSON.

use serde::Serialize;

use super::args::EncodersArgs;
use crate::encoders::registry::presets;
use crate::encoders::{EncoderSpec, Family};

#[derive(Serialize)]
struct Row {
    name: String,
    title: String,
    family: Family,
    architecture: String,
    resolution: usize,
    patch_size: usize,
    tokens: usize,
    hidden_size: usize,
    hub: Option<String>,
}

impl From<&EncoderSpec> for Row {
    fn from(spec: &EncoderSpec) -> Self {
        Row {
            name: spec.name.clone(),
            title: spec.title.clone(),
            family: spec.family,
            architecture: spec.architecture_name(),
            resolution: spec.resolution(),
            patch_size: spec.patch_size(),
            tokens: spec.native_tokens(),
            hidden_size: spec.hidden_size(),
            hub: spec.hub.clone(),
        }
    }
}

pub fn run(args: &EncodersArgs) -> anyhow::Result<()> {
    let rows: Vec<Row> = presets()
        .iter()
        .filter(|spec| args.family.is_none_or(|family| spec.family == family))
        .map(Row::from)
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<24} {:<20} {:<16} {:>4} {:>5} {:>6} {:>6}  {}",
        "NAME", "FAMILY", "ARCHITECTURE", "RES", "PATCH", "TOKENS", "HIDDEN", "HUB"
    );
    for row in rows {
        println!(
            "{:<24} {:<20} {:<16} {:>4} {:>5} {:>6} {:>6}  {}",
            row.name,
            row.family.to_string(),
            row.architecture,
            row.resolution,
            row.patch_size,
            row.tokens,
            row.hidden_size,
            row.hub.unwrap_or_default()
        );
    }
    Ok(())
}
