//! The SVA's settings in two layers: [`SvaSettings`] as Cambrian-1 names and defaults them
//! (`ModelArguments` in `train/train_fsdp.py`; the same names in its checkpoints'
//! `config.json`), and [`SvaLayout`], the shapes they come to for a set of encoders and an LLM.

use serde::{Deserialize, Serialize};

use super::SvaError;
use super::sampler::HEADS;

/// Cambrian-1's names and defaults. The released 8B model sets `connector_depth = 3`,
/// `connector_only = false`, `start_of_vision_sampler_layers = 0` and
/// `stride_of_vision_sampler_layers = 3` (notes §3.1).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SvaSettings {
    /// L²: the image's tokens in the LLM (before the newline column).
    #[serde(default = "default_image_token_len")]
    pub image_token_len: usize,
    /// G: query groups, each with its own sampler.
    #[serde(default = "one")]
    pub num_query_group: usize,
    /// Queries per group, each a square; default `image_token_len` for every group
    /// (Cambrian's `'[576]'` for its default single group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_num_list: Option<Vec<usize>>,
    /// D: cross-attention layers of each group's sampler before the LLM.
    #[serde(default = "one")]
    pub connector_depth: usize,
    /// C: the SVA's width.
    #[serde(default = "default_vision_hidden_size")]
    pub vision_hidden_size: usize,
    /// No aggregation inside the LLM.
    #[serde(default = "yes")]
    pub connector_only: bool,
    #[serde(default = "default_num_of_vision_sampler_layers")]
    pub num_of_vision_sampler_layers: usize,
    #[serde(default = "default_start_of_vision_sampler_layers")]
    pub start_of_vision_sampler_layers: usize,
    #[serde(default = "one")]
    pub stride_of_vision_sampler_layers: usize,
}

impl Default for SvaSettings {
    fn default() -> Self {
        Self {
            image_token_len: default_image_token_len(),
            num_query_group: 1,
            query_num_list: None,
            connector_depth: 1,
            vision_hidden_size: default_vision_hidden_size(),
            connector_only: true,
            num_of_vision_sampler_layers: default_num_of_vision_sampler_layers(),
            start_of_vision_sampler_layers: default_start_of_vision_sampler_layers(),
            stride_of_vision_sampler_layers: 1,
        }
    }
}

impl SvaSettings {
    /// The names, as in a Cambrian-1 `config.json`.
    pub const FIELDS: [&'static str; 9] = [
        "image_token_len",
        "num_query_group",
        "query_num_list",
        "connector_depth",
        "vision_hidden_size",
        "connector_only",
        "num_of_vision_sampler_layers",
        "start_of_vision_sampler_layers",
        "stride_of_vision_sampler_layers",
    ];

    /// The settings stored in a Cambrian-1 checkpoint's `config.json` (whose other fields
    /// describe the LLM and the towers).
    pub fn from_cambrian_config(json: &str) -> Result<Self, SvaError> {
        let invalid = |err: serde_json::Error| SvaError::Config(format!("config.json: {err}"));
        let mut fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).map_err(invalid)?;
        fields.retain(|key, _| Self::FIELDS.contains(&key.as_str()));
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(invalid)
    }
}

fn default_image_token_len() -> usize {
    576
}
fn default_vision_hidden_size() -> usize {
    1024
}
fn default_num_of_vision_sampler_layers() -> usize {
    10
}
fn default_start_of_vision_sampler_layers() -> usize {
    16
}
fn one() -> usize {
    1
}
fn yes() -> bool {
    true
}

/// Shapes the settings come to, checked.
#[derive(Debug, Clone)]
pub struct SvaLayout {
    /// L: the side of the base query grid.
    pub side: usize,
    /// The side of each group's query grid.
    pub group_sides: Vec<usize>,
    /// Each encoder's map side (√ of its `vision_tower_aux_token_len`).
    pub encoder_sides: Vec<usize>,
    /// C.
    pub hidden: usize,
    pub depth: usize,
    /// The decoder layers after which the in-LLM samplers run, in order.
    pub llm_layers: Vec<usize>,
}

fn square_side(tokens: usize, what: &str) -> Result<usize, SvaError> {
    let side = (tokens as f64).sqrt().round() as usize;
    match side > 0 && side * side == tokens {
        true => Ok(side),
        false => Err(SvaError::Config(format!("{what} {tokens} is not a square number of tokens"))),
    }
}

