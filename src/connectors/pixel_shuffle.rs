//! InternVL's token folding (Chen et al. 2024, "How Far Are We to GPT-4V?", arXiv
//! 2404.16821), as OpenGVLab/InternVL computes it (`InternVLChatModel.pixel_shuffle` and
//! `mlp1` in `internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py`): every
//! k × k block of the map (k = 1 / `downsample_ratio`) becomes one token of k²·C channels,
//! then `mlp1` = (LayerNorm, Linear, GELU, Linear) maps it to the LLM's width.
//!
//! In a block at rows 2i, 2i + 1 and columns 2j, 2j + 1 (k = 2) the channels are the tokens
//! (2i, 2j), (2i, 2j + 1), (2i + 1, 2j), (2i + 1, 2j + 1) in that order. `ps_version = "v1"`
//! leaves the folded grid transposed (InternVL's warning says so; InternVL 1.0 was trained
//! that way), `"v2"` transposes it back. Weights load from an InternVL checkpoint (`mlp1.*`).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::ConnectorError;
use super::concat::{append_newlines, load_beside_newline, new_newline, tokens_with_newlines};
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::Rename};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PsVersion {
    V1,
    V2,
}

/// `[connector.pixel-shuffle]`: InternVL's config names. `ps_version` defaults as InternVL's
/// training scripts (and every released InternVL 1.5+ checkpoint) have it, `"v2"`; its
/// `InternVLChatConfig` class alone defaults to `"v1"`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PixelShuffleSettings {
    /// 1 / k for k × k blocks.
    #[serde(default = "default_ratio")]
    pub downsample_ratio: f64,
    #[serde(default = "default_version")]
    pub ps_version: PsVersion,
}

fn default_ratio() -> f64 {
    0.5
}
fn default_version() -> PsVersion {
    PsVersion::V2
}

impl Default for PixelShuffleSettings {
    fn default() -> Self {
        Self { downsample_ratio: default_ratio(), ps_version: default_version() }
    }
}

/// The largest block side: 1/8 folds 64 tokens into one, far beyond InternVL's 1/2.
const MAX_FACTOR: usize = 8;

impl PixelShuffleSettings {
    /// k, where `downsample_ratio` is 1 / k for a whole k in 1..=8.
    pub fn factor(&self) -> Result<usize, String> {
        let k = (1.0 / self.downsample_ratio).round();
        match (1.0..=MAX_FACTOR as f64).contains(&k) && (self.downsample_ratio * k - 1.0).abs() < 1e-9 {
            true => Ok(k as usize),
            false => Err(format!(
                "[connector.pixel-shuffle] downsample_ratio {} must be 1/k for a whole k from 1 to {MAX_FACTOR}",
                self.downsample_ratio
            )),
        }
    }
}

#[derive(Module, Debug)]
pub struct PixelShuffle {
    /// `mlp1.0`
    pub norm: LayerNorm,
    /// `mlp1.1`
    pub fc1: Linear,
    /// `mlp1.3`
    pub fc2: Linear,
    /// [hidden]: the probe's newline after each row (not InternVL's).
    pub image_newline: Option<Param<Tensor<1>>>,
    /// [rows, cols] of the input map.
    pub grid: [usize; 2],
    pub factor: usize,
    #[module(skip)]
    pub version: PsVersion,
}

static KEYS: KeyMap = KeyMap {
    layout: "InternVL mlp1",
    anchor: "mlp1.1.weight",
    rules: &[Rename("mlp1.0", "norm"), Rename("mlp1.1", "fc1"), Rename("mlp1.3", "fc2")],
};

impl PixelShuffle {
    /// PyTorch's LayerNorm and Linear init. `channels`: the input map's; `hidden`: the LLM's.
    pub fn new(
        settings: &PixelShuffleSettings,
        grid: [usize; 2],
        channels: usize,
        hidden: usize,
        newline: bool,
        device: &Device,
    ) -> Result<Self, ConnectorError> {
        let factor = settings.factor().map_err(ConnectorError::Config)?;
        if !grid[0].is_multiple_of(factor) || !grid[1].is_multiple_of(factor) {
            return Err(ConnectorError::Config(format!(
                "[connector.pixel-shuffle] downsample_ratio {}: the {} × {} map does not split into {factor} × {factor} blocks",
                settings.downsample_ratio, grid[0], grid[1]
            )));
        }
        let folded = channels * factor * factor;
        Ok(Self {
            norm: LayerNormConfig::new(folded).init(device),
            fc1: LinearConfig::new(folded, hidden).init(device),
            fc2: LinearConfig::new(hidden, hidden).init(device),
            image_newline: new_newline(newline, hidden, device),
            grid,
            factor,
            version: settings.ps_version,
        })
    }

    /// [rows, cols] of the folded grid as the LLM reads it (v1: transposed).
    pub fn output_grid(&self) -> [usize; 2] {
        let [rows, cols] = self.grid.map(|side| side / self.factor);
        match self.version {
            PsVersion::V1 => [cols, rows],
            PsVersion::V2 => [rows, cols],
        }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        tokens_with_newlines(self.output_grid(), &self.image_newline)
    }

    /// Loads an InternVL checkpoint's `mlp1.*` strictly (the newline keeps its values).
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        load_beside_newline(self, |c| &mut c.image_newline, checkpoint, &KEYS)
    }

    /// [batch, rows × cols, C] → [batch, rows·cols / k² (+ a newline per row), hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, _, c] = x.dims();
        let [rows, cols] = self.grid;
        let k = self.factor;
        // InternVL's views: k neighbouring columns into the channels, swap the axes,
        // k neighbouring rows into the channels: [batch, cols / k, rows / k, k²·C]
        let folded = x.reshape([batch, rows, cols / k, c * k]).swap_dims(1, 2).reshape([batch, cols / k, rows / k, c * k * k]);
        let folded = match self.version {
            PsVersion::V1 => folded,
            PsVersion::V2 => folded.swap_dims(1, 2),
        };
        let tokens = folded.reshape([batch, rows * cols / (k * k), c * k * k]);
        let y = self.fc2.forward(gelu(self.fc1.forward(self.norm.forward(tokens))));
        append_newlines(y, self.output_grid(), &self.image_newline)
    }
}
