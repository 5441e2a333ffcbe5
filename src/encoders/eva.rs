//! timm's `Eva` family (`timm/models/eva.py`): Vision Transformers with 2-D rotary position
//! embedding (`crate::nn::rope2d`), in three variants:
//!
//! - **EVA-02 CLIP** (Fang et al. 2023, "EVA-02: A Visual Representation for Neon Genesis";
//!   Sun et al. 2023, "EVA-CLIP"): separate q/k/v projections with q and v biases only, a
//!   LayerNorm on the attention output and inside the SwiGLU feed-forward (sub-LN), learned
//!   absolute positions beside a class token, EVA rope rescaled to the 16×16 pre-training
//!   grid. Cambrian-1's row 4 (`hf-hub:timm/eva02_large_patch14_clip_336.merged2b_s6b_b61k`,
//!   open_clip's `visual.trunk`, `forward_features` without the class token).
//! - **Perception Encoder** (Bolya et al. 2025, "Perception Encoder: The best visual
//!   embeddings are not at the output of the network"): fused qkv with bias, LayerNorm
//!   before the blocks, no patch bias, rope on an x-before-y grid (offset by one when there
//!   is a class token). PE-Core keeps its final norm; PE-Lang (aligned to an LLM, with
//!   LayerScale; L/14 has 23 blocks) and PE-Spatial (aligned for dense tasks) have none.
//! - **DINOv3** (Siméoni et al. 2025): no absolute positions, rope on patch centres in
//!   [-1, 1] with half rotation, four register tokens, LayerScale.
//!
//! The variant fixes the structure; sizes and a few switches (class token, registers, the
//! `_qkvb` biases, the feed-forward) are spec fields. Module fields carry timm's names, so
//! the key table ([`KEYS`]) is nearly the identity.

use std::fmt;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, TransformerSizes, check_eps, check_size, limits, patch_grid};
use super::vit::resolve_layer;
use super::{EncoderError, EncoderModel};
use crate::nn::resample::{GridResample, resize_grid};
use crate::nn::rope2d::{AxisOrder, Coordinates, FULL_TURN, Pairing, Rope2d, RopeTables};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvaVariant {
    Eva02Clip,
    PeCore,
    PeLang,
    PeSpatial,
    Dinov3,
}

impl fmt::Display for EvaVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EvaVariant::Eva02Clip => "eva02-clip",
            EvaVariant::PeCore => "pe-core",
            EvaVariant::PeLang => "pe-lang",
            EvaVariant::PeSpatial => "pe-spatial",
            EvaVariant::Dinov3 => "dinov3",
        })
    }
}

/// The feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedForward {
    /// fc1 → erf GELU → fc2 (timm `Mlp`).
    Gelu,
    /// `silu(fc1_g x) · fc1_x x` → fc2 (timm `SwiGLU`).
    Swiglu,
    /// SwiGLU with a LayerNorm before fc2 (EVA-02's sub-LN, timm `scale_mlp`).
    SwigluNorm,
}

/// The `[architecture]` table of a spec with `kind = "eva"`. Fields left out take the
/// variant's value (see [`EvaSpec::resolve`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvaSpec {
    pub variant: EvaVariant,
    /// Resolution the position table (if any) was trained at.
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    /// Width of the feed-forward's inner layer (for SwiGLU: of each of fc1_g and fc1_x).
    pub mlp_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlp: Option<FeedForward>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registers: Option<usize>,
    /// Biases of the attention input projection (DINOv3: the `_qkvb` checkpoints' q and v).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_bias: Option<bool>,
    /// LayerScale on both residual branches (timm `init_values`: PE-Spatial G/14 has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_scale: Option<bool>,
    /// Side of the grid an index rope was trained on (timm `ref_feat_shape`); absent: the
    /// grid of the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_reference_grid: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
}

/// How the attention input projection is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qkv {
    /// `q_proj`, `k_proj`, `v_proj`; q and v may have biases, k never does (EVA-02 CLIP).
    Split { bias: bool },
    /// One `qkv` Linear, with or without its own bias (PE: `AttentionRope`).
    Fused { bias: bool },
    /// One bias-free `qkv` Linear plus `q_bias` and `v_bias`, k's bias fixed at zero
    /// (timm `EvaAttention` fused: DINOv3 `_qkvb`).
    FusedQvBias,
}

/// The runtime configuration: the sizes and every structural choice made.
#[derive(Debug, Clone)]
pub struct EvaConfig {
    pub variant: EvaVariant,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub structure: Structure,
}

