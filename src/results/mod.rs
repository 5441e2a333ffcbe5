//! The sweep's outputs as typed rows: `results.csv` (one row per run × benchmark) and each
//! run's `metrics.csv` (one row per optimizer step). The sweep writes them with these structs
//! and `plot` reads them back; the column names are the field names, in this order.

pub mod bootstrap;
mod read;

use serde::de::IntoDeserializer;
use serde::{Deserialize, Serialize};

use crate::data::benchmark::Category;
use crate::encoders::Family;

pub use read::{ResultsError, read_metrics, read_results};

/// The columns of `results.csv`, in order.
pub const RESULT_COLUMNS: [&str; 25] = [
    "sweep",
    "run",
    "encoder",
    "family",
    "weights",
    "connector",
    "stage1_samples",
    "stage2_samples",
    "encoder_trainable",
    "llm",
    "seed",
    "benchmark",
    "category",
    "questions",
    "unreadable",
    "degraded",
    "chance",
    "generation",
    "generation_low",
    "generation_high",
    "paper_score",
    "likelihood",
    "generation_blind",
    "likelihood_blind",
    "train_secs",
];

/// The columns of `metrics.csv`, in order.
pub const METRIC_COLUMNS: [&str; 7] = ["stage", "step", "loss", "lr", "grad_norm", "tokens_per_sec", "secs"];

/// One benchmark's scores for one run. Scores are fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub sweep: String,
    /// Run id, e.g. `clip-vit-l-14-336_mlp2x_gelu-1a2b3c4d`.
    pub run: String,
    /// Encoder preset names, joined by `+` for a combination.
    pub encoder: String,
    /// The family of each encoder (`Family`'s display names), joined by `+` in the same order.
    pub family: String,
    /// Per encoder, joined by `+` in the same order: `random`, or the checkpoint it loaded (a
    /// file path with its `%` and `+` written `%25` and `%2B`, or `hub:REPO/FILE` / the
    /// address for a preset's own weights).
    pub weights: String,
    /// `linear`, `mlp2x_gelu` or `sva`.
    pub connector: String,
    /// Stage-1 (connector alignment) samples; 0 = one-stage training.
    pub stage1_samples: u64,
    /// Stage-2 (instruction tuning) samples.
    pub stage2_samples: u64,
    /// Whether the vision encoder was trained in stage 2 (false = frozen).
    pub encoder_trainable: bool,
    pub llm: String,
    pub seed: u64,
    pub benchmark: String,
    pub category: Category,
    pub questions: u64,
    /// Questions whose image could not be decoded (scored wrong).
    pub unreadable: u64,
    /// Questions that `max_length` cut into (scored as they were).
    pub degraded: u64,
    /// Expected score of a random guess; empty where the loader does not know it.
    pub chance: Option<f64>,
    /// The greedy reply, judged by the benchmark's scorer: its headline in [0, 1].
    pub generation: f64,
    /// The 95% bootstrap interval of `generation` over the questions ([`bootstrap`]); empty
    /// where the headline is not a mean over questions.
    pub generation_low: Option<f64>,
    pub generation_high: Option<f64>,
    /// `generation` in the study's units: percent, or MME's perception points (0-2000).
    pub paper_score: f64,
    /// The choice the model ranks most likely, judged by the same scorer; empty for
    /// open-ended benchmarks.
    pub likelihood: Option<f64>,
    /// `generation` with vision disabled; empty when not evaluated.
    pub generation_blind: Option<f64>,
    /// `likelihood` with vision disabled; empty when not evaluated.
    pub likelihood_blind: Option<f64>,
    pub train_secs: f64,
}

/// One optimizer step of a run's training log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    /// 1 (alignment) or 2 (instruction tuning).
    pub stage: u8,
    /// Optimizer steps from 0 within the stage.
    pub step: u64,
    /// Empty when the step was skipped: every one of its examples was (no optimizer step).
    pub loss: Option<f64>,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_sec: f64,
    /// Elapsed seconds, as the trainer logs them.
    pub secs: f64,
}

impl ResultRow {
    /// The encoders of a combination (one for a single encoder).
    pub fn encoders(&self) -> Vec<&str> {
        self.encoder.split('+').collect()
    }

    /// The family of each encoder; an error names a count mismatch or an unknown family.
    pub fn families(&self) -> Result<Vec<Family>, String> {
        let names: Vec<&str> = self.family.split('+').collect();
        if names.len() != self.encoders().len() {
            return Err(format!(
                "{} families (`{}`) for {} encoders (`{}`)",
                names.len(),
                self.family,
                self.encoders().len(),
                self.encoder
            ));
        }
        names
            .into_iter()
            .map(|name| {
                let parsed: Result<Family, serde::de::value::Error> = Family::deserialize(name.into_deserializer());
                parsed.map_err(|_| format!("unknown family `{name}`"))
            })
            .collect()
    }

    /// The recipe this run was trained with: everything but the encoder and the seed.
    pub fn recipe(&self) -> Recipe {
        Recipe {
            connector: self.connector.clone(),
            stage1_samples: self.stage1_samples,
            stage2_samples: self.stage2_samples,
            encoder_trainable: self.encoder_trainable,
            llm: self.llm.clone(),
        }
    }
}

/// The training settings a sweep varies besides the encoder and the seed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Recipe {
    pub connector: String,
    pub stage1_samples: u64,
    pub stage2_samples: u64,
    pub encoder_trainable: bool,
    pub llm: String,
}
