//! Honeybee's C-Abstractor (Cha et al. 2024, "Honeybee: Locality-enhanced Projector for
//! Multimodal LLM", arXiv 2312.06742), as kakaobrain/honeybee builds it
//! (`honeybee/projectors/projectors.py`, `CAbstractor`):
//!
//! tokens + `pos_emb` → [C, rows, cols] map → `depth` RegNet blocks (timm's `RegStage`:
//! bottleneck ratio 1, depthwise 3×3, squeeze-and-excitation, SiLU, `LayerNorm2d`) →
//! adaptive average pooling to √Q × √Q → `depth` more blocks → tokens → `readout`
//! (Linear, SiLU, Linear, …: `mlp_depth` Linears) to the LLM's width.
//!
//! Cambrian's repository ships a `CAbstractor` too (`multimodal_projector/projectors.py`), but
//! its RegNet stages are commented out: a strided 3×3 convolution and a GELU MLP remain. This
//! is Honeybee's. Weights load from a Honeybee checkpoint (`abstractor.*`; `load`).

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::concat::{append_newlines, load_beside_newline, new_newline, tokens_with_newlines};
use crate::nn::conv::{ConvAct, ConvNorm, SqueezeExcite};
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::Rename};

/// `[connector.c-abstractor]`: Honeybee's `projector_config` names, with its `c-abs.yaml`
/// values as defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CAbstractorSettings {
    /// Output tokens Q, a square (√Q × √Q after the pooling).
    #[serde(default = "default_queries")]
    pub num_query_tokens: usize,
    /// RegNet blocks before and after the pooling (0: the pooling alone).
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Linears of the readout.
    #[serde(default = "default_mlp_depth")]
    pub mlp_depth: usize,
    /// Channels of the RegNet blocks.
    #[serde(default = "default_hidden")]
    pub hidden_size: usize,
    /// A learned position embedding added to the input tokens.
    #[serde(default = "yes")]
    pub pos_emb: bool,
}

fn default_queries() -> usize {
    144
}
fn default_depth() -> usize {
    3
}
fn default_mlp_depth() -> usize {
    2
}
fn default_hidden() -> usize {
    1024
}
fn yes() -> bool {
    true
}

impl Default for CAbstractorSettings {
    fn default() -> Self {
        Self {
            num_query_tokens: default_queries(),
            depth: default_depth(),
            mlp_depth: default_mlp_depth(),
            hidden_size: default_hidden(),
            pos_emb: true,
        }
    }
}

/// Limits far above Honeybee's (depth 3, width 1024), so that a typo is an error.
const MAX_DEPTH: usize = 64;
const MAX_WIDTH: usize = 16384;

impl CAbstractorSettings {
    /// The sizes within limits, each error naming its field; `max_tokens`: positions an
    /// image may take.
    pub fn check(&self, max_tokens: usize) -> Result<(), String> {
        let side = self.num_query_tokens.isqrt();
        if side == 0 || side * side != self.num_query_tokens || self.num_query_tokens > max_tokens {
            return Err(format!(
                "[connector.c-abstractor] num_query_tokens {} must be a square number of at most {max_tokens}",
                self.num_query_tokens
            ));
        }
        let limits = [
            ("depth", self.depth, 0, MAX_DEPTH),
            ("mlp_depth", self.mlp_depth, 1, MAX_DEPTH),
            ("hidden_size", self.hidden_size, 1, MAX_WIDTH),
        ];
        match limits.into_iter().find(|(_, value, low, high)| !(low..=high).contains(&value)) {
            Some((field, value, low, high)) => Err(format!("[connector.c-abstractor] {field} {value} is outside {low}..={high}")),
            None => Ok(()),
        }
    }

    /// √Q: the side of the output grid.
    pub fn side(&self) -> usize {
        self.num_query_tokens.isqrt()
    }
}

/// timm's RegNet `Bottleneck` as `RegStage` builds it here: bottleneck ratio 1, group size 1
/// (so conv2 is depthwise), SE ratio 0.25 of the block's input, SiLU, `LayerNormAct2d`
/// (eps 1e-5), and a 1×1 conv + norm shortcut where the width changes.
#[derive(Module, Debug)]
pub struct RegBlock {
    pub conv1: ConvNorm,
    pub conv2: ConvNorm,
    pub se: SqueezeExcite,
    pub conv3: ConvNorm,
    pub downsample: Option<ConvNorm>,
}

const NORM_EPS: f64 = 1e-5;

impl RegBlock {
    fn new(channels_in: usize, channels: usize, device: &Device) -> Self {
        let conv = |kernel, groups, act| ConvNorm::new([channels, channels], kernel, 1, groups, NORM_EPS, act, device);
        Self {
            conv1: ConvNorm::new([channels_in, channels], 1, 1, 1, NORM_EPS, ConvAct::Silu, device),
            conv2: conv(3, channels, ConvAct::Silu),
            se: SqueezeExcite::new(channels, se_channels(channels_in), ConvAct::Silu, ConvAct::Sigmoid, device),
            conv3: conv(1, 1, ConvAct::Identity),
            downsample: (channels_in != channels)
                .then(|| ConvNorm::new([channels_in, channels], 1, 1, 1, NORM_EPS, ConvAct::Identity, device)),
        }
    }

    /// [batch, in, rows, cols] → [batch, channels, rows, cols]
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let shortcut = match &self.downsample {
            Some(downsample) => downsample.forward(x.clone()),
            None => x.clone(),
        };
        let y = self.conv3.forward(self.se.forward(self.conv2.forward(self.conv1.forward(x))));
        silu(y + shortcut)
    }
}

