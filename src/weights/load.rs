//! Strict loading: every parameter of the module must come from the checkpoint with the
//! right shape, and every checkpoint tensor that a key-map row claims must land somewhere.
//! Tensors no row claims (classification heads, text towers, ...) are listed at debug level.
//! Checkpoint tensors load in the module's float type (f32, or the `--dtype` the device
//! computes in), whatever the file stores.

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::ApplyError;
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter};
use burn::tensor::{DType, Tensor};
use tracing::debug;

use super::WeightsError;
use super::checkpoint::Checkpoint;
use super::keymap::KeyMap;

pub fn load_strict<M: Module + ModuleSnapshot>(module: &mut M, checkpoint: Checkpoint, map: &KeyMap) -> Result<(), WeightsError> {
    let origin = checkpoint.origin.clone();
    let renamed = map.rename(checkpoint)?;
    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(float_dtype(module)));
    let result = module.apply(renamed.tensors, None, Some(Box::new(adapter)), false);

    if let Some(error) = result.errors.first() {
        return Err(match error {
            ApplyError::ShapeMismatch { path, expected, found } => {
                let (key, file_shape) = renamed.origins.get(path).cloned().unwrap_or((path.clone(), found.to_vec()));
                // The adapter transposed a Linear weight iff the shape it saw differs from the
                // file's; report the expected shape in the file's orientation.
                let mut expected = expected.to_vec();
                if found.as_slice() != file_shape.as_slice() {
                    expected.reverse();
                }
                WeightsError::Shape { origin, key, found: file_shape, expected }
            }
            other => WeightsError::Tensor { origin, key: error_path(other), message: other.to_string() },
        });
    }
    if let Some((path, containers)) = result.missing.first() {
        let path = checkpoint_param_name(path, containers);
        let key = map.checkpoint_key(&renamed.prefix, &path).unwrap_or(path);
        // A tensor that went unused is the likely culprit (a renamed or misspelt key).
        let unused = result.unused.iter().filter_map(|path| renamed.origins.get(path).map(|(key, _)| key.clone()));
        let candidates: Vec<String> = renamed.unmatched.iter().cloned().chain(unused).collect();
        let closest = closest_key(&key, &candidates);
        return Err(WeightsError::Missing { origin, key, closest });
    }
    if let Some(path) = result.unused.first() {
        let key = renamed.origins.get(path).map(|(key, _)| key.clone()).unwrap_or(path.clone());
        return Err(WeightsError::Unexpected { origin, key, param: path.clone() });
    }
    if !renamed.unmatched.is_empty() {
        debug!("{origin}: {} tensors unused by this model: {:?}", renamed.unmatched.len(), renamed.unmatched);
    }
    debug!("{origin}: {} tensors applied", result.applied.len());
    Ok(())
}

/// The type of the module's float parameters (the device's float type when it was built).
fn float_dtype<M: Module>(module: &M) -> DType {
    struct First(Option<DType>);
    impl ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.get_or_insert_with(|| param.val().dtype());
        }
    }
    let mut first = First(None);
    module.visit(&mut first);
    first.0.unwrap_or(DType::F32)
}

fn error_path(error: &ApplyError) -> String {
    match error {
        ApplyError::ShapeMismatch { path, .. }
        | ApplyError::DTypeMismatch { path, .. }
        | ApplyError::AdapterError { path, .. }
        | ApplyError::LoadError { path, .. } => path.clone(),
    }
}

/// burn names norm parameters `gamma`/`beta`; checkpoints name them `weight`/`bias`.
fn checkpoint_param_name(path: &str, containers: &str) -> String {
    let is_norm = containers.rsplit('.').next().is_some_and(|c| c.ends_with("Norm"));
    match path.rsplit_once('.') {
        Some((parent, "gamma")) if is_norm => format!("{parent}.weight"),
        Some((parent, "beta")) if is_norm => format!("{parent}.bias"),
        _ => path.to_string(),
    }
}

fn closest_key(key: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|candidate| (strsim::normalized_levenshtein(key, candidate), candidate))
        .filter(|(score, _)| *score > 0.5)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.clone())
}
