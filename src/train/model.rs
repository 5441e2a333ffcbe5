//! The run's model built from its config: each encoder from its preset or spec (checkpoint,
//! or random with seed + its index), the connector (random with the run's seed), the LLM and
//! its tokenizer from the transformers folder; then whatever finished stages trained, from
//! the run folder. With a feature cache, each encoder's cache key is made as it is built.

use std::path::Path;

use burn::tensor::Device;

use super::TrainError;
use super::checkpoint::Parts;
use super::config::{ConnectorKind, Init, RunConfig};
use crate::connectors::sva::SvaLayout;
use crate::connectors::{CAbstractor, ConcatConnector, Connector, ConnectorError, Ldp, Perceiver, PixelShuffle, SvaConnector};
use crate::encoders::spec::EncoderSpec;
use crate::encoders::{Encoder, WeightsSource, registry};
use crate::features::key::EncoderKey;
use crate::features::{CachedFeatures, FeatureCache};
use crate::llm::tokenizer::LlmTokenizer;
use crate::llm::{Llm, LlmConfig};
use crate::mllm::{Mllm, MllmError, OWN_GRIDS_NEED};

pub struct Built {
    pub model: Mllm,
    pub tokenizer: LlmTokenizer,
    pub llm_config: LlmConfig,
    /// The run's feature cache, keyed by its encoders as built (for as long as they are frozen).
    pub cache: Option<CachedFeatures>,
}

pub fn build(config: &RunConfig, device: &Device) -> Result<Built, TrainError> {
    let (mut encoders, mut keys) = (Vec::new(), Vec::new());
    for (i, choice) in config.encoders.iter().enumerate() {
        let mut resolved = registry::resolve(Some(&choice.name), choice.weights.as_deref())?;
        if choice.tokens.is_some() {
            resolved.spec.feature_tokens = choice.tokens;
        }
        let pretrained = match (&choice.weights, choice.init) {
            (None, Some(Init::Pretrained)) => Some(resolved.pretrained_weights()?),
            _ => None,
        };
        let weights = match (&choice.weights, &pretrained) {
            (Some(path), _) | (None, Some(path)) => WeightsSource::Path(path),
            (None, None) => WeightsSource::Random { seed: config.seed.wrapping_add(i as u64) },
        };
        if config.feature_cache.is_some() {
            keys.push(EncoderKey::new(&resolved.spec, &weights, config.feature_cache_dtype, config.connector.native, device)?);
        }
        encoders.push(Encoder::build(resolved.spec, weights, device)?);
    }
    let cache = match &config.feature_cache {
        Some(root) => Some(CachedFeatures::new(FeatureCache::new(root.clone(), config.feature_cache_dtype), keys)?),
        None => None,
    };
    let Llm { config: llm_config, model: llm } = Llm::load(&config.llm, device)?;
    let tokenizer = LlmTokenizer::from_dir(&config.llm)?;
    let specs: Vec<&EncoderSpec> = encoders.iter().map(|e| &e.spec).collect();
    device.seed(config.seed);
    let connector = connector(config, &specs, &llm_config, device)?;
    crate::nn::init::materialize(&connector);
    let (connector, llm) = (connector.with_precision(config.precision), llm.with_precision(config.precision));
    Ok(Built { model: Mllm { encoders, connector, llm }, tokenizer, llm_config, cache })
}

