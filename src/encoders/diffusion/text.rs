//! The checkpoint's own CLIP text encoder (transformers `CLIPTextModel`; OpenCLIP ViT-H's
//! text tower in Stable Diffusion 2.x) and the token ids of the empty prompt.
//!
//! The pipeline's `encode_prompt([""])` with no `clip_skip` gives `last_hidden_state`: token
//! and position embeddings, pre-norm causal blocks, `final_layer_norm`. No attention mask
//! (the SD 2.x text config sets no `use_attention_mask`), so padding tokens are encoded too.

use std::collections::HashMap;
use std::path::Path;

use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::Value;

use super::config::TextConfig;
use crate::encoders::EncoderError;
use crate::nn::attention::SelfAttention;
use crate::nn::mlp::{Act, Mlp};

#[derive(Module, Debug)]
pub struct Embeddings {
    pub token_embedding: Embedding,
    pub position_embedding: Embedding,
}

#[derive(Module, Debug)]
pub struct Layer {
    pub layer_norm1: LayerNorm,
    /// q, k and v fused on loading.
    pub self_attn: SelfAttention,
    pub layer_norm2: LayerNorm,
    pub mlp: Mlp,
}

#[derive(Module, Debug)]
pub struct TextEncoder {
    pub embeddings: Embeddings,
    pub layers: Vec<Layer>,
    pub final_layer_norm: LayerNorm,
}

impl TextEncoder {
    pub fn new(config: &TextConfig, device: &Device) -> Result<Self, EncoderError> {
        let hidden = config.hidden_size;
        let act = Act::from_hf(&config.hidden_act)
            .ok_or_else(|| EncoderError::Config(format!("text encoder: hidden_act `{}` is not supported", config.hidden_act)))?;
        let norm = || LayerNormConfig::new(hidden).with_epsilon(config.layer_norm_eps).init(device);
        Ok(Self {
            embeddings: Embeddings {
                token_embedding: EmbeddingConfig::new(config.vocab_size, hidden).init(device),
                position_embedding: EmbeddingConfig::new(config.max_position_embeddings, hidden).init(device),
            },
            layers: (0..config.num_hidden_layers)
                .map(|_| Layer {
                    layer_norm1: norm(),
                    self_attn: SelfAttention::new(hidden, config.num_attention_heads, true, device),
                    layer_norm2: norm(),
                    mlp: Mlp::new(hidden, config.intermediate_size, act, device),
                })
                .collect(),
            final_layer_norm: norm(),
        })
    }

    /// `last_hidden_state` of one prompt. ids [length] → [1, length, hidden]
    pub fn forward(&self, ids: &[i64]) -> Tensor<3> {
        let device = self.final_layer_norm.gamma.device();
        let positions: Vec<i64> = (0..ids.len() as i64).collect();
        let as_tensor =
            |values: &[i64]| Tensor::<2, Int>::from_data(TensorData::new(values.to_vec(), [1, values.len()]), &device);
        let mut x = self.embeddings.token_embedding.forward(as_tensor(ids))
            + self.embeddings.position_embedding.forward(as_tensor(&positions));
        for layer in &self.layers {
            x = x.clone() + layer.self_attn.forward_causal(layer.layer_norm1.forward(x));
            x = x.clone() + layer.mlp.forward(layer.layer_norm2.forward(x));
        }
        self.final_layer_norm.forward(x)
    }
}

/// The empty prompt as the pipeline tokenizes it (`padding="max_length"`,
/// `max_length=model_max_length`): BOS, EOS, then the pad token up to the length. With no
/// text there is nothing for the BPE merges to act on, so only the special tokens, their ids
/// in `vocab.json` and the length are read. `special_tokens_map.json` overrides
/// `tokenizer_config.json` where both name a token, as transformers applied them when the
/// checkpoint was made (Stable Diffusion 2.x pads with `!`, id 0).
pub fn empty_prompt_ids(tokenizer_dir: &Path) -> Result<Vec<i64>, EncoderError> {
    let read = |name: &str| -> Result<Option<Value>, EncoderError> {
        let path = tokenizer_dir.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|source| EncoderError::Io { path: path.clone(), source })?;
        serde_json::from_str(&text).map(Some).map_err(|err| tokenizer_error(&path, err.to_string()))
    };
    let config_path = tokenizer_dir.join("tokenizer_config.json");
    let config = read("tokenizer_config.json")?.ok_or_else(|| tokenizer_error(&config_path, "missing".into()))?;
    let special = read("special_tokens_map.json")?.unwrap_or(Value::Null);
    let vocab_path = tokenizer_dir.join("vocab.json");
    let vocab: HashMap<String, i64> =
        serde_json::from_value(read("vocab.json")?.ok_or_else(|| tokenizer_error(&vocab_path, "missing".into()))?)
            .map_err(|err| tokenizer_error(&vocab_path, err.to_string()))?;

    // A token is a string or an AddedToken object {"content": ...}; CLIPTokenizer's defaults
    // apply where neither file names it.
    let token = |key: &str, default: &str| -> String {
        let content = |v: &Value| v.as_str().or_else(|| v["content"].as_str()).map(str::to_string);
        content(&special[key]).or_else(|| content(&config[key])).unwrap_or_else(|| default.to_string())
    };
    let id = |key: &str, default: &str| -> Result<i64, EncoderError> {
        let token = token(key, default);
        vocab.get(&token).copied().ok_or_else(|| tokenizer_error(&vocab_path, format!("has no entry for the {key} `{token}`")))
    };
    let length = config["model_max_length"]
        .as_u64()
        .ok_or_else(|| tokenizer_error(&config_path, "no integer model_max_length".into()))? as usize;
    if length < 2 {
        return Err(tokenizer_error(&config_path, format!("model_max_length {length} cannot hold BOS and EOS")));
    }
    let mut ids = vec![id("bos_token", "<|startoftext|>")?, id("eos_token", "<|endoftext|>")?];
    ids.resize(length, id("pad_token", "<|endoftext|>")?);
    Ok(ids)
}

/// Without tokenizer files (random weights): CLIP's convention, where BOS and EOS are the last
/// two ids of the vocabulary and EOS pads (CLIPTokenizer's default pad token).
pub fn clip_default_ids(config: &TextConfig) -> Vec<i64> {
    let eos = config.vocab_size as i64 - 1;
    let mut ids = vec![eos - 1, eos];
    ids.resize(config.max_position_embeddings, eos);
    ids
}

fn tokenizer_error(path: &Path, message: String) -> EncoderError {
    EncoderError::Spec { origin: path.display().to_string(), message }
}