/// What a variant fixes (some of it overridable from the spec).
#[derive(Debug, Clone)]
pub struct Structure {
    pub mlp: FeedForward,
    pub qkv: Qkv,
    /// LayerNorm on the attention output before `proj` (timm `scale_attn_inner`).
    pub attn_norm: bool,
    pub class_token: bool,
    pub registers: usize,
    /// A learned position table over the prefix tokens and the trained grid.
    pub abs_pos: bool,
    pub pre_norm: bool,
    pub patch_bias: bool,
    pub layer_scale: bool,
    /// The LayerNorm after the blocks (timm `norm`; PE-Lang and PE-Spatial have none).
    pub final_norm: bool,
    pub norm_eps: f64,
    pub rope: Rope2d,
}

impl ArchitectureSpec for EvaSpec {
    fn describe(&self) -> String {
        format!("eva ({})", self.variant)
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
        let mut model = self.resolve()?.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut model, checkpoint, &KEYS)?;
        }
        Ok(EncoderModel::Eva(model))
    }
}

impl EvaSpec {
    pub fn resolve(&self) -> Result<EvaConfig, EncoderError> {
        let invalid = |message: String| Err(EncoderError::Config(message));
        let EvaSpec { image_size, patch_size, hidden_size, depth, heads, mlp_size, .. } = *self;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        if !self.image_size.is_multiple_of(self.patch_size) {
            return invalid(format!("image_size {} is not a multiple of patch_size {}", self.image_size, self.patch_size));
        }
        if let Some(side) = self.rope_reference_grid {
            check_size("rope_reference_grid", side, 1..=limits::PIXELS)?;
        }
        let head_dim = self.hidden_size / self.heads;
        let reference = self.rope_reference_grid.map(|side| [side; 2]);
        let index_rope = |offset, axis_order| Rope2d {
            head_dim,
            base: 10_000.0,
            scale: 1.0,
            coordinates: Coordinates::Index { offset, reference },
            axis_order,
            pairing: Pairing::Interleaved,
        };
        let qkv_bias = self.qkv_bias;
        let structure = match self.variant {
            EvaVariant::Eva02Clip => Structure {
                mlp: self.mlp.unwrap_or(FeedForward::SwigluNorm),
                qkv: Qkv::Split { bias: qkv_bias.unwrap_or(true) },
                attn_norm: true,
                class_token: self.class_token.unwrap_or(true),
                registers: self.registers.unwrap_or(0),
                abs_pos: true,
                pre_norm: false,
                patch_bias: true,
                layer_scale: self.layer_scale.unwrap_or(false),
                final_norm: true,
                norm_eps: self.norm_eps.unwrap_or(1e-6),
                rope: index_rope(0.0, AxisOrder::RowsFirst),
            },
            EvaVariant::PeCore | EvaVariant::PeLang | EvaVariant::PeSpatial => {
                let class_token = self.class_token.unwrap_or(true);
                Structure {
                    mlp: self.mlp.unwrap_or(FeedForward::Gelu),
                    qkv: Qkv::Fused { bias: qkv_bias.unwrap_or(true) },
                    attn_norm: false,
                    class_token,
                    registers: self.registers.unwrap_or(0),
                    abs_pos: true,
                    pre_norm: true,
                    patch_bias: false,
                    layer_scale: self.layer_scale.unwrap_or(self.variant == EvaVariant::PeLang),
                    final_norm: self.variant == EvaVariant::PeCore,
                    norm_eps: self.norm_eps.unwrap_or(1e-5),
                    // Meta's rope leaves grid position 0 to the class token (timm `rope_grid_offset`).
                    rope: index_rope(f64::from(u8::from(class_token)), AxisOrder::ColsFirst),
                }
            }
            EvaVariant::Dinov3 => {
                if self.rope_reference_grid.is_some() {
                    return invalid("DINOv3's rotary embedding has no reference grid (rope_reference_grid)".into());
                }
                Structure {
                    mlp: self.mlp.unwrap_or(FeedForward::Gelu),
                    qkv: if qkv_bias.unwrap_or(false) { Qkv::FusedQvBias } else { Qkv::Fused { bias: false } },
                    attn_norm: false,
                    class_token: self.class_token.unwrap_or(true),
                    registers: self.registers.unwrap_or(4),
                    abs_pos: false,
                    pre_norm: false,
                    patch_bias: true,
                    layer_scale: self.layer_scale.unwrap_or(true),
                    final_norm: true,
                    norm_eps: self.norm_eps.unwrap_or(1e-5),
                    rope: Rope2d {
                        head_dim,
                        base: 100.0,
                        scale: FULL_TURN,
                        coordinates: Coordinates::Centered,
                        axis_order: AxisOrder::RowsFirst,
                        pairing: Pairing::Half,
                    },
                }
            }
        };
        structure.rope.validate().map_err(EncoderError::Config)?;
        check_size("registers", structure.registers, 0..=limits::REGISTERS)?;
        check_eps("norm_eps", structure.norm_eps)?;
        Ok(EvaConfig {
            variant: self.variant,
            image_size: self.image_size,
            patch_size: self.patch_size,
            hidden_size: self.hidden_size,
            depth: self.depth,
            heads: self.heads,
            mlp_size: self.mlp_size,
            structure,
        })
    }
}

