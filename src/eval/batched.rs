//! Questions asked a batch at a time, each prompt run once. The prompts (image spliced in)
//! are left-padded into one batch and decoded once with the SVA's in-LLM aggregation; their
//! keys and values stay in the LLM's cache. Greedy generation goes on from that cache, each
//! row stopping on its own. For likelihood, each choice's answer tokens go on from the same
//! cache (the prompt's rows repeated once per choice, the answers right-padded into one
//! batch, without the SVA's hook: every image position is in the prompt), so the prompt is
//! not run again per choice as lmms-eval's harness runs it.
//!
//! Exactly what scoring each choice separately computes: a choice's tokens are those of its
//! whole conversation encoded on its own ([`crate::mllm::conversation::encode`], the same
//! ids training sees), and the prompt is shared only where that encoding begins with the
//! prompt's ids and has no target inside it. Where a tokenizer merges text across the end of
//! the prompt, the question's choices are scored on their own sequences instead (counted in
//! [`Answers::scored_separately`]). tests/shared_prefix.rs and tests/batched_eval.rs compare.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::llm::LlmError;
use crate::llm::generate::greedy_rows;
use crate::mllm::batch::{Side, Slot, shown_tokens, slots};
use crate::mllm::buckets::Buckets;
use crate::mllm::conversation::Encoded;
use crate::mllm::{Example, ImageEmbeddings, Mllm};

/// One question: the prompt generation continues, each choice's whole conversation, and its
/// image (an index into the batch's image embeddings) if shown.
pub struct Asked<'a> {
    pub prompt: &'a Encoded,
    pub answered: Vec<&'a Encoded>,
    pub image: Option<usize>,
}

pub struct Settings<'a> {
    pub max_length: usize,
    pub max_new_tokens: usize,
    pub eos_token_ids: &'a [u32],
    pub buckets: Buckets,
}

/// Per question: the generated ids, and per choice the summed log-probability of its answer
/// tokens.
pub struct Answers {
    pub generated: Vec<Vec<u32>>,
    pub log_likelihoods: Vec<Vec<f64>>,
    /// Questions whose choices did not begin with the prompt's ids.
    pub scored_separately: usize,
}

fn floats(t: Tensor<1>) -> Vec<f64> {
    t.into_data().convert::<f64>().try_into_vec::<f64>().expect("f64 after convert")
}

/// Asks `asked` at once; `vision` holds the images they show.
pub fn ask(
    model: &Mllm,
    asked: &[Asked],
    vision: Option<&ImageEmbeddings>,
    settings: &Settings,
    device: &Device,
) -> Result<Answers, LlmError> {
    let layout = |e: &Encoded, image: Option<usize>| slots(e, shown_tokens(image, vision), settings.max_length);
    if asked.iter().any(|a| layout(a.prompt, a.image).is_empty()) {
        return Err(LlmError::Generation("a prompt has no positions".into()));
    }
    let examples: Vec<Example> = asked.iter().map(|a| Example { encoded: a.prompt, image: a.image }).collect();
    let inputs = model.splice_padded(&examples, vision, settings.max_length, Side::Left, settings.buckets, device);
    let (hidden, cache) = model.prefill(&inputs);
    let [batch, positions, _] = hidden.dims();
    // Left padding: every prompt ends in the last column. [batch, 1, width]
    let last = hidden.narrow(1, positions - 1, 1);
    let logits: Vec<f32> =
        model.llm.logits(last.clone()).into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 after convert");
    let rows = logits.chunks(logits.len() / batch).map(<[f32]>::to_vec).collect();
    let generated =
        greedy_rows(&model.llm, &mut cache.clone(), rows, settings.max_new_tokens, settings.eos_token_ids, device, |_, _| {})?;

    // Per question: the choices' positions after the prompt, if the prompt is their prefix.
    let mut tails: Vec<Option<Vec<Vec<Slot>>>> = Vec::with_capacity(batch);
    for a in asked {
        let prompt = layout(a.prompt, a.image);
        let split = |e: &&Encoded| {
            let full = layout(e, a.image);
            let begins = full.len() >= prompt.len() && full.iter().zip(&prompt).all(|(f, p)| same_input(f, p));
            let inside = || full[1..prompt.len()].iter().any(|s| matches!(s, Slot::Text(_, true)));
            (begins && !inside()).then(|| full[prompt.len()..].to_vec())
        };
        tails.push(a.answered.iter().map(split).collect());
    }
    let mut log_likelihoods = vec![Vec::new(); batch];
    let shared: Vec<(usize, &Vec<Vec<Slot>>)> = tails.iter().enumerate().filter_map(|(q, t)| Some((q, t.as_ref()?))).collect();
    let scored = continuations(model, &shared, &cache, last, settings, device);
    for ((q, _), values) in shared.iter().zip(scored) {
        log_likelihoods[*q] = values;
    }
    let mut scored_separately = 0;
    for (q, a) in asked.iter().enumerate().filter(|(q, a)| tails[*q].is_none() && !a.answered.is_empty()) {
        let examples: Vec<Example> = a.answered.iter().map(|encoded| Example { encoded, image: a.image }).collect();
        let inputs = model.splice_padded(&examples, vision, settings.max_length, Side::Right, settings.buckets, device);
        log_likelihoods[q] = floats(model.target_nll(&inputs)).iter().map(|v| -v).collect();
        scored_separately += 1;
    }
    Ok(Answers { generated, log_likelihoods, scored_separately })
}

