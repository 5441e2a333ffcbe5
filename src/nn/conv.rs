//! Convolution blocks of the convolutional connectors (C-Abstractor's timm RegNet blocks,
//! LDP's torchvision MobileNetV3 blocks): a bias-free convolution followed by a LayerNorm
//! over the channels (timm's `ConvNormAct` with `LayerNorm2d`; its norm keeps timm's
//! name `bn`), and squeeze-and-excitation (timm's `SEModule`, torchvision's
//! `SqueezeExcitation`; both name their 1×1 convolutions `fc1` and `fc2`).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, PaddingConfig2d};
use burn::tensor::activation::{hard_sigmoid, hard_swish, relu, sigmoid, silu};
use burn::tensor::{Device, Tensor};

/// The activations these blocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvAct {
    Identity,
    Relu,
    Silu,
    HardSwish,
    Sigmoid,
    /// PyTorch's `Hardsigmoid`: relu6(x + 3) / 6.
    HardSigmoid,
}

impl ConvAct {
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            ConvAct::Identity => x,
            ConvAct::Relu => relu(x),
            ConvAct::Silu => silu(x),
            ConvAct::HardSwish => hard_swish(x),
            ConvAct::Sigmoid => sigmoid(x),
            ConvAct::HardSigmoid => hard_sigmoid(x, 1.0 / 6.0, 0.5),
        }
    }
}

/// LayerNorm over the channels of a channels-first map (timm `LayerNorm2d`).
/// [batch, channels, rows, cols] → same
pub fn norm_channels(norm: &LayerNorm, x: Tensor<4>) -> Tensor<4> {
    norm.forward(x.permute([0, 2, 3, 1])).permute([0, 3, 1, 2])
}

/// A bias-free k×k convolution (padding (k − 1) / 2), a channels LayerNorm, an activation.
#[derive(Module, Debug)]
pub struct ConvNorm {
    pub conv: Conv2d,
    pub bn: LayerNorm,
    #[module(skip)]
    act: ConvAct,
}

impl ConvNorm {
    /// `groups = channels_out` makes it depthwise; `eps` is the norm's (timm's
    /// `LayerNormAct2d`: 1e-5).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        groups: usize,
        eps: f64,
        act: ConvAct,
        device: &Device,
    ) -> Self {
        let pad = (kernel - 1) / 2;
        Self {
            conv: Conv2dConfig::new(channels, [kernel; 2])
                .with_stride([stride; 2])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_groups(groups)
                .with_bias(false)
                .init(device),
            bn: LayerNormConfig::new(channels[1]).with_epsilon(eps).init(device),
            act,
        }
    }

    /// [batch, in, rows, cols] → [batch, out, rows / stride (rounded up), cols / stride]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.act.apply(norm_channels(&self.bn, self.conv.forward(x)))
    }
}

/// Squeeze-and-excitation: the map's channel means → 1×1 conv → act → 1×1 conv → gate,
/// which scales each channel.
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    pub fc1: Conv2d,
    pub fc2: Conv2d,
    #[module(skip)]
    act: ConvAct,
    #[module(skip)]
    gate: ConvAct,
}

impl SqueezeExcite {
    pub fn new(channels: usize, squeezed: usize, act: ConvAct, gate: ConvAct, device: &Device) -> Self {
        Self {
            fc1: Conv2dConfig::new([channels, squeezed], [1, 1]).init(device),
            fc2: Conv2dConfig::new([squeezed, channels], [1, 1]).init(device),
            act,
            gate,
        }
    }

    /// [batch, channels, rows, cols] → same
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // [batch, channels, 1, 1]
        let scale = x.clone().mean_dim(2).mean_dim(3);
        let scale = self.gate.apply(self.fc2.forward(self.act.apply(self.fc1.forward(scale))));
        x * scale
    }
}
