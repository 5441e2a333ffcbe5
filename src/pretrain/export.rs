//! The pre-trained encoder as an ordinary checkpoint: `encoder.safetensors` in the timm
//! layout the ViT loader reads (`encoders::vit_keys`: burn's parameter paths mapped back to
//! checkpoint keys, Linear weights as PyTorch stores them, heads left out; the bytes depend
//! only on the weights) and `encoder.toml`, the input spec with `weights_file` pointing at it,
//! the objective's family, a name and title saying how it was made and, after `denoise`, the
//! fixed input noise its features are read at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, SafetensorsStore};
use safetensors::SafeTensors;

use super::{Objective, PretrainConfig, PretrainError, denoise};
use crate::encoders::vit::{InputNoise, VisionTransformer};
use crate::encoders::{Architecture, EncoderSpec, vit_keys};

pub const WEIGHTS_FILE: &str = "encoder.safetensors";
pub const SPEC_FILE: &str = "encoder.toml";

/// Writes the encoder's weights and spec into `out`; returns the spec's path.
pub fn write(vit: &VisionTransformer, spec: &EncoderSpec, config: &PretrainConfig, out: &Path) -> Result<PathBuf, PretrainError> {
    let weights = out.join(WEIGHTS_FILE);
    let corrupt = |message: String| PretrainError::Corrupt { path: weights.clone(), message };
    let mut store = SafetensorsStore::from_bytes(None).with_to_adapter(BurnToPyTorchAdapter);
    vit.save_into(&mut store).map_err(|err| corrupt(format!("{err:?}")))?;
    let bytes = store.get_bytes().map_err(|err| corrupt(format!("{err:?}")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|err| corrupt(err.to_string()))?;
    let map = vit_keys::key_map(vit.config.layout());
    let mut tensors = Vec::new();
    for (path, view) in file.tensors() {
        let key = map.checkpoint_key("", &path).ok_or_else(|| corrupt(format!("no checkpoint key for parameter `{path}`")))?;
        tensors.push((key, view));
    }
    let metadata = BTreeMap::from([
        ("format".to_string(), "pt".to_string()),
        ("objective".to_string(), config.objective.name().to_string()),
        ("steps".to_string(), config.steps.to_string()),
        ("seed".to_string(), config.seed.to_string()),
    ]);
    let bytes =
        crate::weights::sorted::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v.clone())), metadata).map_err(corrupt)?;
    crate::atomic::write(&weights, &bytes).map_err(PretrainError::io(&weights))?;

    let spec_path = out.join(SPEC_FILE);
    let text = toml::to_string(&exported_spec(spec, config))
        .map_err(|err| PretrainError::Corrupt { path: spec_path.clone(), message: err.to_string() })?;
    let header = format!(
        "# Made by `cambrian pretrain --objective {}` ({} steps, batch {}, seed {}) from `{}`.\n",
        config.objective.name(),
        config.steps,
        config.batch_size,
        config.seed,
        spec.name
    );
    crate::atomic::write(&spec_path, (header + &text).as_bytes()).map_err(PretrainError::io(&spec_path))?;
    Ok(spec_path)
}

/// The input spec, renamed, with the pre-trained weights beside it.
pub fn exported_spec(spec: &EncoderSpec, config: &PretrainConfig) -> EncoderSpec {
    let objective = config.objective;
    let mut exported = spec.clone();
    exported.name = format!("{}-{}", spec.name, objective.name());
    exported.title = format!("{} pre-trained: {} (seed {})", spec.title, objective.name(), config.seed);
    exported.family = objective.family();
    exported.hub = None;
    exported.url = None;
    exported.weights_key = None;
    exported.weights_prefix = None;
    exported.weights_file = Some(WEIGHTS_FILE.to_string());
    if let (Objective::Denoise, Architecture::Vit(vit)) = (objective, &mut exported.architecture) {
        vit.input_noise =
            Some(InputNoise { timestep: denoise::FEATURE_TIMESTEP, seed: config.seed, scheduler: denoise::schedule() });
    }
    exported
}
