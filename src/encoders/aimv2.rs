//! AIMv2 (Fini et al. 2024, "Multimodal Autoregressive Pre-training of Large Vision
//! Encoders"; apple/aimv2-large-patch14-224, -336, -448): a ViT pre-trained with an
//! autoregressive image-and-text decoder. transformers' `Aimv2VisionModel`: a patch
//! convolution followed by an RMSNorm, a learned position table over the patches (no class
//! token), pre-norm blocks with RMSNorm, bias-free attention and SwiGLU projections, and a
//! final RMSNorm. The attention-pooling `head` is not part of the token output.
//!
//! The fixed-resolution checkpoints index their position table by patch number, so the
//! input grid must be the trained one (transformers refuses any other size too). The
//! native-resolution checkpoint (`is_native`, apple/aimv2-large-patch14-native) has no table:
//! 2-D sin-cos positions are built for each image's own grid, as transformers'
//! `build_2d_sinusoidal_position_embedding` (in f64, laid out [sin_w | cos_w | sin_h | cos_h]).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, TransformerSizes, check_eps, patch_grid};
use super::vit::resolve_layer;
use super::{EncoderError, EncoderModel};
use crate::nn::attention::SelfAttention;
use crate::nn::rms_norm::RmsNorm;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// The `[architecture]` table of a spec with `kind = "aimv2"`: `Aimv2VisionConfig`'s fields.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Aimv2Spec {
    /// Resolution the position table was trained at (and the only input side).
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    /// `intermediate_size`: the width of each of `gate_proj` and `up_proj`.
    pub mlp_size: usize,
    /// Biases of q, k, v and the output projection (`qkv_bias`, default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_bias: Option<bool>,
    /// Biases of the SwiGLU projections (`mlp_bias`, default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp_bias: Option<bool>,
    /// `rms_norm_eps` (default 1e-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
    /// `is_native`: sin-cos positions at each image's own grid instead of the table (default
    /// false); its preprocessing keeps each image's size (`resize = "none"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_native: Option<bool>,
}

/// The runtime configuration: every choice made.
#[derive(Debug, Clone)]
pub struct Aimv2Config {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub qkv_bias: bool,
    pub mlp_bias: bool,
    pub norm_eps: f64,
    pub is_native: bool,
}

impl ArchitectureSpec for Aimv2Spec {
    fn describe(&self) -> String {
        "aimv2".into()
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn native_patch(&self) -> Option<usize> {
        self.is_native.unwrap_or(false).then_some(self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.resolve().map(drop)
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        let mut model = self.resolve()?.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut model, checkpoint, &KEYS)?;
        }
        Ok(EncoderModel::Aimv2(model))
    }
}

impl Aimv2Spec {
    pub fn resolve(&self) -> Result<Aimv2Config, EncoderError> {
        let Aimv2Spec { image_size, patch_size, hidden_size, depth, heads, mlp_size, .. } = *self;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        let norm_eps = self.norm_eps.unwrap_or(1e-5);
        check_eps("norm_eps", norm_eps)?;
        let is_native = self.is_native.unwrap_or(false);
        if is_native && !hidden_size.is_multiple_of(4) {
            return Err(EncoderError::Config(format!(
                "is_native: the sin-cos positions need a hidden_size divisible by 4, not {hidden_size}"
            )));
        }
        Ok(Aimv2Config {
            image_size,
            patch_size,
            hidden_size,
            depth,
            heads,
            mlp_size,
            qkv_bias: self.qkv_bias.unwrap_or(false),
            mlp_bias: self.mlp_bias.unwrap_or(false),
            norm_eps,
            is_native,
        })
    }
}

/// transformers `Aimv2VisionModel` (and `Aimv2Model`'s `vision_model.`): q, k and v are fused
/// into one projection; the pooling `head` stays unused.
static KEYS: KeyMap = KeyMap {
    layout: "transformers AIMv2",
    anchor: "embeddings.patch_embed.weight",
    rules: &[
        Rename("embeddings.patch_embed", "patch_embed"),
        Rename("embeddings.rms_norm", "patch_norm"),
        Rename("embeddings.position_embedding.weight", "pos_embed"),
        Rename("encoder.layers.#.rms_norm1", "blocks.#.rms_norm1"),
        Fuse(
            ["encoder.layers.#.attention.q_proj", "encoder.layers.#.attention.k_proj", "encoder.layers.#.attention.v_proj"],
            "blocks.#.attention.qkv",
        ),
        Rename("encoder.layers.#.attention.out_proj", "blocks.#.attention.proj"),
        Rename("encoder.layers.#.rms_norm2", "blocks.#.rms_norm2"),
        Rename("encoder.layers.#.ffn", "blocks.#.ffn"),
        Rename("rms_norm", "rms_norm"),
    ],
};