/// timm `Eva` state dicts, bare (`model.safetensors` of timm's hub repos) or as open_clip's
/// `visual.trunk.` (EVA-02 CLIP). Classification head, attention pool and `fc_norm` are not
/// part of the token output and stay unused; rope tables are computed, never loaded.
static KEYS: KeyMap = KeyMap {
    layout: "timm Eva",
    anchor: "patch_embed.proj.weight",
    rules: &[
        Rename("patch_embed.proj", "patch_embed"),
        Squeeze("cls_token", "cls_token", 1),
        Squeeze("reg_token", "reg_token", 2),
        Squeeze("pos_embed", "pos_embed", 2),
        Rename("norm_pre", "norm_pre"),
        Rename("blocks", "blocks"),
        Rename("norm", "norm"),
    ],
};

impl EvaConfig {
    fn prefix_tokens(&self) -> usize {
        usize::from(self.structure.class_token) + self.structure.registers
    }

    fn trained_grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> Eva {
        let hidden = self.hidden_size;
        let structure = &self.structure;
        let norm = |width: usize| LayerNormConfig::new(width).with_epsilon(structure.norm_eps).init(device);
        let token_init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let linear = |from: usize, to: usize, bias: bool| LinearConfig::new(from, to).with_bias(bias).init(device);
        let vector = |init: Initializer| init.init([hidden], device);
        let (split, fused) = match structure.qkv {
            Qkv::Split { bias } => (Some(bias), None),
            Qkv::Fused { bias } => (None, Some(bias)),
            Qkv::FusedQvBias => (None, Some(false)),
        };
        let swiglu = structure.mlp != FeedForward::Gelu;
        let block = || EvaBlock {
            norm1: norm(hidden),
            attn: EvaAttention {
                qkv: fused.map(|bias| linear(hidden, 3 * hidden, bias)),
                q_bias: (structure.qkv == Qkv::FusedQvBias).then(|| vector(Initializer::Zeros)),
                v_bias: (structure.qkv == Qkv::FusedQvBias).then(|| vector(Initializer::Zeros)),
                q_proj: split.map(|bias| linear(hidden, hidden, bias)),
                k_proj: split.map(|_| linear(hidden, hidden, false)),
                v_proj: split.map(|bias| linear(hidden, hidden, bias)),
                norm: structure.attn_norm.then(|| norm(hidden)),
                proj: linear(hidden, hidden, true),
                heads: self.heads,
                prefix: self.prefix_tokens(),
            },
            gamma_1: structure.layer_scale.then(|| vector(Initializer::Ones)),
            norm2: norm(hidden),
            mlp: EvaMlp {
                fc1: (!swiglu).then(|| linear(hidden, self.mlp_size, true)),
                fc1_g: swiglu.then(|| linear(hidden, self.mlp_size, true)),
                fc1_x: swiglu.then(|| linear(hidden, self.mlp_size, true)),
                norm: (structure.mlp == FeedForward::SwigluNorm).then(|| norm(self.mlp_size)),
                fc2: linear(self.mlp_size, hidden, true),
            },
            gamma_2: structure.layer_scale.then(|| vector(Initializer::Ones)),
        };
        Eva {
            patch_embed: Conv2dConfig::new([3, hidden], [self.patch_size; 2])
                .with_stride([self.patch_size; 2])
                .with_bias(structure.patch_bias)
                .init(device),
            cls_token: structure.class_token.then(|| vector(token_init.clone())),
            reg_token: (structure.registers > 0).then(|| token_init.init([structure.registers, hidden], device)),
            pos_embed: structure
                .abs_pos
                .then(|| token_init.init([self.prefix_tokens() + self.trained_grid().pow(2), hidden], device)),
            norm_pre: structure.pre_norm.then(|| norm(hidden)),
            blocks: (0..self.depth).map(|_| block()).collect(),
            norm: structure.final_norm.then(|| norm(hidden)),
            config: self.clone(),
        }
    }
}

