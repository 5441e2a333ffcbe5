//! LayerScale (Touvron et al. 2021, CaiT): a learned per-channel gain on a residual branch.

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct LayerScale {
    pub gamma: Param<Tensor<1>>,
}

impl LayerScale {
    pub fn new(hidden: usize, device: &Device) -> Self {
        Self { gamma: Initializer::Ones.init([hidden], device) }
    }

    /// [.., hidden] → [.., hidden]
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        x * self.gamma.val().unsqueeze::<D>()
    }
}
