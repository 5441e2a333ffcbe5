//! BEiT (Bao et al., ICLR 2022) as MiDaS 3.1 uses it (Birkl et al. 2023): the backbone of
//! transformers' `DPTForDepthEstimation` with a `BeitBackbone` (Intel/dpt-beit-large-512).
//!
//! A pre-norm ViT without an absolute position table: every block adds its own learned
//! relative position bias to the attention scores, scales both residual branches by a learned
//! per-channel gain (`lambda_1`, `lambda_2`), and has q and v biases but no k bias. The tokens
//! are the class token and the patches; no final norm touches them.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, TransformerSizes, check_eps, patch_grid};
use super::vit::resolve_layer;
use super::{EncoderError, EncoderModel};
use crate::nn::layer_scale::LayerScale;
use crate::nn::mlp::{Act, Mlp};
use crate::nn::resample::{GridResample, resize_grid};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// The `[architecture]` table of a spec with `kind = "beit"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BeitSpec {
    /// Resolution the relative position tables were trained at.
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
    /// `lambda_1`/`lambda_2` (transformers: `layer_scale_init_value > 0`); default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_scale: Option<bool>,
}

/// The runtime configuration: every choice made.
#[derive(Debug, Clone)]
pub struct BeitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub act: Act,
    pub norm_eps: f64,
    pub layer_scale: bool,
}

impl ArchitectureSpec for BeitSpec {
    fn describe(&self) -> String {
        "beit (hf-dpt-beit)".into()
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.resolve().map(drop)
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        let mut beit = self.resolve()?.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut beit, checkpoint, &HF_BEIT)?;
        }
        Ok(EncoderModel::Beit(beit))
    }
}

impl BeitSpec {
    pub fn resolve(&self) -> Result<BeitConfig, EncoderError> {
        let invalid = |message: String| Err(EncoderError::Config(message));
        let BeitSpec { image_size, patch_size, hidden_size, depth, heads, mlp_size, .. } = *self;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        if !self.image_size.is_multiple_of(self.patch_size) {
            return invalid(format!("image_size {} is not a multiple of patch_size {}", self.image_size, self.patch_size));
        }
        let act = self.act.unwrap_or(Act::Gelu);
        if act == Act::Swiglu {
            return invalid("BEiT has no SwiGLU feed-forward".into());
        }
        let norm_eps = self.norm_eps.unwrap_or(1e-12);
        check_eps("norm_eps", norm_eps)?;
        Ok(BeitConfig {
            image_size: self.image_size,
            patch_size: self.patch_size,
            hidden_size: self.hidden_size,
            depth: self.depth,
            heads: self.heads,
            mlp_size: self.mlp_size,
            act,
            norm_eps,
            layer_scale: self.layer_scale.unwrap_or(true),
        })
    }
}