/// Self-attention with rotary embedding on the patch tokens (prefix tokens pass unrotated).
#[derive(Module, Debug)]
pub struct EvaAttention {
    pub qkv: Option<Linear>,
    /// [hidden]
    pub q_bias: Option<Param<Tensor<1>>>,
    /// [hidden]
    pub v_bias: Option<Param<Tensor<1>>>,
    pub q_proj: Option<Linear>,
    pub k_proj: Option<Linear>,
    pub v_proj: Option<Linear>,
    pub norm: Option<LayerNorm>,
    pub proj: Linear,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    prefix: usize,
}

impl EvaAttention {
    /// q, k and v, each [batch, heads, tokens, head_dim].
    fn project(&self, x: Tensor<3>) -> [Tensor<4>; 3] {
        let [batch, tokens, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        let heads = |y: Tensor<3>| y.reshape([batch, tokens, self.heads, head_dim]).swap_dims(1, 2);
        match (&self.qkv, &self.q_proj, &self.k_proj, &self.v_proj) {
            (Some(qkv), ..) => {
                let mut y = qkv.forward(x);
                if let (Some(q_bias), Some(v_bias)) = (&self.q_bias, &self.v_bias) {
                    let k_bias = Tensor::<1>::zeros([hidden], &y.device());
                    y = y + Tensor::cat(vec![q_bias.val(), k_bias, v_bias.val()], 0).unsqueeze::<3>();
                }
                // [batch, tokens, 3, heads, head_dim] → [3, batch, heads, tokens, head_dim]
                let y = y.reshape([batch, tokens, 3, self.heads, head_dim]).permute([2, 0, 3, 1, 4]);
                let take = |i: usize| y.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
                [take(0), take(1), take(2)]
            }
            (None, Some(q), Some(k), Some(v)) => [heads(q.forward(x.clone())), heads(k.forward(x.clone())), heads(v.forward(x))],
            _ => unreachable!("init builds either a fused or a split projection"),
        }
    }

    /// Rotates the patch tokens of q or k: [batch, heads, tokens, head_dim] → same.
    fn rotate(&self, x: Tensor<4>, rope: &RopeTables) -> Tensor<4> {
        if self.prefix == 0 {
            return rope.apply(x);
        }
        let tokens = x.dims()[2];
        let prefix = x.clone().narrow(2, 0, self.prefix);
        let patches = rope.apply(x.narrow(2, self.prefix, tokens - self.prefix));
        Tensor::cat(vec![prefix, patches], 2)
    }

    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>, rope: &RopeTables) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let [q, k, v] = self.project(x);
        let (q, k) = (self.rotate(q, rope), self.rotate(k, rope));
        // The default scale 1/sqrt(head_dim) keeps burn on its fused kernel.
        let out = attention(q, k, v, None, None, AttentionModuleOptions::default());
        let out = out.swap_dims(1, 2).reshape([batch, tokens, hidden]);
        let out = match &self.norm {
            Some(norm) => norm.forward(out),
            None => out,
        };
        self.proj.forward(out)
    }
}

/// timm's `Mlp` (fc1, fc2) or `SwiGLU` (fc1_g, fc1_x, optional norm, fc2).
#[derive(Module, Debug)]
pub struct EvaMlp {
    pub fc1: Option<Linear>,
    pub fc1_g: Option<Linear>,
    pub fc1_x: Option<Linear>,
    pub norm: Option<LayerNorm>,
    pub fc2: Linear,
}

impl EvaMlp {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let inner = match (&self.fc1, &self.fc1_g, &self.fc1_x) {
            (Some(fc1), ..) => gelu(fc1.forward(x)),
            (None, Some(gate), Some(value)) => silu(gate.forward(x.clone())) * value.forward(x),
            _ => unreachable!("init builds either fc1 or fc1_g and fc1_x"),
        };
        let inner = match &self.norm {
            Some(norm) => norm.forward(inner),
            None => inner,
        };
        self.fc2.forward(inner)
    }
}

