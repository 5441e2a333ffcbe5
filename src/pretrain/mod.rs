//! `cambrian pretrain`: one tiny ViT (a `kind = "vit"`, `layout = "timm"` spec) pre-trained on
//! `cambrian synth`'s training scenes with one objective per Cambrian-1 family, so that only
//! the objective differs between the encoders a study compares: `contrastive` (language
//! supervision), `masked` (self-supervision), `classify` (class supervision), `depth`,
//! `segment` (segmentation) and `denoise` (diffusion), one file each. Every head reads the
//! tokens the probe will read: the encoder's output at the spec's feature layer, prefix
//! tokens dropped. The heads are dropped at the end; the encoder is written as an ordinary
//! checkpoint (`export`).
//!
//! A run lives in one folder: `pretrain.json` (what it trains, written first; a rerun with
//! other settings is refused), `checkpoints/stepNNNNNNN/` (the model with its heads and the
//! optimizer state, burnpack, and `state.json`), then `encoder.safetensors`,
//! `encoder.toml` and, last, `summary.json`. The data order (`train::order`) and every random
//! draw of a step (masks, noise levels, noise) are functions of the seed and the step, so a
//! killed run resumed from its newest checkpoint ends with the same weights as an
//! uninterrupted one. The optimizer is the probe's AdamW with warmup and cosine decay and
//! global-norm clipping (`train::optim`, `train::schedule`, `train::clip`).

pub mod checkpoint;
pub mod classify;
pub mod contrastive;
pub mod data;
pub mod denoise;
pub mod depth;
pub mod export;
pub mod masked;
pub mod segment;

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::atomic::checkpoints::ReadError;
use crate::encoders::vit::{VisionTransformer, VitLayout, VitSpec};
use crate::encoders::{Architecture, EncoderError, EncoderSpec, Family};
use crate::progress::Progress;
use crate::train::clip;
use crate::train::optim::PartOptimizer;
use crate::train::order::DataOrder;
use crate::train::schedule::WarmupCosine;
use classify::ClassifyHead;
use contrastive::{ContrastiveHead, ContrastiveLoss};
use data::{Frame, Item};
use denoise::DenoiseHead;
use depth::DepthHead;
use masked::MaskedHead;
use segment::SegmentHead;

#[derive(Debug, thiserror::Error)]
pub enum PretrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is missing: this synth folder has no ground truth; make it again with this version's `cambrian synth`")]
    NoTruth { path: PathBuf },
    #[error("{0}")]
    Data(String),
    #[error("{0}")]
    Config(String),
    #[error("{path} was made with other settings; use a new output folder, or the same settings")]
    ConfigChanged { path: PathBuf },
    #[error("{path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "step {step}: loss {loss}, gradient norm {grad_norm}; stopped before this step's update (is the learning rate too high?)"
    )]
    NotFinite { step: u64, loss: f64, grad_norm: f64 },
    #[error(transparent)]
    Encoder(#[from] EncoderError),
    #[error(transparent)]
    Image(#[from] crate::data::DataError),
    #[error(transparent)]
    Output(#[from] crate::atomic::OutputError),
}

impl From<ReadError> for PretrainError {
    fn from(err: ReadError) -> Self {
        match err {
            ReadError::Io { path, source } => PretrainError::Io { path, source },
            ReadError::Corrupt { path, message } => PretrainError::Corrupt { path, message },
        }
    }
}

impl PretrainError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PretrainError + '_ {
        move |source| PretrainError::Io { path: path.to_path_buf(), source }
    }
}

/// The pre-training objectives, one per Cambrian-1 family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    Contrastive,
    Masked,
    Classify,
    Depth,
    Segment,
    Denoise,
}

impl Objective {
    pub const ALL: [Objective; 6] = [
        Objective::Contrastive,
        Objective::Masked,
        Objective::Classify,
        Objective::Depth,
        Objective::Segment,
        Objective::Denoise,
    ];

    pub fn family(self) -> Family {
        match self {
            Objective::Contrastive => Family::LanguageSupervised,
            Objective::Masked => Family::SelfSupervised,
            Objective::Classify => Family::ClassSupervised,
            Objective::Depth => Family::Depth,
            Objective::Segment => Family::Segmentation,
            Objective::Denoise => Family::Diffusion,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Objective::Contrastive => "contrastive",
            Objective::Masked => "masked",
            Objective::Classify => "classify",
            Objective::Depth => "depth",
            Objective::Segment => "segment",
            Objective::Denoise => "denoise",
        }
    }
}

