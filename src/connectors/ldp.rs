//! MobileVLM's lightweight downsample projectors (Chu et al. 2023, arXiv 2312.16886; V2:
//! arXiv 2402.03766), as Meituan-AutoML/MobileVLM builds them
//! (`mobilevlm/model/vision_projector.py`):
//!
//! - `ldpnet` (`LDPNetProjector`): Linear, GELU, Linear to the LLM's width, then two
//!   torchvision MobileNetV3 `InvertedResidual`s (no expansion; depthwise 3×3 with
//!   LayerNorm and Hardswish, squeeze-and-excitation with ReLU and Hardsigmoid, a 1×1
//!   projection with LayerNorm), the first with stride 1 and a residual, the second with
//!   stride 2: a √N × √N map becomes ⌈√N / 2⌉².
//! - `ldpnetv2` (`LDPNetV2Projector`): the MLP, adaptive average pooling to 12 × 12, and a
//!   depthwise 3×3 position convolution added to its input (PEG).
//!
//! Weights load from a MobileVLM `mm_projector.bin` or full checkpoint (`model.mm_projector.*`).

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::gelu;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::ConnectorError;
use super::concat::{append_newlines, load_beside_newline, new_newline, pad_and_stack, per_grid, tokens_with_newlines};
use crate::encoders::Features;
use crate::nn::conv::{ConvAct, ConvNorm, SqueezeExcite};
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::Rename};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LdpType {
    Ldpnet,
    Ldpnetv2,
}

/// `[connector.ldp]`: MobileVLM's `mm_projector_type`, `ldpnet` (MobileVLM) by default.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdpSettings {
    #[serde(default = "default_type")]
    pub mm_projector_type: LdpType,
}

fn default_type() -> LdpType {
    LdpType::Ldpnet
}

impl Default for LdpSettings {
    fn default() -> Self {
        Self { mm_projector_type: default_type() }
    }
}

impl LdpSettings {
    /// [rows, cols] of the output map for an input `grid`: halved (rounded up) by ldpnet's
    /// stride-2 block, pooled to 12 × 12 by ldpnetv2.
    pub fn output_grid(&self, grid: [usize; 2]) -> [usize; 2] {
        match self.mm_projector_type {
            LdpType::Ldpnet => grid.map(|side| side.div_ceil(2)),
            LdpType::Ldpnetv2 => [V2_GRID; 2],
        }
    }
}

/// `LDPNetV2Projector`'s `TokenDownLayer((12, 12))`: the side of its output map.
pub const V2_GRID: usize = 12;
/// The norms are timm's `LayerNormAct2d` (eps 1e-5) without activation.
const NORM_EPS: f64 = 1e-5;

/// torchvision's `_make_divisible(v, 8)`: to the nearest multiple of 8, at least 8, and not
/// more than 10 % below `v`.
fn make_divisible(v: usize) -> usize {
    let rounded = ((v + 4) / 8 * 8).max(8);
    if (rounded as f64) < 0.9 * v as f64 { rounded + 8 } else { rounded }
}

/// MobileNetV3's `InvertedResidual` with expanded = input = output channels (no expansion
/// conv), kernel 3, SE and Hardswish; a residual where the stride is 1. Keys `block.0` (dw),
/// `block.1` (se), `block.2` (project).
#[derive(Module, Debug)]
pub struct InvertedResidual {
    pub dw: ConvNorm,
    pub se: SqueezeExcite,
    pub project: ConvNorm,
    #[module(skip)]
    residual: bool,
}

impl InvertedResidual {
    fn new(channels: usize, stride: usize, device: &Device) -> Self {
        Self {
            dw: ConvNorm::new([channels; 2], 3, stride, channels, NORM_EPS, ConvAct::HardSwish, device),
            se: SqueezeExcite::new(channels, make_divisible(channels / 4), ConvAct::Relu, ConvAct::HardSigmoid, device),
            project: ConvNorm::new([channels; 2], 1, 1, 1, NORM_EPS, ConvAct::Identity, device),
            residual: stride == 1,
        }
    }

    /// [batch, channels, rows, cols] → [batch, channels, rows / stride (rounded up), …]
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.project.forward(self.se.forward(self.dw.forward(x.clone())));
        if self.residual { y + x } else { y }
    }
}

