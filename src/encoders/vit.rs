//! Plain Vision Transformers (Dosovitskiy et al., ICLR 2021) in the checkpoint layouts the
//! Cambrian-1 study loaded: transformers' CLIP (Radford et al. 2021), SigLIP (Zhai et al.
//! 2023), DINOv2 with and without registers (Oquab et al. 2023; Darcet et al. 2024), ViT and
//! ViT-MAE (He et al. 2022), and the ViT backbone of transformers' DPT (Ranftl et al. 2021,
//! MiDaS 3.0); timm's VisionTransformer (MAE, ImageNet-21k ViT, the trunks of
//! open_clip's SigLIP); open_clip's own ViT (DFN-CLIP, Fang et al. 2023); and InternVL's
//! InternViT-300M-448px (Chen et al. 2024, its remote-code `InternVisionModel`).
//!
//! One model covers them all; a layout fixes the structural choices (patch bias, pre-norm,
//! which tokens the position table covers, whether the final norm touches the tokens) and
//! the key table in `vit_keys`.

use std::fmt;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::diffusion::config::SchedulerConfig;
use super::diffusion::noise::{alpha_cumprod, gaussian_noise};
use super::spec::{ArchitectureSpec, TransformerSizes, check_eps, check_size, limits, patch_grid};
use super::{EncoderError, EncoderModel, vit_keys};
use crate::nn::attention::SelfAttention;
use crate::nn::layer_scale::LayerScale;
use crate::nn::mlp::{Act, Mlp};
use crate::nn::resample::{GridResample, resize_grid};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::load::load_strict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VitLayout {
    HfClip,
    HfSiglip,
    HfDinov2,
    HfVit,
    HfVitMae,
    /// The ViT inside transformers' `DPTForDepthEstimation` (keys under `dpt.`).
    HfDpt,
    Timm,
    OpenClip,
    /// OpenGVLab's `InternVisionModel` (`modeling_intern_vit.py`): LayerNorm blocks with
    /// LayerScale, no final norm.
    #[serde(rename = "internvit")]
    InternVit,
}

impl fmt::Display for VitLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            VitLayout::HfClip => "hf-clip",
            VitLayout::HfSiglip => "hf-siglip",
            VitLayout::HfDinov2 => "hf-dinov2",
            VitLayout::HfVit => "hf-vit",
            VitLayout::HfVitMae => "hf-vit-mae",
            VitLayout::HfDpt => "hf-dpt",
            VitLayout::Timm => "timm",
            VitLayout::OpenClip => "open-clip",
            VitLayout::InternVit => "internvit",
        };
        f.write_str(name)
    }
}

/// Which tokens the learned position table covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PosEmbedCover {
    /// Patches only (SigLIP; timm `no_embed_class`).
    Patches,
    /// Class token and patches; register tokens are inserted afterwards (DINOv2).
    ClassAndPatches,
    /// Every prefix token and the patches (CLIP, ViT, timm).
    All,
}

/// The `[architecture]` table of a spec with `kind = "vit"`. Fields left out take the
/// layout's value (see [`VitSpec::resolve`]).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VitSpec {
    pub layout: VitLayout,
    /// Resolution the position table was trained at.
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    /// Width of the MLP's inner layer (for SwiGLU: of each half).
    pub mlp_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Act>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registers: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_scale: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qkv_bias: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_norm: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub norm_eps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_embed: Option<PosEmbedCover>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos_resample: Option<GridResample>,
    /// A fixed noise level for the input (`cambrian pretrain --objective denoise` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_noise: Option<InputNoise>,
}

/// Noise added to the normalised input pixels before the patch embedding, so that a ViT
/// pre-trained by denoising is read at one noise level, as the study reads Stable Diffusion
/// at t = 250: x ← √ᾱ_t·x + √(1−ᾱ_t)·ε, ᾱ_t of `scheduler` (`diffusion::noise`), ε the
/// seeded Gaussian noise of `diffusion::noise` over [3, height, width], the same for every
/// image.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputNoise {
    pub timestep: usize,
    pub seed: u64,
    pub scheduler: SchedulerConfig,
}

impl InputNoise {
    /// [batch, 3, height, width] → the same, noised.
    fn apply(&self, pixels: Tensor<4>) -> Result<Tensor<4>, EncoderError> {
        let alpha = alpha_cumprod(&self.scheduler, self.timestep)?;
        let [_, channels, height, width] = pixels.dims();
        let noise = gaussian_noise(self.seed, channels * height * width);
        let noise = Tensor::<4>::from_data(TensorData::new(noise, [1, channels, height, width]), &pixels.device());
        Ok(pixels.mul_scalar(alpha.sqrt()) + noise.mul_scalar((1.0 - alpha).sqrt()))
    }
}

