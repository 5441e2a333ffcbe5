//! A transformers `config.json` (and `generation_config.json`) → the runtime configuration.
//! Two layers, as candle's `LlamaConfig::into_config`: [`HfConfig`] mirrors the file with
//! `Option`s, [`LlmConfig`] holds every choice made, with transformers' defaults per
//! `model_type` (`LlamaConfig`, `Qwen2Config`, `MistralConfig`).
//!
//! RoPE parameters are read from transformers 5's `rope_parameters` or from the older
//! `rope_theta` + `rope_scaling` (null or absent: no scaling).

use std::path::Path;

use serde::{Deserialize, Deserializer};

use super::LlmError;
use crate::nn::rope::Llama3Scaling;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    /// Llama 1/2/3, Vicuna, Yi.
    Llama,
    /// Qwen2 and Qwen2.5: q/k/v biases.
    Qwen2,
    /// Mistral: an optional sliding attention window.
    Mistral,
}

/// One token id or several (Llama 3 lists its end-of-turn tokens).
#[derive(Deserialize)]
#[serde(untagged)]
enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    fn into_vec(self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![id],
            TokenIds::Many(ids) => ids,
        }
    }
}

#[derive(Deserialize)]
struct RopeParameters {
    rope_type: Option<String>,
    /// The pre-2024 spelling of `rope_type`.
    #[serde(rename = "type")]
    legacy_type: Option<String>,
    rope_theta: Option<f64>,
    factor: Option<f32>,
    low_freq_factor: Option<f32>,
    high_freq_factor: Option<f32>,
    original_max_position_embeddings: Option<usize>,
}