#[derive(Module, Debug)]
pub struct Ldp {
    /// `model.mlp.1` (v2: `mlp.mlp.0`)
    pub fc1: Linear,
    /// `model.mlp.3` (v2: `mlp.mlp.2`)
    pub fc2: Linear,
    /// ldpnet's nn.Sequential(Identity, InvertedResidual, InvertedResidual): `None` at the
    /// Identity's place, so that the indices are the checkpoint's; empty for ldpnetv2.
    pub mb_block: Vec<Option<InvertedResidual>>,
    /// ldpnetv2's depthwise position convolution (with bias), `peg.peg.0`.
    pub peg: Option<Conv2d>,
    /// [hidden]: the probe's newline after each row (not MobileVLM's).
    pub image_newline: Option<Param<Tensor<1>>>,
    /// [rows, cols] of the input map.
    pub grid: [usize; 2],
    #[module(skip)]
    pub settings: LdpSettings,
    /// Each image read at its own grid (`[connector] native`): its convolutions and pooling
    /// take any grid, ldpnet's output follows it.
    #[module(skip)]
    pub own_grids: bool,
}

static V1_KEYS: KeyMap = KeyMap {
    layout: "MobileVLM ldpnet mm_projector",
    anchor: "model.mlp.1.weight",
    rules: &[
        Rename("model.mlp.1", "fc1"),
        Rename("model.mlp.3", "fc2"),
        Rename("model.mb_block.#.block.0.0", "mb_block.#.dw.conv"),
        Rename("model.mb_block.#.block.0.1", "mb_block.#.dw.bn"),
        Rename("model.mb_block.#.block.1", "mb_block.#.se"),
        Rename("model.mb_block.#.block.2.0", "mb_block.#.project.conv"),
        Rename("model.mb_block.#.block.2.1", "mb_block.#.project.bn"),
    ],
};

static V2_KEYS: KeyMap = KeyMap {
    layout: "MobileVLM ldpnetv2 mm_projector",
    anchor: "mlp.mlp.0.weight",
    rules: &[Rename("mlp.mlp.0", "fc1"), Rename("mlp.mlp.2", "fc2"), Rename("peg.peg.0", "peg")],
};

impl Ldp {
    /// PyTorch's init. `channels`: the input map's; `hidden`: the LLM's width, which the
    /// MobileNetV3 blocks need to be a multiple of 8 (torchvision rounds widths to one).
    pub fn new(
        settings: &LdpSettings,
        grid: [usize; 2],
        channels: usize,
        hidden: usize,
        newline: bool,
        device: &Device,
    ) -> Result<Self, ConnectorError> {
        let v1 = settings.mm_projector_type == LdpType::Ldpnet;
        if v1 && !hidden.is_multiple_of(8) {
            return Err(ConnectorError::Config(format!(
                "[connector.ldp] ldpnet needs an LLM width that is a multiple of 8 (torchvision's \
                 MobileNetV3 blocks round to one); this LLM's is {hidden}"
            )));
        }
        let mb_block = match v1 {
            true => vec![None, Some(InvertedResidual::new(hidden, 1, device)), Some(InvertedResidual::new(hidden, 2, device))],
            false => Vec::new(),
        };
        let peg = (!v1).then(|| {
            Conv2dConfig::new([hidden, hidden], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_groups(hidden)
                .init(device)
        });
        Ok(Self {
            fc1: LinearConfig::new(channels, hidden).init(device),
            fc2: LinearConfig::new(hidden, hidden).init(device),
            mb_block,
            peg,
            image_newline: new_newline(newline, hidden, device),
            grid,
            settings: settings.clone(),
            own_grids: false,
        })
    }

    /// The LDP reading each image at its own grid.
    pub fn with_own_grids(self) -> Self {
        Self { own_grids: true, ..self }
    }

    /// [rows, cols] of the output map.
    pub fn output_grid(&self) -> [usize; 2] {
        self.settings.output_grid(self.grid)
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        self.tokens_at(self.grid)
    }

    /// LLM positions an image whose input map is `grid` takes.
    pub fn tokens_at(&self, grid: [usize; 2]) -> usize {
        tokens_with_newlines(self.settings.output_grid(grid), &self.image_newline)
    }

    /// Loads a MobileVLM checkpoint's `mm_projector` strictly (the newline keeps its values).
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        let keys = if self.peg.is_some() { &V2_KEYS } else { &V1_KEYS };
        load_beside_newline(self, |c| &mut c.image_newline, checkpoint, keys)
    }