impl BeitConfig {
    /// Side of the patch grid the relative position tables were trained on.
    fn window(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> Beit {
        let hidden = self.hidden_size;
        let norm = || LayerNormConfig::new(hidden).with_epsilon(self.norm_eps).init(device);
        let linear = |bias| LinearConfig::new(hidden, hidden).with_bias(bias).init(device);
        let offsets = (2 * self.window() - 1).pow(2) + 3;
        Beit {
            patch_embed: Conv2dConfig::new([3, hidden], [self.patch_size; 2]).with_stride([self.patch_size; 2]).init(device),
            cls_token: Initializer::Normal { mean: 0.0, std: 0.02 }.init([hidden], device),
            blocks: (0..self.depth)
                .map(|_| Block {
                    norm1: norm(),
                    attn: RelativeAttention {
                        query: linear(true),
                        key: linear(false),
                        value: linear(true),
                        proj: linear(true),
                        relative_position_bias_table: Initializer::Zeros.init([offsets, self.heads], device),
                        heads: self.heads,
                        window: self.window(),
                    },
                    ls1: self.layer_scale.then(|| LayerScale::new(hidden, device)),
                    norm2: norm(),
                    mlp: Mlp::new(hidden, self.mlp_size, self.act, device),
                    ls2: self.layer_scale.then(|| LayerScale::new(hidden, device)),
                })
                .collect(),
            config: self.clone(),
        }
    }
}

/// Self-attention with a learned bias per head and relative offset (BEiT §2.4, after Swin).
#[derive(Module, Debug)]
pub struct RelativeAttention {
    pub query: Linear,
    /// Without bias.
    pub key: Linear,
    pub value: Linear,
    pub proj: Linear,
    /// [(2 × window − 1)² + 3, heads]: the patch-to-patch offsets in row-major order over
    /// (Δrow, Δcol), then class→patch, patch→class and class→class.
    pub relative_position_bias_table: Param<Tensor<2>>,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    window: usize,
}

impl RelativeAttention {
    /// [batch, 1 + rows × cols, hidden] → same; `index` from [`relative_position_index`].
    fn forward(&self, x: Tensor<3>, [rows, cols]: [usize; 2], index: &Tensor<1, Int>) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        // [batch, tokens, hidden] → [batch, heads, tokens, head_dim]
        let split = |t: Tensor<3>| t.reshape([batch, tokens, self.heads, head_dim]).swap_dims(1, 2);
        let bias = self.bias([rows, cols], index).unsqueeze::<4>().expand([batch, self.heads, tokens, tokens]);
        let out = attention(
            split(self.query.forward(x.clone())),
            split(self.key.forward(x.clone())),
            split(self.value.forward(x)),
            None,
            Some(bias),
            AttentionModuleOptions::default(),
        );
        self.proj.forward(out.swap_dims(1, 2).reshape([batch, tokens, hidden]))
    }

    /// The bias for a [rows, cols] grid: [heads, 1 + rows × cols, 1 + rows × cols]. Off the
    /// trained window the offset table is resized bilinearly (transformers'
    /// `BeitRelativePositionBias` with MiDaS 3.1's arbitrary window sizes).
    fn bias(&self, [rows, cols]: [usize; 2], index: &Tensor<1, Int>) -> Tensor<3> {
        let table = self.relative_position_bias_table.val();
        let [offsets, heads] = table.dims();
        let trained = 2 * self.window - 1;
        let patch_offsets = table.clone().slice([0..offsets - 3, 0..heads]);
        let class_offsets = table.slice([offsets - 3..offsets, 0..heads]);
        let (new_rows, new_cols) = (2 * rows - 1, 2 * cols - 1);
        let patch_offsets = if (new_rows, new_cols) == (trained, trained) {
            patch_offsets
        } else {
            resize_grid(patch_offsets, (trained, trained), (new_rows, new_cols), GridResample::Bilinear)
        };
        let table = Tensor::cat(vec![patch_offsets, class_offsets], 0);
        let tokens = 1 + rows * cols;
        // [tokens², heads] → [heads, tokens, tokens]
        table.select(0, index.clone()).reshape([tokens, tokens, heads]).permute([2, 0, 1])
    }
}

/// Row-major [1 + n, 1 + n] indices into the bias table for a [rows, cols] grid (n = rows × cols,
/// token 0 the class token): patch pairs by offset, then the three class-token entries.
fn relative_position_index(rows: usize, cols: usize) -> Vec<i64> {
    let patch_offsets = ((2 * rows - 1) * (2 * cols - 1)) as i64;
    let tokens = 1 + rows * cols;
    let mut index = Vec::with_capacity(tokens * tokens);
    for i in 0..tokens {
        for j in 0..tokens {
            index.push(match (i, j) {
                (0, 0) => patch_offsets + 2,
                (0, _) => patch_offsets,
                (_, 0) => patch_offsets + 1,
                _ => {
                    let (r1, c1) = ((i - 1) / cols, (i - 1) % cols);
                    let (r2, c2) = ((j - 1) / cols, (j - 1) % cols);
                    let d_row = (r1 + rows - 1 - r2) as i64;
                    let d_col = (c1 + cols - 1 - c2) as i64;
                    d_row * (2 * cols - 1) as i64 + d_col
                }
            });
        }
    }
    index
}

#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: RelativeAttention,
    pub ls1: Option<LayerScale>,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    pub ls2: Option<LayerScale>,
}

