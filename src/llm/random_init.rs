//! A new Llama-architecture model, randomly initialised as transformers initialises one
//! (`LlmModel::new`), as a transformers folder
//! (`config.json`, `tokenizer.json`, `model.safetensors` in transformers' key names and
//! layouts), with a word-level tokenizer built from the text it will read
//! ([`crate::data::corpus`]): the small LLM that tests and the quick-start train from scratch,
//! since no pretrained LLM can be downloaded there.

use std::collections::BTreeMap;
use std::path::Path;

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde_json::json;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizedString, PreTokenizer, Tokenizer};

use super::chat::{Template, Turn};
use super::{LlmConfig, LlmError, LlmModel};
use crate::atomic::Staging;

pub const UNK: &str = "<unk>";
pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub max_positions: usize,
}

/// The shape flags of the commands that make a random-init Llama (`init-llm`, `bench train`,
/// `bench generate`); a flag left out takes the command's default shape, named in its help.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ShapeArgs {
    /// Width of the hidden states.
    #[arg(long)]
    pub hidden_size: Option<usize>,
    /// Inner width of the MLP.
    #[arg(long)]
    pub intermediate_size: Option<usize>,
    /// Decoder layers.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Attention heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Key/value heads (fewer than `heads`: grouped-query attention).
    #[arg(long)]
    pub kv_heads: Option<usize>,
}

impl ShapeArgs {
    /// `default` with the flags given.
    pub fn or(&self, default: Shape) -> Shape {
        Shape {
            hidden_size: self.hidden_size.unwrap_or(default.hidden_size),
            intermediate_size: self.intermediate_size.unwrap_or(default.intermediate_size),
            layers: self.layers.unwrap_or(default.layers),
            heads: self.heads.unwrap_or(default.heads),
            kv_heads: self.kv_heads.unwrap_or(default.kv_heads),
            max_positions: default.max_positions,
        }
    }
}

/// Writes the model folder `out` (which must not exist yet: it appears complete or not at
/// all). The vocabulary is every word and punctuation run of `corpus` (the text the model
/// will read) and of the conversation templates, most frequent first.
pub fn create(out: &Path, corpus: &str, shape: &Shape, seed: u64, device: &Device) -> Result<(), LlmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LlmError::Io { path, source }
    };
    let mut text = corpus.to_string();
    for template in [Template::VicunaV1, Template::Llama3, Template::Chatml, Template::Plain] {
        text.push_str(&template.render(&[Turn { user: "", assistant: Some("") }]));
    }
    let tokenizer = word_tokenizer(&text).map_err(|message| LlmError::Tokenizer { path: out.join("tokenizer.json"), message })?;
    let vocab_size = tokenizer.get_vocab_size(true);
    let id = |token| tokenizer.token_to_id(token).expect("a special token of the vocabulary");
    let config = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "max_position_embeddings": shape.max_positions,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": false,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": id(BOS),
        "eos_token_id": id(EOS),
        "pad_token_id": id(UNK),
        "initializer_range": 0.02,
        "torch_dtype": "float32",
    });

    let staging = Staging::new(out)?;
    let staged = staging.path();
    let config_path = staged.join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).expect("json")).map_err(io(&config_path))?;
    let tokenizer_path = staged.join("tokenizer.json");
    tokenizer
        .save(&tokenizer_path, true)
        .map_err(|err| LlmError::Tokenizer { path: tokenizer_path.clone(), message: err.to_string() })?;

    let llm_config = LlmConfig::from_dir(staged)?;
    device.seed(seed);
    let model = LlmModel::new(&llm_config, device).zero_embedding_row(id(UNK) as usize);
    let weights = staged.join("model.safetensors");
    let mut store = SafetensorsStore::from_file(&weights)
        .with_to_adapter(BurnToPyTorchAdapter)
        .with_key_remapping(r"^(embed_tokens|layers|norm)\.", "model.$1.");
    model
        .save_into(&mut store)
        .map_err(|err| LlmError::Config { path: weights.clone(), message: format!("cannot write: {err:?}") })?;
    Ok(staging.commit()?)
}

/// A word-level tokenizer over `text`'s words and punctuation runs (the `Whitespace`
/// pre-tokenizer's pieces), with `<unk>`, `<s>` (prepended to every encoding, as Llama's
/// tokenizer does) and `</s>` as special tokens.
fn word_tokenizer(text: &str) -> Result<Tokenizer, String> {
    let mut pieces = PreTokenizedString::from(text);
    Whitespace.pre_tokenize(&mut pieces).map_err(|err| err.to_string())?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (piece, _, _) in pieces.get_splits(tokenizers::OffsetReferential::Original, tokenizers::OffsetType::Byte) {
        *counts.entry(piece.to_string()).or_default() += 1;
    }
    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let specials = [UNK, BOS, EOS];
    let vocab = specials
        .iter()
        .map(|s| s.to_string())
        .chain(words.into_iter().map(|(w, _)| w).filter(|w| !specials.contains(&w.as_str())))
        .enumerate()
        .map(|(i, w)| (w, i as u32))
        .collect();
    let model = WordLevel::builder().vocab(vocab).unk_token(UNK.to_string()).build().map_err(|err| err.to_string())?;
    let post = TemplateProcessing::builder()
        .try_single(format!("{BOS} $A"))
        .map_err(|err| err.to_string())?
        .special_tokens(vec![(BOS, 1)])
        .build()
        .map_err(|err| err.to_string())?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace)).with_post_processor(Some(post));
    tokenizer.add_special_tokens(&specials.map(|s| AddedToken::from(s, true)));
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The written weights are transformers' initialisation: N(0, 0.02²) matrices, the
    /// padding row zero, norms one.
    #[test]
    fn a_new_model_is_initialised_as_transformers_initialises_one() {
        let dir = std::env::temp_dir().join(format!("cambrian-new-llm-{}", std::process::id()));
        let corpus = "a red square on a grey floor and a blue cube in front";
        let shape = Shape { hidden_size: 64, intermediate_size: 128, layers: 1, heads: 4, kv_heads: 2, max_positions: 64 };
        let out = dir.join("llm");
        create(&out, corpus, &shape, 0, &Device::flex()).unwrap();
        let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let values = |name: &str| -> Vec<f32> {
            let view = file.tensor(name).unwrap();
            view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
        };
        let std = |v: &[f32]| (v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        for name in ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight", "lm_head.weight"] {
            let s = std(&values(name));
            assert!((0.018..0.022).contains(&s), "{name}: std {s}");
        }
        let embed = values("model.embed_tokens.weight");
        assert!(embed[..64].iter().all(|v| *v == 0.0), "the padding row (<unk>, id 0) is zero");
        let s = std(&embed[64..]);
        assert!((0.018..0.022).contains(&s), "embeddings: std {s}");
        assert!(values("model.norm.weight").iter().all(|v| *v == 1.0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
