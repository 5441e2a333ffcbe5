//! Language supervision (CLIP, Radford et al. 2021; SigLIP, Zhai et al. 2023): image and
//! caption embeddings of a batch matched against each other. The image embedding is the mean
//! of the encoder's patch tokens, projected; the text tower is a bag of words (the caption's
//! words, see `data::words`, as normalised counts over the training captions' vocabulary)
//! through one linear layer, which is all the synthetic captions' fixed templates need. Both
//! are L2-normalised; the logits are their cosine similarities times a learned scale.
//! InfoNCE (CLIP): the mean of the image→text and text→image cross-entropies, scale
//! initialised to 1/0.07; sigmoid (SigLIP): −Σⱼ log σ(zᵢⱼ (t·cosᵢⱼ + b)) averaged over
//! images, zᵢⱼ = 1 on the diagonal and −1 elsewhere, t = 10 and b = −10 at the start.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{log_sigmoid, log_softmax};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Batch, PretrainError, encoder_tokens, scalar_param};
use crate::encoders::vit::VisionTransformer;

/// Width of the joint embedding.
const EMBED: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ContrastiveLoss {
    /// CLIP's symmetric InfoNCE.
    #[default]
    Infonce,
    /// SigLIP's pairwise sigmoid loss.
    Sigmoid,
}

#[derive(Module, Debug)]
pub struct ContrastiveHead {
    image_proj: Linear,
    text_proj: Linear,
    /// log t: the logits' scale.
    log_scale: Param<Tensor<1>>,
    /// b: the sigmoid loss's bias (unused by InfoNCE).
    bias: Param<Tensor<1>>,
    #[module(skip)]
    loss: ContrastiveLoss,
    #[module(skip)]
    vocabulary: usize,
}

impl ContrastiveHead {
    pub fn new(hidden: usize, vocabulary: usize, loss: ContrastiveLoss, device: &Device) -> Self {
        let (scale, bias) = match loss {
            ContrastiveLoss::Infonce => (1.0 / 0.07, 0.0),
            ContrastiveLoss::Sigmoid => (10.0, -10.0),
        };
        Self {
            image_proj: LinearConfig::new(hidden, EMBED).init(device),
            text_proj: LinearConfig::new(vocabulary, EMBED).init(device),
            log_scale: scalar_param(f64::ln(scale), device),
            bias: scalar_param(bias, device),
            loss,
            vocabulary,
        }
    }

    /// The captions as bags of words: [batch, vocabulary], each row summing to 1.
    fn bags(&self, batch: &Batch) -> Tensor<2> {
        let vocabulary = self.vocabulary;
        let mut bags = vec![0.0f32; batch.items.len() * vocabulary];
        for (row, item) in batch.items.iter().enumerate() {
            for &word in &item.words {
                bags[row * vocabulary + word] += 1.0 / item.words.len().max(1) as f32;
            }
        }
        Tensor::from_data(TensorData::new(bags, [batch.items.len(), vocabulary]), batch.device)
    }

    /// Cosine similarities, image i against caption j: [batch, batch].
    pub fn similarities(&self, vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<2>, PretrainError> {
        let tokens = encoder_tokens(vit, batch)?;
        let images = unit_rows(self.image_proj.forward(tokens.mean_dim(1).squeeze_dim::<2>(1)));
        let captions = unit_rows(self.text_proj.forward(self.bags(batch)));
        Ok(images.matmul(captions.transpose()))
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<1>, PretrainError> {
        let n = batch.items.len();
        let logits = self.similarities(vit, batch)? * self.log_scale.val().exp().unsqueeze::<2>();
        let eye = Tensor::<2>::eye(n, batch.device);
        Ok(match self.loss {
            ContrastiveLoss::Infonce => {
                let image_to_text = (log_softmax(logits.clone(), 1) * eye.clone()).sum();
                let text_to_image = (log_softmax(logits, 0) * eye).sum();
                (image_to_text + text_to_image).div_scalar(-2.0 * n as f64)
            }
            ContrastiveLoss::Sigmoid => {
                let signs = eye.mul_scalar(2.0).sub_scalar(1.0);
                let z = signs * (logits + self.bias.val().unsqueeze::<2>());
                log_sigmoid(z).sum().div_scalar(-(n as f64))
            }
        })
    }
}

/// Rows scaled to unit length. [n, d] → [n, d]
fn unit_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).add_scalar(1e-12).sqrt();
    x / norm
}