impl Block {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>, grid: [usize; 2], index: &Tensor<1, Int>) -> Tensor<3> {
        let scaled = |ls: &Option<LayerScale>, y: Tensor<3>| match ls {
            Some(ls) => ls.forward(y),
            None => y,
        };
        let x = x.clone() + scaled(&self.ls1, self.attn.forward(self.norm1.forward(x), grid, index));
        x.clone() + scaled(&self.ls2, self.mlp.forward(self.norm2.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct Beit {
    pub patch_embed: Conv2d,
    /// [hidden]
    pub cls_token: Param<Tensor<1>>,
    pub blocks: Vec<Block>,
    #[module(skip)]
    pub config: BeitConfig,
}

impl Beit {
    /// The hidden state at `layer` (transformers' `hidden_states` index: 0 = embeddings,
    /// negative from the end), the last block's output when `None`; class token dropped.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let blocks_to_run = match layer {
            None => self.config.depth,
            Some(layer) => resolve_layer(layer, self.config.depth)?,
        };
        // [batch, hidden, rows, cols] → [batch, rows × cols, hidden]
        let patches = self.patch_embed.forward(pixels);
        let [batch, hidden, rows, cols] = patches.dims();
        let patches = patches.flatten::<3>(2, 3).swap_dims(1, 2);
        let cls = self.cls_token.val().reshape([1, 1, hidden]).expand([batch, 1, hidden]);
        let mut x = Tensor::cat(vec![cls, patches], 1);
        // The same for every block: built once per forward.
        let tokens = 1 + rows * cols;
        let index = TensorData::new(relative_position_index(rows, cols), [tokens * tokens]);
        let index = Tensor::<1, Int>::from_data(index, &x.device());
        for block in &self.blocks[..blocks_to_run] {
            x = block.forward(x, [rows, cols], &index);
        }
        let tokens = x.dims()[1];
        Ok((x.slice([0..batch, 1..tokens, 0..hidden]), [rows, cols]))
    }
}

/// transformers' BeitBackbone keys (under `backbone.` in DPTForDepthEstimation); `#` is the
/// block index. A stored `relative_position_index` is derived, not loaded.
static HF_BEIT: KeyMap = KeyMap {
    layout: "transformers BEiT",
    anchor: "encoder.layer.0.attention.attention.relative_position_bias.relative_position_bias_table",
    rules: &[
        Rename("embeddings.patch_embeddings.projection", "patch_embed"),
        Squeeze("embeddings.cls_token", "cls_token", 1),
        Rename("encoder.layer.#.layernorm_before", "blocks.#.norm1"),
        Rename("encoder.layer.#.attention.attention.query", "blocks.#.attn.query"),
        Rename("encoder.layer.#.attention.attention.key", "blocks.#.attn.key"),
        Rename("encoder.layer.#.attention.attention.value", "blocks.#.attn.value"),
        Rename(
            "encoder.layer.#.attention.attention.relative_position_bias.relative_position_bias_table",
            "blocks.#.attn.relative_position_bias_table",
        ),
        Rename("encoder.layer.#.attention.output.dense", "blocks.#.attn.proj"),
        Rename("encoder.layer.#.lambda_1", "blocks.#.ls1.gamma"),
        Rename("encoder.layer.#.layernorm_after", "blocks.#.norm2"),
        Rename("encoder.layer.#.intermediate.dense", "blocks.#.mlp.fc1"),
        Rename("encoder.layer.#.output.dense", "blocks.#.mlp.fc2"),
        Rename("encoder.layer.#.lambda_2", "blocks.#.ls2.gamma"),
    ],
};

#[cfg(test)]
mod tests {
    use super::relative_position_index;

    /// transformers' `BeitRelativePositionBias.generate_relative_position_index((2, 3))`.
    #[test]
    fn relative_position_index_matches_transformers() {
        #[rustfmt::skip]
        let expected = [
            17, 15, 15, 15, 15, 15, 15,
            16,  7,  6,  5,  2,  1,  0,
            16,  8,  7,  6,  3,  2,  1,
            16,  9,  8,  7,  4,  3,  2,
            16, 12, 11, 10,  7,  6,  5,
            16, 13, 12, 11,  8,  7,  6,
            16, 14, 13, 12,  9,  8,  7,
        ];
        assert_eq!(relative_position_index(2, 3), expected);
    }
}
