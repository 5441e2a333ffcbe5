//! The memory planner (`cambrian plan`, `sweep --dry-run`, and `train` before it starts): a
//! run's expected peak device memory per stage, from its configs alone. Parameter counts come
//! from the LLM's `config.json` (a closed formula, [`llm_params`]) and from the encoders and
//! connector built lazily (burn draws no weight until it is used, and counts a lazy
//! parameter by its shape). The parts, in bytes, with b the precision's bytes per value
//! ([`Precision::bytes`]):
//!
//! - weights: every parameter, b each (f32 masters in bf16-mixed);
//! - gradients: the stage's trainable parameters, b each, twice when micro-batches accumulate
//!   (the step's sum and the micro-batch's own);
//! - optimizer: AdamW's two moments per trainable parameter, b each (burn makes them from the
//!   gradients);
//! - activations: what burn's autodiff keeps for the backward pass of one micro-batch at
//!   `max_length` ([`llm_activations`]); with gradient checkpointing (burn's balanced
//!   strategy) only the matrix products' outputs, plus one layer recomputed at a time.
//!
//! Frozen encoders keep no activations (their parameters need no gradient); a trained
//! encoder's activations are not estimated, and the plan says so.

use burn::module::Module;
use burn::tensor::Device;

use super::TrainError;
use super::config::{RunConfig, StageConfig};
use crate::encoders::registry;
use crate::encoders::spec::EncoderSpec;
use crate::llm::LlmConfig;
use crate::nn::precision::Precision;

const GIB: f64 = (1u64 << 30) as f64;

/// Parameters of each part of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub llm: u64,
    pub connector: u64,
    /// Per encoder: its name in the run config and its parameters.
    pub encoders: Vec<(String, u64)>,
}

/// Bytes of one stage's peak, by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub weights: u64,
    pub gradients: u64,
    pub optimizer: u64,
    pub activations: u64,
}

impl Memory {
    pub fn peak(&self) -> u64 {
        self.weights + self.gradients + self.optimizer + self.activations
    }

