//! Shared helpers of the integration tests: fixture paths, reading safetensors, running the
//! binary, comparing tensors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use safetensors::SafeTensors;

pub mod colour_task;
pub mod encoder_case;
pub mod probes;

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

/// Preprocessed images' values, one after the other: [images, 3, height, width] for a square.
pub fn pixel_values(pixels: &[cambrian::encoders::preprocess::Pixels]) -> Vec<f32> {
    pixels.iter().flat_map(|p| p.values.iter().copied()).collect()
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

/// Waits until `ready` holds, then kills the process with SIGKILL; returns whether it was still
/// running when killed (a run that finished first was not interrupted).
pub fn kill_when(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready() && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    running
}

/// metrics.csv without its timing columns (tokens_per_sec, secs).
pub fn losses(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    text.lines().map(|line| line.split(',').take(5).collect::<Vec<_>>().join(",")).collect()
}

/// `init-llm` over the task's text files in `dir` into `dir/llm` (seed 1).
pub fn init_llm(dir: &Path, corpus: &[&str]) {
    let corpus: Vec<String> = corpus.iter().map(|f| dir.join(f).display().to_string()).collect();
    let out = dir.join("llm").display().to_string();
    let mut args = vec!["init-llm", "--corpus"];
    args.extend(corpus.iter().map(String::as_str));
    args.extend(["--seed", "1", "--out", &out]);
    let made = cambrian(&args);
    assert!(made.status.success(), "{}", stderr(&made));
}

/// `eval` of `run` on `dir/bench.jsonl` (vision-centric) in each of `modes`, with the log
/// flag `log` (`-q`, `-v`); the reports it wrote, in the order of `modes`, and its stderr.
pub fn evaluate(dir: &Path, run: &Path, modes: &[&str], log: &str) -> (Vec<serde_json::Value>, String) {
    let (bench, run_arg) = (dir.join("bench.jsonl").display().to_string(), run.display().to_string());
    let mut args = vec![log, "eval", "--run", &run_arg, "--benchmark", &bench, "--category", "vision-centric"];
    for mode in modes {
        args.extend(["--vision", mode]);
    }
    let out = cambrian(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let read =
        |mode: &&str| serde_json::from_slice(&std::fs::read(run.join(format!("eval/bench.{mode}.json"))).unwrap()).unwrap();
    (modes.iter().map(read).collect(), stderr(&out))
}
