//! The Spatial Vision Aggregator of Cambrian-1 (Tong et al. 2024, arXiv 2406.16860 §3), as
//! the released code computes it at training time (`CambrianMetaModel` and
//! `prepare_inputs_labels_for_multimodal` in `cambrian/model/cambrian_arch.py`):
//!
//! 1. each encoder's tokens → `mm_projector_aux_{i}` (Linear → GELU → Linear → LayerNorm) to
//!    the SVA width C; the first encoder's token mean is the global context;
//! 2. per query group g, one learned vector `vision_query[g]` repeated over a q×q grid queries,
//!    in each cell, the window of every encoder that the cell covers (`windows`), through the
//!    group's `vision_sampler_{g}` (D layers, `sampler`); a group whose grid is not L×L is
//!    resized bilinearly to L×L;
//! 3. the groups, concatenated on channels, → `mm_projector` (Linear → GELU → Linear) to the
//!    LLM's width, and `image_newline` after each of the L rows.
//!
//! Unless `connector_only`, `vision_sampler_layers` re-query the same windows from inside the
//! LLM (`aggregate`). Weights load from a Cambrian-1 checkpoint (`keys`).

pub mod aggregate;
pub mod config;
pub mod keys;
pub mod sampler;
pub mod windows;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Distribution, Tensor};

use super::projector::Mlp2xGelu;
use crate::encoders::Features;
use crate::nn::resample::{GridResample, resize_grids};
pub use config::{SvaLayout, SvaSettings};
use sampler::VisionTokenSampler;

#[derive(Debug, thiserror::Error)]
pub enum SvaError {
    #[error("SVA: {0}")]
    Config(String),
    #[error("SVA: encoder {index} gives a {found:?} grid of {channels} channels; the SVA was built for {expected:?}")]
    Features { index: usize, found: [usize; 2], channels: usize, expected: [usize; 2] },
    #[error("SVA: {images} images but {sizes} image sizes")]
    Sizes { images: usize, sizes: usize },
}

/// `mm_projector_aux_{i}`: nn.Sequential(Linear, GELU, Linear, LayerNorm); keys `.0`, `.2`, `.3`.
#[derive(Module, Debug)]
pub struct AuxProjector {
    pub fc1: Linear,
    pub fc2: Linear,
    pub norm: LayerNorm,
}

impl AuxProjector {
    fn new(channels: usize, hidden: usize, device: &Device) -> Self {
        Self {
            fc1: LinearConfig::new(channels, hidden).init(device),
            fc2: LinearConfig::new(hidden, hidden).init(device),
            norm: LayerNormConfig::new(hidden).init(device),
        }
    }