/// The runtime configuration: every choice made.
#[derive(Debug, Clone)]
pub struct VitConfig {
    pub layout: VitLayout,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_size: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub act: Act,
    pub class_token: bool,
    pub registers: usize,
    pub layer_scale: bool,
    pub qkv_bias: bool,
    pub patch_bias: bool,
    pub pre_norm: bool,
    /// Whether the final norm is applied to the token sequence (transformers' CLIP applies
    /// `post_layernorm` to the pooled token only).
    pub final_norm: bool,
    pub norm_eps: f64,
    pub pos_embed: PosEmbedCover,
    pub pos_resample: GridResample,
    pub input_noise: Option<InputNoise>,
}

/// A layout's fixed choices and defaults.
struct LayoutDefaults {
    act: Act,
    class_token: bool,
    layer_scale: bool,
    patch_bias: bool,
    pre_norm: bool,
    final_norm: bool,
    norm_eps: f64,
    pos_embed: PosEmbedCover,
    pos_resample: GridResample,
}

impl VitLayout {
    fn defaults(self) -> LayoutDefaults {
        let base = LayoutDefaults {
            act: Act::Gelu,
            class_token: true,
            layer_scale: false,
            patch_bias: true,
            pre_norm: false,
            final_norm: true,
            norm_eps: 1e-6,
            pos_embed: PosEmbedCover::All,
            pos_resample: GridResample::Bicubic,
        };
        match self {
            VitLayout::HfClip => LayoutDefaults {
                act: Act::QuickGelu,
                patch_bias: false,
                pre_norm: true,
                final_norm: false,
                norm_eps: 1e-5,
                ..base
            },
            VitLayout::HfSiglip => {
                LayoutDefaults { act: Act::GeluTanh, class_token: false, pos_embed: PosEmbedCover::Patches, ..base }
            }
            VitLayout::HfDinov2 => LayoutDefaults { layer_scale: true, pos_embed: PosEmbedCover::ClassAndPatches, ..base },
            VitLayout::HfVit | VitLayout::HfVitMae => LayoutDefaults { norm_eps: 1e-12, ..base },
            // DPTViTEmbeddings resizes the position table bilinearly, at every size.
            VitLayout::HfDpt => LayoutDefaults { norm_eps: 1e-12, pos_resample: GridResample::Bilinear, ..base },
            VitLayout::Timm => LayoutDefaults { pos_resample: GridResample::BicubicAntialias, ..base },
            VitLayout::OpenClip => LayoutDefaults { patch_bias: false, pre_norm: true, norm_eps: 1e-5, ..base },
            // The encoder's output is `last_hidden_state`; the table is resized by plain bicubic.
            VitLayout::InternVit => LayoutDefaults { layer_scale: true, final_norm: false, ..base },
        }
    }
}

impl ArchitectureSpec for VitSpec {
    fn describe(&self) -> String {
        format!("vit ({})", self.layout)
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
        let mut vit = self.resolve()?.init(device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut vit, checkpoint, vit_keys::key_map(self.layout))?;
        }
        Ok(EncoderModel::Vit(vit))
    }
}

impl VitSpec {
    pub fn resolve(&self) -> Result<VitConfig, EncoderError> {
        let d = self.layout.defaults();
        let config = VitConfig {
            layout: self.layout,
            image_size: self.image_size,
            patch_size: self.patch_size,
            hidden_size: self.hidden_size,
            depth: self.depth,
            heads: self.heads,
            mlp_size: self.mlp_size,
            act: self.act.unwrap_or(d.act),
            class_token: self.class_token.unwrap_or(d.class_token),
            registers: self.registers.unwrap_or(0),
            layer_scale: self.layer_scale.unwrap_or(d.layer_scale),
            qkv_bias: self.qkv_bias.unwrap_or(true),
            patch_bias: d.patch_bias,
            pre_norm: self.pre_norm.unwrap_or(d.pre_norm),
            final_norm: d.final_norm,
            norm_eps: self.norm_eps.unwrap_or(d.norm_eps),
            pos_embed: self.pos_embed.unwrap_or(d.pos_embed),
            pos_resample: self.pos_resample.unwrap_or(d.pos_resample),
            input_noise: self.input_noise.clone(),
        };
        let invalid = |message: String| Err(EncoderError::Config(message));
        // A remainder is allowed: the patch convolution drops it and the position table has
        // floor(image_size / patch_size)² rows, as in timm and transformers (SO400M/14 at 384).
        let VitSpec { image_size, patch_size, hidden_size, depth, heads, mlp_size, .. } = *self;
        TransformerSizes { image_size, patch_size, hidden_size, depth, heads, mlp_size }.check()?;
        check_size("registers", config.registers, 0..=limits::REGISTERS)?;
        check_eps("norm_eps", config.norm_eps)?;
        if config.pos_embed == PosEmbedCover::ClassAndPatches && !config.class_token {
            return invalid("pos_embed = \"class-and-patches\" needs a class token".into());
        }
        if let Some(noise) = &config.input_noise {
            alpha_cumprod(&noise.scheduler, noise.timestep)?;
            if noise.timestep >= noise.scheduler.num_train_timesteps {
                return invalid(format!(
                    "input_noise.timestep {} is beyond the schedule's {} steps",
                    noise.timestep, noise.scheduler.num_train_timesteps
                ));
            }
        }
        Ok(config)
    }
}

