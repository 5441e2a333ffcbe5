//! diffusers' `UNet2DConditionModel` in the Stable Diffusion 2.x configuration, run as far as
//! Cambrian-1 runs it: time embedding, down blocks, mid block, and the up blocks whose outputs
//! are the features (`conv_norm_out`/`conv_out` are never reached, so they are not modules).
//!
//! Down blocks are `CrossAttnDownBlock2D` but for the last (`DownBlock2D`); up blocks mirror
//! them (`UpBlock2D` first). Attention is `Transformer2DModel` with linear `proj_in`/`proj_out`
//! and one `BasicTransformerBlock` (self-attention, cross-attention on the prompt, GEGLU).

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::{GroupNorm, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu, silu};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor, TensorData};

use super::blocks::{Downsample, ResnetBlock, Upsample, conv, group_norm};
use super::config::UnetConfig;

/// Transformer2DModel's group norm epsilon (fixed in diffusers).
const TRANSFORMER_NORM_EPS: f64 = 1e-6;

#[derive(Module, Debug)]
pub struct Attention {
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    /// `[Linear, Dropout]` in diffusers; only index 0 has weights.
    pub to_out: Vec<Linear>,
    #[module(skip)]
    heads: usize,
}

impl Attention {
    fn new(dim: usize, context_dim: usize, heads: usize, device: &Device) -> Self {
        let plain = |input| LinearConfig::new(input, dim).with_bias(false).init(device);
        Self {
            to_q: plain(dim),
            to_k: plain(context_dim),
            to_v: plain(context_dim),
            to_out: vec![LinearConfig::new(dim, dim).init(device)],
            heads,
        }
    }

    /// x [batch, n, dim], context [batch, m, context_dim] → [batch, n, dim]
    fn forward(&self, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let [batch, tokens, dim] = x.dims();
        let split = |t: Tensor<3>| {
            let [_, n, _] = t.dims();
            t.reshape([batch, n, self.heads, dim / self.heads]).swap_dims(1, 2)
        };
        let q = split(self.to_q.forward(x));
        let k = split(self.to_k.forward(context.clone()));
        let v = split(self.to_v.forward(context));
        let out = attention(q, k, v, None, None, AttentionModuleOptions::default());
        self.to_out[0].forward(out.swap_dims(1, 2).reshape([batch, tokens, dim]))
    }
}

/// `FeedForward` with GEGLU. The checkpoint's `ff.net.0.proj` and `ff.net.2` are renamed to
/// these fields on loading (see `keys.rs`).
#[derive(Module, Debug)]
pub struct FeedForward {
    /// dim → 2 × inner: the value and the GELU gate.
    pub net_0_proj: Linear,
    /// inner → dim
    pub net_2: Linear,
}

#[derive(Module, Debug)]
pub struct TransformerBlock {
    pub norm1: LayerNorm,
    pub attn1: Attention,
    pub norm2: LayerNorm,
    pub attn2: Attention,
    pub norm3: LayerNorm,
    pub ff: FeedForward,
}

impl TransformerBlock {
    fn forward(&self, x: Tensor<3>, context: &Tensor<3>) -> Tensor<3> {
        let normed = self.norm1.forward(x.clone());
        let x = x + self.attn1.forward(normed.clone(), normed);
        let x = x.clone() + self.attn2.forward(self.norm2.forward(x), context.clone());
        let [value, gate] = <[Tensor<3>; 2]>::try_from(self.ff.net_0_proj.forward(self.norm3.forward(x.clone())).chunk(2, 2))
            .expect("GEGLU projection splits into two halves");
        x + self.ff.net_2.forward(value * gelu(gate))
    }
}

#[derive(Module, Debug)]
pub struct Transformer2D {
    pub norm: GroupNorm,
    pub proj_in: Linear,
    pub transformer_blocks: Vec<TransformerBlock>,
    pub proj_out: Linear,
}

