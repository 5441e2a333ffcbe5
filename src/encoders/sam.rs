//! The image encoder of the Segment Anything Model (Kirillov et al., ICCV 2023), a ViTDet-style
//! ViT (Li et al. 2022): segment-anything's `ImageEncoderViT` (modeling/image_encoder.py).
//! Patch embedding, an absolute position table over the trained grid (no class token), blocks
//! of windowed attention with zero padding to a multiple of the window, and global attention
//! at `global_attn_indexes`, all with decomposed relative position bias (`nn::rel_pos`).
//!
//! The output is the last block's [batch, rows, cols, C] map before the neck, as Cambrian-1's
//! `SAMVisionTower._forward` takes it (64 × 64 × C at 1024 px), flattened row-major. The neck
//! (1×1 and 3×3 convolutions to 256 channels) feeds only SAM's mask decoder and is not built.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, TransformerSizes, check_size, limits, patch_grid};
use super::vit::resolve_layer;
use super::{EncoderError, EncoderModel};
use crate::nn::mlp::{Act, Mlp};
use crate::nn::rel_pos::decomposed_rel_pos_bias;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// `build_sam` fixes LayerNorm's eps for every size.
const NORM_EPS: f64 = 1e-6;

/// The `[architecture]` table of a spec with `kind = "sam"`; field names follow
/// `ImageEncoderViT`'s arguments (`build_sam.py` sets `qkv_bias`, `use_rel_pos`, GELU, eps 1e-6).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SamSpec {
    /// Resolution the position and global relative-position tables were trained at.
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    /// Side of the attention windows in tokens; 0: every block attends globally.
    pub window_size: usize,
    /// Blocks that attend over the whole grid.
    pub global_attn_indexes: Vec<usize>,
    /// `use_abs_pos`: an absolute position table over the trained grid (every released SAM).
    #[serde(default = "default_abs_pos")]
    pub abs_pos: bool,
}

fn default_abs_pos() -> bool {
    true
}

impl ArchitectureSpec for SamSpec {
    fn describe(&self) -> String {
        "sam (vitdet)".to_string()
    }

    fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.check()
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        self.check()?;
        let mut encoder = self.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut encoder, checkpoint, &KEYS)?;
        }
        Ok(EncoderModel::Sam(encoder))
    }
}

impl SamSpec {
    fn check(&self) -> Result<(), EncoderError> {
        let invalid = |message: String| Err(EncoderError::Config(message));
        let SamSpec { image_size, patch_size, hidden_size, depth, heads, mlp_size, .. } = *self;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        if !self.image_size.is_multiple_of(self.patch_size) {
            return invalid(format!("image_size {} is not a multiple of patch_size {}", self.image_size, self.patch_size));
        }
        check_size("window_size", self.window_size, 0..=limits::PIXELS / limits::PATCH)?;
        if let Some(index) = self.global_attn_indexes.iter().find(|i| **i >= self.depth) {
            return invalid(format!("global_attn_indexes names block {index}, but depth is {}", self.depth));
        }
        Ok(())
    }

    fn trained_grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Random parameters; the position tables start at zero, as in segment-anything.
    fn init(&self, device: &Device) -> SamEncoder {
        let hidden = self.hidden_size;
        let head_dim = hidden / self.heads;
        let grid = self.trained_grid();
        let norm = || LayerNormConfig::new(hidden).with_epsilon(NORM_EPS).init(device);
        SamEncoder {
            patch_embed: Conv2dConfig::new([3, hidden], [self.patch_size; 2]).with_stride([self.patch_size; 2]).init(device),
            pos_embed: self.abs_pos.then(|| Initializer::Zeros.init([grid, grid, hidden], device)),
            blocks: (0..self.depth)
                .map(|index| {
                    let global = self.window_size == 0 || self.global_attn_indexes.contains(&index);
                    let window = if global { 0 } else { self.window_size };
                    // Relative tables span the grid the block attends over.
                    let side = if global { grid } else { window };
                    Block {
                        norm1: norm(),
                        attn: Attention {
                            qkv: LinearConfig::new(hidden, 3 * hidden).init(device),
                            proj: LinearConfig::new(hidden, hidden).init(device),
                            rel_pos_h: Initializer::Zeros.init([2 * side - 1, head_dim], device),
                            rel_pos_w: Initializer::Zeros.init([2 * side - 1, head_dim], device),
                            heads: self.heads,
                        },
                        norm2: norm(),
                        mlp: Mlp::new(hidden, self.mlp_size, Act::Gelu, device),
                        window,
                    }
                })
                .collect(),
            trained_grid: grid,
        }
    }
}

/// segment-anything's `Sam` state dict, keys under `image_encoder.` (found through the
/// anchor). The neck (`neck.*`), `prompt_encoder.*` and `mask_decoder.*` have no row: the
/// features are taken before the neck, and the loader lists those tensors as unused.
static KEYS: KeyMap = KeyMap {
    layout: "segment-anything ImageEncoderViT",
    anchor: "blocks.0.attn.rel_pos_h",
    rules: &[
        Rename("patch_embed.proj", "patch_embed"),
        Squeeze("pos_embed", "pos_embed", 3),
        Rename("blocks.#.norm1", "blocks.#.norm1"),
        Rename("blocks.#.attn", "blocks.#.attn"),
        Rename("blocks.#.norm2", "blocks.#.norm2"),
        Rename("blocks.#.mlp.lin1", "blocks.#.mlp.fc1"),
        Rename("blocks.#.mlp.lin2", "blocks.#.mlp.fc2"),
    ],
};

#[derive(Module, Debug)]
pub struct SamEncoder {
    pub patch_embed: Conv2d,
    /// [grid, grid, hidden]
    pub pos_embed: Option<Param<Tensor<3>>>,
    pub blocks: Vec<Block>,
    #[module(skip)]
    trained_grid: usize,
}