#[derive(Module, Debug)]
pub struct EvaBlock {
    pub norm1: LayerNorm,
    pub attn: EvaAttention,
    /// LayerScale of the attention branch: [hidden]
    pub gamma_1: Option<Param<Tensor<1>>>,
    pub norm2: LayerNorm,
    pub mlp: EvaMlp,
    /// LayerScale of the feed-forward branch: [hidden]
    pub gamma_2: Option<Param<Tensor<1>>>,
}

impl EvaBlock {
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>, rope: &RopeTables) -> Tensor<3> {
        let scaled = |gamma: &Option<Param<Tensor<1>>>, y: Tensor<3>| match gamma {
            Some(gamma) => y * gamma.val().unsqueeze::<3>(),
            None => y,
        };
        let x = x.clone() + scaled(&self.gamma_1, self.attn.forward(self.norm1.forward(x), rope));
        x.clone() + scaled(&self.gamma_2, self.mlp.forward(self.norm2.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct Eva {
    pub patch_embed: Conv2d,
    /// [hidden]
    pub cls_token: Option<Param<Tensor<1>>>,
    /// [registers, hidden]
    pub reg_token: Option<Param<Tensor<2>>>,
    /// [prefix tokens + trained grid², hidden]
    pub pos_embed: Option<Param<Tensor<2>>>,
    pub norm_pre: Option<LayerNorm>,
    pub blocks: Vec<EvaBlock>,
    pub norm: Option<LayerNorm>,
    #[module(skip)]
    pub config: EvaConfig,
}

impl Eva {
    /// The hidden state at `layer` (transformers' `hidden_states` index: 0 = embeddings,
    /// negative from the end), or the final output (final norm included if there is one,
    /// timm's `forward_features`) when `None`; class and register tokens dropped.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let blocks_to_run = match layer {
            None => self.config.depth,
            Some(layer) => resolve_layer(layer, self.config.depth)?,
        };
        let (mut x, grid) = self.embed(pixels);
        let rope = self.config.structure.rope.tables(grid, &x.device());
        for block in &self.blocks[..blocks_to_run] {
            x = block.forward(x, &rope);
        }
        if let (None, Some(norm)) = (layer, &self.norm) {
            x = norm.forward(x);
        }
        let [batch, tokens, hidden] = x.dims();
        let prefix = self.config.prefix_tokens();
        Ok((x.slice([0..batch, prefix..tokens, 0..hidden]), grid))
    }

    /// Patch embedding, prefix tokens, absolute positions, pre-norm:
    /// → ([batch, prefix + rows × cols, hidden], [rows, cols]).
    fn embed(&self, pixels: Tensor<4>) -> (Tensor<3>, [usize; 2]) {
        // [batch, hidden, rows, cols] → [batch, rows × cols, hidden]
        let patches = self.patch_embed.forward(pixels);
        let [batch, hidden, rows, cols] = patches.dims();
        let patches = patches.flatten::<3>(2, 3).swap_dims(1, 2);
        let cls = self.cls_token.as_ref().map(|t| t.val().reshape([1, 1, hidden]).expand([batch, 1, hidden]));
        let regs =
            self.reg_token.as_ref().map(|t| t.val().unsqueeze::<3>().expand([batch, self.config.structure.registers, hidden]));
        let mut x = Tensor::cat(cls.into_iter().chain(regs).chain([patches]).collect(), 1);
        if let Some(pos) = &self.pos_embed {
            x = x + self.positions(pos.val(), [rows, cols]).unsqueeze::<3>();
        }
        let x = match &self.norm_pre {
            Some(norm) => norm.forward(x),
            None => x,
        };
        (x, [rows, cols])
    }

    /// The position table for a grid of [rows, cols], its patch rows resized (timm's
    /// `resample_abs_pos_embed`: antialiased bicubic) when the grid is not the trained one.
    /// [prefix + trained², hidden] → [prefix + rows × cols, hidden]
    fn positions(&self, pos: Tensor<2>, [rows, cols]: [usize; 2]) -> Tensor<2> {
        let trained = self.config.trained_grid();
        if (rows, cols) == (trained, trained) {
            return pos;
        }
        let [positions, hidden] = pos.dims();
        let prefix = self.config.prefix_tokens();
        let patches = pos.clone().slice([prefix..positions, 0..hidden]);
        let patches = resize_grid(patches, (trained, trained), (rows, cols), GridResample::BicubicAntialias);
        if prefix == 0 {
            return patches;
        }
        Tensor::cat(vec![pos.slice([0..prefix, 0..hidden]), patches], 0)
    }
}