/// The run's connector for encoders of `specs` and an LLM of `llm`, its parameters lazy
/// (drawn on first use, from the device's generator as it is then).
pub fn connector(config: &RunConfig, specs: &[&EncoderSpec], llm: &LlmConfig, device: &Device) -> Result<Connector, TrainError> {
    let channels: Vec<usize> = specs.iter().map(|s| s.hidden_size()).collect();
    let (features, hidden, c) = (channels.iter().sum(), llm.hidden_size, &config.connector);
    // The grid every encoder's map is brought to (all but the SVA).
    let grid = || match c.grid {
        Some(grid) => Ok(grid),
        None => specs[0].output_grid(),
    };
    Ok(match c.kind {
        ConnectorKind::Sva => {
            let grids = specs.iter().map(|s| s.output_grid()).collect::<Result<Vec<_>, _>>()?;
            let layout =
                SvaLayout::new(&c.sva_settings(), &grids, llm.layers).map_err(|e| MllmError::from(ConnectorError::from(e)))?;
            Connector::Sva(SvaConnector::new(layout, &channels, hidden, device))
        }
        ConnectorKind::Concat if c.native => {
            own_grids(true, specs)?;
            let spec = specs[0];
            // Without a budget (`resize = "none"`), the most any image may take.
            let budget = spec.preprocess.max_patches.unwrap_or(crate::encoders::spec::limits::PATCHES);
            // A square image must leave room for an answer; one of another shape that does not
            // is a counted skip in training and a degraded question in evaluation.
            let side = spec.resolution();
            let [rows, cols] = spec.own_grid(side, side)?;
            let square = rows * (cols + usize::from(c.image_newline));
            if square >= config.max_length {
                return Err(MllmError::from(ConnectorError::Config(format!(
                    "[connector] native: a square image takes {square} positions (max_patches {budget}), leaving no room for an answer within max_length {}",
                    config.max_length
                )))
                .into());
            }
            let concat = ConcatConnector::new(c.projector, features, hidden, grid()?, c.image_newline, device);
            Connector::Concat(concat.with_own_grids(budget))
        }
        ConnectorKind::Concat => {
            Connector::Concat(ConcatConnector::new(c.projector, features, hidden, grid()?, c.image_newline, device))
        }
        ConnectorKind::CAbstractor => {
            let settings = c.c_abstractor.clone().unwrap_or_default();
            Connector::CAbstractor(CAbstractor::new(&settings, grid()?, features, hidden, c.image_newline, device))
        }
        ConnectorKind::PixelShuffle => {
            let settings = c.pixel_shuffle.clone().unwrap_or_default();
            let shuffle =
                PixelShuffle::new(&settings, grid()?, features, hidden, c.image_newline, device).map_err(MllmError::from)?;
            Connector::PixelShuffle(shuffle)
        }
        ConnectorKind::Perceiver => {
            let settings = c.perceiver.clone().unwrap_or_default();
            let perceiver = Perceiver::new(&settings, c.projector, grid()?, features, hidden, device);
            match own_grids(c.native, specs)? {
                true => Connector::Perceiver(perceiver.with_own_grids()),
                false => Connector::Perceiver(perceiver),
            }
        }
        ConnectorKind::Ldp => {
            let settings = c.ldp.clone().unwrap_or_default();
            let ldp = Ldp::new(&settings, grid()?, features, hidden, c.image_newline, device).map_err(MllmError::from)?;
            match own_grids(c.native, specs)? {
                true => Connector::Ldp(ldp.with_own_grids()),
                false => Connector::Ldp(ldp),
            }
        }
    })
}

/// Whether the connector takes each image at its own grid: `native`, refused unless the
/// model has one native-resolution encoder.
fn own_grids(native: bool, specs: &[&EncoderSpec]) -> Result<bool, TrainError> {
    match (native, specs) {
        (false, _) => Ok(false),
        (true, [spec]) if spec.is_native() => Ok(true),
        (true, _) => Err(MllmError::from(ConnectorError::Config(OWN_GRIDS_NEED.into())).into()),
    }
}

/// Applies the weights each finished stage saved under `run` (stage 1, then stage 2).
pub fn apply_finished_stages(model: Mllm, run: &Path) -> Result<Mllm, TrainError> {
    let mut model = model;
    for stage in [1, 2] {
        let dir = super::checkpoint::final_dir(run, stage);
        if dir.is_dir() {
            model = Parts::load_weights(model, &dir)?;
        }
    }
    Ok(model)
}
