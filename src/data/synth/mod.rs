//! The built-in synthetic vision-centric benchmark and training set, needing no download:
//! procedurally rendered scenes (`scene`, `render`) with CV-Bench's four tasks (`tasks`),
//! captions and instruction conversations from the same scene graphs (`text`). Sample `i` of
//! a split depends only on (seed, split, i); task `i mod 4` (Count, Relation, Depth, Distance)
//! keeps the tasks balanced. The open-ended tasks (`open`) have streams of their own, in the
//! formats of the study's open-ended benchmarks.

pub mod open;
pub mod render;
pub mod scene;
pub mod tasks;
pub mod text;
pub mod truth;

use std::collections::BTreeMap;
use std::path::Path;

use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::DataError;
use super::cvbench::schema::{Question, Task};
use super::cvbench::write::{Writer, boxed};
use crate::atomic::{Staging, write_json};
use crate::progress::Progress;
use open::{Imitation, OpenTask};
use scene::Scene;
use text::Conversation;

pub const MIN_SIZE: u32 = 64;
pub const MAX_SIZE: u32 = 384;
/// The `source` of every synthetic item.
pub const SOURCE: &str = "Synth";

/// Open-task items at most, so that a table's rows (two per existence item) have int32 ids.
pub const MAX_OPEN_SAMPLES: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Benchmark items.
    pub samples: u64,
    /// Training scenes, each with a caption and a conversation.
    pub train_samples: u64,
    /// Benchmark items per open task (an existence item is a pair of questions); 0: none.
    pub open_samples: u64,
    /// Training items per open task, with a conversation per question.
    pub open_train_samples: u64,
    /// Image side, pixels.
    pub size: u32,
    pub seed: u64,
}

impl Config {
    /// With the open tasks' defaults: `samples` benchmark items per open task, and
    /// `train_samples / 20` training items per task, so that the five tasks add about 30% to
    /// the training conversations (existence asks two questions per image) and the
    /// quick-start's stage 2 stays short.
    pub fn new(samples: u64, train_samples: u64, size: u32, seed: u64) -> Self {
        Self { samples, train_samples, open_samples: samples, open_train_samples: train_samples / 20, size, seed }
    }

    pub fn validate(&self) -> Result<(), DataError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(DataError::Config(format!("image size {} px is outside {MIN_SIZE}..={MAX_SIZE}", self.size)));
        }
        if self.samples == 0 {
            return Err(DataError::Config("--samples must be at least 1".into()));
        }
        if self.open_samples > MAX_OPEN_SAMPLES {
            return Err(DataError::Config(format!("--open-samples {} is over {MAX_OPEN_SAMPLES}", self.open_samples)));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Test,
    Train,
}

pub struct Sample {
    pub scene: Scene,
    /// The rendering without box prompts.
    pub image: RgbImage,
    /// Each object's visible pixels and box, and the ground-truth maps of the rendering.
    pub visible: Vec<(usize, [f64; 4])>,
    pub maps: render::Maps,
    pub question: Question,
    pub caption: String,
}

/// Sample `index` of `split`.
pub fn sample(seed: u64, split: Split, index: u64, size: u32) -> Sample {
    let task = Task::ALL[(index % 4) as usize];
    let stream = splitmix(seed ^ splitmix(split as u64 + 1) ^ splitmix(index.wrapping_add(0x5eed)));
    let mut rng = ChaCha8Rng::seed_from_u64(stream);
    let posed = tasks::generate(task, size, &mut rng);
    let caption = text::caption(&posed.scene, posed.question.boxes.len(), size);
    let render::Rendered { rgb, visible, maps } = posed.rendered;
    Sample { scene: posed.scene, image: rgb, visible, maps, question: posed.question, caption }
}

pub(super) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub questions: BTreeMap<&'static str, u64>,
    pub train: u64,
    /// Questions per open task (none when `open_samples` is 0).
    pub open: BTreeMap<&'static str, u64>,
    /// Training conversations of the open tasks.
    pub open_train: u64,
}

