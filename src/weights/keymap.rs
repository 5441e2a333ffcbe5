//! Tables from checkpoint keys to module paths. A row names a checkpoint prefix and the module
//! prefix it becomes; each `#` stands for an index, filled in the same order on both sides
//! (`vision_sampler_#.layers.#` ↔ `vision_sampler.#.layers.#`). Rows are written once per checkpoint
//! layout, next to the model (see `encoders::vit_keys`), and read both ways: forward to load,
//! backward to name the checkpoint key a missing parameter should have had.

use std::collections::{BTreeMap, HashMap};

use burn::store::bridge;
use burn::store::burn_pack::{Error as PackError, Tensor as PackTensor};
use burn::tensor::{Bytes, Shape, TensorData};

use super::WeightsError;
use super::checkpoint::Checkpoint;

pub enum Rule {
    /// `from` → `to`.
    Rename(&'static str, &'static str),
    /// `from` → `to`, dropping leading unit dimensions down to `rank` (a class token stored
    /// as [1, 1, C] for a [C] parameter, a position table stored as [1, P, C]).
    Squeeze(&'static str, &'static str, usize),
    /// Separate q, k and v projections concatenated on dim 0 into one fused `to`.
    Fuse([&'static str; 3], &'static str),
}

/// One checkpoint layout: a key that locates the model inside the file (its prefix is
/// whatever precedes it, e.g. `vision_model.` or `visual.trunk.`) and the rows.
pub struct KeyMap {
    pub layout: &'static str,
    pub anchor: &'static str,
    pub rules: &'static [Rule],
}

/// A checkpoint renamed into module paths.
pub struct Renamed {
    pub prefix: String,
    pub tensors: Vec<PackTensor>,
    /// Module path → the checkpoint key(s) it came from, and their shape on disk.
    pub origins: HashMap<String, (String, Vec<usize>)>,
    /// Checkpoint keys that no row covers (heads, text towers, misspelt keys, ...).
    pub unmatched: Vec<String>,
}

/// Matches `pattern` (with `#` for digits) at the start of `key`, ending at a `.` or the end.
/// Returns the indices, in order, and the rest of the key (starting with `.`, or empty).
fn match_prefix<'k>(pattern: &str, key: &'k str) -> Option<(Vec<&'k str>, &'k str)> {
    let mut rest = key;
    let mut indices = Vec::new();
    for (i, literal) in pattern.split('#').enumerate() {
        if i > 0 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            indices.push(&rest[..digits]);
            rest = &rest[digits..];
        }
        rest = rest.strip_prefix(literal)?;
    }
    (rest.is_empty() || rest.starts_with('.')).then_some((indices, rest))
}

/// `pattern` with its `#`s replaced by `indices`, in order.
fn fill(pattern: &str, indices: &[&str]) -> String {
    let mut filled = String::with_capacity(pattern.len());
    for (i, literal) in pattern.split('#').enumerate() {
        if i > 0 {
            filled.push_str(indices.get(i - 1).copied().unwrap_or(""));
        }
        filled.push_str(literal);
    }
    filled
}

/// q, k and v stacked on their first dimension; the others must agree, and so must the dtypes.
/// An error names the checkpoint key at fault.
fn fuse(name: String, parts: [PackTensor; 3]) -> Result<PackTensor, (String, String)> {
    let dtype = parts[0].dtype;
    let mut rows = 0;
    let mut tail: Option<&[usize]> = None;
    for part in &parts {
        let Some((part_rows, part_tail)) = part.shape.as_slice().split_first() else {
            return Err((part.name.clone(), "a 0-d tensor cannot be fused with its q, k and v siblings".to_string()));
        };
        if part.dtype != dtype || tail.is_some_and(|tail| tail != part_tail) {
            return Err((part.name.clone(), format!("cannot fuse with `{}`: shapes or dtypes differ", parts[0].name)));
        }
        tail = Some(part_tail);
        rows += part_rows;
    }
    let shape: Shape = std::iter::once(rows).chain(tail.unwrap_or_default().iter().copied()).collect::<Vec<_>>().into();
    let fused_shape = shape.clone();
    Ok(bridge::deferred(name, dtype, shape, None, move || {
        let mut bytes = Vec::new();
        for part in &parts {
            bytes.extend_from_slice(&part.to_bytes()?);
        }
        TensorData::try_from_bytes(Bytes::from_bytes_vec(bytes), fused_shape.clone(), dtype)
            .map_err(|err| PackError::TensorBytesSizeMismatch(err.to_string()))
    }))
}

