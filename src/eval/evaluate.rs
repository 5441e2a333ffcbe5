//! The evaluation of a trained probe on a benchmark's questions, per image mode, with the two
//! scorers the study's numbers can come from:
//! - generation: greedy decoding after the question's prompt (in the run's template), the
//!   reply judged by the benchmark's scorer;
//! - likelihood (multiple-choice benchmarks only): each choice's reply as the answer, the
//!   one with the highest summed log-probability of its answer tokens (the training loss's
//!   tokens, end separator included) judged by the same scorer. Open-ended benchmarks have
//!   none (`None` in the report, never 0).
//!
//! Questions go `batch_size` at a time through [`super::batched::ask`]: each prompt is run
//! once for both scorers, the choices continue from its cache, and the answers and scores
//! are those of one question at a time and of each choice scored on its own, to float
//! rounding (tests/shared_prefix.rs, tests/batched_eval.rs).
//!
//! The image is the question's, a flat mean-colour image, or none (vision disabled). A
//! question whose image cannot be decoded is scored wrong by both scorers and listed in
//! `unreadable`. A question that `max_length` cuts into (part of its image, or of a choice's
//! answer tokens, beyond it) is listed in `degraded`; a benchmark with more than 1% of its
//! questions degraded is not scored unless asked.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::batched::{Asked, Settings, ask};
use super::questions::{Questions, choice_reply};
use super::score::{ScoreError, Scored, Scorer};
use crate::data::benchmark::Category;
use crate::data::llava::Turn;
use crate::data::suite::Question;
use crate::data::vision::{ImageMode, mean_colour};
use crate::features::{FeatureError, FeatureSource};
use crate::llm::LlmError;
use crate::llm::chat::Template;
use crate::llm::tokenizer::LlmTokenizer;
use crate::mllm::Mllm;
use crate::mllm::batch::targets_within;
use crate::mllm::buckets::Buckets;
use crate::mllm::conversation::{Encoded, encode};
use crate::progress::Progress;

/// Tokens generated per answer where neither the user nor a preset says.
pub const DEFAULT_NEW_TOKENS: usize = 16;

/// Questions asked at once where the user does not say (docs/PERFORMANCE.md, `bench eval`).
pub const DEFAULT_BATCH_SIZE: usize = 8;

pub struct Options<'a> {
    pub template: Template,
    pub max_length: usize,
    pub max_new_tokens: usize,
    pub mode: ImageMode,
    /// Where image features come from (`LoadedRun::features`).
    pub features: &'a dyn FeatureSource,
    /// Score even when more than 1% of the questions are degraded by `max_length`.
    pub allow_degraded: bool,
    /// Questions asked at once (at least 1).
    pub batch_size: usize,
    /// Sequence-length buckets of the prompt and answer batches.
    pub buckets: Buckets,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemResult {
    /// The question's 0-based position in the benchmark, as `index` in an ANSWERS.jsonl for
    /// `cambrian score`.
    pub index: usize,
    pub id: String,
    /// The generated reply; none when the image could not be read.
    pub reply: Option<String>,
    /// The reply of the most likely choice (multiple-choice benchmarks).
    pub likelihood: Option<String>,
    /// Per choice, the answer's summed log-probability.
    pub log_likelihoods: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub benchmark: String,
    pub category: Category,
    /// None for a split whose answers are hidden (its submission file is written instead).
    pub scorer: Option<Scorer>,
    pub mode: ImageMode,
    pub questions: usize,
    /// The expected score of guessing among the choices, where the loader knows it.
    pub chance: Option<f64>,
    /// The generated replies scored; none without a scorer.
    pub generation: Option<Scored>,
    /// The most likely choices scored; none for open-ended benchmarks.
    pub likelihood: Option<Scored>,
    pub unreadable: Vec<String>,
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
    #[error("scoring {benchmark}: {source}")]
    Score { benchmark: String, source: ScoreError },
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

/// The run's model, tokenizer and end tokens.
pub struct Probe<'a> {
    pub model: &'a Mllm,
    pub tokenizer: &'a LlmTokenizer,
    pub eos_token_ids: &'a [u32],
}

