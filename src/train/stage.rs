//! One stage of the study's recipe: the connector (and, as configured, the LLM and encoders)
//! trained on LLaVA-format data. Each optimizer step takes `batch_size` examples in the
//! stage's data order, in micro-batches whose gradients accumulate; the loss is the summed
//! negative log-likelihood of the step's answer tokens divided by their count over the whole
//! step (so the micro-batch split does not change it, as in transformers ≥ 4.46), the global
//! gradient norm is clipped, and each part steps at its own warmup + cosine learning rate.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Device;
use image::RgbImage;

use super::TrainError;
use super::checkpoint::{self, Parts, Skip, StageState};
use super::clip;
use super::config::{RunConfig, StageConfig};
use super::metrics::{self, MetricRow};
use super::optim::{Optimizers, PartOptimizer, take_sampler_grads};
use super::order::stage_order;
use super::schedule::WarmupCosine;
use crate::connectors::Connector;
use crate::data::llava::{self, Sample};
use crate::data::open_rgb;
use crate::encoders::Encoder;
use crate::features::FeatureSource;
use crate::llm::chat::Template;
use crate::llm::tokenizer::LlmTokenizer;
use crate::mllm::batch::targets_within;
use crate::mllm::conversation::{Encoded, encode};
use crate::mllm::{Example, Mllm};
use crate::progress::Progress;

pub struct Session<'a> {
    pub run: &'a Path,
    pub config: &'a RunConfig,
    pub tokenizer: &'a LlmTokenizer,
    pub device: &'a Device,
    pub progress: &'a dyn Progress,
    /// Where the stage's image features come from (the cache only while the encoders are frozen).
    pub features: &'a dyn FeatureSource,
    /// Metric rows of the stages already finished, kept at the head of metrics.csv.
    pub earlier_metrics: Vec<MetricRow>,
}

/// An example ready for the model.
struct Prepared {
    encoded: Encoded,
    image: Option<RgbImage>,
    /// Answer tokens within max_length once the image is spliced in.
    targets: usize,
}

pub fn run(session: &Session, stage: u8, config: &StageConfig, model: Mllm) -> Result<(Mllm, StageState), TrainError> {
    let template = config.template.unwrap_or(if stage == 1 { Template::Plain } else { session.config.template });
    let parts = Parts { llm: config.train_llm.unwrap_or(stage == 2), encoders: config.encoder_lr.is_some() };
    let mut data = llava::load(&config.data, &config.images)?;
    if let Some(limit) = config.samples {
        data.samples.truncate(limit);
    }
    if data.samples.is_empty() {
        let first = data.skipped.first().map(|s| format!(" (record {}: {})", s.index, s.reason)).unwrap_or_default();
        return Err(TrainError::Data(format!("{}: no usable records{first}", config.data.display())));
    }
    let available = config.epochs * data.samples.len() as u64;
    let batch = config.batch_size as u64;
    let total_steps = config.max_steps.unwrap_or(available.div_ceil(batch));
    let limit = if config.max_steps.is_some() { u64::MAX } else { available };

    let mut model = trainable(model, parts);
    let schedule = |lr| WarmupCosine::with_ratio(lr, config.warmup_ratio, total_steps);
    let part = |lr| PartOptimizer::new(config.weight_decay, schedule(lr));
    let mut optimizers = Optimizers {
        connector: part(config.lr),
        sva: config.sva_lr.map(part),
        llm: parts.llm.then(|| part(config.lr)),
        encoders: config.encoder_lr.map(|lr| model.encoders.iter().map(|_| part(lr)).collect()).unwrap_or_default(),
    };
    let mut state = match checkpoint::latest(session.run, stage)? {
        Some((dir, steps)) => {
            tracing::info!("stage {stage}: resuming after step {steps} from {}", dir.display());
            let (resumed, state) = checkpoint::resume(&dir, model, &mut optimizers)?;
            model = trainable(resumed, parts);
            state
        }
        None => StageState {
            stage,
            steps_done: 0,
            total_steps,
            examples: data.samples.len(),
            metrics: Vec::new(),
            skipped_records: data.skipped.iter().map(|s| Skip { index: s.index, reason: s.reason.clone() }).collect(),
            skipped_examples: Vec::new(),
            train_secs: 0.0,
        },
    };

    let mut order = stage_order(config, &data.samples, session.tokenizer, template, session.config.seed, stage)?;
    session.progress.start(total_steps, &format!("stage {stage} steps"));
    session.progress.advance(state.steps_done);
    for step in state.steps_done..total_steps {
        let started = Instant::now();
        let positions = step * batch..((step + 1) * batch).min(limit);
        let samples: Vec<&Sample> = positions.map(|p| &data.samples[order.at(p)]).collect();
        let prepared = prepare(session, template, &model, &samples, &mut state.skipped_examples)?;
        let (loss, grad_norm, tokens) = match train_step(session, config, parts, &model, &optimizers, step, &prepared)? {
            Outcome::Skipped => (None, 0.0, 0),
            Outcome::NotFinite { loss, grad_norm } => return Err(TrainError::NotFinite { stage, step, loss, grad_norm }),
            Outcome::Trained { loss, grad_norm, tokens, grads } => {
                model = update(model, &mut optimizers, step, grads);
                (Some(loss), grad_norm, tokens)
            }
        };
        let secs = started.elapsed().as_secs_f64();
        state.steps_done = step + 1;
        state.train_secs += secs;
        state.metrics.push(MetricRow {
            stage,
            step,
            loss,
            lr: optimizers.connector.schedule.lr(step),
            grad_norm,
            tokens_per_sec: tokens as f64 / secs,
            secs: state.train_secs,
        });
        session.progress.note(&loss.map_or("skipped: no usable example".into(), |loss| format!("loss {loss:.4}")));
        let rows: Vec<MetricRow> = session.earlier_metrics.iter().chain(&state.metrics).cloned().collect();
        metrics::write(&session.run.join("metrics.csv"), &rows)?;
        session.progress.advance(1);
        let due = config.checkpoint_every > 0 && state.steps_done % config.checkpoint_every == 0;
        if due && state.steps_done < total_steps {
            checkpoint::save(session.run, parts, &model, &mut optimizers, &state)?;
        }
    }
    session.progress.finish();
    checkpoint::finish(session.run, parts, &model, &state)?;
    Ok((model, state))
}