    /// [images, tokens, channels] → [images, tokens, hidden]
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.norm.forward(self.fc2.forward(gelu(self.fc1.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct SvaConnector {
    /// One per encoder (`mm_projector_aux_{i}`).
    pub mm_projector_aux: Vec<AuxProjector>,
    /// One per query group (`vision_sampler_{g}`).
    pub vision_sampler: Vec<VisionTokenSampler>,
    /// The in-LLM samplers; empty when `connector_only`.
    pub vision_sampler_layers: Vec<VisionTokenSampler>,
    /// [groups, hidden]
    pub vision_query: Param<Tensor<2>>,
    pub mm_projector: Mlp2xGelu,
    /// [llm hidden]
    pub image_newline: Param<Tensor<1>>,
    #[module(skip)]
    pub layout: SvaLayout,
}

/// What the in-LLM samplers re-query, per image, on the base L×L grid.
#[derive(Clone, Debug)]
pub struct SvaContext {
    /// Per encoder [images, L², m_i², hidden]: the projected map cut into windows.
    pub windows: Vec<Tensor<4>>,
    /// Per encoder [images, L², m_i²]: true where a window token shows the image.
    pub masks: Vec<Tensor<3, Bool>>,
    /// [images, hidden]: the first encoder's token mean.
    pub global: Tensor<2>,
}

impl SvaConnector {
    /// Randomly initialised as Cambrian's `initialize_vision_modules`: Linears as PyTorch's,
    /// window position embeddings ~ N(0, 1), `vision_query` and `image_newline` ~ N(0, 1/width).
    /// `channels`: each encoder's feature width, in the layout's encoder order.
    pub fn new(layout: SvaLayout, channels: &[usize], llm_hidden: usize, device: &Device) -> Self {
        let c = layout.hidden;
        let groups = layout.group_sides.len();
        let normal = |width: usize| Distribution::Normal(0.0, (width as f64).powf(-0.5));
        Self {
            mm_projector_aux: channels.iter().map(|&ch| AuxProjector::new(ch, c, device)).collect(),
            vision_sampler: layout
                .group_sides
                .iter()
                .map(|&q| VisionTokenSampler::new(c, c, &layout.window_sides(q), layout.depth, device))
                .collect(),
            vision_sampler_layers: layout
                .llm_layers
                .iter()
                .map(|_| VisionTokenSampler::new(llm_hidden, c, &layout.window_sides(layout.side), 1, device))
                .collect(),
            vision_query: Param::from_tensor(Tensor::random([groups, c], normal(c), device)),
            mm_projector: Mlp2xGelu::new(c * groups, llm_hidden, device),
            image_newline: Param::from_tensor(Tensor::random([llm_hidden], normal(llm_hidden), device)),
            layout,
        }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        self.layout.image_tokens()
    }

    /// Visits the parameters that Cambrian's `mm_vision_sampler_lr` sets apart (names holding
    /// `vision_sampler` or `vision_query`, `train/cambrian_trainer.py`): every sampler, before
    /// and inside the LLM, and the queries.
    pub fn visit_samplers<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.vision_sampler.visit(visitor);
        self.vision_sampler_layers.visit(visitor);
        self.vision_query.visit(visitor);
    }

    /// `features[i].tokens` [images, side_i², channels_i]; `sizes`: each image's (width,
    /// height) before it was padded to square → ([images, L·(L + 1), llm hidden], context).
    pub fn forward(&self, features: Vec<Features>, sizes: &[[usize; 2]]) -> Result<(Tensor<3>, SvaContext), SvaError> {
        let layout = &self.layout;
        let (side, c) = (layout.side, layout.hidden);
        let images = features.first().map_or(0, |f| f.tokens.dims()[0]);
        if sizes.len() != images {
            return Err(SvaError::Sizes { images, sizes: sizes.len() });
        }
        let mut projected = Vec::with_capacity(features.len());
        for (index, ((f, aux), &s)) in features.into_iter().zip(&self.mm_projector_aux).zip(&layout.encoder_sides).enumerate() {
            let channels = f.tokens.dims()[2];
            if f.grid != [s, s] || channels != aux.fc1.weight.dims()[0] {
                return Err(SvaError::Features { index, found: f.grid, channels, expected: [s, s] });
            }
            projected.push(aux.forward(f.tokens));
        }
        let device = projected[0].device();
        // [images, hidden]
        let global = projected[0].clone().mean_dim(1).reshape([images, c]);
        // Per encoder [images, L², m²], laid out for the base grid.
        let masks: Vec<Tensor<3, Bool>> =
            layout.encoder_sides.iter().map(|&s| windows::masks(s, s / side, sizes, &device)).collect();

        let mut groups = Vec::with_capacity(layout.group_sides.len());
        for (g, (&q, sampler)) in layout.group_sides.iter().zip(&self.vision_sampler).enumerate() {
            let rows = images * q * q;
            let queries = self.vision_query.val().narrow(0, g, 1).reshape([1, 1, c]).expand([rows, 1, c]);
            let context = global.clone().reshape([images, 1, c]).expand([images, q * q, c]).reshape([rows, 1, c]);
            let group_windows: Vec<Tensor<3>> =
                projected.iter().zip(&layout.encoder_sides).map(|(p, &s)| windows::windows(p.clone(), s, q)).collect();
            let masked = padding(&masks, rows);
            // [rows, 1, hidden] → [images, q², hidden]
            let out = sampler.forward(queries, context, &group_windows, masked).reshape([images, q * q, c]);
            groups.push(match q == side {
                true => out,
                false => resize_grids(out, (q, q), (side, side), GridResample::Bilinear),
            });
        }
        // [images, L², groups × hidden] → [images, L², llm hidden]
        let tokens = self.mm_projector.forward(Tensor::cat(groups, 2));
        let llm_hidden = tokens.dims()[2];
        // [images, L, L, llm] ++ [images, L, 1, llm] → [images, L·(L + 1), llm]
        let newline = self.image_newline.val().reshape([1, 1, 1, llm_hidden]).expand([images, side, 1, llm_hidden]);
        let tokens = Tensor::cat(vec![tokens.reshape([images, side, side, llm_hidden]), newline], 2).reshape([
            images,
            side * (side + 1),
            llm_hidden,
        ]);

        let context = SvaContext {
            windows: projected
                .into_iter()
                .zip(&layout.encoder_sides)
                .map(|(p, &s)| windows::windows(p, s, side).reshape([images, side * side, (s / side).pow(2), c]))
                .collect(),
            masks,
            global,
        };
        Ok((tokens, context))
    }
}

/// The base-grid masks read as `rows` windows each (the released `.view`), concatenated over
/// the encoders and inverted: [rows, Σ window tokens], true where a token is padding.
fn padding(masks: &[Tensor<3, Bool>], rows: usize) -> Tensor<2, Bool> {
    let per_row: Vec<Tensor<2, Bool>> = masks
        .iter()
        .map(|m| {
            let len = m.dims().iter().product::<usize>() / rows;
            m.clone().reshape([rows, len])
        })
        .collect();
    Tensor::cat(per_row, 1).bool_not()
}
