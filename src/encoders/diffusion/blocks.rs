//! Layers the VAE and the UNet share, named after diffusers' modules and checkpoint keys:
//! `ResnetBlock2D`, the single-head spatial `Attention` of the VAE's mid block,
//! `Downsample2D` and `Upsample2D`.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::silu;
use burn::tensor::module::{attention, interpolate};
use burn::tensor::ops::{AttentionModuleOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};

pub fn group_norm(groups: usize, channels: usize, eps: f64, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups, channels).with_epsilon(eps).init(device)
}

/// A `kernel`×`kernel` convolution with stride 1 that keeps the spatial size.
pub fn conv(channels: [usize; 2], kernel: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel; 2]).with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad)).init(device)
}

/// diffusers `ResnetBlock2D` (`time_embedding_norm = "default"`, output scale 1):
/// `shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))`.
#[derive(Module, Debug)]
pub struct ResnetBlock {
    pub norm1: GroupNorm,
    pub conv1: Conv2d,
    /// The UNet's timestep projection; the VAE has none.
    pub time_emb_proj: Option<Linear>,
    pub norm2: GroupNorm,
    pub conv2: Conv2d,
    /// A 1×1 convolution when the channel count changes.
    pub conv_shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    pub fn new(channels: [usize; 2], temb: Option<usize>, groups: usize, eps: f64, device: &Device) -> Self {
        let [cin, cout] = channels;
        Self {
            norm1: group_norm(groups, cin, eps, device),
            conv1: conv([cin, cout], 3, device),
            time_emb_proj: temb.map(|t| LinearConfig::new(t, cout).init(device)),
            norm2: group_norm(groups, cout, eps, device),
            conv2: conv([cout, cout], 3, device),
            conv_shortcut: (cin != cout).then(|| conv([cin, cout], 1, device)),
        }
    }

    /// x [batch, in, h, w], temb [batch, temb] → [batch, out, h, w]
    pub fn forward(&self, x: Tensor<4>, temb: Option<&Tensor<2>>) -> Tensor<4> {
        let mut h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        if let (Some(proj), Some(temb)) = (&self.time_emb_proj, temb) {
            // [batch, out] → [batch, out, 1, 1]
            h = h + proj.forward(silu(temb.clone())).unsqueeze_dims::<4>(&[2, 3]);
        }
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        let shortcut = match &self.conv_shortcut {
            Some(conv) => conv.forward(x),
            None => x,
        };
        shortcut + h
    }
}

/// The VAE mid block's `Attention`: group norm, one head over every position, biased
/// projections, residual connection.
#[derive(Module, Debug)]
pub struct SpatialAttention {
    pub group_norm: GroupNorm,
    pub to_q: Linear,
    pub to_k: Linear,
    pub to_v: Linear,
    /// diffusers' `to_out` is `[Linear, Dropout]`; only index 0 has weights.
    pub to_out: Vec<Linear>,
}

impl SpatialAttention {
    pub fn new(channels: usize, groups: usize, eps: f64, device: &Device) -> Self {
        let linear = || LinearConfig::new(channels, channels).init(device);
        Self {
            group_norm: group_norm(groups, channels, eps, device),
            to_q: linear(),
            to_k: linear(),
            to_v: linear(),
            to_out: vec![linear()],
        }
    }

    /// [batch, channels, h, w] → [batch, channels, h, w]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, height, width] = x.dims();
        // [batch, h × w, channels], as one head
        let h = self.group_norm.forward(x.clone()).reshape([batch, channels, height * width]).swap_dims(1, 2);
        let head = |linear: &Linear| linear.forward(h.clone()).unsqueeze_dim::<4>(1);
        let out = attention(head(&self.to_q), head(&self.to_k), head(&self.to_v), None, None, AttentionModuleOptions::default());
        let out = self.to_out[0].forward(out.squeeze_dim::<3>(1));
        x + out.swap_dims(1, 2).reshape([batch, channels, height, width])
    }
}

/// `Downsample2D` with a convolution: stride 2, padding 1 (UNet) or, with `padding = 0`,
/// the VAE's zero pad of one pixel on the bottom and right first.
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
}

impl Downsample {
    pub fn new(channels: usize, padding: usize, device: &Device) -> Self {
        let pad = if padding == 0 {
            PaddingConfig2d::Explicit(0, 0, 1, 1)
        } else {
            PaddingConfig2d::Explicit(padding, padding, padding, padding)
        };
        Self { conv: Conv2dConfig::new([channels, channels], [3, 3]).with_stride([2, 2]).with_padding(pad).init(device) }
    }

    /// [batch, c, h, w] → [batch, c, ⌈h/2⌉, ⌈w/2⌉]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.conv.forward(x)
    }
}

/// `Upsample2D`: nearest-neighbour resize, then a 3×3 convolution.
#[derive(Module, Debug)]
pub struct Upsample {
    pub conv: Conv2d,
}

impl Upsample {
    pub fn new(channels: usize, device: &Device) -> Self {
        Self { conv: conv([channels, channels], 3, device) }
    }

    /// [batch, c, h, w] → [batch, c, size[0], size[1]] (twice the size, or the size of the
    /// skip connection it meets next when the input was odd).
    pub fn forward(&self, x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
        let options = InterpolateOptions::new(InterpolateMode::Nearest).with_output_size(size);
        self.conv.forward(interpolate(x, options))
    }
}