/// What a run trains; `pretrain.json` holds it with the encoder spec and the data folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PretrainConfig {
    pub objective: Objective,
    /// Only for `contrastive`.
    pub contrastive_loss: ContrastiveLoss,
    pub steps: u64,
    pub batch_size: usize,
    pub seed: u64,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_ratio: f64,
    pub max_grad_norm: f64,
    /// Steps between checkpoints; 0: none.
    pub checkpoint_every: u64,
}

impl PretrainConfig {
    pub fn validate(&self) -> Result<(), PretrainError> {
        let bad = |message: &str| Err(PretrainError::Config(message.to_string()));
        if self.steps == 0 || self.batch_size == 0 {
            return bad("--steps and --batch-size must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("--lr must be finite and positive");
        }
        if self.objective != Objective::Contrastive && self.contrastive_loss != ContrastiveLoss::default() {
            return bad("--contrastive-loss applies to --objective contrastive only");
        }
        if self.objective == Objective::Contrastive && self.batch_size < 2 {
            return bad("--objective contrastive needs --batch-size 2 or more (a caption to tell apart)");
        }
        Ok(())
    }
}

/// The model being pre-trained: the encoder and its objective's head.
#[derive(Module, Debug)]
pub struct Pretrainer {
    pub vit: VisionTransformer,
    pub head: Head,
}

#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Head {
    Contrastive(ContrastiveHead),
    Masked(MaskedHead),
    Classify(ClassifyHead),
    Depth(DepthHead),
    Segment(SegmentHead),
    Denoise(DenoiseHead),
}

impl Head {
    pub fn new(
        config: &PretrainConfig,
        vit: &VitSpec,
        frame: &Frame,
        vocabulary: usize,
        device: &Device,
    ) -> Result<Self, PretrainError> {
        let hidden = vit.hidden_size;
        Ok(match config.objective {
            Objective::Contrastive => {
                Head::Contrastive(ContrastiveHead::new(hidden, vocabulary, config.contrastive_loss, device))
            }
            Objective::Masked => Head::Masked(MaskedHead::new(hidden, vit.heads, frame, device)),
            Objective::Classify => Head::Classify(ClassifyHead::new(hidden, device)),
            Objective::Depth => Head::Depth(DepthHead::new(hidden, frame, device)),
            Objective::Segment => Head::Segment(SegmentHead::new(hidden, frame, device)),
            Objective::Denoise => Head::Denoise(DenoiseHead::new(hidden, frame, device)?),
        })
    }

    /// The objective's loss on `batch` (a scalar); `rng` is the step's.
    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor<1>, PretrainError> {
        match self {
            Head::Contrastive(head) => head.loss(vit, batch),
            Head::Masked(head) => head.loss(vit, batch, rng),
            Head::Classify(head) => head.loss(vit, batch),
            Head::Depth(head) => head.loss(vit, batch),
            Head::Segment(head) => head.loss(vit, batch),
            Head::Denoise(head) => head.loss(vit, batch, rng),
        }
    }
}

/// One step's scenes on the device.
pub struct Batch<'a> {
    pub items: Vec<&'a Item>,
    /// [batch, 3, res, res]
    pub pixels: Tensor<4>,
    pub frame: Frame,
    /// The spec's feature layer.
    pub layer: Option<i64>,
    pub device: &'a Device,
}

impl<'a> Batch<'a> {
    pub fn new(items: Vec<&'a Item>, frame: Frame, layer: Option<i64>, device: &'a Device) -> Self {
        let res = frame.resolution;
        let pixels: Vec<f32> = items.iter().flat_map(|item| item.pixels.iter().copied()).collect();
        let pixels = Tensor::from_data(TensorData::new(pixels, [items.len(), 3, res, res]), device);
        Self { items, pixels, frame, layer, device }
    }
}

/// The encoder's tokens at its feature layer: [batch, tokens, hidden].
pub(crate) fn encoder_tokens(vit: &VisionTransformer, batch: &Batch) -> Result<Tensor<3>, PretrainError> {
    Ok(vit.forward(batch.pixels.clone(), batch.layer)?.0)
}

/// A learned scalar, [1].
pub(crate) fn scalar_param(value: f64, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(vec![value as f32], [1]), device))
}

/// The random numbers of step `step`: a function of the seed and the step alone.
pub fn step_rng(seed: u64, step: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ step.wrapping_add(0x5eed_0000))
}

