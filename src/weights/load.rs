//! Strict loading: every parameter of the module must come from the checkpoint with the
//! right shape, and every checkpoint tensor that a key-map row claims must land somewhere.
//! Shapes are checked before any tensor is read, so a file that declares a huge tensor costs
//! nothing; tensors no row claims (classification heads, text towers, ...) are never read, and
//! are listed at debug level. Checkpoint tensors load in the module's float type (f32, or the
//! `--dtype` the device computes in), whatever the file stores, and must be finite in it.
//! Errors name checkpoint keys, never burn's parameter paths.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{ApplyError, FloatCastAdapter, ModuleAdapter, ModuleContext, ModuleSnapshot, PyTorchToBurnAdapter, bridge};
use burn::tensor::{DType, Tensor};
use tracing::debug;

use super::WeightsError;
use super::checkpoint::Checkpoint;
use super::keymap::{KeyMap, Renamed};
use super::params::Params;

pub fn load_strict<M: Module + ModuleSnapshot>(module: &mut M, checkpoint: Checkpoint, map: &KeyMap) -> Result<(), WeightsError> {
    let origin = checkpoint.origin.clone();
    let renamed = map.rename(checkpoint)?;
    let params = Params::of(module);
    check_shapes(&renamed, &params, &origin)?;
    let dtype = float_dtype(module);
    let inspect = Inspect::default();
    let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(dtype)).chain(inspect.clone());
    let result = module.apply(renamed.tensors, None, Some(Box::new(adapter)), false);
    let findings = inspect.findings();
    // burn's path → the checkpoint key it came from.
    let key_of = |path: &str| {
        let path = params.checkpoint_path(path);
        renamed.origins.get(path).map_or(path.to_string(), |(key, _)| key.clone())
    };

    if let Some(error) = result.errors.first() {
        let (path, message) = describe(error);
        let message = findings.read_errors.get(path).cloned().unwrap_or(message);
        return Err(WeightsError::Tensor { origin, key: key_of(path), message });
    }
    if let Some((path, count, total)) = findings.non_finite.first() {
        let message = format!("{count} of its {total} values are NaN or infinite (as {dtype:?}, the type it loads in)");
        return Err(WeightsError::Tensor { origin, key: key_of(path), message });
    }
    if let Some((path, _)) = result.missing.first() {
        let path = params.checkpoint_path(path);
        let key = map.checkpoint_key(&renamed.prefix, path).unwrap_or(path.to_string());
        // A tensor that went unused is the likely culprit (a renamed or misspelt key).
        let unused = result.unused.iter().filter_map(|path| renamed.origins.get(path).map(|(key, _)| key.clone()));
        let candidates: Vec<String> = renamed.unmatched.iter().cloned().chain(unused).collect();
        let closest = closest_key(&key, &candidates);
        return Err(WeightsError::Missing { origin, key, closest });
    }
    if let Some(path) = result.unused.first() {
        let key = renamed.origins.get(path).map_or(path.clone(), |(key, _)| key.clone());
        return Err(WeightsError::Unexpected { origin, key, param: path.clone() });
    }
    if !renamed.unmatched.is_empty() {
        debug!("{origin}: {} tensors unused by this model: {:?}", renamed.unmatched.len(), renamed.unmatched);
    }
    debug!("{origin}: {} tensors applied", result.applied.len());
    Ok(())
}

/// Every tensor bound for a parameter must have its shape (after a key-map row's squeeze),
/// checked on the shapes the file declares, before burn reads a byte.
fn check_shapes(renamed: &Renamed, params: &Params, origin: &str) -> Result<(), WeightsError> {
    for tensor in &renamed.tensors {
        let Some(expected) = params.shape(&tensor.name) else { continue };
        if tensor.shape.as_slice() != expected {
            let (key, found) = renamed.origins.get(&tensor.name).cloned().unwrap_or((tensor.name.clone(), tensor.shape.to_vec()));
            return Err(WeightsError::Shape { origin: origin.to_string(), key, found, expected: expected.to_vec() });
        }
    }
    Ok(())
}

/// Looks at each tensor as it loads: counts a float tensor's values that are not finite (one
/// pass over the bytes already in memory, after the cast to the module's type, where an f32
/// value beyond f16's range becomes infinite), and keeps a failed read's own message (burn's
/// carries it in debug form).
#[derive(Clone, Default)]
struct Inspect(Arc<Mutex<Findings>>);

#[derive(Default)]
struct Findings {
    /// burn path, non-finite count, element count.
    non_finite: Vec<(String, usize, usize)>,
    /// burn path → why its bytes could not be read.
    read_errors: HashMap<String, String>,
}

impl Inspect {
    fn findings(&self) -> std::sync::MutexGuard<'_, Findings> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ModuleAdapter for Inspect {
    fn adapt(&self, tensor: PackTensor, _ctx: ModuleContext<'_>) -> PackTensor {
        let (name, dtype, shape, param_id) = (tensor.name.clone(), tensor.dtype, tensor.shape.clone(), tensor.param_id);
        let findings = self.0.clone();
        bridge::deferred(name.clone(), dtype, shape, param_id, move || {
            let data = bridge::to_data(&tensor);
            let mut findings = findings.lock().unwrap_or_else(PoisonError::into_inner);
            match &data {
                Err(err) => {
                    findings.read_errors.insert(name.clone(), err.to_string());
                }
                Ok(data) if dtype.is_float() => {
                    let count = data.iter::<f32>().filter(|value| !value.is_finite()).count();
                    if count > 0 {
                        findings.non_finite.push((name.clone(), count, data.num_elements()));
                    }
                }
                Ok(_) => {}
            }
            data
        })
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(self.clone())
    }
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

/// burn's path of the parameter at fault, and what went wrong, without the path (burn's
/// messages name its own path, which the caller replaces with the checkpoint key).
fn describe(error: &ApplyError) -> (&str, String) {
    match error {
        ApplyError::ShapeMismatch { path, expected, found } => {
            (path, format!("has shape {:?} once converted, the model expects {:?}", found.as_slice(), expected.as_slice()))
        }
        ApplyError::DTypeMismatch { path, expected, found } => {
            (path, format!("is stored as {found:?}, which cannot load into the model's {expected:?} parameter"))
        }
        ApplyError::AdapterError { path, message } | ApplyError::LoadError { path, message } => (path, message.clone()),
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