impl Transformer2D {
    fn new(channels: usize, heads: usize, config: &UnetConfig, device: &Device) -> Self {
        let norm = || LayerNormConfig::new(channels).with_epsilon(1e-5).init(device);
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            norm: group_norm(config.norm_num_groups, channels, TRANSFORMER_NORM_EPS, device),
            proj_in: linear(channels, channels),
            transformer_blocks: vec![TransformerBlock {
                norm1: norm(),
                attn1: Attention::new(channels, channels, heads, device),
                norm2: norm(),
                attn2: Attention::new(channels, config.cross_attention_dim, heads, device),
                norm3: norm(),
                ff: FeedForward { net_0_proj: linear(channels, 8 * channels), net_2: linear(4 * channels, channels) },
            }],
            proj_out: linear(channels, channels),
        }
    }

    /// x [batch, c, h, w], context [batch, m, d] → [batch, c, h, w]
    fn forward(&self, x: Tensor<4>, context: &Tensor<3>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        let h = self.norm.forward(x.clone()).reshape([batch, channels, height * width]).swap_dims(1, 2);
        let mut h = self.proj_in.forward(h);
        for block in &self.transformer_blocks {
            h = block.forward(h, context);
        }
        let h = self.proj_out.forward(h).swap_dims(1, 2).reshape([batch, channels, height, width]);
        h + x
    }
}

#[derive(Module, Debug)]
pub struct TimestepEmbedding {
    pub linear_1: Linear,
    pub linear_2: Linear,
}

/// A down, mid or up block: resnets, each followed by its attention where there is one.
#[derive(Module, Debug)]
pub struct Block {
    pub attentions: Vec<Transformer2D>,
    pub resnets: Vec<ResnetBlock>,
    pub downsamplers: Vec<Downsample>,
    pub upsamplers: Vec<Upsample>,
}

impl Block {
    fn layer(&self, i: usize, x: Tensor<4>, temb: &Tensor<2>, context: &Tensor<3>) -> Tensor<4> {
        let x = self.resnets[i].forward(x, Some(temb));
        match self.attentions.get(i) {
            Some(attention) => attention.forward(x, context),
            None => x,
        }
    }
}

#[derive(Module, Debug)]
pub struct Unet {
    pub time_embedding: TimestepEmbedding,
    pub conv_in: Conv2d,
    pub down_blocks: Vec<Block>,
    pub mid_block: Block,
    pub up_blocks: Vec<Block>,
    /// Width of the sinusoidal timestep embedding (block_out_channels[0]).
    #[module(skip)]
    time_proj_dim: usize,
}

impl Unet {
    pub fn new(config: &UnetConfig, device: &Device) -> Self {
        let channels = &config.block_out_channels;
        let heads = config.heads();
        let n = channels.len();
        let temb = 4 * channels[0];
        let (groups, eps) = (config.norm_num_groups, config.norm_eps);
        let resnet = |cin, cout| ResnetBlock::new([cin, cout], Some(temb), groups, eps, device);
        let attention = |c, h| Transformer2D::new(c, h, config, device);
        let layers = config.layers_per_block;

        let down_blocks = (0..n)
            .map(|i| {
                let (cin, cout) = (channels[i.saturating_sub(1)], channels[i]);
                let cross = i + 1 < n;
                Block {
                    attentions: if cross { (0..layers).map(|_| attention(cout, heads[i])).collect() } else { Vec::new() },
                    resnets: (0..layers).map(|j| resnet(if j == 0 { cin } else { cout }, cout)).collect(),
                    downsamplers: cross.then(|| Downsample::new(cout, config.downsample_padding, device)).into_iter().collect(),
                    upsamplers: Vec::new(),
                }
            })
            .collect();
        let last = channels[n - 1];
        let mid_block = Block {
            attentions: vec![attention(last, heads[n - 1])],
            resnets: vec![resnet(last, last), resnet(last, last)],
            downsamplers: Vec::new(),
            upsamplers: Vec::new(),
        };
        let reversed: Vec<usize> = channels.iter().rev().copied().collect();
        let up_blocks = (0..n)
            .map(|i| {
                let prev = reversed[i.saturating_sub(1)];
                let cout = reversed[i];
                let skip_last = reversed[(i + 1).min(n - 1)];
                Block {
                    attentions: if i > 0 {
                        (0..=layers).map(|_| attention(cout, heads[n - 1 - i])).collect()
                    } else {
                        Vec::new()
                    },
                    resnets: (0..=layers)
                        .map(|j| {
                            let input = if j == 0 { prev } else { cout };
                            let skip = if j == layers { skip_last } else { cout };
                            resnet(input + skip, cout)
                        })
                        .collect(),
                    downsamplers: Vec::new(),
                    upsamplers: (i + 1 < n).then(|| Upsample::new(cout, device)).into_iter().collect(),
                }
            })
            .collect();
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        Self {
            time_embedding: TimestepEmbedding { linear_1: linear(channels[0], temb), linear_2: linear(temb, temb) },
            conv_in: conv([config.in_channels, channels[0]], 3, device),
            down_blocks,
            mid_block,
            up_blocks,
            time_proj_dim: channels[0],
        }
    }

