//! The encoder half of diffusers' `AutoencoderKL` (Rombach et al. 2022): `encoder` +
//! `quant_conv`, giving the mean of the latent Gaussian (`latent_dist.mode()`). The decoder
//! and `post_quant_conv` are never run, so they are not part of the module.

use burn::module::Module;
use burn::nn::GroupNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::silu;
use burn::tensor::{Device, Tensor};

use super::blocks::{Downsample, ResnetBlock, SpatialAttention, conv, group_norm};
use super::config::VaeConfig;

/// diffusers builds every VAE norm with this epsilon.
const EPS: f64 = 1e-6;

#[derive(Module, Debug)]
pub struct DownEncoderBlock {
    pub resnets: Vec<ResnetBlock>,
    /// One downsampler, none in the last block.
    pub downsamplers: Vec<Downsample>,
}

#[derive(Module, Debug)]
pub struct MidBlock {
    pub resnets: Vec<ResnetBlock>,
    /// Empty when `mid_block_add_attention` is false.
    pub attentions: Vec<SpatialAttention>,
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub conv_in: Conv2d,
    pub down_blocks: Vec<DownEncoderBlock>,
    pub mid_block: MidBlock,
    pub conv_norm_out: GroupNorm,
    pub conv_out: Conv2d,
}

#[derive(Module, Debug)]
pub struct VaeEncoder {
    pub encoder: Encoder,
    pub quant_conv: Option<Conv2d>,
    #[module(skip)]
    latent_channels: usize,
    #[module(skip)]
    scaling_factor: f64,
}

impl VaeEncoder {
    pub fn new(config: &VaeConfig, device: &Device) -> Self {
        let channels = &config.block_out_channels;
        let groups = config.norm_num_groups;
        let last = *channels.last().expect("validated: at least one block");
        let moments = 2 * config.latent_channels;
        let down_blocks = channels
            .iter()
            .enumerate()
            .map(|(i, &out)| {
                let cin = if i == 0 { channels[0] } else { channels[i - 1] };
                DownEncoderBlock {
                    resnets: (0..config.layers_per_block)
                        .map(|j| ResnetBlock::new([if j == 0 { cin } else { out }, out], None, groups, EPS, device))
                        .collect(),
                    downsamplers: (i + 1 < channels.len()).then(|| Downsample::new(out, 0, device)).into_iter().collect(),
                }
            })
            .collect();
        let resnet = || ResnetBlock::new([last, last], None, groups, EPS, device);
        Self {
            encoder: Encoder {
                conv_in: conv([config.in_channels, channels[0]], 3, device),
                down_blocks,
                mid_block: MidBlock {
                    resnets: vec![resnet(), resnet()],
                    attentions: config
                        .mid_block_add_attention
                        .then(|| SpatialAttention::new(last, groups, EPS, device))
                        .into_iter()
                        .collect(),
                },
                conv_norm_out: group_norm(groups, last, EPS, device),
                conv_out: conv([last, moments], 3, device),
            },
            quant_conv: config.use_quant_conv.then(|| conv([moments, moments], 1, device)),
            latent_channels: config.latent_channels,
            scaling_factor: config.scaling_factor,
        }
    }

    /// The scaled latent mean. [batch, 3, H, W] → [batch, latent, H/8, W/8] (for 4 blocks)
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<4> {
        let encoder = &self.encoder;
        let mut x = encoder.conv_in.forward(pixels);
        for block in &encoder.down_blocks {
            for resnet in &block.resnets {
                x = resnet.forward(x, None);
            }
            for down in &block.downsamplers {
                x = down.forward(x);
            }
        }
        let mid = &encoder.mid_block;
        x = mid.resnets[0].forward(x, None);
        for attention in &mid.attentions {
            x = attention.forward(x);
        }
        x = mid.resnets[1].forward(x, None);
        let mut moments = encoder.conv_out.forward(silu(encoder.conv_norm_out.forward(x)));
        if let Some(quant) = &self.quant_conv {
            moments = quant.forward(moments);
        }
        // The first half of the moments is the mean, the second the log-variance.
        moments.narrow(1, 0, self.latent_channels) * self.scaling_factor
    }
}
