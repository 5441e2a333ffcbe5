//! Class supervision, as the scene's multi-label classification (the ImageNet-21k ViT's
//! labels, here the objects' shapes and colours): the mean of the patch tokens through a
//! linear classifier, binary cross-entropy against 1 for each shape and colour present
//! (`data::LABELS`), averaged over labels and images.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

use super::data::LABELS;
use super::{Batch, PretrainError, encoder_tokens};
use crate::encoders::vit::VisionTransformer;

#[derive(Module, Debug)]
pub struct ClassifyHead {
    classifier: Linear,
}

impl ClassifyHead {
    pub fn new(hidden: usize, device: &Device) -> Self {
        Self { classifier: LinearConfig::new(hidden, LABELS).init(device) }
    }

    /// The batch's targets: [batch, LABELS].
    pub fn targets(batch: &Batch) -> Tensor<2> {
        let labels: Vec<f32> = batch.items.iter().flat_map(|item| item.labels).collect();
        Tensor::from_data(TensorData::new(labels, [batch.items.len(), LABELS]), batch.device)
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<1>, PretrainError> {
        let tokens = encoder_tokens(vit, batch)?;
        let logits = self.classifier.forward(tokens.mean_dim(1).squeeze_dim::<2>(1));
        let y = Self::targets(batch);
        // −[y log σ(x) + (1 − y) log σ(−x)]
        let nll = y.clone() * log_sigmoid(logits.clone()) + y.neg().add_scalar(1.0) * log_sigmoid(logits.neg());
        Ok(nll.mean().neg())
    }
}
