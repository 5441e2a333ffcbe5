//! Self-supervision by masked image modelling (MAE, He et al. 2022): 75% of the patches,
//! drawn per image, are dropped before the encoder, which sees the rest (with the prefix
//! tokens) through the blocks up to its feature layer; a light decoder (a linear embedding,
//! a mask token, learned position embeddings, one transformer block, a norm and a linear
//! prediction of each patch's pixels; MAE's is 8 blocks with fixed sin-cos positions) fills
//! the sequence back in, and the loss is the mean squared error on the masked patches only,
//! against each patch's pixels normalised by their own mean and variance (MAE's
//! `norm_pix_loss`, ε = 1e-6), the pixels being the encoder's preprocessed input.

use burn::module::{Module, Param};
use burn::nn::{Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::data::{Frame, patchify};
use super::{Batch, PretrainError};
use crate::encoders::vit::{Block, VisionTransformer};
use crate::nn::attention::SelfAttention;
use crate::nn::mlp::{Act, Mlp};

pub const MASK_RATIO: f64 = 0.75;

#[derive(Module, Debug)]
pub struct MaskedHead {
    embed: Linear,
    /// [hidden]
    mask_token: Param<Tensor<1>>,
    /// [tokens, hidden]
    pos_embed: Param<Tensor<2>>,
    block: Block,
    norm: LayerNorm,
    predict: Linear,
}

impl MaskedHead {
    pub fn new(hidden: usize, heads: usize, frame: &Frame, device: &Device) -> Self {
        let norm = || LayerNormConfig::new(hidden).with_epsilon(1e-6).init(device);
        let normal = Initializer::Normal { mean: 0.0, std: 0.02 };
        Self {
            embed: LinearConfig::new(hidden, hidden).init(device),
            mask_token: normal.init([hidden], device),
            pos_embed: normal.init([frame.tokens(), hidden], device),
            block: Block {
                norm1: norm(),
                attn: SelfAttention::new(hidden, heads, true, device),
                ls1: None,
                norm2: norm(),
                mlp: Mlp::new(hidden, 4 * hidden, Act::Gelu, device),
                ls2: None,
            },
            norm: norm(),
            predict: LinearConfig::new(hidden, frame.per_token(3)).init(device),
        }
    }

    /// Patches each image keeps, per image: the first `keep` of a random permutation.
    pub fn draw_kept(tokens: usize, images: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
        let keep = ((tokens as f64 * (1.0 - MASK_RATIO)) as usize).max(1);
        (0..images)
            .map(|_| {
                let mut order: Vec<usize> = (0..tokens).collect();
                order.shuffle(rng);
                order.truncate(keep);
                order
            })
            .collect()
    }

    /// Per-patch normalised pixels, [batch, tokens, patch² × 3].
    pub fn targets(batch: &Batch) -> Tensor<3> {
        let frame = &batch.frame;
        let values: Vec<f32> = batch.items.iter().flat_map(|item| patchify(frame, &item.pixels, 3)).collect();
        let raw = Tensor::<3>::from_data(
            TensorData::new(values, [batch.items.len(), frame.tokens(), frame.per_token(3)]),
            batch.device,
        );
        let mean = raw.clone().mean_dim(2);
        let var = (raw.clone() - mean.clone()).powi_scalar(2).mean_dim(2);
        (raw - mean) / var.add_scalar(1e-6).sqrt()
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor<1>, PretrainError> {
        let device = batch.device;
        let (embedded, _) = vit.embed(batch.pixels.clone());
        let [n, all, hidden] = embedded.dims();
        let prefix = vit.config.prefix_tokens();
        let tokens = all - prefix;
        let kept = Self::draw_kept(tokens, n, rng);
        let keep = kept[0].len();
        // [batch, keep, hidden]: the kept patches, in their drawn order
        let index: Vec<i64> = kept.iter().flatten().map(|&t| (prefix + t) as i64).collect();
        let index = Tensor::<2, Int>::from_data(TensorData::new(index, [n, keep]), device);
        let visible = embedded.clone().gather(1, index.unsqueeze_dim::<3>(2).expand([n, keep, hidden]));
        let sequence = match prefix {
            0 => visible,
            _ => Tensor::cat(vec![embedded.slice([0..n, 0..prefix, 0..hidden]), visible], 1),
        };
        let encoded = vit.run_blocks(sequence, batch.layer)?;
        let encoded = encoded.slice([0..n, prefix..prefix + keep, 0..hidden]);

        // The full sequence in patch order: each kept patch's encoding, the mask token elsewhere.
        let mut masked = vec![1.0f32; n * tokens];
        let mut slot = vec![keep as i64; n * tokens];
        for (image, patches) in kept.iter().enumerate() {
            for (k, &t) in patches.iter().enumerate() {
                masked[image * tokens + t] = 0.0;
                slot[image * tokens + t] = k as i64;
            }
        }
        let mask_token = self.mask_token.val().reshape([1, 1, hidden]).expand([n, 1, hidden]);
        // [batch, keep + 1, hidden]: the encodings, then the mask token at slot `keep`
        let slots = Tensor::cat(vec![self.embed.forward(encoded), mask_token], 1);
        let slot = Tensor::<2, Int>::from_data(TensorData::new(slot, [n, tokens]), device);
        let full = slots.gather(1, slot.unsqueeze_dim::<3>(2).expand([n, tokens, hidden]));
        let decoded = self.block.forward(full + self.pos_embed.val().unsqueeze::<3>());
        let predicted = self.predict.forward(self.norm.forward(decoded));

        let per_patch = (predicted - Self::targets(batch)).powi_scalar(2).mean_dim(2).squeeze_dim::<2>(2);
        let masked = Tensor::<2>::from_data(TensorData::new(masked, [n, tokens]), device);
        let count = (n * (tokens - keep)).max(1) as f64;
        Ok((per_patch * masked).sum().div_scalar(count))
    }
}
