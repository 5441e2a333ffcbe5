//! The decoder-only transformer of Llama (Touvron et al. 2023), Qwen2 (Yang et al. 2024) and
//! Mistral (Jiang et al. 2023), as transformers' `LlamaForCausalLM` computes it: pre-norm
//! blocks of grouped-query self-attention with rotary positions and a SwiGLU MLP, RMSNorm,
//! a causal (optionally sliding-window) mask, and an LM head that may share the embedding.
//! Module fields carry the checkpoint's names (`self_attn.q_proj`, `mlp.gate_proj`, ...), so
//! the key table in `keys` only strips `model.`.

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::silu;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::config::LlmConfig;
use crate::nn::precision::Precision;
use crate::nn::rms_norm::RmsNorm;
use crate::nn::rope::{self, Rope};

#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub o_proj: Linear,
    #[module(skip)]
    heads: usize,
    #[module(skip)]
    kv_heads: usize,
    #[module(skip)]
    head_dim: usize,
}

#[derive(Module, Debug)]
pub struct SwiGlu {
    pub gate_proj: Linear,
    pub up_proj: Linear,
    pub down_proj: Linear,
}

#[derive(Module, Debug)]
pub struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: SwiGlu,
    pub input_layernorm: RmsNorm,
    pub post_attention_layernorm: RmsNorm,
}

#[derive(Module, Debug)]
pub struct LlmModel {
    pub embed_tokens: Embedding,
    pub layers: Vec<DecoderLayer>,
    pub norm: RmsNorm,
    /// `None` when the head is the transposed token embedding (`tie_word_embeddings`).
    pub lm_head: Option<Linear>,
    #[module(skip)]
    rope: Rope,
    #[module(skip)]
    sliding_window: Option<usize>,
    /// What the layers' matrix products and attention compute in.
    #[module(skip)]
    precision: Precision,
}

/// Work done on the residual stream between decoder layers (Cambrian-1's in-LLM SVA).
pub trait LayerHook {
    /// Decoder layer `layer` has just run: hidden [batch, new, hidden] → [batch, new, hidden].
    fn after_layer(&self, layer: usize, hidden: Tensor<3>) -> Tensor<3>;
}

/// Keys and values of every position seen so far, per layer: [batch, kv_heads, positions, head_dim].
/// Cloning is cheap (the tensors are shared).
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    len: usize,
    /// Per row, how many leading positions are padding (a left-padded batch of prompts of
    /// different lengths): no real position sees them, and a row's rotary positions count
    /// from its first real token, so that each row computes what it would alone. Empty when
    /// no row is padded.
    pads: Vec<usize>,
}

impl KvCache {
    /// Positions held, padding included.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The cache of batch rows `rows`, in that order, repeats allowed: to drop rows that
    /// finished generating, or to continue one prefix in several ways.
    pub fn select_rows(&self, rows: &[usize]) -> KvCache {
        let select = |t: &Tensor<4>| {
            let indices: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
            t.clone().select(0, Tensor::from_data(TensorData::new(indices, [rows.len()]), &t.device()))
        };
        KvCache {
            layers: self.layers.iter().map(|slot| slot.as_ref().map(|(k, v)| (select(k), select(v)))).collect(),
            len: self.len,
            pads: if self.pads.is_empty() { Vec::new() } else { rows.iter().map(|&r| self.pads[r]).collect() },
        }
    }
}

/// What a forward pass needs besides the hidden states: rotary tables and the mask, shared
/// by the rows ([1, ...]) or per row ([batch, ...]) when the cache is padded.
struct Positions {
    /// [1 or batch, 1, new, head_dim]
    cos: Tensor<4>,
    sin: Tensor<4>,
    /// [1 or batch, new, cached + new], true where a query must not see a key.
    mask: Tensor<3, Bool>,
    precision: Precision,
}

/// As transformers' `_init_weights`: weights from N(0, std²), biases zero.
fn linear(d_in: usize, d_out: usize, bias: bool, std: f64, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out).with_bias(bias).with_initializer(normal(std)).init(device);
    linear.bias = linear.bias.map(|_| Param::from_tensor(Tensor::zeros([d_out], device)));
    linear
}

fn normal(std: f64) -> Initializer {
    Initializer::Normal { mean: 0.0, std }
}

impl Attention {
    fn new(c: &LlmConfig, device: &Device) -> Self {
        let (q, kv, std) = (c.heads * c.head_dim, c.kv_heads * c.head_dim, c.initializer_range);
        Self {
            q_proj: linear(c.hidden_size, q, c.qkv_bias, std, device),
            k_proj: linear(c.hidden_size, kv, c.qkv_bias, std, device),
            v_proj: linear(c.hidden_size, kv, c.qkv_bias, std, device),
            o_proj: linear(q, c.hidden_size, c.o_bias, std, device),
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
        }
    }