impl KeyMap {
    /// The part of a checkpoint key before the anchor, e.g. `vision_model.`.
    fn find_prefix(&self, checkpoint: &Checkpoint) -> Result<String, WeightsError> {
        checkpoint
            .tensors
            .keys()
            .filter_map(|key| key.strip_suffix(self.anchor))
            .filter(|prefix| prefix.is_empty() || prefix.ends_with('.'))
            .min_by_key(|prefix| prefix.len())
            .map(str::to_string)
            .ok_or_else(|| WeightsError::WrongLayout {
                origin: checkpoint.origin.clone(),
                anchor: self.anchor.to_string(),
                layout: self.layout.to_string(),
            })
    }

    pub fn rename(&self, checkpoint: Checkpoint) -> Result<Renamed, WeightsError> {
        let prefix = self.find_prefix(&checkpoint)?;
        let origin = checkpoint.origin;
        let mut renamed = Renamed { prefix: prefix.clone(), tensors: Vec::new(), origins: HashMap::new(), unmatched: Vec::new() };
        // module path → the three parts, in q, k, v order
        let mut fused: BTreeMap<String, [Option<PackTensor>; 3]> = BTreeMap::new();
        for (key, mut tensor) in checkpoint.tensors {
            let Some(relative) = key.strip_prefix(&prefix) else {
                renamed.unmatched.push(key);
                continue;
            };
            let shape = tensor.shape.as_slice().to_vec();
            match self.lookup(relative) {
                Some(Target::Single(path, rank)) => {
                    if let Some(rank) = rank {
                        let dims = shape.clone();
                        let drop = dims.iter().take_while(|d| **d == 1).count().min(dims.len().saturating_sub(rank));
                        tensor.shape = dims[drop..].to_vec().into();
                    }
                    tensor.name = path.clone();
                    renamed.origins.insert(path, (key, shape));
                    renamed.tensors.push(tensor);
                }
                Some(Target::Part(path, slot)) => {
                    renamed.origins.insert(path.clone(), (key, shape));
                    fused.entry(path).or_default()[slot] = Some(tensor);
                }
                None => renamed.unmatched.push(key),
            }
        }
        for (path, parts) in fused {
            let parts = match parts {
                [Some(q), Some(k), Some(v)] => [q, k, v],
                parts => {
                    let slot = parts.iter().position(Option::is_none).unwrap_or(0);
                    let key = self.checkpoint_key_for_slot(&prefix, &path, slot).unwrap_or(path.clone());
                    return Err(WeightsError::Missing { origin, key, closest: None });
                }
            };
            let tensor = fuse(path.clone(), parts).map_err(|(key, message)| WeightsError::Tensor {
                origin: origin.clone(),
                key,
                message,
            })?;
            renamed.tensors.push(tensor);
        }
        Ok(renamed)
    }

    fn lookup(&self, relative: &str) -> Option<Target> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Rename(from, to) => {
                match_prefix(from, relative).map(|(indices, rest)| Target::Single(fill(to, &indices) + rest, None))
            }
            Rule::Squeeze(from, to, rank) => {
                match_prefix(from, relative).map(|(indices, rest)| Target::Single(fill(to, &indices) + rest, Some(*rank)))
            }
            Rule::Fuse(parts, to) => parts.iter().enumerate().find_map(|(slot, from)| {
                match_prefix(from, relative).map(|(indices, rest)| Target::Part(fill(to, &indices) + rest, slot))
            }),
        })
    }

    /// The checkpoint key that would have become `module_path` (the first part, for fused ones).
    pub fn checkpoint_key(&self, prefix: &str, module_path: &str) -> Option<String> {
        self.checkpoint_key_for_slot(prefix, module_path, 0)
    }

    fn checkpoint_key_for_slot(&self, prefix: &str, module_path: &str, slot: usize) -> Option<String> {
        self.rules.iter().find_map(|rule| {
            let (from, to) = match rule {
                Rule::Rename(from, to) | Rule::Squeeze(from, to, _) => (*from, *to),
                Rule::Fuse(parts, to) => (parts[slot], *to),
            };
            match_prefix(to, module_path).map(|(indices, rest)| format!("{prefix}{}{rest}", fill(from, &indices)))
        })
    }
}