/// timm: `int(round(in_chs · 0.25))` (Python rounds half to even); when that is 0, SEModule's
/// own `make_divisible(channels / 16, 8)`, i.e. 8 for any width below 120.
fn se_channels(channels_in: usize) -> usize {
    match (channels_in as f64 * 0.25).round_ties_even() as usize {
        0 => 8,
        n => n,
    }
}

/// A stage of `depth` blocks (none for depth 0). timm names them `b1`, `b2`, …: index 0 stays
/// empty so that the indices are the checkpoint's.
fn stage(depth: usize, channels_in: usize, channels: usize, device: &Device) -> Vec<Option<RegBlock>> {
    if depth == 0 {
        return Vec::new();
    }
    let blocks = (0..depth).map(|i| Some(RegBlock::new(if i == 0 { channels_in } else { channels }, channels, device)));
    std::iter::once(None).chain(blocks).collect()
}

fn run_stage(blocks: &[Option<RegBlock>], x: Tensor<4>) -> Tensor<4> {
    blocks.iter().flatten().fold(x, |x, block| block.forward(x))
}

#[derive(Module, Debug)]
pub struct CAbstractor {
    /// [1, rows × cols, channels]
    pub pos_emb: Option<Param<Tensor<3>>>,
    /// `net.0`: before the pooling.
    pub s1: Vec<Option<RegBlock>>,
    /// `net.2`: after it.
    pub s2: Vec<Option<RegBlock>>,
    /// nn.Sequential(Linear, SiLU, Linear, …): the Linears at the even places, `None` at the
    /// SiLUs', so that the indices are the checkpoint's.
    pub readout: Vec<Option<Linear>>,
    /// [hidden]: the probe's newline after each row (not Honeybee's).
    pub image_newline: Option<Param<Tensor<1>>>,
    /// [rows, cols] of the input map.
    pub grid: [usize; 2],
    /// √Q
    pub side: usize,
}

/// Honeybee's `eos_tokens` and `prenorm` (none in its c-abs.yaml: `num_eos_tokens: 0`,
/// `prenorm: False`) are not built; their rows name them so that a checkpoint that has them
/// is refused, not loaded without them.
static KEYS: KeyMap = KeyMap {
    layout: "Honeybee C-Abstractor",
    anchor: "readout.0.weight",
    rules: &[
        Rename("pos_emb", "pos_emb"),
        Rename("net.0.b#", "s1.#"),
        Rename("net.2.b#", "s2.#"),
        Rename("readout", "readout"),
        Rename("eos_tokens", "eos_tokens"),
        Rename("prenorm", "prenorm"),
    ],
};

impl CAbstractor {
    /// Randomly initialised as Honeybee does: `pos_emb` ~ N(0, 0.02²) (`trunc_normal_`'s
    /// bounds, ±2, lie 100 standard deviations out), convolutions and Linears as PyTorch's. `channels`: the input map's; `hidden`: the LLM's width.
    pub fn new(
        settings: &CAbstractorSettings,
        grid: [usize; 2],
        channels: usize,
        hidden: usize,
        newline: bool,
        device: &Device,
    ) -> Self {
        let (depth, width) = (settings.depth, settings.hidden_size);
        let mut readout = Vec::new();
        for i in 0..settings.mlp_depth {
            let width_in = match (i, depth) {
                (0, 0) => channels,
                (0, _) => width,
                _ => {
                    readout.push(None); // the SiLU
                    hidden
                }
            };
            readout.push(Some(LinearConfig::new(width_in, hidden).init(device)));
        }
        Self {
            pos_emb: settings.pos_emb.then(|| {
                Param::from_tensor(Tensor::random([1, grid[0] * grid[1], channels], Distribution::Normal(0.0, 0.02), device))
            }),
            s1: stage(depth, channels, width, device),
            s2: stage(depth, width, width, device),
            readout,
            image_newline: new_newline(newline, hidden, device),
            grid,
            side: settings.side(),
        }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        tokens_with_newlines([self.side; 2], &self.image_newline)
    }

    /// Loads a Honeybee checkpoint's `abstractor.*` tensors strictly (the newline is the
    /// probe's and keeps its values).
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        load_beside_newline(self, |c| &mut c.image_newline, checkpoint, &KEYS)
    }

    /// [batch, rows × cols, channels] → [batch, Q (+ √Q newlines), hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, _, channels] = x.dims();
        let [rows, cols] = self.grid;
        let x = match &self.pos_emb {
            Some(pos_emb) => x + pos_emb.val(),
            None => x,
        };
        // [batch, channels, rows, cols]
        let map = x.reshape([batch, rows, cols, channels]).permute([0, 3, 1, 2]);
        let map = run_stage(&self.s1, map);
        let map = run_stage(&self.s2, adaptive_avg_pool2d(map, [self.side; 2]));
        let width = map.dims()[1];
        // [batch, Q, width]
        let mut y = map.permute([0, 2, 3, 1]).reshape([batch, self.side * self.side, width]);
        for layer in &self.readout {
            y = match layer {
                Some(linear) => linear.forward(y),
                None => silu(y),
            };
        }
        append_newlines(y, [self.side; 2], &self.image_newline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// timm's `int(round(in_chs * 0.25))` for these widths (Python rounds 1.5 to 2, 2.5 to 2),
    /// and SEModule's fallback of 8 where that is 0.
    #[test]
    fn squeeze_widths_round_as_timm_does() {
        for (channels, expected) in [(2, 8), (6, 2), (10, 2), (14, 4), (12, 3), (1024, 256)] {
            assert_eq!(se_channels(channels), expected, "{channels}");
        }
    }
}
