//! Multiple-choice evaluation of a trained probe with the two scorers the study's numbers
//! can come from, both recorded per question:
//! - generation: greedy decoding after the prompt (image, question, lettered choices,
//!   Cambrian's letter suffix) and the answer read by `extract_mcq_answer`;
//! - likelihood: each choice's letter as the answer, ranked by the summed log-probability of
//!   its answer tokens (the training loss's tokens, end separator included).
//!
//! The image is the item's, a flat mean-colour image, or none (vision disabled). An item whose
//! image cannot be read is scored wrong by both scorers and listed in `unreadable`.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::answer::read_answer;
use crate::data::benchmark::{Benchmark, Category, Score, letter};
use crate::data::llava::Turn;
use crate::data::vision::ImageMode;
use crate::features::{FeatureError, FeatureSource};
use crate::llm::chat::Template;
use crate::llm::generate::greedy_from_embeddings;
use crate::llm::tokenizer::LlmTokenizer;
use crate::llm::{LayerHook, LlmError};
use crate::mllm::conversation::encode;
use crate::mllm::{Example, Mllm};
use crate::progress::Progress;

pub struct Options<'a> {
    pub template: Template,
    pub max_length: usize,
    pub max_new_tokens: usize,
    pub mode: ImageMode,
    /// Where image features come from (`LoadedRun::features`).
    pub features: &'a dyn FeatureSource,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    pub id: String,
    /// The right letter.
    pub answer: char,
    pub reply: String,
    /// The letter read from the reply, if any.
    pub generation: Option<char>,
    pub likelihood: Option<char>,
    /// Per choice, the answer's summed log-probability.
    pub log_likelihoods: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub benchmark: String,
    pub category: Category,
    pub mode: ImageMode,
    pub questions: usize,
    pub chance: f64,
    pub generation: Score,
    pub likelihood: Score,
    pub unreadable: Vec<String>,
    pub items: Vec<ItemResult>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Features(#[from] FeatureError),
    #[error(transparent)]
    Mllm(#[from] crate::mllm::MllmError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
}

/// The file a report is kept in, inside `RUN/eval/`: `BENCHMARK.MODE.json`.
pub fn report_file(benchmark: &str, mode: ImageMode) -> String {
    format!("{benchmark}.{}.json", mode.name())
}

pub fn evaluate(
    model: &Mllm,
    tokenizer: &LlmTokenizer,
    eos_token_ids: &[u32],
    benchmark: &Benchmark,
    options: &Options,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Report, EvalError> {
    let mut items = Vec::with_capacity(benchmark.items.len());
    let mut unreadable = Vec::new();
    progress.start(benchmark.items.len() as u64, "questions");
    for item in &benchmark.items {
        let image = match options.mode.load(&item.image) {
            Ok(image) => image,
            Err(err) => {
                tracing::warn!("{}: {err}", item.id);
                unreadable.push(item.id.clone());
                items.push(ItemResult {
                    id: item.id.clone(),
                    answer: letter(item.answer),
                    reply: String::new(),
                    generation: None,
                    likelihood: None,
                    log_likelihoods: Vec::new(),
                });
                progress.advance(1);
                continue;
            }
        };
        let images: Vec<&image::RgbImage> = image.iter().collect();
        let shown = image.as_ref().map(|_| 0);
        let prompt = item.full_prompt();
        let turn = |answer: String| Turn { prompt: prompt.clone(), answer };

        // The image is encoded once, for both scorers.
        let vision = match images.is_empty() {
            true => None,
            false => Some(model.image_embeddings(&images, options.features, device)?),
        };
        let prefix = encode(tokenizer, options.template, &[turn(String::new())], shown.is_some())?;
        let inputs = model.splice(&[Example { encoded: &prefix, image: shown }], vision.as_ref(), options.max_length, device);
        let hook = model.aggregation(&inputs);
        let hook = hook.as_ref().map(|h| h as &dyn LayerHook);
        let generated =
            greedy_from_embeddings(&model.llm, inputs.embeds.clone(), hook, options.max_new_tokens, eos_token_ids, device)?;
        let reply = tokenizer.decode(&generated)?;
        let generation = read_answer(&reply, item.choices.len()).map(letter);

        let answered = (0..item.choices.len())
            .map(|j| encode(tokenizer, options.template, &[turn(letter(j).to_string())], shown.is_some()))
            .collect::<Result<Vec<_>, _>>()?;
        let examples: Vec<Example> = answered.iter().map(|encoded| Example { encoded, image: shown }).collect();
        let inputs = model.splice(&examples, vision.as_ref(), options.max_length, device);
        let nll: Vec<f64> =
            model.target_nll(&inputs).into_data().convert::<f64>().try_into_vec::<f64>().expect("f64 after convert");
        let log_likelihoods: Vec<f64> = nll.iter().map(|v| -v).collect();
        let best =
            (0..log_likelihoods.len()).fold(0, |best, j| if log_likelihoods[j] > log_likelihoods[best] { j } else { best });

        items.push(ItemResult {
            id: item.id.clone(),
            answer: letter(item.answer),
            reply,
            generation,
            likelihood: Some(letter(best)),
            log_likelihoods,
        });
        progress.advance(1);
    }
    progress.finish();
    let index = |c: Option<char>| c.map(|c| c as usize - 'A' as usize);
    let generation: Vec<Option<usize>> = items.iter().map(|r| index(r.generation)).collect();
    let likelihood: Vec<Option<usize>> = items.iter().map(|r| index(r.likelihood)).collect();
    Ok(Report {
        benchmark: benchmark.name.clone(),
        category: benchmark.category,
        mode: options.mode,
        questions: items.len(),
        chance: benchmark.random_baseline().value,
        generation: benchmark.score(&generation)?,
        likelihood: benchmark.score(&likelihood)?,
        unreadable,
        items,
    })
}