/// The same input at a position, whatever its target mark.
fn same_input(a: &Slot, b: &Slot) -> bool {
    match (a, b) {
        (Slot::Text(x, _), Slot::Text(y, _)) => x == y,
        (Slot::Image, Slot::Image) => true,
        _ => false,
    }
}

/// Per question of `shared` (its index in the batch, its choices' tokens after the prompt),
/// each choice's log-likelihood, from the prompts' `cache` and last hidden states `last`
/// [batch, 1, width].
fn continuations(
    model: &Mllm,
    shared: &[(usize, &Vec<Vec<Slot>>)],
    cache: &crate::llm::KvCache,
    last: Tensor<3>,
    settings: &Settings,
    device: &Device,
) -> Vec<Vec<f64>> {
    // One row per choice, after its question's prompt row.
    let rows: Vec<(usize, &Vec<Slot>)> = shared.iter().flat_map(|(q, tails)| tails.iter().map(move |t| (*q, t))).collect();
    if rows.is_empty() {
        return shared.iter().map(|_| Vec::new()).collect();
    }
    let longest = rows.iter().map(|(_, t)| t.len()).max().unwrap_or(0);
    let length = settings.buckets.length(longest.max(1), settings.max_length.max(longest));
    let (mut ids, mut target_rows, mut target_ids, mut target_examples) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (r, (_, tail)) in rows.iter().enumerate() {
        for j in 0..length {
            let id = match tail.get(j) {
                Some(Slot::Text(id, target)) => {
                    if *target {
                        // Predicted at the position before it: column j of [prompt's last, tail...].
                        target_rows.push((r * (length + 1) + j) as i64);
                        target_ids.push(*id as i64);
                        target_examples.push(r as i64);
                    }
                    *id
                }
                _ => 0,
            };
            ids.push(id as i64);
        }
    }
    let prompt_rows: Vec<usize> = rows.iter().map(|(q, _)| *q).collect();
    let index =
        Tensor::<1, Int>::from_data(TensorData::new(prompt_rows.iter().map(|&q| q as i64).collect(), [rows.len()]), device);
    let mut cache = cache.select_rows(&prompt_rows);
    // [choices, length] → [choices, length, width], then the prompt's last state in front.
    let tokens = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), length]), device);
    let tail = model.llm.decode(model.llm.embed(tokens), &mut cache);
    let hidden = Tensor::cat(vec![last.select(0, index), tail], 1);
    let count = target_ids.len();
    let int = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v, [count]), device);
    let nll = floats(model.nll_at(hidden, &int(target_rows), &int(target_ids), &int(target_examples)));
    let mut values = nll.into_iter().map(|v| -v);
    shared.iter().map(|(_, tails)| values.by_ref().take(tails.len()).collect()).collect()
}