/// `config.json` as transformers writes it (the fields a Llama-family decoder reads).
#[derive(Deserialize)]
struct HfConfig {
    model_type: String,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RopeParameters>,
    rope_parameters: Option<RopeParameters>,
    max_position_embeddings: Option<usize>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    /// Absent (Mistral's default window, 4096) differs from `null` (no window).
    #[serde(default, deserialize_with = "present")]
    sliding_window: Option<Option<usize>>,
    use_sliding_window: Option<bool>,
    eos_token_id: Option<TokenIds>,
    initializer_range: Option<f64>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct GenerationConfig {
    eos_token_id: Option<TokenIds>,
}

/// The runtime configuration.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<Llama3Scaling>,
    pub tie_word_embeddings: bool,
    pub qkv_bias: bool,
    pub o_bias: bool,
    pub mlp_bias: bool,
    /// Keys further back than this many positions are masked (Mistral).
    pub sliding_window: Option<usize>,
    /// Generation stops after any of these.
    pub eos_token_ids: Vec<u32>,
    /// Standard deviation of a random initialisation's weights (transformers' default 0.02).
    pub initializer_range: f64,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LlmError> {
    let text = std::fs::read_to_string(path).map_err(|source| LlmError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|err| LlmError::Config { path: path.to_path_buf(), message: err.to_string() })
}

impl LlmConfig {
    /// Reads `dir/config.json`, and the end-of-sequence tokens from
    /// `dir/generation_config.json` when there is one (as `generate` does).
    pub fn from_dir(dir: &Path) -> Result<Self, LlmError> {
        let path = dir.join("config.json");
        let hf: HfConfig = read_json(&path)?;
        let error = |message: String| LlmError::Config { path: path.clone(), message };
        let mut config = hf.into_config().map_err(error)?;
        let generation = dir.join("generation_config.json");
        if generation.is_file() {
            let generation: GenerationConfig = read_json(&generation)?;
            if let Some(ids) = generation.eos_token_id {
                config.eos_token_ids = ids.into_vec();
            }
        }
        Ok(config)
    }
}

impl HfConfig {
    fn into_config(self) -> Result<LlmConfig, String> {
        let model_type = match self.model_type.as_str() {
            // Cambrian-1's `CambrianConfig` is a LlamaConfig with the connector's fields.
            "llama" | "cambrian_llama" => ModelType::Llama,
            "qwen2" => ModelType::Qwen2,
            "mistral" => ModelType::Mistral,
            other => return Err(format!("model_type `{other}` is not a supported LLM (llama, qwen2, mistral)")),
        };
        let act = self.hidden_act.as_deref().unwrap_or("silu");
        if act != "silu" {
            return Err(format!("hidden_act `{act}` is not supported (the SwiGLU MLP uses silu)"));
        }
        let heads = self.num_attention_heads;
        let kv_heads = self.num_key_value_heads.unwrap_or(heads);
        if heads == 0 || kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(format!("{heads} attention heads cannot be shared among {kv_heads} key/value heads"));
        }
        let head_dim = self.head_dim.unwrap_or(self.hidden_size / heads);
        if !head_dim.is_multiple_of(2) {
            return Err(format!("head_dim {head_dim} is odd; rotary embeddings rotate channel pairs"));
        }
        let (rope_theta, rope_scaling) = self.rope()?;
        let attention_bias = self.attention_bias.unwrap_or(false);
        let (qkv_bias, o_bias) = match model_type {
            ModelType::Qwen2 => (true, false),
            ModelType::Llama | ModelType::Mistral => (attention_bias, attention_bias),
        };
        let sliding_window = match model_type {
            ModelType::Mistral => self.sliding_window.unwrap_or(Some(4096)),
            ModelType::Qwen2 if self.use_sliding_window.unwrap_or(false) => {
                return Err("use_sliding_window = true (Qwen2's per-layer windows) is not supported".into());
            }
            ModelType::Qwen2 | ModelType::Llama => None,
        };
        Ok(LlmConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            layers: self.num_hidden_layers,
            heads,
            kv_heads,
            head_dim,
            rms_norm_eps: self.rms_norm_eps.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias: self.mlp_bias.unwrap_or(false),
            sliding_window,
            eos_token_ids: self.eos_token_id.map(TokenIds::into_vec).unwrap_or_default(),
            initializer_range: self.initializer_range.unwrap_or(0.02),
        })
    }

    /// theta and the optional llama3 scaling, from either generation of config fields.
    fn rope(&self) -> Result<(f64, Option<Llama3Scaling>), String> {
        let params = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref());
        let theta = params.and_then(|p| p.rope_theta).or(self.rope_theta).unwrap_or(10_000.0);
        let Some(p) = params else { return Ok((theta, None)) };
        match p.rope_type.as_deref().or(p.legacy_type.as_deref()).unwrap_or("default") {
            "default" => Ok((theta, None)),
            "llama3" => {
                let need = |value: Option<f32>, name: &str| value.ok_or_else(|| format!("llama3 rope scaling needs `{name}`"));
                let original = p
                    .original_max_position_embeddings
                    .or(self.max_position_embeddings)
                    .ok_or("llama3 rope scaling needs `original_max_position_embeddings`")?;
                let scaling = Llama3Scaling {
                    factor: need(p.factor, "factor")?,
                    low_freq_factor: need(p.low_freq_factor, "low_freq_factor")?,
                    high_freq_factor: need(p.high_freq_factor, "high_freq_factor")?,
                    original_max_position_embeddings: original as f32,
                };
                Ok((theta, Some(scaling)))
            }
            other => Err(format!("rope type `{other}` is not supported (default, llama3)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<LlmConfig, String> {
        serde_json::from_str::<HfConfig>(json).map_err(|e| e.to_string())?.into_config()
    }

    const BASE: &str = r#""vocab_size": 10, "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 4"#;

    #[test]
    fn old_style_llama3_scaling_and_null_scaling_parse() {
        let c = parse(&format!(
            r#"{{"model_type": "llama", {BASE}, "rope_theta": 500000.0, "rope_scaling": {{"rope_type": "llama3",
            "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}}}"#
        ))
        .unwrap();
        assert_eq!(c.rope_theta, 500000.0);
        assert_eq!(c.rope_scaling.unwrap().factor, 8.0);
        let c = parse(&format!(r#"{{"model_type": "llama", {BASE}, "rope_scaling": null}}"#)).unwrap();
        assert!(c.rope_scaling.is_none());
        assert_eq!(c.rope_theta, 10_000.0);
        assert_eq!(c.kv_heads, 4);
    }

    #[test]
    fn unknown_rope_type_and_model_type_are_named() {
        let err = parse(&format!(r#"{{"model_type": "llama", {BASE}, "rope_scaling": {{"type": "yarn", "factor": 4.0}}}}"#))
            .unwrap_err();
        assert!(err.contains("rope type `yarn` is not supported"), "{err}");
        let err = parse(&format!(r#"{{"model_type": "gpt2", {BASE}}}"#)).unwrap_err();
        assert!(err.contains("model_type `gpt2`"), "{err}");
    }

    #[test]
    fn mistral_window_defaults_to_4096_unless_null() {
        let c = parse(&format!(r#"{{"model_type": "mistral", {BASE}}}"#)).unwrap();
        assert_eq!(c.sliding_window, Some(4096));
        let c = parse(&format!(r#"{{"model_type": "mistral", {BASE}, "sliding_window": null}}"#)).unwrap();
        assert_eq!(c.sliding_window, None);
    }
}
