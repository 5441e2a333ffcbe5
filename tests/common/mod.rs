//! Shared helpers of the integration tests: fixture paths, reading safetensors, running the
//! binary, comparing tensors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use safetensors::SafeTensors;

pub mod encoder_case;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn image(name: &str) -> PathBuf {
    fixtures().join("images").join(name)
}

/// A float tensor and its shape.
pub struct Array {
    pub values: Vec<f32>,
    pub shape: Vec<usize>,
}

pub struct TensorFile {
    pub tensors: HashMap<String, Array>,
    pub metadata: HashMap<String, String>,
}

pub fn read_tensors(path: &Path) -> TensorFile {
    let bytes = std::fs::read(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let (_, header) = SafeTensors::read_metadata(&bytes).expect("safetensors header");
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(&bytes).expect("safetensors");
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                safetensors::Dtype::F32 => {
                    view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
                }
                safetensors::Dtype::I64 => {
                    view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32).collect()
                }
                other => panic!("{name}: unexpected dtype {other:?}"),
            };
            (name, Array { values, shape: view.shape().to_vec() })
        })
        .collect();
    TensorFile { tensors, metadata }
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

pub fn cambrian(args: &[&str]) -> Output {
    cambrian_with_env(args, &[])
}

pub fn cambrian_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cambrian"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run cambrian")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh empty folder under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A run config's model: random-init encoders from `tests/fixtures/mllm` (file names) and the
/// SVA connector with `settings` (lines of `[connector.sva]`).
pub fn sva_model(specs: &[&str], settings: &str) -> String {
    let encoders: String = specs
        .iter()
        .map(|name| format!("[[encoders]]\nname = \"{}\"\ninit = \"random\"\n\n", fixtures().join("mllm").join(name).display()))
        .collect();
    format!("{encoders}[connector]\nkind = \"sva\"\n\n[connector.sva]\n{settings}")
}
