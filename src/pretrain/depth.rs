//! Depth (MiDaS, Ranftl et al. 2020): dense inverse depth from a light head (one linear layer
//! per token to its patch's pixels), trained with the scale-and-shift-invariant loss of the
//! paper's eq. 4 (least-squares alignment): per image, the scale s and shift t minimising
//! Σ (s·d̂ + t − d*)² are solved in closed form (differentiably, as MiDaS's
//! `compute_scale_and_shift`), and the loss is (1/2M) Σ (s·d̂ + t − d*)² over its M pixels,
//! averaged over images. Targets d* are the renderer's inverse depth, 1/m, 0 for the sky.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

use super::data::Frame;
use super::{Batch, PretrainError, encoder_tokens};
use crate::encoders::vit::VisionTransformer;

#[derive(Module, Debug)]
pub struct DepthHead {
    head: Linear,
}

impl DepthHead {
    pub fn new(hidden: usize, frame: &Frame, device: &Device) -> Self {
        Self { head: LinearConfig::new(hidden, frame.per_token(1)).init(device) }
    }

    /// The batch's inverse depth in patch order: [batch, pixels].
    pub fn targets(batch: &Batch) -> Tensor<2> {
        let values: Vec<f32> = batch.items.iter().flat_map(|item| item.disparity.iter().copied()).collect();
        let pixels = values.len() / batch.items.len();
        Tensor::from_data(TensorData::new(values, [batch.items.len(), pixels]), batch.device)
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<1>, PretrainError> {
        let tokens = encoder_tokens(vit, batch)?;
        let [n, t, _] = tokens.dims();
        // [batch, tokens, patch²] → [batch, pixels], patch order
        let predicted = self.head.forward(tokens).reshape([n, t * batch.frame.per_token(1)]);
        Ok(scale_shift_invariant(predicted, Self::targets(batch)))
    }
}

/// MiDaS's L_ssimse: [images, pixels] twice → the mean over images.
pub fn scale_shift_invariant(predicted: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let [_, m] = predicted.dims();
    // The 2×2 normal equations per image: [a00 a01; a01 a11] [s; t] = [b0; b1].
    let a00 = predicted.clone().powi_scalar(2).sum_dim(1);
    let a01 = predicted.clone().sum_dim(1);
    let a11 = m as f64;
    let b0 = (predicted.clone() * target.clone()).sum_dim(1);
    let b1 = target.clone().sum_dim(1);
    // ε keeps a flat prediction (determinant 0) finite.
    let det = (a00.clone().mul_scalar(a11) - a01.clone().powi_scalar(2)).add_scalar(1e-9);
    let s = (b0.clone().mul_scalar(a11) - a01.clone() * b1.clone()) / det.clone();
    let t = (a00 * b1 - a01 * b0) / det;
    let aligned = predicted * s + t;
    (aligned - target).powi_scalar(2).sum_dim(1).div_scalar(2.0 * m as f64).mean()
}
