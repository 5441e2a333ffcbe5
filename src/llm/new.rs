//! A new Llama-architecture model, randomly initialised as transformers initialises one
//! (`LlmModel::new`), as a transformers folder
//! (`config.json`, `tokenizer.json`, `model.safetensors` in transformers' key names and
//! layouts), with a word-level tokenizer built from a corpus: the small LLM that tests and
//! the quick-start train from scratch, since no pretrained LLM can be downloaded there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use serde_json::{Value, json};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, PreTokenizedString, PreTokenizer, Tokenizer};

use super::chat::{Template, Turn};
use super::{LlmConfig, LlmError, LlmModel};
use crate::data::benchmark::{LETTER_SUFFIX, letter};
use crate::data::staging::Staging;

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
/// all). The vocabulary is every word and punctuation run of the text the model will read
/// in `corpus` ([`model_text`]), of the conversation templates and of the benchmark answer
/// instruction, most frequent first.
pub fn create(out: &Path, corpus: &[PathBuf], shape: &Shape, seed: u64, device: &Device) -> Result<(), LlmError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LlmError::Io { path, source }
    };
    let mut text = String::new();
    for path in corpus {
        text.push_str(&model_text(&std::fs::read_to_string(path).map_err(io(path))?));
        text.push('\n');
    }
    for template in [Template::VicunaV1, Template::Llama3, Template::Chatml, Template::Plain] {
        text.push_str(&template.render(&[Turn { user: "", assistant: Some("") }]));
    }
    let letters: Vec<String> = (0..6).map(|i| format!("({})", letter(i))).collect();
    text.push_str(&format!("\n{}\n{LETTER_SUFFIX}\n", letters.join(" ")));
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

/// What a model reads of a corpus file: the turns of a LLaVA JSON file (`conversations[*].value`),
/// the questions, choices and prompts of a benchmark JSONL, or else the whole text. Ids, image
/// paths and boxes stay out of the vocabulary.
fn model_text(file: &str) -> String {
    let strings = |value: &Value, key: &str| -> Vec<String> {
        match &value[key] {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    if let Ok(Value::Array(records)) = serde_json::from_str::<Value>(file) {
        let turns = records.iter().flat_map(|r| r["conversations"].as_array().into_iter().flatten());
        return turns.flat_map(|turn| strings(turn, "value")).collect::<Vec<_>>().join("\n");
    }
    let lines: Option<Vec<Value>> = file.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).ok()).collect();
    match lines {
        Some(items) if !items.is_empty() && items.iter().all(Value::is_object) => items
            .iter()
            .flat_map(|item| ["question", "choices", "prompt"].into_iter().flat_map(|key| strings(item, key)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => file.to_string(),
    }
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
        let corpus = dir.join("corpus.txt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&corpus, "a red square on a grey floor and a blue cube in front").unwrap();
        let shape = Shape { hidden_size: 64, intermediate_size: 128, layers: 1, heads: 4, kv_heads: 2, max_positions: 64 };
        let out = dir.join("llm");
        create(&out, &[corpus], &shape, 0, &Device::flex()).unwrap();
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

    /// Ids, image paths and boxes are not words the model reads.
    #[test]
    fn the_vocabulary_holds_what_the_model_reads() {
        let llava = r#"[{"id": "x-000017", "image": "train/000017.png", "conversations": [{"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Red."}]}]"#;
        let text = model_text(llava);
        assert!(text.contains("What colour?") && text.contains("Red.") && !text.contains("000017"), "{text}");
        let bench = "{\"idx\": 9, \"image\": \"img/2D/count/ade_9.png\", \"question\": \"How many chairs?\", \"choices\": [2, \"three\"], \"bbox\": [[1.5, 2.5]]}\n";
        let text = model_text(bench);
        assert!(text.contains("How many chairs?") && text.contains("three") && text.contains('2'), "{text}");
        assert!(!text.contains("ade_9") && !text.contains("1.5"), "{text}");
        assert_eq!(model_text("plain words here"), "plain words here");
    }
}
