//! ConvNeXt (Liu et al., "A ConvNet for the 2020s", CVPR 2022) as the image tower of
//! OpenCLIP's LAION models (Cherti et al. 2023; laion/CLIP-convnext_large_d_320 and
//! laion/CLIP-convnext_xxlarge): timm's `ConvNeXt` under `visual.trunk.` in an open_clip
//! checkpoint. Cambrian-1 (rows 7-9) runs the stem and the four stages and hands on the last
//! stage, or every stage, each resized bilinearly to one grid and concatenated on channels
//! (`cambrian/model/multimodal_encoder/clip_convnext_encoder.py`).
//!
//! Structure (timm defaults, which both LAION trunks use): patch stem (conv 4×4 stride 4,
//! LayerNorm over channels); stages 1-3 open with LayerNorm + conv 2×2 stride 2; a block is
//! depthwise conv 7×7 → LayerNorm → Linear 4× → GELU → Linear → layer scale `gamma`, plus the
//! residual. The pooled head (`head.norm`, open_clip's projection) is not part of the tokens.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, PaddingConfig2d};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::spec::{ArchitectureSpec, check_eps, check_size, limits};
use super::{EncoderError, EncoderModel};
use crate::nn::mlp::{Act, Mlp};
use crate::nn::resample::{GridResample, resize_grids};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

/// Stem stride × three 2× downsamplings: pixels per last-stage cell (Cambrian's `_reduction`).
const REDUCTION: usize = 32;
const STEM_PATCH: usize = 4;
const KERNEL: usize = 7;
const MLP_RATIO: usize = 4;

/// Which stage outputs become the features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stages {
    /// The last stage (Cambrian's `clip-convnext-*`).
    Last,
    /// All four, concatenated on channels in stage order (Cambrian's `*-multi-stage`).
    All,
}

/// The `[architecture]` table of a spec with `kind = "convnext"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConvNextSpec {
    /// Blocks per stage (timm `depths`): ConvNeXt-L [3, 3, 27, 3], XXL [3, 4, 30, 3].
    pub depths: [usize; 4],
    /// Channels per stage (timm `dims`): ConvNeXt-L [192, 384, 768, 1536], XXL [384, 768, 1536, 3072].
    pub dims: [usize; 4],
    /// Epsilon of every LayerNorm: timm's default 1e-6; `convnext_xxlarge` sets 1e-5.
    pub norm_eps: f64,
    pub stages: Stages,
    /// Side of the square grid every kept stage is resized to (bilinear, `align_corners =
    /// false`), Cambrian's `interp` = side²; absent: the last stage's own grid (input / 32),
    /// which only `stages = "last"` can use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_grid: Option<usize>,
}

impl ArchitectureSpec for ConvNextSpec {
    fn describe(&self) -> String {
        match self.stages {
            Stages::Last => "convnext (last)".into(),
            Stages::All => "convnext (all)".into(),
        }
    }

    fn hidden_size(&self) -> usize {
        match self.stages {
            Stages::Last => self.dims[3],
            Stages::All => self.dims.iter().sum(),
        }
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        [self.output_grid.unwrap_or(resolution / REDUCTION); 2]
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.check()
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        self.check()?;
        let mut model = ConvNext::new(self, device);
        if let Some(checkpoint) = checkpoint {
            load_strict(&mut model, checkpoint, &KEYS)?;
        }
        Ok(EncoderModel::ConvNext(model))
    }
}

impl ConvNextSpec {
    fn check(&self) -> Result<(), EncoderError> {
        let invalid = |message: String| Err(EncoderError::Config(message));
        for (stage, (depth, dim)) in self.depths.iter().zip(&self.dims).enumerate() {
            check_size(&format!("depths[{stage}]"), *depth, 1..=limits::DEPTH)?;
            check_size(&format!("dims[{stage}]"), *dim, 1..=limits::WIDTH)?;
        }
        check_eps("norm_eps", self.norm_eps)?;
        match (self.stages, self.output_grid) {
            (_, Some(side)) => check_size("output_grid", side, 1..=limits::PIXELS / REDUCTION * 8),
            (Stages::All, None) => {
                invalid("convnext stages = \"all\" needs output_grid: the stages' grids differ and are resized to it".into())
            }
            _ => Ok(()),
        }
    }
}

/// timm ConvNeXt keys, bare or under open_clip's `visual.trunk.`. Left: checkpoint key after
/// the prefix; right: the `ConvNext` path. `#` is the stage index; block indices pass through.
static KEYS: KeyMap = KeyMap {
    layout: "timm ConvNeXt",
    anchor: "stem.0.weight",
    rules: &[
        Rename("stem.0", "stem.conv"),
        Rename("stem.1", "stem.norm"),
        Rename("stages.#.downsample.0", "stages.#.downsample.norm"),
        Rename("stages.#.downsample.1", "stages.#.downsample.conv"),
        Rename("stages.#.blocks", "stages.#.blocks"),
    ],
};