enum Target {
    /// A module path, and the rank to squeeze to.
    Single(String, Option<usize>),
    /// One of the three parts of a fused module path.
    Part(String, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments_and_capture_the_indices() {
        assert_eq!(match_prefix("layers.#.mlp", "layers.12.mlp.fc1.weight"), Some((vec!["12"], ".fc1.weight")));
        assert_eq!(match_prefix("norm", "norm.weight"), Some((vec![], ".weight")));
        assert_eq!(match_prefix("s_#.layers.#.k_#", "s_1.layers.20.k_3.weight"), Some((vec!["1", "20", "3"], ".weight")));
        assert_eq!(match_prefix("norm", "norm_pre.weight"), None);
        assert_eq!(match_prefix("layers.#.mlp", "layers.x.mlp"), None);
    }

    static MAP: KeyMap = KeyMap {
        layout: "test",
        anchor: "embed.weight",
        rules: &[
            Rule::Rename("embed", "patch_embed"),
            Rule::Fuse(["layers.#.q", "layers.#.k", "layers.#.v"], "blocks.#.qkv"),
            Rule::Rename("sampler_#.layers.#.k_proj_#", "sampler.#.layers.#.k_proj.#"),
        ],
    };

    #[test]
    fn module_paths_map_back_to_checkpoint_keys() {
        assert_eq!(MAP.checkpoint_key("vision.", "blocks.3.qkv.weight").as_deref(), Some("vision.layers.3.q.weight"));
        assert_eq!(MAP.checkpoint_key("", "patch_embed.bias").as_deref(), Some("embed.bias"));
        assert_eq!(MAP.checkpoint_key("", "other.bias"), None);
        assert_eq!(
            MAP.checkpoint_key("m.", "sampler.1.layers.0.k_proj.2.weight").as_deref(),
            Some("m.sampler_1.layers.0.k_proj_2.weight")
        );
    }

    #[test]
    fn several_indices_are_filled_in_order() {
        let renamed = match MAP.lookup("sampler_1.layers.20.k_proj_3.weight") {
            Some(Target::Single(path, None)) => path,
            _ => panic!("no single target"),
        };
        assert_eq!(renamed, "sampler.1.layers.20.k_proj.3.weight");
    }

    fn tensor(name: &str, shape: &[usize]) -> PackTensor {
        let bytes = vec![0u8; 4 * shape.iter().product::<usize>()];
        PackTensor::new(name.to_string(), burn::tensor::DType::F32, shape.to_vec(), None, Bytes::from_bytes_vec(bytes))
    }

    #[test]
    fn a_0d_part_of_a_fused_projection_is_an_error_naming_its_key() {
        let tensors = [
            ("embed.weight", &[2, 2][..]),
            ("layers.0.q.weight", &[]),
            ("layers.0.k.weight", &[2, 2]),
            ("layers.0.v.weight", &[2, 2]),
        ]
        .into_iter()
        .map(|(name, shape)| (name.to_string(), tensor(name, shape)))
        .collect();
        let checkpoint = Checkpoint { origin: "test.safetensors".to_string(), tensors };
        match MAP.rename(checkpoint) {
            Err(WeightsError::Tensor { key, message, .. }) => {
                assert_eq!(key, "layers.0.q.weight");
                assert!(message.contains("0-d"), "{message}");
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("a 0-d q fused"),
        }
    }
}
