//! A training run, as a TOML file: the model (encoders, connector, LLM), the conversation
//! template, and the study's two stages. Defaults follow Cambrian-1's encoder study (notes
//! §4): stage 1 trains the connector only, lr 1e-3; stage 2 trains connector and LLM, lr 2e-5,
//! the encoder frozen unless it is given its own learning rate; AdamW with weight decay 0,
//! warmup ratio 0.03, cosine decay, gradient norm clipped to 1, maximum length 2048.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::connectors::ldp::{LdpType, V2_GRID};
use crate::connectors::{CAbstractorSettings, LdpSettings, PerceiverSettings, PixelShuffleSettings, ProjectorKind, SvaSettings};
use crate::features::CacheDtype;
use crate::llm::chat::Template;
use crate::nn::precision::Precision;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Seeds random initialisation and the data order.
    #[serde(default)]
    pub seed: u64,
    pub encoders: Vec<EncoderChoice>,
    pub connector: ConnectorConfig,
    /// A transformers folder: config.json, tokenizer.json, safetensors weights.
    pub llm: PathBuf,
    /// The template of stage 2 and of evaluation.
    #[serde(default = "default_template")]
    pub template: Template,
    /// Positions per example after splicing (`tokenizer_model_max_length`).
    #[serde(default = "default_max_length")]
    pub max_length: usize,
    /// Recompute memory-bound activations in the backward pass instead of keeping them
    /// (burn's balanced strategy): less memory for large LLMs, more compute; same results.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// The float precision of training (`nn::precision`): `f32`; `bf16-mixed`, f32 weights and
    /// optimizer with matrix products and attention in bf16; `bf16`, the whole model in bf16.
    #[serde(default, skip_serializing_if = "is_f32_precision")]
    pub precision: Precision,
    /// The frozen-feature cache folder, shared by every run that names it; frozen encoders
    /// read their features there instead of running (`crate::features`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_cache: Option<PathBuf>,
    /// How the cache stores features: f32 (exact) or f16 (half the space; changes numerics).
    #[serde(default, skip_serializing_if = "is_f32")]
    pub feature_cache_dtype: CacheDtype,
    pub stage1: Option<StageConfig>,
    pub stage2: Option<StageConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderChoice {
    /// A preset name or the path of a spec TOML.
    pub name: String,
    /// A checkpoint file or folder; or else `init`.
    pub weights: Option<PathBuf>,
    #[serde(default)]
    pub init: Option<Init>,
    /// Resize the token map to this many tokens (a square), as the spec's `feature_tokens`
    /// (Cambrian's `-interpN`): e.g. ConvNeXt-XXL at 9216 (96×96) for the SVA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Random, seeded with the run's seed plus the encoder's index.
    Random,
    /// The spec's own checkpoint, from the Hugging Face or torch.hub cache (downloaded once).
    Pretrained,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnectorKind {
    /// Every encoder's map resized to one grid, concatenated on channels, projected.
    #[default]
    Concat,
    /// Cambrian-1's Spatial Vision Aggregator, with its settings in `[connector.sva]`.
    Sva,
    /// The concatenation's input through Honeybee's C-Abstractor (`[connector.c-abstractor]`).
    CAbstractor,
    /// Through InternVL's pixel shuffle and `mlp1` (`[connector.pixel-shuffle]`).
    PixelShuffle,
    /// Through Flamingo's Perceiver resampler, then the projector (`[connector.perceiver]`).
    Perceiver,
    /// Through MobileVLM's lightweight downsample projector (`[connector.ldp]`).
    Ldp,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    #[serde(default, skip_serializing_if = "is_concat")]
    pub kind: ConnectorKind,
    /// The concatenation's projector.
    #[serde(default = "default_projector")]
    pub projector: ProjectorKind,
    /// [rows, cols] the concatenation brings the encoders' maps to; default the first
    /// encoder's grid.
    pub grid: Option<[usize; 2]>,
    /// Cambrian's learned `image_newline` after every row (the SVA always has it).
    #[serde(default = "yes")]
    pub image_newline: bool,
    /// Each image at its own grid: a native-resolution encoder's tokens reach the LLM as they
    /// are, as many as the image's size gives within the budget (the concatenation of one
    /// such encoder). Default: every grid brought to `grid`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub native: bool,
    /// `kind = "sva"`: Cambrian's settings, named and defaulted as in its code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sva: Option<SvaSettings>,
    /// `kind = "c-abstractor"`: Honeybee's settings, named and defaulted as in its code (as
    /// the three below are after theirs).
    #[serde(default, rename = "c-abstractor", skip_serializing_if = "Option::is_none")]
    pub c_abstractor: Option<CAbstractorSettings>,
    #[serde(default, rename = "pixel-shuffle", skip_serializing_if = "Option::is_none")]
    pub pixel_shuffle: Option<PixelShuffleSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perceiver: Option<PerceiverSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldp: Option<LdpSettings>,
}

impl ConnectorConfig {
    /// The connector's name in run ids and results: the projector's for the concatenation
    /// (`-native` after it, the Perceiver's and the LDP's with own grids),
    /// MobileVLM's `mm_projector_type` for the LDP (`ldpnet`, `ldpnetv2`: two connectors a
    /// study compares), else the kind's (`sva`, `c-abstractor`, ...).
    pub fn label(&self) -> String {
        let name = |value: serde_json::Result<serde_json::Value>| {
            value.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        };
        let native = if self.native { "-native" } else { "" };
        match self.kind {
            ConnectorKind::Concat => name(serde_json::to_value(self.projector)) + native,
            ConnectorKind::Ldp => name(serde_json::to_value(self.ldp.clone().unwrap_or_default().mm_projector_type)) + native,
            kind => name(serde_json::to_value(kind)) + native,
        }
    }

    /// The SVA's settings (Cambrian's defaults where `[connector.sva]` is absent).
    pub fn sva_settings(&self) -> SvaSettings {
        self.sva.clone().unwrap_or_default()
    }
}

fn is_concat(kind: &ConnectorKind) -> bool {
    *kind == ConnectorKind::Concat
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// LLaVA-format JSON or JSONL.
    pub data: PathBuf,
    /// The folder image paths are relative to.
    pub images: PathBuf,
    /// Train on the first this many usable records only (the study's data-size axis); 0
    /// skips the stage (one-stage training when it is stage 1).
    pub samples: Option<usize>,
    /// Default: `plain` in stage 1 (connector pre-training), the run's template in stage 2.
    pub template: Option<Template>,
    #[serde(default = "one")]
    pub epochs: u64,
    /// Stop after this many optimizer steps (the schedule is laid out over them).
    pub max_steps: Option<u64>,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Examples per forward pass; gradients accumulate over batch_size / micro_batch_size.
    pub micro_batch_size: Option<usize>,
    /// Peak learning rate of the connector (and of the LLM when it trains).
    pub lr: f64,
    /// The SVA's samplers and queries (`vision_sampler*`, `vision_query`) at this peak rate
    /// instead (Cambrian's `mm_vision_sampler_lr`, 1e-4 in its stage 1).
    pub sva_lr: Option<f64>,
    /// Default: false in stage 1, true in stage 2.
    pub train_llm: Option<bool>,
    /// Trains the encoders too, at this peak learning rate (the study's "unfrozen" runs).
    pub encoder_lr: Option<f64>,
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    #[serde(default)]
    pub weight_decay: f64,
    #[serde(default = "default_clip")]
    pub max_grad_norm: f64,
    /// Write a checkpoint every this many steps (0: only at the end of the stage).
    #[serde(default)]
    pub checkpoint_every: u64,
    /// Put examples of similar length together in micro-batches, for less padding (the HF
    /// Trainer's `group_by_length`); this changes the data order (`train::order`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub group_by_length: bool,
}

fn default_template() -> Template {
    Template::VicunaV1
}
fn default_max_length() -> usize {
    2048
}
fn default_projector() -> ProjectorKind {
    ProjectorKind::Mlp2xGelu
}
fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}
fn is_false(value: &bool) -> bool {
    !value
}
fn is_f32(dtype: &CacheDtype) -> bool {
    *dtype == CacheDtype::F32
}
fn is_f32_precision(precision: &Precision) -> bool {
    *precision == Precision::F32
}
fn default_warmup() -> f64 {
    0.03
}
fn default_clip() -> f64 {
    1.0
}