impl Aimv2Config {
    fn trained_grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> Aimv2 {
        let hidden = self.hidden_size;
        let norm = || RmsNorm::new(hidden, self.norm_eps, device);
        let linear = |from: usize, to: usize| LinearConfig::new(from, to).with_bias(self.mlp_bias).init(device);
        Aimv2 {
            patch_embed: Conv2dConfig::new([3, hidden], [self.patch_size; 2]).with_stride([self.patch_size; 2]).init(device),
            patch_norm: norm(),
            pos_embed: (!self.is_native)
                .then(|| Initializer::Normal { mean: 0.0, std: 0.02 }.init([self.trained_grid().pow(2), hidden], device)),
            blocks: (0..self.depth)
                .map(|_| Aimv2Block {
                    rms_norm1: norm(),
                    attention: SelfAttention::with_biases(hidden, self.heads, self.qkv_bias, self.qkv_bias, device),
                    rms_norm2: norm(),
                    ffn: SwiGlu {
                        gate_proj: linear(hidden, self.mlp_size),
                        up_proj: linear(hidden, self.mlp_size),
                        down_proj: linear(self.mlp_size, hidden),
                    },
                })
                .collect(),
            rms_norm: norm(),
            config: self.clone(),
        }
    }
}

/// `down_proj(silu(gate_proj x) · up_proj x)` (transformers `Aimv2MLP`).
#[derive(Module, Debug)]
pub struct SwiGlu {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

impl SwiGlu {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.down_proj.forward(silu(self.gate_proj.forward(x.clone())) * self.up_proj.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct Aimv2Block {
    pub rms_norm1: RmsNorm,
    pub attention: SelfAttention,
    pub rms_norm2: RmsNorm,
    pub ffn: SwiGlu,
}

impl Aimv2Block {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = x.clone() + self.attention.forward(self.rms_norm1.forward(x));
        x.clone() + self.ffn.forward(self.rms_norm2.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct Aimv2 {
    pub patch_embed: Conv2d,
    pub patch_norm: RmsNorm,
    /// [trained grid², hidden]; none for the native model.
    pub pos_embed: Option<Param<Tensor<2>>>,
    pub blocks: Vec<Aimv2Block>,
    pub rms_norm: RmsNorm,
    #[module(skip)]
    pub config: Aimv2Config,
}

impl Aimv2 {
    /// The hidden state at `layer` (transformers' `hidden_states` index: 0 = embeddings,
    /// negative from the end), or the final output (final RMSNorm included) when `None`.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let blocks_to_run = match layer {
            None => self.config.depth,
            Some(layer) => resolve_layer(layer, self.config.depth)?,
        };
        // [batch, hidden, rows, cols] → [batch, rows × cols, hidden]
        let patches = self.patch_embed.forward(pixels);
        let [_, _, rows, cols] = patches.dims();
        let device = patches.device();
        let positions = match &self.pos_embed {
            None => sincos_positions(rows, cols, self.config.hidden_size, &device),
            Some(table) => {
                let trained = self.config.trained_grid();
                if (rows, cols) != (trained, trained) {
                    return Err(EncoderError::Config(format!(
                        "AIMv2's position table is fixed at a {trained}×{trained} grid ({} px); the input gives {rows}×{cols}",
                        self.config.image_size
                    )));
                }
                table.val()
            }
        };
        let patches = patches.flatten::<3>(2, 3).swap_dims(1, 2);
        let mut x = self.patch_norm.forward(patches) + positions.unsqueeze::<3>();
        for block in &self.blocks[..blocks_to_run] {
            x = block.forward(x);
        }
        if layer.is_none() {
            x = self.rms_norm.forward(x);
        }
        Ok((x, [rows, cols]))
    }
}

/// The native model's positions for a `rows × cols` grid, row-major: per patch (h, w),
/// [sin(w·ω) | cos(w·ω) | sin(h·ω) | cos(h·ω)] with ω_k = 10000^(−k / (hidden / 4)), computed
/// in f64 and rounded to f32 as transformers does. → [rows × cols, hidden]
fn sincos_positions(rows: usize, cols: usize, hidden: usize, device: &Device) -> Tensor<2> {
    let quarter = hidden / 4;
    let omega: Vec<f64> = (0..quarter).map(|k| 1.0 / 10000f64.powf(k as f64 / quarter as f64)).collect();
    let mut values = Vec::with_capacity(rows * cols * hidden);
    for h in 0..rows {
        for w in 0..cols {
            for coordinate in [w, h] {
                values.extend(omega.iter().map(|o| (coordinate as f64 * o).sin() as f32));
                values.extend(omega.iter().map(|o| (coordinate as f64 * o).cos() as f32));
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [rows * cols, hidden]), device)
}