/// The connector always trains; the LLM and encoders as `parts` says.
fn trainable(mut model: Mllm, parts: Parts) -> Mllm {
    model.connector = model.connector.set_require_grad(true);
    model.llm = model.llm.set_require_grad(parts.llm);
    for encoder in &mut model.encoders {
        encoder.model = encoder.model.clone().set_require_grad(parts.encoders);
    }
    model
}

/// Tokenizes and loads the step's examples; one that cannot be used is recorded and left out.
fn prepare(
    session: &Session,
    template: Template,
    model: &Mllm,
    samples: &[&Sample],
    skipped: &mut Vec<Skip>,
) -> Result<Vec<Prepared>, TrainError> {
    let mut prepared = Vec::with_capacity(samples.len());
    for sample in samples {
        let encoded = encode(session.tokenizer, template, &sample.turns, sample.image.is_some())?;
        let image = match &sample.image {
            Some(path) => match open_rgb(path) {
                Ok(image) => Some(image),
                Err(err) => {
                    skipped.push(Skip { index: sample.index, reason: err.to_string() });
                    continue;
                }
            },
            None => None,
        };
        let shown = match &image {
            Some(image) => model.image_tokens_of(image.width(), image.height())?,
            None => 0,
        };
        let targets = targets_within(&encoded, shown, session.config.max_length);
        if targets == 0 {
            let reason = format!("no answer token within max_length {}", session.config.max_length);
            skipped.push(Skip { index: sample.index, reason });
            continue;
        }
        prepared.push(Prepared { encoded, image, targets });
    }
    Ok(prepared)
}

/// What one optimizer step came to.
enum Outcome {
    /// Every example of the step was skipped: no loss, no update.
    Skipped,
    /// The loss or the gradient norm is not finite: no update.
    NotFinite { loss: f64, grad_norm: f64 },
    /// Mean loss per answer token, gradient norm before clipping, positions forwarded, and
    /// the clipped gradients to step with.
    Trained { loss: f64, grad_norm: f64, tokens: usize, grads: PartGrads },
}

/// A step's gradients, one set per optimizer of [`Optimizers`].
struct PartGrads {
    connector: GradientsParams,
    sva: Option<GradientsParams>,
    llm: Option<GradientsParams>,
    encoders: Vec<GradientsParams>,
}

