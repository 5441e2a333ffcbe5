//! Greedy decoding through the KV cache, as transformers' `generate(do_sample=False)`: the
//! prompt is run once, then one token at a time; the highest logit wins (the first on a
//! tie, like `argmax`); generation stops after an end-of-sequence token or `max_new_tokens`.
//! Optionally keeps the logits of every prompt position and every step, which
//! [`write_logits`] saves as safetensors. [`greedy_rows`] decodes a batch of prompts already
//! in a cache, each row stopping on its own, every row computing what it would alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::LlmError;
use super::model::{KvCache, LlmModel};

pub struct Generation {
    pub prompt_ids: Vec<u32>,
    /// The continuation, ending with the end-of-sequence token if one was produced.
    pub generated_ids: Vec<u32>,
    pub vocab_size: usize,
    /// Row-major [prompt tokens, vocab]; empty unless logits were kept.
    pub prompt_logits: Vec<f32>,
    /// Row-major [generated tokens, vocab]: the logits each generated token was chosen from;
    /// empty unless logits were kept.
    pub step_logits: Vec<f32>,
    /// Wall time of the forward pass over the prompt (logits read back), and of the steps after.
    pub prefill_secs: f64,
    pub decode_secs: f64,
}

fn to_vec(logits: Tensor<3>) -> Result<Vec<f32>, LlmError> {
    logits
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|err| LlmError::Generation(format!("reading logits back from the device: {err:?}")))
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best as u32
}

pub fn greedy(
    model: &LlmModel,
    prompt_ids: &[u32],
    max_new_tokens: usize,
    eos_token_ids: &[u32],
    keep_logits: bool,
    device: &Device,
) -> Result<Generation, LlmError> {
    if prompt_ids.is_empty() {
        return Err(LlmError::Generation("the prompt encodes to no tokens".into()));
    }
    let tokens = |ids: &[u32]| {
        let data: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
        Tensor::<2, Int>::from_data(TensorData::new(data, [1, ids.len()]), device)
    };
    let mut cache = model.new_cache();
    let started = Instant::now();
    // [prompt tokens × vocab]
    let logits = to_vec(model.forward(tokens(prompt_ids), &mut cache))?;
    let prefill_secs = started.elapsed().as_secs_f64();
    let vocab_size = logits.len() / prompt_ids.len();
    let last = logits[logits.len() - vocab_size..].to_vec();
    let mut generation = Generation {
        prompt_ids: prompt_ids.to_vec(),
        generated_ids: Vec::new(),
        vocab_size,
        prompt_logits: if keep_logits { logits } else { Vec::new() },
        step_logits: Vec::new(),
        prefill_secs,
        decode_secs: 0.0,
    };
    let decoding = Instant::now();
    let mut step_logits = Vec::new();
    let mut rows = greedy_rows(model, &mut cache, vec![last], max_new_tokens, eos_token_ids, device, |_, logits| {
        if keep_logits {
            step_logits.extend_from_slice(logits);
        }
    })?;
    generation.generated_ids = rows.remove(0);
    generation.step_logits = step_logits;
    generation.decode_secs = decoding.elapsed().as_secs_f64();
    Ok(generation)
}

/// Writes `prompt_ids` [T] i64, `prompt_logits` [T, V] f32, `generated_ids` [N] i64 and
/// `step_logits` [N, V] f32 atomically.
pub fn write_logits(path: &Path, generation: &Generation, metadata: BTreeMap<String, String>) -> Result<(), LlmError> {
    let ids = |ids: &[u32]| -> Vec<u8> { ids.iter().flat_map(|&id| (id as i64).to_le_bytes()).collect() };
    let floats = |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
    let (prompt, generated) = (generation.prompt_ids.len(), generation.generated_ids.len());
    let vocab = generation.vocab_size;
    let buffers = [
        ("prompt_ids", Dtype::I64, vec![prompt], ids(&generation.prompt_ids)),
        ("prompt_logits", Dtype::F32, vec![prompt, vocab], floats(&generation.prompt_logits)),
        ("generated_ids", Dtype::I64, vec![generated], ids(&generation.generated_ids)),
        ("step_logits", Dtype::F32, vec![generated, vocab], floats(&generation.step_logits)),
    ];
    let mut views = Vec::new();
    for (name, dtype, shape, bytes) in &buffers {
        let view = TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|err| LlmError::Generation(format!("{name}: {err} (were the logits kept?)")))?;
        views.push((*name, view));
    }
    let bytes = crate::weights::sorted::serialize(views, metadata).map_err(LlmError::Generation)?;
    crate::atomic::write(path, &bytes).map_err(|source| LlmError::Io { path: path.to_path_buf(), source })
}

/// The decoding loop over a batch: row b picks from `last[b]` (the logits after its prompt,
/// whose keys and values are in `cache`, one row each), feeds the pick back through the
/// cache, and stops at an end-of-sequence token or after `max_new_tokens`; finished rows
/// leave the batch (and the cache). `on_step` sees the row and the logits each token was
/// picked from. Per row: the generated ids, ending with the end-of-sequence token if one came.
pub fn greedy_rows(
    model: &LlmModel,
    cache: &mut KvCache,
    mut last: Vec<Vec<f32>>,
    max_new_tokens: usize,
    eos_token_ids: &[u32],
    device: &Device,
    mut on_step: impl FnMut(usize, &[f32]),
) -> Result<Vec<Vec<u32>>, LlmError> {
    let mut generated = vec![Vec::new(); last.len()];
    // The rows still generating, as indices into `generated`, in the cache's row order.
    let mut active: Vec<usize> = (0..last.len()).collect();
    for step in 0..max_new_tokens {
        let (mut kept, mut tokens) = (Vec::new(), Vec::new());
        for (j, &row) in active.iter().enumerate() {
            let next = argmax(&last[j]);
            generated[row].push(next);
            on_step(row, &last[j]);
            if !eos_token_ids.contains(&next) && step + 1 < max_new_tokens {
                kept.push(j);
                tokens.push(next as i64);
            }
        }
        if kept.is_empty() {
            break;
        }
        if kept.len() < active.len() {
            *cache = cache.select_rows(&kept);
            active = kept.iter().map(|&j| active[j]).collect();
        }
        let token = Tensor::<2, Int>::from_data(TensorData::new(tokens, [kept.len(), 1]), device);
        let logits = to_vec(model.forward(token, cache))?;
        let vocab = logits.len() / kept.len();
        last = logits.chunks(vocab).map(<[f32]>::to_vec).collect();
    }
    Ok(generated)
}