impl VitConfig {
    pub fn layout(&self) -> VitLayout {
        self.layout
    }

    pub(crate) fn prefix_tokens(&self) -> usize {
        usize::from(self.class_token) + self.registers
    }

    /// Rows of the position table that belong to prefix tokens.
    fn pos_prefix(&self) -> usize {
        match self.pos_embed {
            PosEmbedCover::Patches => 0,
            PosEmbedCover::ClassAndPatches => 1,
            PosEmbedCover::All => self.prefix_tokens(),
        }
    }

    fn trained_grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Builds the model with lazily initialised random parameters.
    pub fn init(&self, device: &Device) -> VisionTransformer {
        let hidden = self.hidden_size;
        let norm = || LayerNormConfig::new(hidden).with_epsilon(self.norm_eps).init(device);
        let token_init = Initializer::Normal { mean: 0.0, std: 0.02 };
        let positions = self.pos_prefix() + self.trained_grid().pow(2);
        VisionTransformer {
            patch_embed: Conv2dConfig::new([3, hidden], [self.patch_size; 2])
                .with_stride([self.patch_size; 2])
                .with_bias(self.patch_bias)
                .init(device),
            cls_token: self.class_token.then(|| token_init.init([hidden], device)),
            reg_tokens: (self.registers > 0).then(|| token_init.init([self.registers, hidden], device)),
            pos_embed: token_init.init([positions, hidden], device),
            norm_pre: self.pre_norm.then(norm),
            blocks: (0..self.depth)
                .map(|_| {
                    let sizes = BlockSizes { hidden, heads: self.heads, mlp_size: self.mlp_size, norm_eps: self.norm_eps };
                    Block::new(&sizes, self.act, self.qkv_bias, self.layer_scale, device)
                })
                .collect(),
            norm: self.final_norm.then(norm),
            config: self.clone(),
        }
    }
}

#[derive(Module, Debug)]
pub struct Block {
    pub norm1: LayerNorm,
    pub attn: SelfAttention,
    pub ls1: Option<LayerScale>,
    pub norm2: LayerNorm,
    pub mlp: Mlp,
    pub ls2: Option<LayerScale>,
}

/// The widths of a pre-norm block (LayerNorm, attention, LayerNorm, MLP).
pub struct BlockSizes {
    pub hidden: usize,
    pub heads: usize,
    pub mlp_size: usize,
    pub norm_eps: f64,
}

impl Block {
    /// A block with lazily initialised random parameters.
    pub fn new(sizes: &BlockSizes, act: Act, qkv_bias: bool, layer_scale: bool, device: &Device) -> Self {
        let BlockSizes { hidden, heads, mlp_size, norm_eps } = *sizes;
        let norm = || LayerNormConfig::new(hidden).with_epsilon(norm_eps).init(device);
        Block {
            norm1: norm(),
            attn: SelfAttention::new(hidden, heads, qkv_bias, device),
            ls1: layer_scale.then(|| LayerScale::new(hidden, device)),
            norm2: norm(),
            mlp: Mlp::new(hidden, mlp_size, act, device),
            ls2: layer_scale.then(|| LayerScale::new(hidden, device)),
        }
    }

    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    pub(crate) fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let scaled = |ls: &Option<LayerScale>, y: Tensor<3>| match ls {
            Some(ls) => ls.forward(y),
            None => y,
        };
        let x = x.clone() + scaled(&self.ls1, self.attn.forward(self.norm1.forward(x)));
        x.clone() + scaled(&self.ls2, self.mlp.forward(self.norm2.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub patch_embed: Conv2d,
    /// [hidden]
    pub cls_token: Option<Param<Tensor<1>>>,
    /// [registers, hidden]
    pub reg_tokens: Option<Param<Tensor<2>>>,
    /// [covered prefix tokens + trained grid², hidden]
    pub pos_embed: Param<Tensor<2>>,
    pub norm_pre: Option<LayerNorm>,
    pub blocks: Vec<Block>,
    pub norm: Option<LayerNorm>,
    #[module(skip)]
    pub config: VitConfig,
}

impl VisionTransformer {
    /// The hidden state at `layer` (transformers' `hidden_states` index: 0 = embeddings,
    /// negative from the end), or the final output (final norm included) when `None`; prefix
    /// tokens dropped; the input noised first when the spec has an `input_noise` table.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let pixels = match &self.config.input_noise {
            Some(noise) => noise.apply(pixels)?,
            None => pixels,
        };
        let (x, grid) = self.embed(pixels);
        let x = self.run_blocks(x, layer)?;
        let [batch, tokens, hidden] = x.dims();
        let prefix = self.config.prefix_tokens();
        Ok((x.slice([0..batch, prefix..tokens, 0..hidden]), grid))
    }