/// Writes the benchmark (CV-Bench layout: `test_2d.jsonl`, `test_3d.jsonl`, `img/`), each open
/// task's benchmark (`open/<task>/`, see [`open::write`]), the training set (`train/images/`,
/// `train/open/<task>/`, `train/pretrain.json`, `train/instruct.json`: the scenes'
/// conversations, then the open tasks'), the training scenes' ground truth (`train/truth/`,
/// `train/truth.jsonl`, see [`truth`]) and `synth.json` (the config) into `out`, which
/// appears only when complete.
pub fn write(config: &Config, out: &Path, progress: &dyn Progress) -> Result<Summary, DataError> {
    config.validate()?;
    let staging = Staging::new(out)?;
    let root = staging.path();
    let open_items = OpenTask::ALL.len() as u64 * (config.open_samples + config.open_train_samples);
    progress.start(config.samples + config.train_samples + open_items, "scenes");
    let mut summary = Summary { questions: write_benchmark(config, root, progress)?, ..Summary::default() };
    let Training { pretrain, mut instruct, truth } = write_training(config, root, progress)?;
    summary.train = pretrain.len() as u64;
    for task in OpenTask::ALL {
        let imitation = Imitation::of(task);
        if config.open_samples > 0 {
            summary.open.insert(task.name(), open::write::benchmark(&imitation, config, root, progress)?);
        }
        if config.open_train_samples > 0 {
            let conversations = open::write::training(&imitation, config, root, progress)?;
            summary.open_train += conversations.len() as u64;
            instruct.extend(conversations);
        }
    }
    progress.finish();
    write_json(&root.join("train/pretrain.json"), &pretrain)?;
    write_json(&root.join("train/instruct.json"), &instruct)?;
    write_jsonl(&root.join("train/truth.jsonl"), &truth)?;
    write_json(&root.join("synth.json"), config)?;
    staging.commit()?;
    Ok(summary)
}

/// The multiple-choice benchmark; returns the questions per task.
fn write_benchmark(config: &Config, root: &Path, progress: &dyn Progress) -> Result<BTreeMap<&'static str, u64>, DataError> {
    let dataset = format!("cambrian-synth v1 (seed {}, {} px)", config.seed, config.size);
    let mut questions = BTreeMap::new();
    let mut writer = Writer::new(root);
    for i in 0..config.samples {
        let s = sample(config.seed, Split::Test, i, config.size);
        writer.add(&s.question, &s.image, SOURCE, &dataset, &format!("test-{i}"))?;
        *questions.entry(s.question.task.name()).or_default() += 1;
        progress.advance(1);
    }
    writer.finish()?;
    Ok(questions)
}

/// What the training scenes give besides their images and maps.
struct Training {
    /// Captions.
    pretrain: Vec<Conversation>,
    instruct: Vec<Conversation>,
    truth: Vec<truth::TruthRecord>,
}

/// The training scenes' images and ground truth; returns their captions, conversations and
/// truth records.
fn write_training(config: &Config, root: &Path, progress: &dyn Progress) -> Result<Training, DataError> {
    for folder in ["train/images", "train/truth"] {
        let path = root.join(folder);
        std::fs::create_dir_all(&path).map_err(DataError::io(&path))?;
    }
    let (mut pretrain, mut instruct, mut records) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..config.train_samples {
        let s = sample(config.seed, Split::Train, i, config.size);
        let name = format!("train/images/{i:06}.png");
        let path = root.join(&name);
        boxed(&s.question, &s.image).save(&path).map_err(|source| DataError::Image { path, source })?;
        let id = format!("synth-{i:06}");
        pretrain.push(text::pretrain(&id, &name, &s.caption));
        instruct.push(text::instruct(&id, &name, &s.question, &s.scene));
        records.push(truth::write(root, i, &name, &s.caption, &s.scene, &s.visible, &s.maps)?);
        progress.advance(1);
    }
    Ok(Training { pretrain, instruct, truth: records })
}

/// One JSON value per line.
fn write_jsonl<T: Serialize>(path: &Path, values: &[T]) -> Result<(), DataError> {
    let mut text = String::new();
    for value in values {
        text.push_str(&serde_json::to_string(value).map_err(|source| DataError::Json { path: path.to_path_buf(), source })?);
        text.push('\n');
    }
    crate::atomic::write(path, text.as_bytes()).map_err(DataError::io(path))
}