/// LayerNorm over the channels of a channels-first map (timm `LayerNorm2d`).
/// [batch, channels, rows, cols] → same
fn norm_channels(norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

#[derive(Module, Debug)]
pub struct Stem {
    pub conv: Conv2d,
    pub norm: LayerNorm,
}

#[derive(Module, Debug)]
pub struct Downsample {
    pub norm: LayerNorm,
    pub conv: Conv2d,
}

#[derive(Module, Debug)]
pub struct Block {
    pub conv_dw: Conv2d,
    pub norm: LayerNorm,
    pub mlp: Mlp,
    /// Layer scale, [channels]
    pub gamma: Param<Tensor<1>>,
}

impl Block {
    fn new(channels: usize, eps: f64, device: &Device) -> Self {
        let pad = KERNEL / 2;
        Self {
            conv_dw: Conv2dConfig::new([channels, channels], [KERNEL; 2])
                .with_groups(channels)
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .init(device),
            norm: LayerNormConfig::new(channels).with_epsilon(eps).init(device),
            mlp: Mlp::new(channels, MLP_RATIO * channels, Act::Gelu, device),
            gamma: Initializer::Constant { value: 1e-6 }.init([channels], device),
        }
    }

    /// [batch, channels, rows, cols] → same
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, rows, cols] = x.dims();
        // channels last for the norm and the MLP: [batch, rows × cols, channels]
        let y = self.conv_dw.forward(x.clone()).permute([0, 2, 3, 1]).reshape([batch, rows * cols, channels]);
        let y = self.mlp.forward(self.norm.forward(y)) * self.gamma.val().unsqueeze::<3>();
        x + y.reshape([batch, rows, cols, channels]).permute([0, 3, 1, 2])
    }
}

#[derive(Module, Debug)]
pub struct Stage {
    /// Absent in the first stage (the stem already brings the channels).
    pub downsample: Option<Downsample>,
    pub blocks: Vec<Block>,
}

impl Stage {
    /// [batch, in channels, rows, cols] → [batch, channels, rows / 2, cols / 2] (same size in stage 0)
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = match &self.downsample {
            Some(down) => down.conv.forward(norm_channels(&down.norm, x)),
            None => x,
        };
        self.blocks.iter().fold(x, |x, block| block.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct ConvNext {
    pub stem: Stem,
    pub stages: Vec<Stage>,
    #[module(skip)]
    pub stages_kept: Stages,
    #[module(skip)]
    pub output_grid: Option<usize>,
}

impl ConvNext {
    /// Random parameters (burn's initialisers; layer scale at timm's 1e-6).
    pub fn new(spec: &ConvNextSpec, device: &Device) -> Self {
        let norm = |channels| LayerNormConfig::new(channels).with_epsilon(spec.norm_eps).init(device);
        let stages = (0..4)
            .map(|i| Stage {
                downsample: (i > 0).then(|| Downsample {
                    norm: norm(spec.dims[i - 1]),
                    conv: Conv2dConfig::new([spec.dims[i - 1], spec.dims[i]], [2, 2]).with_stride([2, 2]).init(device),
                }),
                blocks: (0..spec.depths[i]).map(|_| Block::new(spec.dims[i], spec.norm_eps, device)).collect(),
            })
            .collect();
        Self {
            stem: Stem {
                conv: Conv2dConfig::new([3, spec.dims[0]], [STEM_PATCH; 2]).with_stride([STEM_PATCH; 2]).init(device),
                norm: norm(spec.dims[0]),
            },
            stages,
            stages_kept: spec.stages,
            output_grid: spec.output_grid,
        }
    }

    /// The kept stage outputs as tokens, row-major over the grid.
    /// [batch, 3, height, width] → ([batch, rows × cols, channels], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        if let Some(layer) = layer {
            return Err(EncoderError::Config(format!(
                "convnext has no selectable layer (asked for {layer}); its spec's `stages` chooses the features"
            )));
        }
        let [_, _, height, width] = pixels.dims();
        if height < REDUCTION || width < REDUCTION {
            return Err(EncoderError::Config(format!(
                "convnext needs at least {REDUCTION}×{REDUCTION} pixels, got {height}×{width}"
            )));
        }
        // [batch, dims[0], height / 4, width / 4]
        let mut x = norm_channels(&self.stem.norm, self.stem.conv.forward(pixels));
        let mut kept = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            x = stage.forward(x);
            if self.stages_kept == Stages::All || i == self.stages.len() - 1 {
                kept.push(x.clone());
            }
        }
        // [batch, channels, rows, cols] → [batch, rows × cols, channels], resized to the output
        // grid when there is one
        let mut grid = [0, 0];
        let maps: Vec<Tensor<3>> = kept
            .into_iter()
            .map(|map| {
                let [_, _, rows, cols] = map.dims();
                let tokens = map.flatten::<3>(2, 3).swap_dims(1, 2);
                match self.output_grid {
                    Some(side) => {
                        grid = [side, side];
                        resize_grids(tokens, (rows, cols), (side, side), GridResample::Bilinear)
                    }
                    None => {
                        grid = [rows, cols];
                        tokens
                    }
                }
            })
            .collect();
        Ok((Tensor::cat(maps, 2), grid))
    }
}