/// Forward and backward over the micro-batches, then clipping.
fn train_step(
    session: &Session,
    config: &StageConfig,
    parts: Parts,
    model: &Mllm,
    optimizers: &Optimizers,
    step: u64,
    prepared: &[Prepared],
) -> Result<Outcome, TrainError> {
    let max_length = session.config.max_length;
    let total: usize = prepared.iter().map(|p| p.targets).sum();
    if total == 0 {
        return Ok(Outcome::Skipped);
    }
    let mut connector_grads = GradientsAccumulator::new();
    let mut llm_grads = GradientsAccumulator::new();
    let mut encoder_grads: Vec<GradientsAccumulator<_>> = model.encoders.iter().map(|_| GradientsAccumulator::new()).collect();
    let (mut nll_sum, mut tokens, mut padded) = (0.0, 0, 0);
    let started = Instant::now();
    for chunk in prepared.chunks(config.micro_batch()) {
        let mut images = Vec::new();
        let examples: Vec<Example> = chunk
            .iter()
            .map(|p| Example {
                encoded: &p.encoded,
                image: p.image.as_ref().map(|image| {
                    images.push(image);
                    images.len() - 1
                }),
            })
            .collect();
        let inputs = model.assemble(&examples, &images, session.features, max_length, session.device)?;
        tokens += inputs.positions;
        let [rows, positions, _] = inputs.embeds.dims();
        padded += rows * positions;
        let nll = model.target_nll(&inputs).sum();
        nll_sum += nll.clone().into_scalar::<f64>();
        let mut grads = nll.div_scalar(total as f64).backward();
        connector_grads.accumulate(&model.connector, GradientsParams::from_module(&mut grads, &model.connector));
        if parts.llm {
            llm_grads.accumulate(&model.llm, GradientsParams::from_module(&mut grads, &model.llm));
        }
        if parts.encoders {
            for (acc, encoder) in encoder_grads.iter_mut().zip(&model.encoders) {
                acc.accumulate(&encoder.model, GradientsParams::from_module(&mut grads, &encoder.model));
            }
        }
    }
    let mut connector = connector_grads.grads();
    let mut sva = match (&model.connector, &optimizers.sva) {
        (Connector::Sva(sva), Some(_)) => Some(take_sampler_grads(sva, &mut connector)),
        _ => None,
    };
    let mut llm = parts.llm.then(|| llm_grads.grads());
    let mut encoders: Vec<GradientsParams> = match parts.encoders {
        true => encoder_grads.iter_mut().map(GradientsAccumulator::grads).collect(),
        false => Vec::new(),
    };

    let backward_done = Instant::now();
    let mut squared = clip::squared_norm(&model.connector, &mut connector);
    if let Some(grads) = &mut sva {
        squared += clip::squared_norm(&model.connector, grads);
    }
    if let Some(grads) = &mut llm {
        squared += clip::squared_norm(&model.llm, grads);
    }
    for (grads, encoder) in encoders.iter_mut().zip(&model.encoders) {
        squared += clip::squared_norm(&encoder.model, grads);
    }
    let norm = squared.sqrt();
    let loss = nll_sum / total as f64;
    if !(loss.is_finite() && norm.is_finite()) {
        return Ok(Outcome::NotFinite { loss, grad_norm: norm });
    }
    if let Some(factor) = clip::clip_factor(norm, config.max_grad_norm) {
        clip::scale(&model.connector, &mut connector, factor);
        if let Some(grads) = &mut sva {
            clip::scale(&model.connector, grads, factor);
        }
        if let Some(grads) = &mut llm {
            clip::scale(&model.llm, grads, factor);
        }
        for (grads, encoder) in encoders.iter_mut().zip(&model.encoders) {
            clip::scale(&encoder.model, grads, factor);
        }
    }

    // Seconds per phase; on a GPU the device queues work, so only their sum is exact.
    let (forward_backward, clipping) = (backward_done - started, backward_done.elapsed());
    tracing::debug!(
        "step {step}: {tokens} positions, {padded} forwarded with the padding; forward + backward {:.3} s, clipping {:.3} s",
        forward_backward.as_secs_f64(),
        clipping.as_secs_f64(),
    );
    let grads = PartGrads { connector, sva, llm, encoders };
    Ok(Outcome::Trained { loss, grad_norm: norm, tokens, grads })
}

/// One optimizer step per part. The model is taken whole, so that each parameter's buffer
/// is the optimizer's alone: [`super::adamw::FusedAdamW`] then updates it in place rather
/// than a copy (a clone left in the model would hold every buffer twice during the step).
fn update(model: Mllm, optimizers: &mut Optimizers, step: u64, grads: PartGrads) -> Mllm {
    let started = Instant::now();
    let Mllm { encoders, connector, llm } = model;
    let part = &mut optimizers.connector;
    let mut connector = part.optim.step(part.schedule.lr(step), connector, grads.connector);
    if let (Some(part), Some(grads)) = (&mut optimizers.sva, grads.sva) {
        connector = part.optim.step(part.schedule.lr(step), connector, grads);
    }
    let llm = match (&mut optimizers.llm, grads.llm) {
        (Some(part), Some(grads)) => part.optim.step(part.schedule.lr(step), llm, grads),
        _ => llm,
    };
    let mut parts = optimizers.encoders.iter_mut().zip(grads.encoders);
    let encoders = encoders
        .into_iter()
        .map(|Encoder { spec, model }| match parts.next() {
            Some((part, grads)) => Encoder { spec, model: part.optim.step(part.schedule.lr(step), model, grads) },
            None => Encoder { spec, model },
        })
        .collect();
    tracing::debug!("step {step}: optimizer {:.3} s", started.elapsed().as_secs_f64());
    Mllm { encoders, connector, llm }
}