impl SamEncoder {
    /// The output of block `layer` (0 = embeddings, negative from the end; default: the last
    /// block), before the neck. [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let depth = self.blocks.len();
        let blocks_to_run = layer.map_or(Ok(depth), |layer| resolve_layer(layer, depth))?;
        // [batch, hidden, rows, cols] → [batch, rows, cols, hidden]
        let mut x = self.patch_embed.forward(pixels).permute([0, 2, 3, 1]);
        let [batch, rows, cols, hidden] = x.dims();
        if let Some(pos) = &self.pos_embed {
            let grid = self.trained_grid;
            if (rows, cols) != (grid, grid) {
                return Err(EncoderError::Config(format!(
                    "SAM's absolute position table covers a {grid}×{grid} grid and is not resized; \
                     this input gives {rows}×{cols}: use the resolution the spec was trained at"
                )));
            }
            x = x + pos.val().unsqueeze::<4>();
        }
        for block in &self.blocks[..blocks_to_run] {
            x = block.forward(x);
        }
        Ok((x.reshape([batch, rows * cols, hidden]), [rows, cols]))
    }
}

#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: Attention,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    /// Window side in tokens; 0: global attention.
    #[module(skip)]
    window: usize,
}

impl Block {
    /// [batch, rows, cols, hidden] → [batch, rows, cols, hidden]
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, rows, cols, hidden] = x.dims();
        let normed = self.norm1.forward(x.clone());
        let attended = match self.window {
            0 => self.attn.forward(normed),
            window => {
                // Padding comes after the norm: padded tokens are zeros, and unmasked keys.
                let padded = pad_to_multiple(normed, window);
                let [_, padded_rows, padded_cols, _] = padded.dims();
                let windows = self.attn.forward(window_partition(padded, window));
                window_unpartition(windows, batch, [padded_rows, padded_cols]).slice([0..batch, 0..rows, 0..cols, 0..hidden])
            }
        };
        let x = (x + attended).reshape([batch, rows * cols, hidden]);
        let x = x.clone() + self.mlp.forward(self.norm2.forward(x));
        x.reshape([batch, rows, cols, hidden])
    }
}

/// Zeros appended below and to the right up to a multiple of `window`.
/// [batch, rows, cols, C] → [batch, padded rows, padded cols, C]
fn pad_to_multiple(x: Tensor<4>, window: usize) -> Tensor<4> {
    let [batch, rows, cols, channels] = x.dims();
    let (padded_rows, padded_cols) = (rows.div_ceil(window) * window, cols.div_ceil(window) * window);
    let device = x.device();
    let x = if padded_cols > cols {
        Tensor::cat(vec![x, Tensor::zeros([batch, rows, padded_cols - cols, channels], &device)], 2)
    } else {
        x
    };
    if padded_rows > rows {
        Tensor::cat(vec![x, Tensor::zeros([batch, padded_rows - rows, padded_cols, channels], &device)], 1)
    } else {
        x
    }
}

/// [batch, rows, cols, C] (multiples of `window`) → [batch · windows, window, window, C],
/// windows in row-major order.
fn window_partition(x: Tensor<4>, window: usize) -> Tensor<4> {
    let [batch, rows, cols, channels] = x.dims();
    x.reshape([batch, rows / window, window, cols / window, window, channels]).permute([0, 1, 3, 2, 4, 5]).reshape([
        batch * (rows / window) * (cols / window),
        window,
        window,
        channels,
    ])
}

/// The inverse of [`window_partition`]: → [batch, rows, cols, C].
fn window_unpartition(windows: Tensor<4>, batch: usize, [rows, cols]: [usize; 2]) -> Tensor<4> {
    let [_, window, _, channels] = windows.dims();
    windows
        .reshape([batch, rows / window, cols / window, window, window, channels])
        .permute([0, 1, 3, 2, 4, 5])
        .reshape([batch, rows, cols, channels])
}

/// Multi-head attention over a grid with decomposed relative position bias.
#[derive(Module, Debug)]
pub struct Attention {
    pub qkv: Linear,
    pub proj: Linear,
    /// [2 · side - 1, head_dim] for the grid side the block was trained on.
    pub rel_pos_h: Param<Tensor<2>>,
    pub rel_pos_w: Param<Tensor<2>>,
    #[module(skip)]
    heads: usize,
}

impl Attention {
    /// [batch, rows, cols, hidden] → [batch, rows, cols, hidden]
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, rows, cols, hidden] = x.dims();
        let (tokens, head_dim) = (rows * cols, hidden / self.heads);
        // [batch, tokens, 3, heads, head_dim] → [3, batch, heads, tokens, head_dim]
        let qkv = self
            .qkv
            .forward(x.reshape([batch, tokens, hidden]))
            .reshape([batch, tokens, 3, self.heads, head_dim])
            .permute([2, 0, 3, 1, 4]);
        let take = |i: usize| qkv.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
        let q = take(0);
        // The bias reads the unscaled queries: [batch · heads, rows, cols, head_dim] → [batch, heads, tokens, tokens]
        let bias = decomposed_rel_pos_bias(
            q.clone().reshape([batch * self.heads, rows, cols, head_dim]),
            self.rel_pos_h.val(),
            self.rel_pos_w.val(),
        )
        .reshape([batch, self.heads, tokens, tokens]);
        // Default scale 1/sqrt(head_dim), as segment-anything's.
        let out = attention(q, take(1), take(2), None, Some(bias), AttentionModuleOptions::default());
        // [batch, heads, tokens, head_dim] → [batch, rows, cols, hidden]
        let out = out.swap_dims(1, 2).reshape([batch, rows, cols, hidden]);
        self.proj.forward(out)
    }
}