/// Limits of the SVA's settings, far above Cambrian-1's (1 group, depth 3, width 1024) and
/// any LLM's (Llama 3.1 405B: 126 layers, hidden size 16384).
const SVA_MAX_GROUPS: usize = 64;
const SVA_MAX_DEPTH: usize = 64;
const SVA_MAX_WIDTH: usize = 16384;
const MAX_LLM_LAYERS: usize = 1024;
/// The largest map a token-reducing connector reads, far above Cambrian-1's largest (96 × 96).
const MAX_INPUT_TOKENS: usize = 1 << 16;

/// Whether an image of this many positions (`None`: too many to count) leaves room for an
/// answer; the error names the field that sized it.
type Room<'a> = dyn Fn(&str, Option<usize>) -> Result<(), String> + 'a;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl RunConfig {
    /// Reads and checks a run file (a run folder's `config.toml` too); relative paths in it are
    /// taken from the file's folder, and every path is made [`canonical`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
        let mut config: RunConfig = toml::from_str(&text).map_err(|err| invalid(err.to_string()))?;
        config.validate().map_err(invalid)?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Every path made [`canonical`], relative ones taken from `base` (itself taken from the
    /// working folder when relative): two configs that name the same files are then equal.
    pub fn resolve_paths(&mut self, base: &Path) {
        self.for_each_path(|path| *path = canonical(&base.join(&*path)));
    }

    /// The config as a run folder's `config.toml` keeps it: paths inside `dir` relative to it,
    /// so that they follow the folder when it moves; the others as they are.
    pub fn relative_to(&self, dir: &Path) -> RunConfig {
        let dir = canonical(dir);
        let mut config = self.clone();
        config.for_each_path(|path| {
            if let Ok(inside) = path.strip_prefix(&dir) {
                *path = if inside.as_os_str().is_empty() { PathBuf::from(".") } else { inside.to_path_buf() };
            }
        });
        config
    }

    /// Applies `change` to every path the config names: the LLM, the feature cache, the
    /// encoders' weights and spec files (a name ending in `.toml`), the stages' data and images.
    pub fn for_each_path(&mut self, mut change: impl FnMut(&mut PathBuf)) {
        change(&mut self.llm);
        if let Some(cache) = &mut self.feature_cache {
            change(cache);
        }
        for encoder in &mut self.encoders {
            if let Some(weights) = &mut encoder.weights {
                change(weights);
            }
            if encoder.name.ends_with(".toml") {
                let mut spec = PathBuf::from(&encoder.name);
                change(&mut spec);
                encoder.name = spec.to_string_lossy().into_owned();
            }
        }
        for stage in [&mut self.stage1, &mut self.stage2].into_iter().flatten() {
            change(&mut stage.data);
            change(&mut stage.images);
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.encoders.is_empty() {
            return Err("at least one [[encoders]] entry is needed".into());
        }
        for encoder in &self.encoders {
            if encoder.weights.is_some() == encoder.init.is_some() {
                return Err(format!(
                    "encoder `{}`: give exactly one of `weights = PATH` and `init = \"random\" | \"pretrained\"`",
                    encoder.name
                ));
            }
        }
        if self.feature_cache.is_none() && self.feature_cache_dtype != CacheDtype::F32 {
            return Err("feature_cache_dtype needs a feature_cache folder".into());
        }
        if self.max_length < 2 {
            return Err("max_length must be at least 2".into());
        }
        let sva = self.connector.kind == ConnectorKind::Sva;
        if !sva && self.connector.sva.is_some() {
            return Err("[connector.sva] needs kind = \"sva\"".into());
        }
        if sva && self.connector.grid.is_some() {
            return Err("[connector] grid is the concatenation's; the SVA's grid is [connector.sva] image_token_len".into());
        }
        let reads_any_grid = matches!(self.connector.kind, ConnectorKind::Concat | ConnectorKind::Perceiver | ConnectorKind::Ldp);
        if self.connector.native && (!reads_any_grid || self.connector.grid.is_some()) {
            return Err("[connector] native = true keeps each image's own grid: it is for kind = \"concat\", \"perceiver\" or \"ldp\" without a grid".into());
        }
        if self.connector.native && (self.encoders.len() != 1 || self.encoders[0].tokens.is_some()) {
            return Err(crate::mllm::OWN_GRIDS_NEED.to_string() + ", without tokens");
        }
        self.check_connector_sizes()?;
        if self.stage1.is_none() && self.stage2.is_none() {
            return Err("no [stage1] or [stage2]: nothing to train".into());
        }
        if [&self.stage1, &self.stage2].into_iter().flatten().all(|stage| stage.samples == Some(0)) {
            return Err("samples = 0 in every stage ([stage1] and [stage2]): nothing to train".into());
        }
        for (name, stage) in [("stage1", &self.stage1), ("stage2", &self.stage2)] {
            let Some(stage) = stage else { continue };
            let micro = stage.micro_batch_size.unwrap_or(stage.batch_size);
            if stage.batch_size == 0 || micro == 0 || stage.batch_size % micro != 0 {
                return Err(format!(
                    "[{name}] batch_size {} must be a positive multiple of micro_batch_size {micro}",
                    stage.batch_size
                ));
            }
            if stage.sva_lr.is_some() && !sva {
                return Err(format!("[{name}] sva_lr needs [connector] kind = \"sva\""));
            }
            let rates = [Some(stage.lr), stage.encoder_lr, stage.sva_lr];
            if rates.into_iter().flatten().any(|lr| !(lr.is_finite() && lr > 0.0)) {
                return Err(format!("[{name}] learning rates must be positive"));
            }
            if !(0.0..1.0).contains(&stage.warmup_ratio)
                || stage.weight_decay < 0.0
                || stage.max_grad_norm.is_nan()
                || stage.max_grad_norm <= 0.0
            {
                return Err(format!("[{name}] needs 0 <= warmup_ratio < 1, weight_decay >= 0, max_grad_norm > 0"));
            }
            if stage.epochs == 0 || stage.max_steps == Some(0) {
                return Err(format!("[{name}] epochs and max_steps must be at least 1"));
            }
        }
        Ok(())
    }

    /// The connector's sizes within limits: an image leaves room for an answer within
    /// `max_length`, and the SVA's widths, depths and layer numbers stay below what any
    /// model has (so that a typo is an error, not an allocation that aborts the process).
    fn check_connector_sizes(&self) -> Result<(), String> {
        let newline = usize::from(self.connector.image_newline);
        let room = |field: &str, tokens: Option<usize>| match tokens {
            Some(tokens) if tokens < self.max_length => Ok(()),
            _ => Err(format!(
                "{field}: the image would take {} positions, leaving no room for an answer within max_length {}",
                tokens.map_or("too many".to_string(), |t| t.to_string()),
                self.max_length
            )),
        };
        if let Some([rows, cols]) = self.connector.grid {
            if rows == 0 || cols == 0 {
                return Err(format!("[connector] grid [{rows}, {cols}] needs at least one row and one column"));
            }
            match self.connector.kind {
                ConnectorKind::Concat => room("[connector] grid", rows.checked_mul(cols + newline))?,
                // The map a reducing connector reads: positions are counted from its output.
                _ if rows.saturating_mul(cols) > MAX_INPUT_TOKENS => {
                    return Err(format!("[connector] grid [{rows}, {cols}] is above the limit of {MAX_INPUT_TOKENS} tokens"));
                }
                _ => {}
            }
        }
        self.check_reducing_connectors(&room)?;
        if self.connector.kind != ConnectorKind::Sva {
            return Ok(());
        }
        let sva = self.connector.sva_settings();
        let side = sva.image_token_len.isqrt();
        room("[connector.sva] image_token_len", sva.image_token_len.checked_add(side))?;
        let limits = [
            ("num_query_group", sva.num_query_group, SVA_MAX_GROUPS),
            ("connector_depth", sva.connector_depth, SVA_MAX_DEPTH),
            ("vision_hidden_size", sva.vision_hidden_size, SVA_MAX_WIDTH),
            ("num_of_vision_sampler_layers", sva.num_of_vision_sampler_layers, MAX_LLM_LAYERS),
            ("start_of_vision_sampler_layers", sva.start_of_vision_sampler_layers, MAX_LLM_LAYERS),
            ("stride_of_vision_sampler_layers", sva.stride_of_vision_sampler_layers, MAX_LLM_LAYERS),
        ];
        let queries = sva.query_num_list.iter().flatten().map(|&n| ("query_num_list entry", n, self.max_length));
        match limits.into_iter().chain(queries).find(|(_, value, limit)| value > limit) {
            Some((field, value, limit)) => Err(format!("[connector.sva] {field} {value} is above the limit of {limit}")),
            None => Ok(()),
        }
    }

    /// The settings of the token-reducing connectors (C-Abstractor, pixel shuffle, Perceiver,
    /// LDP): each table only with its kind, sizes within their limits, and the image tokens
    /// they make, where the settings fix them, within `room`.
    fn check_reducing_connectors(&self, room: &Room) -> Result<(), String> {
        let c = &self.connector;
        let tables = [
            ("c-abstractor", c.c_abstractor.is_some(), ConnectorKind::CAbstractor),
            ("pixel-shuffle", c.pixel_shuffle.is_some(), ConnectorKind::PixelShuffle),
            ("perceiver", c.perceiver.is_some(), ConnectorKind::Perceiver),
            ("ldp", c.ldp.is_some(), ConnectorKind::Ldp),
        ];
        if let Some((name, ..)) = tables.iter().find(|(_, present, kind)| *present && c.kind != *kind) {
            return Err(format!("[connector.{name}] needs kind = \"{name}\""));
        }
        let newline = usize::from(c.image_newline);
        match c.kind {
            ConnectorKind::CAbstractor => {
                let settings = c.c_abstractor.clone().unwrap_or_default();
                settings.check(self.max_length)?;
                room("[connector.c-abstractor] num_query_tokens", Some(settings.num_query_tokens + newline * settings.side()))
            }
            ConnectorKind::PixelShuffle => {
                let k = c.pixel_shuffle.clone().unwrap_or_default().factor()?;
                match c.grid {
                    Some([rows, cols]) => room("[connector] grid", Some(rows / k * (cols / k + newline))),
                    None => Ok(()),
                }
            }
            ConnectorKind::Perceiver if c.image_newline => {
                Err("[connector] image_newline: the Perceiver's latents have no rows; set image_newline = false".into())
            }
            ConnectorKind::Perceiver => {
                let settings = c.perceiver.clone().unwrap_or_default();
                settings.check(self.max_length)?;
                room("[connector.perceiver] num_latents", Some(settings.num_latents))
            }
            ConnectorKind::Ldp => {
                let settings = c.ldp.clone().unwrap_or_default();
                match (settings.mm_projector_type, c.grid) {
                    (LdpType::Ldpnetv2, _) => room("[connector.ldp] mm_projector_type", Some(V2_GRID * (V2_GRID + newline))),
                    (LdpType::Ldpnet, Some(grid)) => {
                        let [rows, cols] = settings.output_grid(grid);
                        room("[connector] grid", Some(rows * (cols + newline)))
                    }
                    (LdpType::Ldpnet, None) => Ok(()),
                }
            }
            ConnectorKind::Concat | ConnectorKind::Sva => Ok(()),
        }
    }

    /// Whether stage `stage` (1 or 2) or an earlier one trains the encoders: from then on
    /// their features are no longer those of their initial weights.
    pub fn encoders_trained_by(&self, stage: u8) -> bool {
        let stages = [(1, &self.stage1), (2, &self.stage2)];
        stages.into_iter().any(|(s, config)| s <= stage && config.as_ref().is_some_and(|c| c.encoder_lr.is_some()))
    }
}

impl StageConfig {
    pub fn micro_batch(&self) -> usize {
        self.micro_batch_size.unwrap_or(self.batch_size)
    }
}

/// `path` absolute, with `.`, `..` and symlinks resolved as far as it exists, and the rest (not
/// made yet: a feature cache, say) normalised as written: one place, one spelling. A symlink to
/// a file keeps its own name, whose extension may say the file's format (a Hugging Face cache
/// snapshot links `model.safetensors` to a blob named by its hash).
pub fn canonical(path: &Path) -> PathBuf {
    let Ok(absolute) = std::path::absolute(path) else { return path.to_path_buf() };
    let mut out = PathBuf::new();
    let mut exists = true;
    let mut parts = absolute.components().peekable();
    while let Some(part) = parts.next() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if !exists => {
                out.pop();
            }
            _ => {
                out.push(part);
                let link_to_file = parts.peek().is_none() && out.is_symlink() && out.is_file();
                if exists && !link_to_file {
                    match out.canonicalize() {
                        Ok(real) => out = real,
                        Err(_) => exists = false,
                    }
                }
            }
        }
    }
    out
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[encoders]]
name = "a"
init = "random"
[stage1]
data = "d.json"
images = "."
batch_size = 1
lr = 1e-3
"#;

    fn parse(connector: &str, stage1: &str) -> Result<RunConfig, String> {
        let text = format!("llm = \"llm\"\n{connector}\n{BASE}{stage1}");
        let config: RunConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        config.validate().map(|_| config)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cambrian-run-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        canonical(&dir)
    }

    /// `dir/sub/run.toml` with relative paths (and a feature cache not made yet).
    fn write_run(dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir.join("sub/llm")).unwrap();
        let path = dir.join("sub/run.toml");
        std::fs::write(&path, format!("llm = \"llm\"\nfeature_cache = \"../cache/./x\"\n[connector]\n{BASE}")).unwrap();
        path
    }

    #[test]
    fn a_run_file_reached_by_other_paths_means_the_same_config() {
        let dir = scratch("spellings");
        let path = write_run(&dir);
        let config = RunConfig::from_file(&path).unwrap();
        assert_eq!(config.llm, dir.join("sub/llm"));
        assert_eq!(config.feature_cache.as_deref(), Some(dir.join("cache/x").as_path()));
        assert_eq!(config.stage1.as_ref().unwrap().images, dir.join("sub"));
        std::os::unix::fs::symlink(dir.join("sub"), dir.join("link")).unwrap();
        for other in [dir.join("sub/../sub/run.toml"), dir.join("link/run.toml")] {
            assert_eq!(RunConfig::from_file(&other).unwrap(), config, "{}", other.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_folder_keeps_its_own_paths_relative_and_stays_valid_when_moved() {
        let dir = scratch("moved");
        let mut config = RunConfig::from_file(&write_run(&dir)).unwrap();
        let run = dir.join("run");
        std::fs::create_dir(&run).unwrap();
        config.feature_cache = Some(run.join("cache"));
        let kept = config.relative_to(&run);
        assert_eq!(
            (kept.llm.as_path(), kept.feature_cache.as_deref()),
            (dir.join("sub/llm").as_path(), Some(Path::new("cache")))
        );
        std::fs::write(run.join("config.toml"), toml::to_string(&kept).unwrap()).unwrap();
        assert_eq!(RunConfig::from_file(&run.join("config.toml")).unwrap(), config);
        std::fs::rename(&run, dir.join("moved")).unwrap();
        let moved = RunConfig::from_file(&dir.join("moved/config.toml")).unwrap();
        assert_eq!((moved.llm, moved.feature_cache), (config.llm, Some(dir.join("moved/cache"))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_to_a_file_keeps_its_name_and_a_path_not_made_yet_is_normalised() {
        let dir = scratch("canonical");
        std::fs::create_dir_all(dir.join("blobs")).unwrap();
        std::fs::write(dir.join("blobs/0a1b"), b"weights").unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("here")).unwrap();
        std::os::unix::fs::symlink("blobs/0a1b", dir.join("model.safetensors")).unwrap();
        assert_eq!(canonical(&dir.join("here/./blobs/../model.safetensors")), dir.join("model.safetensors"));
        assert_eq!(canonical(&dir.join("here/blobs")), dir.join("blobs"));
        assert_eq!(canonical(&dir.join("here/new/../newer/./cache")), dir.join("newer/cache"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_byte_order_mark_before_a_run_file_is_accepted() {
        let dir = scratch("bom");
        let path = write_run(&dir);
        let plain = RunConfig::from_file(&path).unwrap();
        std::fs::write(&path, format!("\u{feff}{}", std::fs::read_to_string(&path).unwrap())).unwrap();
        assert_eq!(RunConfig::from_file(&path).unwrap(), plain);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_sva_with_its_settings_and_learning_rate() {
        let config = parse("[connector]\nkind = \"sva\"\n[connector.sva]\nconnector_depth = 3", "sva_lr = 1e-4").unwrap();
        assert_eq!(config.connector.label(), "sva");
        let settings = config.connector.sva_settings();
        assert_eq!((settings.connector_depth, settings.image_token_len), (3, 576));
        assert_eq!(config.stage1.unwrap().sva_lr, Some(1e-4));
    }

    #[test]
    fn a_concatenation_config_serializes_as_before() {
        let config = parse("[connector]\nprojector = \"linear\"", "").unwrap();
        assert_eq!(config.connector.label(), "linear");
        let text = toml::to_string(&config.connector).unwrap();
        assert!(!text.contains("kind") && !text.contains("sva") && !text.contains("native"), "{text}");
    }

    #[test]
    fn native_grids_are_for_the_concatenation_of_one_encoder() {
        let config = parse("[connector]\nnative = true", "").unwrap();
        assert!(toml::to_string(&config.connector).unwrap().contains("native = true"));
        assert_eq!(config.connector.label(), "mlp2x_gelu-native", "apart from the resampled grid in results.csv");
        let perceiver = parse("[connector]\nnative = true\nkind = \"perceiver\"\nimage_newline = false", "").unwrap();
        assert_eq!(perceiver.connector.label(), "perceiver-native");
        let ldp = parse("[connector]\nnative = true\nkind = \"ldp\"", "").unwrap();
        assert_eq!(ldp.connector.label(), "ldpnet-native");
        let cases = [
            (
                "[connector]\nnative = true\nkind = \"sva\"",
                "it is for kind = \"concat\", \"perceiver\" or \"ldp\" without a grid",
            ),
            ("[connector]\nnative = true\nkind = \"c-abstractor\"", "or \"ldp\" without a grid"),
            ("[connector]\nnative = true\ngrid = [4, 4]", "or \"ldp\" without a grid"),
            ("[connector]\nnative = true\n[[encoders]]\nname = \"b\"\ninit = \"random\"", "takes one native-resolution encoder"),
        ];
        for (connector, expected) in cases {
            let err = parse(connector, "").unwrap_err();
            assert!(err.contains(expected), "{connector}: {err}");
        }
    }

    #[test]
    fn connector_sizes_beyond_their_limits_are_refused_by_name() {
        let sva = |line: &str| format!("[connector]\nkind = \"sva\"\n[connector.sva]\n{line}");
        let cases = [
            ("[connector]\ngrid = [0, 0]".to_string(), "grid [0, 0] needs at least one row"),
            ("[connector]\ngrid = [100000, 100000]".into(), "grid: the image would take 10000100000 positions"),
            ("[connector]\ngrid = [45, 45]".into(), "max_length 2048"),
            (sva("image_token_len = 2116"), "image_token_len: the image would take 2162 positions"),
            (sva("num_query_group = 100000"), "num_query_group 100000 is above the limit of 64"),
            (sva("query_num_list = [576, 1000000000]"), "query_num_list entry 1000000000"),
            (sva("connector_depth = 1000000"), "connector_depth 1000000 is above"),
            (sva("vision_hidden_size = 1048576"), "vision_hidden_size 1048576 is above"),
            (sva("stride_of_vision_sampler_layers = 1000000000000"), "stride_of_vision_sampler_layers"),
        ];
        for (connector, expected) in cases {
            let err = parse(&connector, "").unwrap_err();
            assert!(err.contains(expected), "{err} lacks {expected:?}");
        }
        assert!(parse("[connector]\ngrid = [44, 44]\nimage_newline = false", "").is_ok(), "1936 positions fit in 2048");
        assert!(parse(&sva("image_token_len = 1936"), "").is_ok(), "44 × 45 = 1980 positions");
    }

    #[test]
    fn a_run_whose_every_stage_has_no_samples_is_refused() {
        let err = parse("[connector]", "samples = 0").unwrap_err();
        assert!(err.contains("samples = 0 in every stage"), "{err}");
        assert!(parse("[connector]", "samples = 1").is_ok());
    }

    #[test]
    fn sva_settings_and_rates_without_the_sva_are_refused() {
        let err = parse("[connector]\n[connector.sva]\nconnector_depth = 3", "").unwrap_err();
        assert!(err.contains("kind = \"sva\""), "{err}");
        let err = parse("[connector]", "sva_lr = 1e-4").unwrap_err();
        assert!(err.contains("sva_lr"), "{err}");
        let err = parse("[connector]\nkind = \"sva\"\n[connector.sva]\nconector_depth = 3", "").unwrap_err();
        assert!(err.contains("conector_depth"), "{err}");
    }

    #[test]
    fn the_token_reducing_connectors_with_their_settings() {
        let config = parse("[connector]\nkind = \"c-abstractor\"\n[connector.c-abstractor]\ndepth = 0", "").unwrap();
        assert_eq!(config.connector.label(), "c-abstractor");
        let settings = config.connector.c_abstractor.clone().unwrap();
        assert_eq!((settings.depth, settings.num_query_tokens, settings.hidden_size), (0, 144, 1024));
        let text = toml::to_string(&config.connector).unwrap();
        assert!(text.contains("[c-abstractor]") && text.contains("kind = \"c-abstractor\""), "{text}");
        let config = parse("[connector]\nkind = \"pixel-shuffle\"\ngrid = [48, 48]", "").unwrap();
        assert_eq!(config.connector.label(), "pixel-shuffle", "a 48 × 48 map folds into 576 positions");
        assert_eq!(parse("[connector]\nkind = \"ldp\"", "").unwrap().connector.label(), "ldpnet");
        let config = parse("[connector]\nkind = \"ldp\"\n[connector.ldp]\nmm_projector_type = \"ldpnetv2\"", "").unwrap();
        assert_eq!(config.connector.label(), "ldpnetv2", "the two versions apart in results.csv");
        assert!(parse("[connector]\nkind = \"perceiver\"\nimage_newline = false", "").is_ok());
    }

    #[test]
    fn token_reducing_settings_beyond_their_limits_are_refused_by_name() {
        let table =
            |kind: &str, line: &str| format!("[connector]\nkind = \"{kind}\"\nimage_newline = false\n[connector.{kind}]\n{line}");
        let cases = [
            (table("c-abstractor", "num_query_tokens = 150"), "num_query_tokens 150 must be a square number"),
            (table("c-abstractor", "num_query_tokens = 4096"), "num_query_tokens 4096 must be a square number of at most 2048"),
            (table("c-abstractor", "depth = 1000"), "[connector.c-abstractor] depth 1000 is outside 0..=64"),
            (table("c-abstractor", "hidden_size = 0"), "hidden_size 0 is outside 1..=16384"),
            (table("c-abstractor", "mlp_depth = 0"), "mlp_depth 0 is outside 1..=64"),
            (table("pixel-shuffle", "downsample_ratio = 0.3"), "downsample_ratio 0.3 must be 1/k"),
            (table("pixel-shuffle", "downsample_ratio = 0.0625"), "for a whole k from 1 to 8"),
            (table("perceiver", "num_latents = 5000"), "[connector.perceiver] num_latents 5000 is outside 1..=2048"),
            (table("perceiver", "heads = 0"), "heads 0 is outside"),
            (table("perceiver", "dim_head = 100000"), "dim_head 100000 is outside 1..=1024"),
            (table("perceiver", "num_latents = 2048"), "num_latents: the image would take 2048 positions"),
            (table("perceiver", "depth = 0"), "[connector.perceiver] depth 0 is outside 1..=64"),
            (table("perceiver", "ff_mult = 100"), "[connector.perceiver] ff_mult 100 is outside 1..=64"),
            (
                "max_length = 500\n[connector]\nkind = \"pixel-shuffle\"\ngrid = [48, 48]".into(),
                "[connector] grid: the image would take 600 positions",
            ),
            (
                "max_length = 100\n[connector]\nkind = \"ldp\"\n[connector.ldp]\nmm_projector_type = \"ldpnetv2\"".into(),
                "[connector.ldp] mm_projector_type: the image would take 156 positions",
            ),
            (
                "max_length = 100\n[connector]\nkind = \"ldp\"\ngrid = [23, 23]".into(),
                "[connector] grid: the image would take 156 positions",
            ),
            (table("ldp", "mm_projector_type = \"ldpnet3\""), "ldpnet3"),
            ("[connector]\nkind = \"ldp\"\ngrid = [1000, 1000]".into(), "grid [1000, 1000] is above the limit of 65536"),
        ];
        for (connector, expected) in cases {
            let err = parse(&connector, "").unwrap_err();
            assert!(err.contains(expected), "{err} lacks {expected:?}");
        }
    }

    #[test]
    fn a_connector_table_without_its_kind_or_a_perceiver_newline_is_refused() {
        let err = parse("[connector]\n[connector.perceiver]\ndepth = 2", "").unwrap_err();
        assert!(err.contains("[connector.perceiver] needs kind = \"perceiver\""), "{err}");
        let err = parse("[connector]\nkind = \"ldp\"\n[connector.c-abstractor]\ndepth = 2", "").unwrap_err();
        assert!(err.contains("[connector.c-abstractor] needs kind = \"c-abstractor\""), "{err}");
        let err = parse("[connector]\nkind = \"perceiver\"", "").unwrap_err();
        assert!(err.contains("image_newline") && err.contains("no rows"), "{err}");
    }
}