    /// The largest part's name.
    pub fn dominant(&self) -> &'static str {
        let parts = [
            ("weights", self.weights),
            ("gradients", self.gradients),
            ("optimizer", self.optimizer),
            ("activations", self.activations),
        ];
        parts.iter().max_by_key(|(_, bytes)| *bytes).map_or("weights", |(name, _)| *name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StagePlan {
    pub stage: u8,
    pub micro_batch: usize,
    pub trainable: u64,
    /// What trains besides the connector.
    pub trains: Vec<&'static str>,
    /// Without gradient checkpointing, and with it.
    pub without: Memory,
    pub checkpointed: Memory,
    /// Whether an encoder trains (its activations are then not in the estimate).
    pub encoders_train: bool,
}

impl StagePlan {
    /// The stage's peak as the run is configured.
    pub fn memory(&self, checkpointing: bool) -> Memory {
        if checkpointing { self.checkpointed } else { self.without }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub precision: Precision,
    pub max_length: usize,
    pub gradient_checkpointing: bool,
    pub params: Params,
    pub stages: Vec<StagePlan>,
}

/// Parameters of a decoder-only LLM of config `c`: the embedding, per layer the four
/// attention projections (with their biases), the three MLP projections and two RMSNorms,
/// the final norm, and the LM head unless it is the tied embedding.
pub fn llm_params(c: &LlmConfig) -> u64 {
    let (h, i, v) = (c.hidden_size as u64, c.intermediate_size as u64, c.vocab_size as u64);
    let (q, kv) = ((c.heads * c.head_dim) as u64, (c.kv_heads * c.head_dim) as u64);
    let bias = |on: bool, n: u64| if on { n } else { 0 };
    let attention = h * q + 2 * h * kv + q * h + bias(c.qkv_bias, q + 2 * kv) + bias(c.o_bias, h);
    let mlp = 3 * h * i + bias(c.mlp_bias, 2 * i + h);
    let layer = attention + mlp + 2 * h;
    v * h + c.layers as u64 * layer + h + if c.tie_word_embeddings { 0 } else { h * v }
}

/// Bytes burn's autodiff keeps for the LLM's backward pass over `rows` sequences of
/// `positions`, counted from the layers' code (`llm::model`) and burn's backward rules: per
/// layer and position, the two norms' inputs and outputs (4 × hidden), q and k before, inside
/// and after the rotary embedding and v (4 × (q width + k width)), the MLP's gate, its SiLU,
/// up and their product (4 × intermediate); per head the attention's exponentials and
/// softmax (2 × positions); the LM head's logits and log-softmax over every position at
/// worst (2 × vocabulary); the input embeddings. Checkpointing keeps the matrix products'
/// outputs only (q, k, v, attention out, o, down: 2 × hidden + 2 × q width + 2 × k width;
/// gate and up: 2 × intermediate; the scores: 1 × positions per head) and recomputes one
/// layer at a time. bf16-mixed keeps, besides, the bf16 copies each product saves: its
/// input (2 bytes × (3 × hidden + intermediate + q width + 2 × k width + heads × positions))
/// and the layers' weights (2 bytes each).
pub fn llm_activations(c: &LlmConfig, rows: u64, positions: u64, precision: Precision, checkpointing: bool) -> u64 {
    let (h, i, v) = (c.hidden_size as u64, c.intermediate_size as u64, c.vocab_size as u64);
    let (q, kv, heads) = ((c.heads * c.head_dim) as u64, (c.kv_heads * c.head_dim) as u64, c.heads as u64);
    let bytes = precision.bytes();
    let full = 4 * h + 4 * (q + kv) + 4 * i + 2 * heads * positions;
    let kept = 2 * h + 2 * (q + kv) + 2 * i + heads * positions;
    let layers = c.layers as u64;
    let per_position = match checkpointing {
        false => layers * full,
        true => layers * kept + full,
    };
    let ends = 2 * v + 2 * h;
    let mut total = rows * positions * (per_position + ends) * bytes;
    if precision == Precision::Bf16Mixed {
        let copies = 3 * h + i + q + 2 * kv + heads * positions;
        total += rows * positions * layers * copies * 2 + 2 * (llm_params(c) - v * h);
    }
    total
}

/// The run's plan: parameters from the configs (nothing loaded), then each stage's memory.
pub fn plan(config: &RunConfig, device: &Device) -> Result<Plan, TrainError> {
    let llm = LlmConfig::from_dir(&config.llm)?;
    let mut specs = Vec::new();
    let mut encoders = Vec::new();
    for choice in &config.encoders {
        let mut resolved = registry::resolve(Some(&choice.name), choice.weights.as_deref())?;
        if choice.tokens.is_some() {
            resolved.spec.feature_tokens = choice.tokens;
        }
        let model = resolved.spec.architecture.spec().build(None, device)?;
        encoders.push((choice.name.clone(), model.num_params() as u64));
        specs.push(resolved.spec);
    }
    let specs: Vec<&EncoderSpec> = specs.iter().collect();
    let connector = super::model::connector(config, &specs, &llm, device)?.num_params() as u64;
    let params = Params { llm: llm_params(&llm), connector, encoders };
    let stages = [(1u8, &config.stage1), (2, &config.stage2)]
        .into_iter()
        .filter_map(|(stage, c)| c.as_ref().filter(|c| c.samples != Some(0)).map(|c| (stage, c)))
        .map(|(stage, c)| stage_plan(config, &llm, &params, stage, c))
        .collect();
    Ok(Plan {
        precision: config.precision,
        max_length: config.max_length,
        gradient_checkpointing: config.gradient_checkpointing,
        params,
        stages,
    })
}

fn stage_plan(config: &RunConfig, llm: &LlmConfig, params: &Params, stage: u8, c: &StageConfig) -> StagePlan {
    let train_llm = c.train_llm.unwrap_or(stage == 2);
    let encoders_train = c.encoder_lr.is_some();
    let encoder_params: u64 = params.encoders.iter().map(|(_, n)| n).sum();
    let trainable = params.connector + if train_llm { params.llm } else { 0 } + if encoders_train { encoder_params } else { 0 };
    let mut trains = Vec::new();
    if train_llm {
        trains.push("the LLM");
    }
    if encoders_train {
        trains.push("the encoders");
    }
    let bytes = config.precision.bytes();
    let accumulates = c.micro_batch() < c.batch_size;
    let memory = |checkpointing| Memory {
        weights: (params.llm + params.connector + encoder_params) * bytes,
        gradients: trainable * bytes * if accumulates { 2 } else { 1 },
        optimizer: 2 * trainable * bytes,
        activations: llm_activations(llm, c.micro_batch() as u64, config.max_length as u64, config.precision, checkpointing),
    };
    StagePlan {
        stage,
        micro_batch: c.micro_batch(),
        trainable,
        trains,
        without: memory(false),
        checkpointed: memory(true),
        encoders_train,
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / GIB)
}

fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

impl Plan {
    /// The stage with the largest peak as configured, and that peak's parts.
    fn worst(&self) -> Option<(&StagePlan, Memory)> {
        let memory = |s: &StagePlan| s.memory(self.gradient_checkpointing);
        self.stages.iter().max_by_key(|s| memory(s).peak()).map(|s| (s, memory(s)))
    }

    /// One line: the peak, its stage and what dominates it.
    pub fn summary(&self) -> String {
        match self.worst() {
            Some((s, m)) => format!("peak {} in stage {} ({}, {})", gib(m.peak()), s.stage, m.dominant(), self.precision.name()),
            None => "no stage to train".into(),
        }
    }

    /// The plan as `cambrian plan` prints it.
    pub fn report(&self) -> String {
        let p = &self.params;
        let encoders: Vec<String> = p.encoders.iter().map(|(name, n)| format!("{name} {}", count(*n))).collect();
        let mut out = format!(
            "precision {}, max_length {}, gradient checkpointing {}\nparameters: LLM {}, connector {}, encoders {}\n",
            self.precision.name(),
            self.max_length,
            if self.gradient_checkpointing { "on" } else { "off" },
            count(p.llm),
            count(p.connector),
            encoders.join(", ")
        );
        for s in &self.stages {
            let trains = std::iter::once("the connector").chain(s.trains.iter().copied()).collect::<Vec<_>>().join(", ");
            out += &format!(
                "stage {}: micro-batch {}, trains {trains} ({} parameters)\n",
                s.stage,
                s.micro_batch,
                count(s.trainable)
            );
            let (m, c) = (s.memory(self.gradient_checkpointing), s.checkpointed);
            out += &format!(
                "  weights      {:>12}\n  gradients    {:>12}\n  optimizer    {:>12}\n",
                gib(m.weights),
                gib(m.gradients),
                gib(m.optimizer)
            );
            out += &format!(
                "  activations  {:>12}  (without checkpointing {}, with {})\n",
                gib(m.activations),
                gib(s.without.activations),
                gib(c.activations)
            );
            out += &format!("  peak         {:>12}  dominated by {}\n", gib(m.peak()), m.dominant());
            if s.encoders_train {
                out += "  (the trained encoders' activations are not in this estimate)\n";
            }
        }
        out
    }

    /// Refuses a plan whose peak exceeds `limit_bytes`, naming what would shrink it most.
    pub fn check_fits(&self, limit_bytes: u64) -> Result<(), TrainError> {
        let Some((worst, memory)) = self.worst() else { return Ok(()) };
        if memory.peak() <= limit_bytes {
            return Ok(());
        }
        let advice = match memory.dominant() {
            "activations" if !self.gradient_checkpointing => {
                format!(
                    "set gradient_checkpointing = true (activations {}), or a smaller micro_batch_size",
                    gib(worst.checkpointed.activations)
                )
            }
            "activations" => {
                format!("a smaller micro_batch_size than {} or max_length than {}", worst.micro_batch, self.max_length)
            }
            _ if self.precision == Precision::F32 => {
                "precision = \"bf16\" (half the weights, gradients and optimizer state), or a smaller LLM".into()
            }
            _ => "a smaller LLM, or fewer trained parts (train_llm = false)".into(),
        };
        Err(TrainError::DoesNotFit {
            stage: worst.stage,
            peak: gib(memory.peak()),
            limit: gib(limit_bytes),
            dominant: memory.dominant(),
            advice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama(tie: bool) -> LlmConfig {
        deep_llama(tie, 2)
    }

    fn deep_llama(tie: bool, layers: usize) -> LlmConfig {
        let dir = std::env::temp_dir().join(format!("cambrian-plan-llama-{tie}-{layers}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            r#"{{"model_type": "llama", "vocab_size": 100, "hidden_size": 16, "intermediate_size": 40,
            "num_hidden_layers": {layers}, "num_attention_heads": 4, "num_key_value_heads": 2,
            "rms_norm_eps": 1e-6, "tie_word_embeddings": {tie}}}"#
        );
        std::fs::write(dir.join("config.json"), text).unwrap();
        let config = LlmConfig::from_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        config
    }

    /// By hand: embedding 100·16; per layer q 16·16, k and v 16·8 each, o 16·16, MLP 3·16·40,
    /// norms 2·16; final norm 16; head 16·100 unless tied.
    #[test]
    fn the_llm_formula_counts_every_parameter() {
        let layer = 256 + 2 * 128 + 256 + 3 * 640 + 32;
        assert_eq!(llm_params(&llama(true)), 1600 + 2 * layer + 16);
        assert_eq!(llm_params(&llama(false)), 1600 + 2 * layer + 16 + 1600);
        for tie in [true, false] {
            let model = crate::llm::model::LlmModel::new(&llama(tie), &Device::flex());
            assert_eq!(llm_params(&llama(tie)), model.num_params() as u64);
        }
    }

    /// Checkpointing keeps half a layer's activations per layer plus one layer recomputed:
    /// fewer from three layers on.
    #[test]
    fn checkpointing_keeps_fewer_activations() {
        let c = deep_llama(false, 3);
        for precision in [Precision::F32, Precision::Bf16Mixed, Precision::Bf16] {
            let (without, with) = (llm_activations(&c, 4, 512, precision, false), llm_activations(&c, 4, 512, precision, true));
            assert!(with < without, "{precision:?}: {with} ≥ {without}");
        }
        assert_eq!(llm_activations(&c, 4, 512, Precision::Bf16, false) * 2, llm_activations(&c, 4, 512, Precision::F32, false));
    }
}
