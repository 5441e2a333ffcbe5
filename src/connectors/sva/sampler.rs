//! Cambrian-1's `VisionTokenSampler` (`cambrian/model/vision_sampler.py`, `layer_type =
//! "joint"`): D stacked `VisionCrossAttentionLayer`s, each a query (with the projected global
//! context) attending jointly to every encoder's window through `MultiKVCrossAttention`:
//! per-encoder key and value projections, one softmax over all encoders' window tokens.
//! Field names are the released module's, so checkpoint keys map one to one (`sva::keys`).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Distribution, Tensor};

/// The released layer fixes 16 heads whatever the width.
pub const HEADS: usize = 16;

fn linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out).with_bias(false).init(device)
}

/// `nn.Sequential(nn.LayerNorm(d_in), nn.Linear(d_in, d_out, bias=False))`: keys `.0`, `.1`.
#[derive(Module, Debug)]
pub struct NormLinear {
    pub norm: LayerNorm,
    pub linear: Linear,
}

impl NormLinear {
    fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Self { norm: LayerNormConfig::new(d_in).init(device), linear: linear(d_in, d_out, device) }
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.linear.forward(self.norm.forward(x))
    }
}

/// The released `MLP`: Linear → GELU → Linear, no biases.
#[derive(Module, Debug)]
pub struct BiasFreeMlp {
    pub linear_1: Linear,
    pub linear_2: Linear,
}

impl BiasFreeMlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.linear_2.forward(gelu(self.linear_1.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct MultiKvCrossAttention {
    pub q_proj: NormLinear,
    /// One per encoder (`k_proj_{i}`).
    pub k_proj: Vec<NormLinear>,
    /// One per encoder (`v_proj_{i}`).
    pub v_proj: Vec<NormLinear>,
    pub o_proj: Linear,
}

impl MultiKvCrossAttention {
    fn new(hidden: usize, encoders: usize, device: &Device) -> Self {
        Self {
            q_proj: NormLinear::new(hidden, hidden, device),
            k_proj: (0..encoders).map(|_| NormLinear::new(hidden, hidden, device)).collect(),
            v_proj: (0..encoders).map(|_| NormLinear::new(hidden, hidden, device)).collect(),
            o_proj: linear(hidden, hidden, device),
        }
    }

    /// queries [rows, 1, hidden]; windows[i] [rows, m_i², hidden]; `masked` [rows, Σ m_i²],
    /// true where a window token is padding → [rows, 1, hidden].
    fn forward(&self, queries: Tensor<3>, windows: &[Tensor<3>], masked: Tensor<2, Bool>) -> Tensor<3> {
        let [rows, q_len, hidden] = queries.dims();
        let head_dim = hidden / HEADS;
        let keys: Vec<Tensor<3>> = self.k_proj.iter().zip(windows).map(|(p, w)| p.forward(w.clone())).collect();
        let values: Vec<Tensor<3>> = self.v_proj.iter().zip(windows).map(|(p, w)| p.forward(w.clone())).collect();
        // [rows, len, hidden] → [rows, heads, len, head_dim]
        let heads = |t: Tensor<3>| {
            let len = t.dims()[1];
            t.reshape([rows, len, HEADS, head_dim]).swap_dims(1, 2)
        };
        let (q, k, v) = (heads(self.q_proj.forward(queries)), heads(Tensor::cat(keys, 1)), heads(Tensor::cat(values, 1)));
        let kv_len = k.dims()[2];
        let mask = masked.reshape([rows, 1, 1, kv_len]).expand([rows, HEADS, q_len, kv_len]);
        // The default scale 1/sqrt(head_dim), as F.scaled_dot_product_attention.
        let out = attention(q, k, v, Some(mask), None, AttentionModuleOptions::default());
        // [rows, heads, 1, head_dim] → [rows, 1, hidden]
        self.o_proj.forward(out.swap_dims(1, 2).reshape([rows, q_len, hidden]))
    }
}

#[derive(Module, Debug)]
pub struct VisionCrossAttentionLayer {
    pub proj_context: Linear,
    pub proj_in: Linear,
    pub proj_out: BiasFreeMlp,
    pub norm: LayerNorm,
    pub cross_attn: MultiKvCrossAttention,
    /// [m_i², hidden] per encoder whose window holds more than one token (`pos_embed_{i}`).
    pub pos_embed: Vec<Option<Param<Tensor<2>>>>,
}

impl VisionCrossAttentionLayer {
    /// `q_dim`: the query's width (the SVA's width before the LLM, the LLM's inside it);
    /// `window_sides`: m_i per encoder.
    fn new(q_dim: usize, hidden: usize, window_sides: &[usize], device: &Device) -> Self {
        let pos_embed = window_sides
            .iter()
            .map(|&m| {
                (m > 1).then(|| Param::from_tensor(Tensor::random([m * m, hidden], Distribution::Normal(0.0, 1.0), device)))
            })
            .collect();
        Self {
            proj_context: linear(hidden, hidden, device),
            proj_in: linear(q_dim + hidden, hidden, device),
            proj_out: BiasFreeMlp { linear_1: linear(hidden, hidden, device), linear_2: linear(hidden, q_dim, device) },
            norm: LayerNormConfig::new(hidden).init(device),
            cross_attn: MultiKvCrossAttention::new(hidden, window_sides.len(), device),
            pos_embed,
        }
    }

    /// queries [rows, 1, q_dim], context [rows, 1, hidden], windows[i] [rows, m_i², hidden],
    /// masked [rows, Σ m_i²] → [rows, 1, q_dim]
    fn forward(&self, queries: Tensor<3>, context: Tensor<3>, windows: &[Tensor<3>], masked: Tensor<2, Bool>) -> Tensor<3> {
        let residual = queries.clone();
        let x = self.proj_in.forward(Tensor::cat(vec![queries, self.proj_context.forward(context)], 2));
        let windows: Vec<Tensor<3>> = windows
            .iter()
            .zip(&self.pos_embed)
            .map(|(w, pos)| match pos {
                Some(pos) => w.clone() + pos.val().unsqueeze::<3>(),
                None => w.clone(),
            })
            .collect();
        let x = x.clone() + self.cross_attn.forward(x, &windows, masked);
        self.proj_out.forward(self.norm.forward(x)) + residual
    }
}

#[derive(Module, Debug)]
pub struct VisionTokenSampler {
    pub layers: Vec<VisionCrossAttentionLayer>,
}

impl VisionTokenSampler {
    pub fn new(q_dim: usize, hidden: usize, window_sides: &[usize], depth: usize, device: &Device) -> Self {
        Self { layers: (0..depth).map(|_| VisionCrossAttentionLayer::new(q_dim, hidden, window_sides, device)).collect() }
    }

    /// queries [rows, 1, q_dim], context [rows, 1, hidden], windows[i] [rows, m_i², hidden],
    /// masked [rows, Σ m_i²] (true: padding) → [rows, 1, q_dim]
    pub fn forward(&self, queries: Tensor<3>, context: Tensor<3>, windows: &[Tensor<3>], masked: Tensor<2, Bool>) -> Tensor<3> {
        self.layers.iter().fold(queries, |q, layer| layer.forward(q, context.clone(), windows, masked.clone()))
    }
}
