//! A new, randomly initialised Llama-architecture model as a transformers folder
//! (`config.json`, `tokenizer.json`, `model.safetensors` in transformers' key names and
//! layouts), with a word-level tokenizer built from a corpus: the small LLM that tests and
//! the quick-start train from scratch, since no pretrained LLM can be downloaded there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde_json::json;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizedString, PreTokenizer, Tokenizer};

use super::chat::{Template, Turn};
use crate::data::staging::Staging;
use super::{LlmConfig, LlmError, LlmModel};

pub const UNK: &str = "<unk>";
pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";

pub struct Shape {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub max_positions: usize,
}

/// Writes the model folder `out` (which must not exist yet: it appears complete or not at
/// all). The vocabulary is every word and punctuation run of `corpus` (any text files: LLaVA
/// JSON, benchmark JSONL) and of the conversation templates, most frequent first.
pub fn create(out: &Path, corpus: &[PathBuf], shape: &Shape, seed: u64, device: &Device) -> Result<(), LlmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LlmError::Io { path, source }
    };
    let mut text = String::new();
    for path in corpus {
        text.push_str(&std::fs::read_to_string(path).map_err(io(path))?);
        text.push('\n');
    }
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
    let model = LlmModel::new(&llm_config, device);
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