    /// The blocks up to `layer` on embedded tokens (all of them, or a subset as MAE's encoder
    /// sees), then the final norm when `layer` is `None`. [batch, tokens, hidden] → the same
    pub(crate) fn run_blocks(&self, x: Tensor<3>, layer: Option<i64>) -> Result<Tensor<3>, EncoderError> {
        run_blocks(&self.blocks, self.norm.as_ref(), x, layer)
    }

    /// Patch embedding, prefix tokens and positions: → ([batch, tokens, hidden], grid).
    pub(crate) fn embed(&self, pixels: Tensor<4>) -> (Tensor<3>, [usize; 2]) {
        let config = &self.config;
        // [batch, hidden, rows, cols] → [batch, rows × cols, hidden]
        let patches = self.patch_embed.forward(pixels);
        let [batch, hidden, rows, cols] = patches.dims();
        let patches = patches.flatten::<3>(2, 3).swap_dims(1, 2);

        let pos = self.pos_embed.val();
        let [positions, _] = pos.dims();
        let covered = config.pos_prefix();
        // [covered, hidden] (none when no prefix token has a position) and [grid², hidden]
        let pos_prefix = (covered > 0).then(|| pos.clone().slice([0..covered, 0..hidden]).unsqueeze::<3>());
        let mut pos_patches = pos.slice([covered..positions, 0..hidden]);
        let trained = config.trained_grid();
        if (rows, cols) != (trained, trained) {
            pos_patches = resize_grid(pos_patches, (trained, trained), (rows, cols), config.pos_resample);
        }
        let pos_patches = pos_patches.unsqueeze::<3>();

        let cls = self.cls_token.as_ref().map(|t| t.val().reshape([1, 1, hidden]).expand([batch, 1, hidden]));
        let regs = self.reg_tokens.as_ref().map(|t| t.val().unsqueeze::<3>().expand([batch, config.registers, hidden]));
        let x = match config.pos_embed {
            PosEmbedCover::Patches => {
                let tokens: Vec<_> = cls.into_iter().chain(regs).chain([patches + pos_patches]).collect();
                Tensor::cat(tokens, 1)
            }
            PosEmbedCover::ClassAndPatches => {
                let cls = cls.expect("validated: class-and-patches has a class token")
                    + pos_prefix.expect("class-and-patches covers the class token");
                Tensor::cat([cls].into_iter().chain(regs).chain([patches + pos_patches]).collect(), 1)
            }
            PosEmbedCover::All => {
                let tokens: Vec<_> = cls.into_iter().chain(regs).chain([patches]).collect();
                Tensor::cat(tokens, 1) + Tensor::cat(pos_prefix.into_iter().chain([pos_patches]).collect(), 1)
            }
        };
        let x = match &self.norm_pre {
            Some(norm) => norm.forward(x),
            None => x,
        };
        (x, [rows, cols])
    }
}

/// `blocks` up to `layer` (transformers' `hidden_states` index), then `norm` when `layer` is
/// `None`. [batch, tokens, hidden] → the same
pub(crate) fn run_blocks(
    blocks: &[Block],
    norm: Option<&LayerNorm>,
    mut x: Tensor<3>,
    layer: Option<i64>,
) -> Result<Tensor<3>, EncoderError> {
    let blocks_to_run = match layer {
        None => blocks.len(),
        Some(layer) => resolve_layer(layer, blocks.len())?,
    };
    for block in &blocks[..blocks_to_run] {
        x = block.forward(x);
    }
    if let (None, Some(norm)) = (layer, norm) {
        x = norm.forward(x);
    }
    Ok(x)
}

/// transformers' `hidden_states` index → how many blocks to run.
pub(super) fn resolve_layer(layer: i64, depth: usize) -> Result<usize, EncoderError> {
    let states = depth as i64 + 1;
    let index = if layer < 0 { states + layer } else { layer };
    if !(0..states).contains(&index) {
        return Err(EncoderError::Layer { layer, depth });
    }
    Ok(index as usize)
}