    /// [batch, new, hidden] → [batch, new, hidden]; appends this step's keys and values to `cache`.
    fn forward(&self, x: Tensor<3>, at: &Positions, cache: &mut Option<(Tensor<4>, Tensor<4>)>) -> Tensor<3> {
        let [batch, new, _] = x.dims();
        let (heads, kv_heads, head_dim) = (self.heads, self.kv_heads, self.head_dim);
        // [batch, new, heads × head_dim] → [batch, heads, new, head_dim]
        let split = |t: Tensor<3>, h: usize| t.reshape([batch, new, h, head_dim]).swap_dims(1, 2);
        let p = at.precision;
        let q = rope::apply(split(p.linear(&self.q_proj, x.clone()), heads), &at.cos, &at.sin);
        let k = rope::apply(split(p.linear(&self.k_proj, x.clone()), kv_heads), &at.cos, &at.sin);
        let v = split(p.linear(&self.v_proj, x), kv_heads);
        let (k, v) = match cache.take() {
            Some((k_past, v_past)) => (Tensor::cat(vec![k_past, k], 2), Tensor::cat(vec![v_past, v], 2)),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let seen = k.dims()[2];

        // Grouped-query attention: the `group` query heads sharing key/value head j are
        // heads j·group .. (j+1)·group, so they stack along the token axis (no copy of the
        // keys and values), each with its query position's row of the mask.
        let group = heads / kv_heads;
        let q = q.reshape([batch, kv_heads, group * new, head_dim]);
        // [1 or batch, new, seen] → [batch, kv_heads, group × new, seen]: causality, the
        // sliding window, the cache offset and left padding.
        let mask = at.mask.clone().repeat_dim(1, group).unsqueeze_dim::<4>(1).expand([batch, kv_heads, group * new, seen]);
        // The default scale 1/sqrt(head_dim) keeps burn on its fused kernel (not under
        // autodiff, where burn always takes the reference path).
        let out = p.attention(q, k, v, mask);
        // [batch, kv_heads, group × new, head_dim] → [batch, new, heads × head_dim]
        let out = out.reshape([batch, heads, new, head_dim]).swap_dims(1, 2);
        p.linear(&self.o_proj, out.reshape([batch, new, heads * head_dim]))
    }
}

impl SwiGlu {
    fn new(c: &LlmConfig, device: &Device) -> Self {
        let std = c.initializer_range;
        Self {
            gate_proj: linear(c.hidden_size, c.intermediate_size, c.mlp_bias, std, device),
            up_proj: linear(c.hidden_size, c.intermediate_size, c.mlp_bias, std, device),
            down_proj: linear(c.intermediate_size, c.hidden_size, c.mlp_bias, std, device),
        }
    }

    /// [batch, tokens, hidden] → [batch, tokens, hidden]
    fn forward(&self, x: Tensor<3>, p: Precision) -> Tensor<3> {
        p.linear(&self.down_proj, silu(p.linear(&self.gate_proj, x.clone())) * p.linear(&self.up_proj, x))
    }
}

impl DecoderLayer {
    fn new(c: &LlmConfig, device: &Device) -> Self {
        Self {
            self_attn: Attention::new(c, device),
            mlp: SwiGlu::new(c, device),
            input_layernorm: RmsNorm::new(c.hidden_size, c.rms_norm_eps, device),
            post_attention_layernorm: RmsNorm::new(c.hidden_size, c.rms_norm_eps, device),
        }
    }

    fn forward(&self, x: Tensor<3>, at: &Positions, cache: &mut Option<(Tensor<4>, Tensor<4>)>) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.input_layernorm.forward(x), at, cache);
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x), at.precision)
    }
}

impl LlmModel {
    /// Randomly initialised as transformers initialises the model from its config (weights
    /// from N(0, initializer_range²), biases zero, norms one), the weights drawn lazily so that
    /// loading a checkpoint with [`super::keys::load`] draws none.
    pub fn new(c: &LlmConfig, device: &Device) -> Self {
        let embedding = EmbeddingConfig::new(c.vocab_size, c.hidden_size).with_initializer(normal(c.initializer_range));
        Self {
            embed_tokens: embedding.init(device),
            layers: (0..c.layers).map(|_| DecoderLayer::new(c, device)).collect(),
            norm: RmsNorm::new(c.hidden_size, c.rms_norm_eps, device),
            lm_head: (!c.tie_word_embeddings).then(|| linear(c.hidden_size, c.vocab_size, false, c.initializer_range, device)),
            rope: Rope::new(c.head_dim, c.rope_theta, c.rope_scaling.as_ref()),
            sliding_window: c.sliding_window,
            precision: Precision::F32,
        }
    }

