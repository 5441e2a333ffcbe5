//! RMSNorm (Zhang & Sennrich 2019) with transformers' float semantics (`LlamaRMSNorm`):
//! normalise in f32 with `x * rsqrt(mean(x²) + eps)`, cast back to the input's dtype, then
//! scale. burn's `RmsNorm` divides in the input's dtype, which differs for half precision.
//! The struct keeps burn's name and `gamma` parameter so that checkpoint `weight`s load
//! through the PyTorch adapter like any norm.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{DType, Device, Tensor};

#[derive(Module, Debug)]
pub struct RmsNorm {
    pub gamma: Param<Tensor<1>>,
    #[module(skip)]
    eps: f64,
}

impl RmsNorm {
    pub fn new(hidden: usize, eps: f64, device: &Device) -> Self {
        Self { gamma: Initializer::Ones.init([hidden], device), eps }
    }

    /// [.., hidden] → [.., hidden]
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let inv_rms = (x.clone().square().mean_dim(D - 1) + self.eps).sqrt().recip();
        (x * inv_rms).cast(dtype) * self.gamma.val().unsqueeze::<D>()
    }
}