    /// [batch, rows × cols, channels] → [batch, output rows × cols (+ a newline per row), hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.forward_at(x, self.grid)
    }

    /// Images at their own grids, images × [1, rows_i × cols_i, channels] → [images,
    /// longest, hidden] and each image's positions; the images of one grid share a forward.
    pub fn forward_own_grids(&self, images: Vec<Features>) -> (Tensor<3>, Vec<usize>) {
        pad_and_stack(per_grid(images, |x, grid| self.forward_at(x, grid)))
    }

    /// [`Ldp::forward`] of a batch whose input map is `grid`.
    fn forward_at(&self, x: Tensor<3>, grid: [usize; 2]) -> Tensor<3> {
        let [rows, cols] = grid;
        let x = self.fc2.forward(gelu(self.fc1.forward(x)));
        let [batch, _, hidden] = x.dims();
        // [batch, hidden, rows, cols]
        let map = x.swap_dims(1, 2).reshape([batch, hidden, rows, cols]);
        let map = match &self.peg {
            None => self.mb_block.iter().flatten().fold(map, |map, block| block.forward(map)),
            Some(peg) => {
                let pooled = adaptive_avg_pool2d(map, [V2_GRID; 2]);
                peg.forward(pooled.clone()) + pooled
            }
        };
        let [out_rows, out_cols] = self.settings.output_grid(grid);
        let tokens = map.reshape([batch, hidden, out_rows * out_cols]).swap_dims(1, 2);
        append_newlines(tokens, [out_rows, out_cols], &self.image_newline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// torchvision's `_make_divisible(v, 8)` for these `v`.
    #[test]
    fn squeeze_widths_round_as_torchvision_does() {
        let torchvision = [(1, 8), (4, 8), (10, 16), (12, 16), (20, 24), (36, 40), (100, 104), (256, 256), (1024, 1024)];
        for (v, expected) in torchvision {
            assert_eq!(make_divisible(v), expected, "{v}");
        }
    }

    /// Each image through its own grid is what the LDP built for that grid gives it: ldpnet's
    /// output follows the grid (halved, a newline per row), the shorter image zero after.
    #[test]
    fn own_grids_downsample_each_image_as_its_own_grids_ldp_would() {
        let device = Device::flex();
        let ldp = Ldp::new(&LdpSettings::default(), [1, 1], 4, 8, true, &device).unwrap().with_own_grids();
        crate::nn::init::materialize(&ldp);
        let grids = [[3, 5], [4, 4], [3, 5]];
        let features: Vec<Features> = grids
            .iter()
            .map(|&grid| {
                let tokens = Tensor::random([1, grid[0] * grid[1], 4], burn::tensor::Distribution::Default, &device);
                Features { tokens, grid }
            })
            .collect();
        let each: Vec<Tensor<3>> = features.iter().map(|f| f.tokens.clone()).collect();
        let (out, lengths) = ldp.forward_own_grids(features);
        assert_eq!(lengths, [2 * (3 + 1), 2 * (2 + 1), 2 * (3 + 1)]);
        assert_eq!(out.dims(), [3, 8, 8]);
        for (i, (tokens, grid)) in each.into_iter().zip(grids).enumerate() {
            let expected = Ldp { grid, own_grids: false, ..ldp.clone() }.forward(tokens);
            let got = out.clone().narrow(0, i, 1);
            let diff = (got.clone().narrow(1, 0, lengths[i]) - expected).abs().max().into_scalar::<f32>();
            assert!(diff <= 1e-6, "image {i}: {diff}");
            if lengths[i] < 8 {
                assert_eq!(got.narrow(1, lengths[i], 8 - lengths[i]).abs().max().into_scalar::<f32>(), 0.0);
            }
        }
    }

    #[test]
    fn ldpnet_refuses_an_llm_width_that_torchvision_would_round() {
        let err = Ldp::new(&LdpSettings::default(), [4, 4], 8, 20, false, &Device::flex()).unwrap_err().to_string();
        assert!(err.contains("[connector.ldp] ldpnet") && err.contains("multiple of 8") && err.contains("20"), "{err}");
    }
}