impl SvaLayout {
    /// `encoder_grids`: each encoder's output grid [rows, cols], in order (the first gives the
    /// global context); `llm_layers`: the decoder's layer count.
    pub fn new(settings: &SvaSettings, encoder_grids: &[[usize; 2]], llm_layers: usize) -> Result<Self, SvaError> {
        let invalid = |message: String| Err(SvaError::Config(message));
        let side = square_side(settings.image_token_len, "image_token_len")?;
        let queries = settings.query_num_list.clone().unwrap_or_else(|| vec![settings.image_token_len; settings.num_query_group]);
        if settings.num_query_group == 0 || queries.len() != settings.num_query_group {
            return invalid(format!(
                "num_query_group {} needs as many query_num_list entries, got {queries:?}",
                settings.num_query_group
            ));
        }
        let group_sides = queries.iter().map(|&n| square_side(n, "query_num_list entry")).collect::<Result<Vec<_>, _>>()?;
        if encoder_grids.is_empty() {
            return invalid("the SVA needs at least one encoder".into());
        }
        let mut encoder_sides = Vec::with_capacity(encoder_grids.len());
        for (i, &[rows, cols]) in encoder_grids.iter().enumerate() {
            if rows != cols {
                return invalid(format!("encoder {i}: its {rows}×{cols} map is not square"));
            }
            if let Some(q) = std::iter::once(side).chain(group_sides.iter().copied()).find(|q| rows % q != 0) {
                return invalid(format!("encoder {i}: its {rows}×{rows} map cannot be cut into a {q}×{q} grid of windows"));
            }
            encoder_sides.push(rows);
        }
        let hidden = settings.vision_hidden_size;
        if hidden == 0 || !hidden.is_multiple_of(HEADS) {
            return invalid(format!("vision_hidden_size {hidden} must be a positive multiple of the {HEADS} heads"));
        }
        if settings.connector_depth == 0 {
            return invalid("connector_depth must be at least 1".into());
        }
        let llm_layers = match settings.connector_only {
            true => Vec::new(),
            false => {
                let (start, stride) = (settings.start_of_vision_sampler_layers, settings.stride_of_vision_sampler_layers);
                let count = settings.num_of_vision_sampler_layers;
                let after: Vec<usize> = (0..count).map(|k| start + k * stride).collect();
                if stride == 0 || count == 0 || after.last().is_some_and(|&last| last >= llm_layers) {
                    return invalid(format!(
                        "{count} in-LLM samplers from layer {start} every {stride} do not fit the LLM's {llm_layers} layers"
                    ));
                }
                after
            }
        };
        Ok(Self { side, group_sides, encoder_sides, hidden, depth: settings.connector_depth, llm_layers })
    }

    /// The image's positions in the LLM: L rows of L tokens and a newline.
    pub fn image_tokens(&self) -> usize {
        self.side * (self.side + 1)
    }

    /// Each encoder's window side for a query grid of side `q`.
    pub fn window_sides(&self, q: usize) -> Vec<usize> {
        self.encoder_sides.iter().map(|s| s / q).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cambrian_defaults() {
        let settings: SvaSettings = toml::from_str("").unwrap();
        assert_eq!(settings, SvaSettings::default());
        let layout = SvaLayout::new(&settings, &[[24, 24], [96, 96]], 32).unwrap();
        assert_eq!((layout.side, layout.group_sides.clone(), layout.hidden), (24, vec![24], 1024));
        assert_eq!(layout.window_sides(24), [1, 4]);
        assert!(layout.llm_layers.is_empty());
    }

    #[test]
    fn fields_names_every_setting() {
        let settings = SvaSettings { query_num_list: Some(vec![576]), ..SvaSettings::default() };
        let value = serde_json::to_value(&settings).unwrap();
        let mut names: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
        let mut fields = SvaSettings::FIELDS.to_vec();
        names.sort();
        fields.sort();
        assert_eq!(names, fields);
    }

    #[test]
    fn the_8b_model_aggregates_after_every_third_layer() {
        let settings = SvaSettings {
            connector_only: false,
            start_of_vision_sampler_layers: 0,
            stride_of_vision_sampler_layers: 3,
            ..SvaSettings::default()
        };
        let layout = SvaLayout::new(&settings, &[[24, 24]], 32).unwrap();
        assert_eq!(layout.llm_layers, [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
        let err = SvaLayout::new(&settings, &[[24, 24]], 27).unwrap_err().to_string();
        assert!(err.contains("27 layers"), "{err}");
    }

    #[test]
    fn maps_that_do_not_tile_the_query_grid_are_refused() {
        let err = SvaLayout::new(&SvaSettings::default(), &[[24, 24], [27, 27]], 32).unwrap_err().to_string();
        assert!(err.contains("encoder 1") && err.contains("24×24 grid of windows"), "{err}");
    }
}