    /// The model computing in `precision` (its weights as they are: f32, or bf16 on a bf16 device).
    pub fn with_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }

    /// Sets embedding row `row` to zero, as transformers does for the padding token of a new
    /// model (`padding_idx`).
    pub fn zero_embedding_row(mut self, row: usize) -> Self {
        let weight = self.embed_tokens.weight.val();
        let hidden = weight.dims()[1];
        let zeros = Tensor::zeros([1, hidden], &weight.device());
        // Detached: a parameter must be a leaf of the autodiff graph.
        self.embed_tokens.weight = Param::from_tensor(weight.slice_assign([row..row + 1, 0..hidden], zeros).detach());
        self
    }

    /// An empty cache for this model.
    pub fn new_cache(&self) -> KvCache {
        self.new_padded_cache(Vec::new())
    }

    /// An empty cache for a left-padded batch: row b's first `pads[b]` positions (in the
    /// first chunk decoded) are padding.
    pub fn new_padded_cache(&self, pads: Vec<usize>) -> KvCache {
        let pads = if pads.iter().all(|&p| p == 0) { Vec::new() } else { pads };
        KvCache { layers: vec![None; self.layers.len()], len: 0, pads }
    }

    /// Token ids [batch, tokens] → embeddings [batch, tokens, hidden].
    pub fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.embed_tokens.forward(tokens)
    }

    /// Embeddings of the new positions [batch, new, hidden] → final-norm hidden states
    /// [batch, new, hidden], attending to the cached positions and each other causally.
    pub fn decode(&self, x: Tensor<3>, cache: &mut KvCache) -> Tensor<3> {
        self.decode_hooked(x, cache, None)
    }

    /// [`Self::decode`], with `hook` run after every decoder layer.
    pub fn decode_hooked(&self, x: Tensor<3>, cache: &mut KvCache, hook: Option<&dyn LayerHook>) -> Tensor<3> {
        let [_, new, _] = x.dims();
        let at = self.positions(cache.len, new, &cache.pads, &x.device());
        let mut x = x;
        for (i, (layer, slot)) in self.layers.iter().zip(cache.layers.iter_mut()).enumerate() {
            x = layer.forward(x, &at, slot);
            if let Some(hook) = hook {
                x = hook.after_layer(i, x);
            }
        }
        cache.len += new;
        self.norm.forward(x)
    }

    /// Hidden states [..., hidden] → logits [..., vocab]: [batch, tokens, hidden] for a
    /// sequence, or the [rows, hidden] gathered at the positions a loss reads.
    pub fn logits<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        match &self.lm_head {
            Some(head) => self.precision.linear(head, hidden),
            None => self.precision.matmul(hidden, self.embed_tokens.weight.val().transpose().unsqueeze::<D>()),
        }
    }

    /// Token ids [batch, new] → logits [batch, new, vocab], through the cache.
    pub fn forward(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let hidden = self.decode(self.embed(tokens), cache);
        self.logits(hidden)
    }

    /// Rotary tables and mask for `new` positions after `cached` ones. Row b's position at
    /// index i is i − pads[b] (its pads all sit at 0); a pad sees itself only, so that its
    /// softmax has a key, and no real position sees a pad.
    fn positions(&self, cached: usize, new: usize, pads: &[usize], device: &Device) -> Positions {
        let seen = cached + new;
        let masked = |pad: usize| {
            (0..new).flat_map(move |i| {
                let query = cached + i;
                (0..seen).map(move |key| {
                    let padding = key < pad && key != query;
                    padding || key > query || self.sliding_window.is_some_and(|w| query - key >= w)
                })
            })
        };
        if pads.is_empty() {
            let (cos, sin) = self.rope.tables(cached, new, device);
            let mask = Tensor::<3, Bool>::from_data(TensorData::new(masked(0).collect(), [1, new, seen]), device);
            return Positions { cos: cos.unsqueeze(), sin: sin.unsqueeze(), mask, precision: self.precision };
        }
        let batch = pads.len();
        let (cos, sin) = self.rope.tables(0, seen, device);
        let at: Vec<i64> = pads.iter().flat_map(|&pad| (cached..seen).map(move |i| i.saturating_sub(pad) as i64)).collect();
        let at = Tensor::<1, Int>::from_data(TensorData::new(at, [batch * new]), device);
        let head_dim = cos.dims()[1];
        let per_row = |table: Tensor<2>| table.select(0, at.clone()).reshape([batch, 1, new, head_dim]);
        let mask: Vec<bool> = pads.iter().flat_map(|&pad| masked(pad)).collect();
        let mask = Tensor::<3, Bool>::from_data(TensorData::new(mask, [batch, new, seen]), device);
        Positions { cos: per_row(cos), sin: per_row(sin), mask, precision: self.precision }
    }
}
