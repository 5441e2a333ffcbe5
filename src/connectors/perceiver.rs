//! The Perceiver resampler of Flamingo (Alayrac et al. 2022, arXiv 2204.14198), as
//! OpenFlamingo builds it (mlfoundations/open_flamingo `open_flamingo/src/helpers.py`,
//! `PerceiverResampler`, at the encoder's width as `Flamingo` creates it): `num_latents`
//! learned latents pass `depth` layers, each
//!
//!   latents += to_out(attention(to_q(LN(latents)), to_kv([LN(media); LN(latents)])))
//!   latents += FeedForward(latents)          (LayerNorm, Linear, GELU, Linear; no biases)
//!
//! so they attend to the image tokens and to themselves; a final LayerNorm ends it. One image
//! of one frame, so OpenFlamingo's frame and media-time embeddings (absent in its models)
//! are not built. Flamingo's LLM cross-attends to the latents; here, as in a LLaVA-style
//! probe, the run's projector (`[connector] projector`, LLaVA's) maps them to the LLM's
//! width. The resampler loads from an OpenFlamingo `checkpoint.pt` (`perceiver.*`; `load`),
//! the projector from an `mm_projector.bin` (`Projector::load`).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};

use super::concat::per_grid;
use super::projector::{Projector, ProjectorKind};
use crate::encoders::Features;
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::Rename};
use crate::weights::load::load_strict;

/// `[connector.perceiver]`: `PerceiverResampler`'s arguments, with its defaults.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PerceiverSettings {
    #[serde(default = "default_depth")]
    pub depth: usize,
    #[serde(default = "default_dim_head")]
    pub dim_head: usize,
    #[serde(default = "default_heads")]
    pub heads: usize,
    /// Tokens the image becomes.
    #[serde(default = "default_latents")]
    pub num_latents: usize,
    /// Feed-forward width as a multiple of the encoder's.
    #[serde(default = "default_ff_mult")]
    pub ff_mult: usize,
}

fn default_depth() -> usize {
    6
}
fn default_dim_head() -> usize {
    64
}
fn default_heads() -> usize {
    8
}
fn default_latents() -> usize {
    64
}
fn default_ff_mult() -> usize {
    4
}

impl Default for PerceiverSettings {
    fn default() -> Self {
        Self {
            depth: default_depth(),
            dim_head: default_dim_head(),
            heads: default_heads(),
            num_latents: default_latents(),
            ff_mult: default_ff_mult(),
        }
    }
}

/// Limits far above OpenFlamingo's (depth 6, 8 heads of 64, ×4), so that a typo is an error.
const MAX_DEPTH: usize = 64;
const MAX_HEADS: usize = 256;
const MAX_DIM_HEAD: usize = 1024;
const MAX_FF_MULT: usize = 64;

impl PerceiverSettings {
    /// The sizes within limits, each error naming its field; `max_tokens`: positions an
    /// image may take.
    pub fn check(&self, max_tokens: usize) -> Result<(), String> {
        let limits = [
            ("depth", self.depth, MAX_DEPTH),
            ("dim_head", self.dim_head, MAX_DIM_HEAD),
            ("heads", self.heads, MAX_HEADS),
            ("num_latents", self.num_latents, max_tokens),
            ("ff_mult", self.ff_mult, MAX_FF_MULT),
        ];
        match limits.into_iter().find(|(_, value, high)| !(1..=*high).contains(value)) {
            Some((field, value, high)) => Err(format!("[connector.perceiver] {field} {value} is outside 1..={high}")),
            None => Ok(()),
        }
    }
}

#[derive(Module, Debug)]
pub struct PerceiverAttention {
    pub norm_media: LayerNorm,
    pub norm_latents: LayerNorm,
    pub to_q: Linear,
    /// Keys, then values.
    pub to_kv: Linear,
    pub to_out: Linear,
    #[module(skip)]
    heads: usize,
}

impl PerceiverAttention {
    fn new(dim: usize, dim_head: usize, heads: usize, device: &Device) -> Self {
        let inner = dim_head * heads;
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        Self {
            norm_media: LayerNormConfig::new(dim).init(device),
            norm_latents: LayerNormConfig::new(dim).init(device),
            to_q: linear(dim, inner),
            to_kv: linear(dim, 2 * inner),
            to_out: linear(inner, dim),
            heads,
        }
    }

    /// media [batch, tokens, dim], latents [batch, n, dim] → [batch, n, dim]
    fn forward(&self, media: Tensor<3>, latents: Tensor<3>) -> Tensor<3> {
        let [batch, n, _] = latents.dims();
        let latents = self.norm_latents.forward(latents);
        let context = Tensor::cat(vec![self.norm_media.forward(media), latents.clone()], 1);
        let q = self.to_q.forward(latents);
        let [k, v] = <[Tensor<3>; 2]>::try_from(self.to_kv.forward(context).chunk(2, 2)).expect("to_kv splits in two");
        let inner = q.dims()[2];
        let heads = |x: Tensor<3>| {
            let [batch, tokens, _] = x.dims();
            // [batch, tokens, heads, dim_head] → [batch, heads, tokens, dim_head]
            x.reshape([batch, tokens, self.heads, inner / self.heads]).swap_dims(1, 2)
        };
        // The default scale, dim_head^-1/2, is OpenFlamingo's.
        let out = attention(heads(q), heads(k), heads(v), None, None, AttentionModuleOptions::default());
        self.to_out.forward(out.swap_dims(1, 2).reshape([batch, n, inner]))
    }
}