    /// The output of every up block, first to last, for one timestep shared by the batch.
    /// latents [batch, in, h, w], context [batch, m, d] → [[batch, c_i, h_i, w_i]; blocks]
    pub fn up_block_outputs(&self, latents: Tensor<4>, timestep: usize, context: &Tensor<3>) -> Vec<Tensor<4>> {
        let device = latents.device();
        let t = Tensor::<2>::from_data(
            TensorData::new(timestep_embedding(timestep, self.time_proj_dim), [1, self.time_proj_dim]),
            &device,
        );
        // [1, temb]: broadcast over the batch where it is added
        let temb = self.time_embedding.linear_2.forward(silu(self.time_embedding.linear_1.forward(t)));

        let mut x = self.conv_in.forward(latents);
        let mut skips = vec![x.clone()];
        for block in &self.down_blocks {
            for i in 0..block.resnets.len() {
                x = block.layer(i, x, &temb, context);
                skips.push(x.clone());
            }
            for down in &block.downsamplers {
                x = down.forward(x);
                skips.push(x.clone());
            }
        }
        let mid = &self.mid_block;
        x = mid.resnets[0].forward(x, Some(&temb));
        x = mid.attentions[0].forward(x, context);
        x = mid.resnets[1].forward(x, Some(&temb));

        let mut outputs = Vec::with_capacity(self.up_blocks.len());
        for block in &self.up_blocks {
            for i in 0..block.resnets.len() {
                let skip = skips.pop().expect("as many skips as up-block resnets");
                x = block.layer(i, Tensor::cat(vec![x, skip], 1), &temb, context);
            }
            if let (Some(up), Some(next)) = (block.upsamplers.first(), skips.last()) {
                let [_, _, h, w] = next.dims();
                x = up.forward(x, [h, w]);
            }
            outputs.push(x.clone());
        }
        outputs
    }
}

/// diffusers' `get_timestep_embedding` with `flip_sin_to_cos = True`, `freq_shift = 0`:
/// [cos(t·f_0) … cos(t·f_{k-1}), sin(t·f_0) … sin(t·f_{k-1})] with f_i = exp(−ln(10⁴)·i/k),
/// k = dim/2, zero-padded to an odd `dim`. The arguments are formed in f32 as torch forms
/// them, so that t·f_i rounds the same way (an error there grows with t).
pub fn timestep_embedding(timestep: usize, dim: usize) -> Vec<f32> {
    let half = dim / 2;
    let arguments: Vec<f32> = (0..half)
        .map(|i| {
            let exponent = (-(10000f64.ln()) as f32) * i as f32 / half as f32;
            timestep as f32 * exponent.exp()
        })
        .collect();
    let mut out: Vec<f32> = arguments.iter().map(|a| (*a as f64).cos() as f32).collect();
    out.extend(arguments.iter().map(|a| (*a as f64).sin() as f32));
    out.resize(dim, 0.0);
    out
}
