//! The transformer feed-forward block: fc1 → activation → fc2, or SwiGLU with fc1 packing
//! the value and gate halves (transformers' Dinov2SwiGLUFFN `weights_in`, timm's SwiGLUPacked).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{gelu, sigmoid, silu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Act {
    /// erf GELU (`gelu`).
    Gelu,
    /// tanh-approximated GELU (`gelu_pytorch_tanh`, timm `gelu_tanh`).
    GeluTanh,
    /// OpenAI CLIP's `x * sigmoid(1.702 x)`.
    QuickGelu,
    /// `silu(a) * b` over the two halves of fc1's output.
    Swiglu,
}

impl Act {
    /// transformers' `hidden_act` names; `None` for one we do not implement.
    pub fn from_hf(name: &str) -> Option<Act> {
        match name {
            "gelu" => Some(Act::Gelu),
            "quick_gelu" => Some(Act::QuickGelu),
            "gelu_pytorch_tanh" | "gelu_new" => Some(Act::GeluTanh),
            _ => None,
        }
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    act: Act,
}

impl Mlp {
    /// `hidden_inner` is the width fc2 reads (for SwiGLU fc1 writes twice as many).
    pub fn new(hidden: usize, hidden_inner: usize, act: Act, device: &Device) -> Self {
        let fc1_out = if act == Act::Swiglu { 2 * hidden_inner } else { hidden_inner };
        Self {
            fc1: LinearConfig::new(hidden, fc1_out).init(device),
            fc2: LinearConfig::new(hidden_inner, hidden).init(device),
            act,
        }
    }

    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = self.fc1.forward(x);
        let x = match self.act {
            Act::Gelu => gelu(x),
            Act::GeluTanh => gelu_tanh(x),
            Act::QuickGelu => x.clone() * sigmoid(x * 1.702),
            Act::Swiglu => {
                let [value, gate] = <[Tensor<3>; 2]>::try_from(x.chunk(2, 2)).expect("fc1 output splits into two halves");
                silu(value) * gate
            }
        };
        self.fc2.forward(x)
    }
}

/// `0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))` with x³ as two products, as PyTorch's
/// kernel computes it; burn's `gelu_approximate` takes `powf(x, 3)`, an exp and a log per
/// element, which made SigLIP's MLPs several times slower.
fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    const SQRT_2_OVER_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;
    let cube = x.clone() * x.clone() * x.clone();
    let inner = (x.clone() + cube * 0.044715) * SQRT_2_OVER_PI;
    x * (inner.tanh() + 1.0) * 0.5
}