/// nn.Sequential(LayerNorm, Linear, GELU, Linear), the Linears without bias.
#[derive(Module, Debug)]
pub struct FeedForward {
    pub norm: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl FeedForward {
    fn new(dim: usize, mult: usize, device: &Device) -> Self {
        Self {
            norm: LayerNormConfig::new(dim).init(device),
            fc1: LinearConfig::new(dim, dim * mult).with_bias(false).init(device),
            fc2: LinearConfig::new(dim * mult, dim).with_bias(false).init(device),
        }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(gelu(self.fc1.forward(self.norm.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct PerceiverLayer {
    pub attn: PerceiverAttention,
    pub ff: FeedForward,
}

#[derive(Module, Debug)]
pub struct PerceiverResampler {
    /// [num_latents, dim]
    pub latents: Param<Tensor<2>>,
    pub layers: Vec<PerceiverLayer>,
    pub norm: LayerNorm,
}

static KEYS: KeyMap = KeyMap {
    layout: "OpenFlamingo PerceiverResampler",
    anchor: "latents",
    rules: &[
        Rename("latents", "latents"),
        Rename("layers.#.0", "layers.#.attn"),
        Rename("layers.#.1.0", "layers.#.ff.norm"),
        Rename("layers.#.1.1", "layers.#.ff.fc1"),
        Rename("layers.#.1.3", "layers.#.ff.fc2"),
        Rename("norm", "norm"),
    ],
};

impl PerceiverResampler {
    /// Randomly initialised as OpenFlamingo does: latents ~ N(0, 1), the rest as PyTorch's.
    pub fn new(settings: &PerceiverSettings, dim: usize, device: &Device) -> Self {
        let s = settings;
        Self {
            latents: Param::from_tensor(Tensor::random([s.num_latents, dim], Distribution::Normal(0.0, 1.0), device)),
            layers: (0..s.depth)
                .map(|_| PerceiverLayer {
                    attn: PerceiverAttention::new(dim, s.dim_head, s.heads, device),
                    ff: FeedForward::new(dim, s.ff_mult, device),
                })
                .collect(),
            norm: LayerNormConfig::new(dim).init(device),
        }
    }

    /// Loads an OpenFlamingo checkpoint's `perceiver.*` tensors strictly.
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        load_strict(self, checkpoint, &KEYS)
    }

    /// [batch, tokens, dim] → [batch, num_latents, dim]
    pub fn forward(&self, media: Tensor<3>) -> Tensor<3> {
        let [batch, _, dim] = media.dims();
        let n = self.latents.dims()[0];
        let mut latents = self.latents.val().reshape([1, n, dim]).expand([batch, n, dim]);
        for layer in &self.layers {
            latents = layer.attn.forward(media.clone(), latents.clone()) + latents;
            latents = layer.ff.forward(latents.clone()) + latents;
        }
        self.norm.forward(latents)
    }
}

/// The resampler, then the projector to the LLM's width.
#[derive(Module, Debug)]
pub struct Perceiver {
    pub resampler: PerceiverResampler,
    pub projector: Projector,
    /// [rows, cols] the encoders' maps are brought to.
    pub grid: [usize; 2],
    /// Each image read at its own grid (`[connector] native`): the latents attend to however
    /// many tokens it has, as OpenFlamingo's resampler takes any number.
    #[module(skip)]
    pub own_grids: bool,
}

impl Perceiver {
    /// `channels`: the input map's (the resampler's width); `hidden`: the LLM's.
    pub fn new(
        settings: &PerceiverSettings,
        kind: ProjectorKind,
        grid: [usize; 2],
        channels: usize,
        hidden: usize,
        device: &Device,
    ) -> Self {
        Self {
            resampler: PerceiverResampler::new(settings, channels, device),
            projector: Projector::new(kind, channels, hidden, device),
            grid,
            own_grids: false,
        }
    }

    /// The resampler reading each image at its own grid.
    pub fn with_own_grids(self) -> Self {
        Self { own_grids: true, ..self }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        self.resampler.latents.dims()[0]
    }

    /// [batch, tokens, channels] → [batch, num_latents, hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.projector.forward(self.resampler.forward(x))
    }

    /// Images at their own grids, images × [1, rows_i × cols_i, channels] → [images,
    /// num_latents, hidden]; the images of one grid share a forward.
    pub fn forward_own_grids(&self, images: Vec<Features>) -> Tensor<3> {
        Tensor::cat(per_grid(images, |x, _| self.forward(x)), 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// Each image through its own grid is what a batch of that image alone gives, whatever
    /// the order of the grids; images of one grid share a forward.
    #[test]
    fn own_grids_resample_each_image_as_it_alone_would() {
        let device = Device::flex();
        let settings = PerceiverSettings { depth: 1, dim_head: 4, heads: 2, num_latents: 3, ..Default::default() };
        let perceiver = Perceiver::new(&settings, ProjectorKind::Linear, [1, 1], 8, 6, &device).with_own_grids();
        crate::nn::init::materialize(&perceiver);
        let grids = [[2, 3], [3, 1], [2, 3]];
        let features: Vec<Features> = grids
            .iter()
            .map(|&grid| Features { tokens: Tensor::random([1, grid[0] * grid[1], 8], Distribution::Default, &device), grid })
            .collect();
        let alone: Vec<Tensor<3>> = features.iter().map(|f| perceiver.forward(f.tokens.clone())).collect();
        let out = perceiver.forward_own_grids(features);
        assert_eq!(out.dims(), [3, 3, 6]);
        for (i, expected) in alone.into_iter().enumerate() {
            let diff = (out.clone().narrow(0, i, 1) - expected).abs().max().into_scalar::<f32>();
            assert!(diff <= 1e-6, "image {i}: {diff}");
        }
    }
}