pub fn evaluate(
    probe: &Probe,
    benchmark: &Questions,
    options: &Options,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Report, EvalError> {
    let choices = benchmark.scorer.filter(|_| benchmark.multiple_choice());
    let texts = benchmark
        .questions
        .iter()
        .map(|question| Texts::new(probe.tokenizer, options.template, question, shows(question, options.mode), choices))
        .collect::<Result<Vec<_>, _>>()?;
    let degraded = degraded(probe.model, benchmark, &texts, options)?;
    let mut items = Vec::with_capacity(benchmark.questions.len());
    let mut unreadable = Vec::new();
    progress.start(benchmark.questions.len() as u64, "questions");
    let indices: Vec<usize> = (0..benchmark.questions.len()).collect();
    for batch in indices.chunks(options.batch_size.max(1)) {
        let (mut images, mut asked, mut readable) = (Vec::new(), Vec::new(), Vec::new());
        for &index in batch {
            let question = &benchmark.questions[index];
            match image(benchmark, question, options.mode) {
                Ok(image) => {
                    let shown = image.map(|image| {
                        images.push(image);
                        images.len() - 1
                    });
                    let answered = texts[index].answered.iter().map(|(_, encoded)| encoded).collect();
                    asked.push(Asked { prompt: &texts[index].prefix, answered, image: shown });
                    readable.push(index);
                }
                Err(err) => {
                    tracing::warn!("{}: {err}", question.id);
                    unreadable.push(question.id.clone());
                    let none =
                        ItemResult { index, id: question.id.clone(), reply: None, likelihood: None, log_likelihoods: Vec::new() };
                    items.push(none);
                }
            }
        }
        if !asked.is_empty() {
            items.extend(answer(probe, benchmark, &readable, &texts, &asked, &images, options, device)?);
        }
        progress.advance(batch.len() as u64);
    }
    items.sort_by_key(|item| item.index);
    progress.finish();
    let score = |scorer: Scorer, predictions: Vec<Option<String>>| {
        scorer
            .score(&benchmark.truths(), &predictions)
            .map_err(|source| EvalError::Score { benchmark: benchmark.name.clone(), source })
    };
    let generation = benchmark.scorer.map(|scorer| score(scorer, items.iter().map(|i| i.reply.clone()).collect())).transpose()?;
    let likelihood = choices.map(|scorer| score(scorer, items.iter().map(|i| i.likelihood.clone()).collect())).transpose()?;
    Ok(Report {
        benchmark: benchmark.name.clone(),
        category: benchmark.category,
        scorer: benchmark.scorer,
        mode: options.mode,
        questions: items.len(),
        chance: benchmark.chance,
        generation,
        likelihood,
        unreadable,
        degraded,
        items,
    })
}

/// Whether the model is shown an image for `question` in `mode` (text-only rows never).
fn shows(question: &Question, mode: ImageMode) -> bool {
    question.has_image && mode != ImageMode::NoImage
}

/// The image the model sees, decoded (the first: Cambrian shows one), or none.
fn image(benchmark: &Questions, question: &Question, mode: ImageMode) -> Result<Option<image::RgbImage>, crate::data::DataError> {
    let Some(first) = question.images.first().filter(|_| shows(question, mode)) else { return Ok(None) };
    let decoded = first.decode(&benchmark.root)?;
    Ok(Some(if mode == ImageMode::MeanColour { mean_colour(&decoded) } else { decoded }))
}

/// A batch of readable questions (`indices` into the benchmark) asked: per question the
/// greedy reply, and each choice's log-likelihood.
#[allow(clippy::too_many_arguments)]
fn answer(
    probe: &Probe,
    benchmark: &Questions,
    indices: &[usize],
    texts: &[Texts],
    asked: &[Asked],
    images: &[image::RgbImage],
    options: &Options,
    device: &Device,
) -> Result<Vec<ItemResult>, EvalError> {
    let model = probe.model;
    // The images are encoded once, for both scorers.
    let images: Vec<&image::RgbImage> = images.iter().collect();
    let vision = (!images.is_empty()).then(|| model.image_embeddings(&images, options.features, device)).transpose()?;
    let settings = Settings {
        max_length: options.max_length,
        max_new_tokens: options.max_new_tokens,
        eos_token_ids: probe.eos_token_ids,
        buckets: options.buckets,
    };
    let answers = ask(model, asked, vision.as_ref(), &settings, device)?;
    if answers.scored_separately > 0 {
        tracing::debug!(
            "{} questions' choices do not begin with their prompt's tokens; scored on their own",
            answers.scored_separately
        );
    }
    let mut items = Vec::with_capacity(indices.len());
    for ((&index, generated), log_likelihoods) in indices.iter().zip(&answers.generated).zip(answers.log_likelihoods) {
        let reply = probe.tokenizer.decode(generated)?;
        let best =
            (0..log_likelihoods.len()).fold(0, |best, j| if log_likelihoods[j] > log_likelihoods[best] { j } else { best });
        let likelihood = texts[index].answered.get(best).map(|(reply, _)| reply.clone());
        let id = benchmark.questions[index].id.clone();
        items.push(ItemResult { index, id, reply: Some(reply), likelihood, log_likelihoods });
    }
    Ok(items)
}

/// The questions that `max_length` cuts into; an error when they are more than 1% and
/// degraded scoring was not asked for. With own grids each image's positions follow its
/// size, read from its header (an unreadable image is counted later, as unreadable).
fn degraded(model: &Mllm, benchmark: &Questions, texts: &[Texts], options: &Options) -> Result<Vec<String>, EvalError> {
    let fixed = model.connector.fixed_image_tokens();
    let image_tokens = |question: &Question| match (fixed, question.images.first()) {
        (Some(tokens), _) => Ok(tokens),
        (None, Some(image)) if shows(question, options.mode) => match image.dimensions(&benchmark.root) {
            Some((width, height)) => model.image_tokens_of(width, height),
            None => Ok(0),
        },
        (None, _) => Ok(0),
    };
    let mut degraded = Vec::new();
    for (question, texts) in benchmark.questions.iter().zip(texts) {
        if texts.degraded(image_tokens(question)?, options.max_length) {
            degraded.push(question.id.clone());
        }
    }
    if degraded.len() * 100 <= benchmark.questions.len() || options.allow_degraded {
        return Ok(degraded);
    }
    Err(EvalError::Degraded {
        benchmark: benchmark.name.clone(),
        mode: options.mode.name(),
        degraded: degraded.len(),
        questions: benchmark.questions.len(),
        first: degraded[0].clone(),
        max_length: options.max_length,
    })
}

/// A question's texts as the model reads them: the prompt to continue (generation), and the
/// prompt answered with each choice's reply (likelihood; none for open-ended benchmarks).
struct Texts {
    prefix: Encoded,
    answered: Vec<(String, Encoded)>,
}

impl Texts {
    fn new(
        tokenizer: &LlmTokenizer,
        template: Template,
        question: &Question,
        image: bool,
        choices: Option<Scorer>,
    ) -> Result<Self, LlmError> {
        let turn = |answer: String| [Turn { prompt: question.prompt.clone(), answer }];
        let prefix = encode(tokenizer, template, &turn(String::new()), image)?;
        let replies = choices.map(|scorer| (0..question.truth.choices.len()).map(move |j| choice_reply(scorer, j)));
        let answered = replies
            .into_iter()
            .flatten()
            .map(|reply| Ok((reply.clone(), encode(tokenizer, template, &turn(reply), image)?)))
            .collect::<Result<Vec<_>, LlmError>>()?;
        Ok(Self { prefix, answered })
    }

    /// Whether `max_length` cuts the image (of `image_tokens` positions) or a choice's answer.
    fn degraded(&self, image_tokens: usize, max_length: usize) -> bool {
        let image_cut = self.prefix.image_at.is_some_and(|at| at + image_tokens > max_length);
        image_cut || self.answered.iter().any(|(_, e)| targets_within(e, image_tokens, max_length) < e.target_count())
    }
}