/// The spec's ViT table, which pre-training supports: the timm layout (its key table renames
/// without fusing, so the checkpoint is written back in it) and no input noise of its own.
pub fn vit_spec(spec: &EncoderSpec) -> Result<&VitSpec, PretrainError> {
    match &spec.architecture {
        Architecture::Vit(vit) if vit.layout == VitLayout::Timm && vit.input_noise.is_none() => Ok(vit),
        Architecture::Vit(vit) if vit.input_noise.is_some() => Err(PretrainError::Config(format!(
            "encoder `{}` already has an input_noise table; start from a spec without it",
            spec.name
        ))),
        _ => Err(PretrainError::Config(format!(
            "encoder `{}` is {}; pretrain trains kind = \"vit\" with layout = \"timm\" (sweeps/encoders/tiny-vit.toml)",
            spec.name,
            spec.architecture_name()
        ))),
    }
}

/// What a finished run reports (`summary.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub objective: Objective,
    pub steps: u64,
    /// Each step's loss.
    pub losses: Vec<f64>,
    pub train_secs: f64,
    pub scenes: usize,
    /// The exported spec.
    pub encoder: PathBuf,
}

/// Pre-trains (or resumes, or reports the finished run in `out`) and exports the encoder.
pub fn pretrain(
    config: &PretrainConfig,
    spec: &EncoderSpec,
    data_dir: &Path,
    out: &Path,
    device: &Device,
    progress: &dyn Progress,
) -> Result<Summary, PretrainError> {
    config.validate()?;
    let vit_spec = vit_spec(spec)?;
    checkpoint::claim(config, spec, data_dir, out)?;
    if let Some(summary) = checkpoint::finished(out)? {
        return Ok(summary);
    }
    let [rows, cols] = spec.native_grid();
    let frame = Frame { resolution: spec.resolution(), patch: vit_spec.patch_size, grid: [rows, cols] };
    let set = data::load(data_dir, spec, &frame)?;

    let device = device.clone().autodiff();
    device.seed(config.seed);
    let vit = vit_spec.resolve()?.init(&device);
    let head = Head::new(config, vit_spec, &frame, set.vocabulary.len(), &device)?;
    let mut model = Pretrainer { vit, head };
    crate::nn::init::materialize(&model);
    let schedule = WarmupCosine::with_ratio(config.lr, config.warmup_ratio, config.steps);
    let mut optim = PartOptimizer::new(config.weight_decay, schedule);
    let mut state = match checkpoint::latest(out)? {
        Some(dir) => {
            tracing::info!("resuming from {}", dir.display());
            let (resumed, state) = checkpoint::resume(&dir, model, &mut optim)?;
            model = resumed;
            state
        }
        None => checkpoint::State::default(),
    };

    let mut order = DataOrder::new(set.items.len(), config.seed, 0);
    let batch_size = config.batch_size as u64;
    progress.start(config.steps, &format!("{} steps", config.objective.name()));
    progress.advance(state.steps_done);
    for step in state.steps_done..config.steps {
        let started = Instant::now();
        let items = (step * batch_size..(step + 1) * batch_size).map(|p| &set.items[order.at(p)]).collect();
        let batch = Batch::new(items, frame, spec.feature_layer, &device);
        let loss = model.head.loss(&model.vit, &batch, &mut step_rng(config.seed, step))?;
        let value = loss.clone().into_scalar::<f64>();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let grad_norm = clip::squared_norm(&model, &mut grads).sqrt();
        if !(value.is_finite() && grad_norm.is_finite()) {
            return Err(PretrainError::NotFinite { step, loss: value, grad_norm });
        }
        if let Some(factor) = clip::clip_factor(grad_norm, config.max_grad_norm) {
            clip::scale(&model, &mut grads, factor);
        }
        model = optim.optim.step(optim.schedule.lr(step), model, grads);
        state.steps_done = step + 1;
        state.losses.push(value);
        state.train_secs += started.elapsed().as_secs_f64();
        progress.note(&format!("loss {value:.4}"));
        progress.advance(1);
        let due = config.checkpoint_every > 0 && state.steps_done % config.checkpoint_every == 0;
        if due && state.steps_done < config.steps {
            checkpoint::save(out, &model, &mut optim, &state)?;
        }
    }
    progress.finish();
    let encoder = export::write(&model.vit.valid(), spec, config, out)?;
    let summary = Summary {
        objective: config.objective,
        steps: state.steps_done,
        losses: state.losses,
        train_secs: state.train_secs,
        scenes: set.items.len(),
        encoder,
    };
    checkpoint::finish(out, &summary)?;
    Ok(summary)
}
