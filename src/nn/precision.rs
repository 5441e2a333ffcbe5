//! The float precision a run trains in (`precision` in a run config). burn 0.22 has no
//! autocast (notes: "Mixed precision"), so `bf16-mixed` is autocast at the level of the
//! project's own layers, as PyTorch AMP does it: the weights stay f32 (the optimizer's
//! masters, its state and the checkpoints with them); a matrix product casts its input and
//! weights to bf16 (a differentiable `.cast`, so gradients come back f32) and its output back
//! to f32; attention takes its two products in bf16 and its mask and softmax in f32; norms,
//! activations, the loss and the optimizer see f32. `bf16` is the whole model in bf16 (the
//! device's float type): parameters, activations, gradients and, since burn's AdamW makes its
//! moments from the gradients, the optimizer state. The layers call [`Precision::linear`] and
//! [`Precision::attention`] in every precision, so there is one code path.

use burn::nn::Linear;
use burn::tensor::activation::softmax;
use burn::tensor::module::{attention, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, DType, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    #[default]
    F32,
    /// f32 weights and optimizer; matrix products and attention in bf16.
    Bf16Mixed,
    /// Everything in bf16.
    Bf16,
}

impl Precision {
    /// The name in run configs, sweeps and run ids.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16Mixed => "bf16-mixed",
            Precision::Bf16 => "bf16",
        }
    }

    /// Bytes of a stored value: a weight, a gradient, an optimizer moment (burn's AdamW makes
    /// them from the gradients), an activation (bf16-mixed's bf16 copies aside).
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 | Precision::Bf16Mixed => 4,
            Precision::Bf16 => 2,
        }
    }

    /// The float type of the device's parameters and tensors.
    pub fn storage(self) -> DType {
        match self {
            Precision::Bf16 => DType::BF16,
            Precision::F32 | Precision::Bf16Mixed => DType::F32,
        }
    }

    /// The type matrix products run in when it is not the weights' own.
    fn autocast(self) -> Option<DType> {
        (self == Precision::Bf16Mixed).then_some(DType::BF16)
    }

    /// `layer` applied to x [.., d_in] → [.., d_out], in x's float type.
    pub fn linear<const D: usize>(self, layer: &Linear, x: Tensor<D>) -> Tensor<D> {
        let Some(low) = self.autocast() else { return layer.forward(x) };
        let dtype = x.dtype();
        let bias = layer.bias.as_ref().map(|b| b.val().cast(low));
        linear(x.cast(low), layer.weight.val().cast(low), bias).cast(dtype)
    }

    /// a [.., m, k] · b [.., k, n] → [.., m, n], in a's float type.
    pub fn matmul<const D: usize>(self, a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
        let Some(low) = self.autocast() else { return a.matmul(b) };
        let dtype = a.dtype();
        a.cast(low).matmul(b.cast(low)).cast(dtype)
    }

    /// Scaled dot-product attention at the default scale 1/sqrt(head_dim): q [batch, heads,
    /// queries, head_dim], k and v [batch, heads, keys, head_dim], `masked` [batch, heads,
    /// queries, keys] true where a query must not see a key (every query sees one) →
    /// [batch, heads, queries, head_dim]. In f32 and bf16 burn's `attention` (fused where the
    /// backend has it); in bf16-mixed its reference computation with the softmax in f32.
    pub fn attention(self, q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, masked: Tensor<4, Bool>) -> Tensor<4> {
        let Some(low) = self.autocast() else {
            return attention(q, k, v, Some(masked), None, AttentionModuleOptions::default());
        };
        let (dtype, head_dim) = (q.dtype(), q.dims()[3]);
        let scores = q.cast(low).matmul(k.cast(low).swap_dims(2, 3)).cast(DType::F32).div_scalar((head_dim as f64).sqrt());
        let weights = softmax(scores.mask_fill(masked, f32::NEG_INFINITY), 3);
        weights.cast(low).matmul(v.cast(low)).cast(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tensor};

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn bf16_mixed_layers_keep_f32_in_and_out_and_stay_near_f32() {
        let device = burn::tensor::Device::flex();
        device.seed(5);
        let layer = LinearConfig::new(64, 32).init(&device);
        let x = Tensor::<3>::random([2, 5, 64], Distribution::Normal(0.0, 1.0), &device);
        let (exact, mixed) = (Precision::F32.linear(&layer, x.clone()), Precision::Bf16Mixed.linear(&layer, x));
        assert_eq!(mixed.dtype(), DType::F32);
        // bf16 keeps 8 bits of mantissa: a relative error of 2^-9 per operand.
        let scale = exact.clone().abs().max().into_scalar::<f32>();
        assert!(max_diff(exact.clone(), mixed.clone()) < 0.02 * scale, "{}", max_diff(exact, mixed));

        let qkv = || Tensor::<4>::random([1, 2, 6, 8], Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (qkv(), qkv(), qkv());
        let masked = Tensor::<2, Bool>::tril_mask([6, 6], 0, &device).unsqueeze::<4>().expand([1, 2, 6, 6]);
        let exact = Precision::F32.attention(q.clone(), k.clone(), v.clone(), masked.clone());
        let mixed = Precision::Bf16Mixed.attention(q, k, v, masked);
        assert_eq!(mixed.dtype(), DType::F32);
        assert!(max_diff(exact.clone(), mixed.clone()) < 0.05, "{}", max_diff(exact, mixed));
    }
}
