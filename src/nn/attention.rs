//! Multi-head self-attention with one fused q/k/v projection (timm's `qkv`, open_clip's
//! `in_proj`; transformers' separate q/k/v are concatenated into it when loading).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Tensor};

#[derive(Module, Debug)]
pub struct SelfAttention {
    pub qkv: Linear,
    pub proj: Linear,
    #[module(skip)]
    heads: usize,
}

impl SelfAttention {
    pub fn new(hidden: usize, heads: usize, qkv_bias: bool, device: &Device) -> Self {
        Self::with_biases(hidden, heads, qkv_bias, true, device)
    }

    /// With or without the output projection's bias too (AIMv2 has neither).
    pub fn with_biases(hidden: usize, heads: usize, qkv_bias: bool, proj_bias: bool, device: &Device) -> Self {
        Self {
            qkv: LinearConfig::new(hidden, 3 * hidden).with_bias(qkv_bias).init(device),
            proj: LinearConfig::new(hidden, hidden).with_bias(proj_bias).init(device),
            heads,
        }
    }

    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.attend(x, false)
    }

    /// Each token attends to itself and the tokens before it (CLIP's text transformer).
    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    pub fn forward_causal(&self, x: Tensor<3>) -> Tensor<3> {
        self.attend(x, true)
    }

    fn attend(&self, x: Tensor<3>, is_causal: bool) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let head_dim = hidden / self.heads;
        // [batch, tokens, 3, heads, head_dim] → [3, batch, heads, tokens, head_dim]
        let qkv = self.qkv.forward(x).reshape([batch, tokens, 3, self.heads, head_dim]).permute([2, 0, 3, 1, 4]);
        let take = |i: usize| qkv.clone().narrow(0, i, 1).squeeze_dim::<4>(0);
        // The default scale 1/sqrt(head_dim) keeps burn on its fused kernel.
        let options = AttentionModuleOptions { is_causal, ..Default::default() };
        let out = attention(take(0), take(1), take(2), None, None, options);
        // [batch, heads, tokens, head_dim] → [batch, tokens, hidden]
        let out = out.swap_dims(1, 2).reshape([batch, tokens, hidden]);
        self.proj.forward(out)
    }
}
