//! Segmentation (the study's SAM tower, here semantic masks): per-pixel classes (the sky, the
//! ground and each shape-and-colour pair, `data::pixel_class`) from a light head, one linear
//! layer per token to its patch's pixels' logits, trained with per-pixel cross-entropy
//! averaged over pixels. Shape alone (three classes) left the colours that name the
//! benchmark's objects out of the features (docs/BOTTLE.md).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::data::{Frame, PIXEL_CLASSES};
use super::{Batch, PretrainError, encoder_tokens};
use crate::encoders::vit::VisionTransformer;

#[derive(Module, Debug)]
pub struct SegmentHead {
    head: Linear,
}

impl SegmentHead {
    pub fn new(hidden: usize, frame: &Frame, device: &Device) -> Self {
        Self { head: LinearConfig::new(hidden, frame.per_token(PIXEL_CLASSES)).init(device) }
    }

    /// The batch's pixel classes in patch order: [batch × pixels, 1].
    pub fn targets(batch: &Batch) -> Tensor<2, Int> {
        let classes: Vec<i64> = batch.items.iter().flat_map(|item| item.classes.iter().map(|&c| c as i64)).collect();
        let n = classes.len();
        Tensor::from_data(TensorData::new(classes, [n, 1]), batch.device)
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<1>, PretrainError> {
        let tokens = encoder_tokens(vit, batch)?;
        let [n, t, _] = tokens.dims();
        let pixels = n * t * batch.frame.per_token(1);
        // [batch, tokens, patch² × classes] → [batch × pixels, classes]
        let logits = self.head.forward(tokens).reshape([pixels, PIXEL_CLASSES]);
        let picked = log_softmax(logits, 1).gather(1, Self::targets(batch));
        Ok(picked.mean().neg())
    }
}
