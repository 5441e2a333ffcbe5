//! Multiple-choice evaluation of a trained probe with the two scorers the study's numbers
//! can come from, both recorded per question:
//! - generation: greedy decoding after the prompt (image, question, lettered choices,
//!   Cambrian's letter suffix) and the answer read by `extract_mcq_answer`;
//! - likelihood: each choice's letter as the answer, ranked by the summed log-probability of
//!   its answer tokens (the training loss's tokens, end separator included).
//!
//! The image is the item's, a flat mean-colour image, or none (vision disabled). An item whose
//! image cannot be read is scored wrong by both scorers and listed in `unreadable`. An item
//! that `max_length` cuts into (part of its image, or of a choice's answer tokens, beyond it)
//! is listed in `degraded`: its likelihoods miss those tokens (with the answer gone every
//! choice scores 0 and A wins). A benchmark with more than 1% of its items degraded is not
//! scored unless asked.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::answer::read_answer;
use crate::data::benchmark::{Benchmark, Category, Item, Score, letter};
use crate::data::llava::Turn;
use crate::data::vision::ImageMode;
use crate::features::{FeatureError, FeatureSource};
use crate::llm::chat::Template;
use crate::llm::generate::greedy_from_embeddings;
use crate::llm::tokenizer::LlmTokenizer;
use crate::llm::{LayerHook, LlmError};
use crate::mllm::batch::targets_within;
use crate::mllm::conversation::{Encoded, encode};
use crate::mllm::{Example, Mllm};
use crate::progress::Progress;

pub struct Options<'a> {
    pub template: Template,
    pub max_length: usize,
    pub max_new_tokens: usize,
    pub mode: ImageMode,
    /// Where image features come from (`LoadedRun::features`).
    pub features: &'a dyn FeatureSource,
    /// Score even when more than 1% of the items are degraded by `max_length`.
    pub allow_degraded: bool,
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
    /// Items whose image or answer tokens `max_length` cut (absent from older reports).
    #[serde(default)]
    pub degraded: Vec<String>,
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
    #[error(
        "{benchmark} ({mode}): {degraded} of {questions} questions lose image or answer tokens at max_length \
         {max_length} (first: item {first}), more than 1%; not scored (`eval --allow-degraded`, or \
         `allow_degraded = true` in the sweep's [[benchmarks]] entry, scores them as they are)"
    )]
    Degraded { benchmark: String, mode: &'static str, degraded: usize, questions: usize, first: String, max_length: usize },
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
    let shows_image = options.mode != ImageMode::NoImage;
    let texts = benchmark
        .items
        .iter()
        .map(|item| Texts::new(tokenizer, options.template, item, shows_image))
        .collect::<Result<Vec<_>, _>>()?;
    let image_tokens = if shows_image { model.connector.image_tokens() } else { 0 };
    let degraded = degraded(benchmark, &texts, image_tokens, options)?;
    let mut items = Vec::with_capacity(benchmark.items.len());
    let mut unreadable = Vec::new();
    progress.start(benchmark.items.len() as u64, "questions");
    for (item, texts) in benchmark.items.iter().zip(&texts) {
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

        // The image is encoded once, for both scorers.
        let vision = match images.is_empty() {
            true => None,
            false => Some(model.image_embeddings(&images, options.features, device)?),
        };
        let inputs =
            model.splice(&[Example { encoded: &texts.prefix, image: shown }], vision.as_ref(), options.max_length, device);
        let hook = model.aggregation(&inputs);
        let hook = hook.as_ref().map(|h| h as &dyn LayerHook);
        let generated =
            greedy_from_embeddings(&model.llm, inputs.embeds.clone(), hook, options.max_new_tokens, eos_token_ids, device)?;
        let reply = tokenizer.decode(&generated)?;
        let generation = read_answer(&reply, item.choices.len()).map(letter);

        let examples: Vec<Example> = texts.answered.iter().map(|encoded| Example { encoded, image: shown }).collect();
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
        degraded,
        items,
    })
}

/// The items that `max_length` cuts into; an error when they are more than 1% and degraded
/// scoring was not asked for.
fn degraded(benchmark: &Benchmark, texts: &[Texts], image_tokens: usize, options: &Options) -> Result<Vec<String>, EvalError> {
    let degraded: Vec<String> = benchmark
        .items
        .iter()
        .zip(texts)
        .filter(|(_, texts)| texts.degraded(image_tokens, options.max_length))
        .map(|(item, _)| item.id.clone())
        .collect();
    if degraded.len() * 100 <= benchmark.items.len() || options.allow_degraded {
        return Ok(degraded);
    }
    Err(EvalError::Degraded {
        benchmark: benchmark.name.clone(),
        mode: options.mode.name(),
        degraded: degraded.len(),
        questions: benchmark.items.len(),
        first: degraded[0].clone(),
        max_length: options.max_length,
    })
}

/// An item's texts as the model reads them: the prompt to continue (generation), and the
/// prompt answered with each choice's letter (likelihood).
struct Texts {
    prefix: Encoded,
    answered: Vec<Encoded>,
}

impl Texts {
    fn new(tokenizer: &LlmTokenizer, template: Template, item: &Item, image: bool) -> Result<Self, LlmError> {
        let prompt = item.full_prompt();
        let turn = |answer: String| [Turn { prompt: prompt.clone(), answer }];
        let prefix = encode(tokenizer, template, &turn(String::new()), image)?;
        let answered = (0..item.choices.len())
            .map(|j| encode(tokenizer, template, &turn(letter(j).to_string()), image))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { prefix, answered })
    }

    /// Whether `max_length` cuts the image (of `image_tokens` positions) or a choice's answer.
    fn degraded(&self, image_tokens: usize, max_length: usize) -> bool {
        let image_cut = self.prefix.image_at.is_some_and(|at| at + image_tokens > max_length);
        image_cut || self.answered.iter().any(|e| targets_within(e, image_tokens, max_length) < e.target_count())
    }
}
