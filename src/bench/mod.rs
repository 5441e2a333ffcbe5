//! `cambrian bench`: our speed next to PyTorch's on the same machine in the same invocation,
//! each measurement in its own process so that its peak memory is its own. `encoders` times
//! the encoders' forward passes, `train` the probe's training step, `feature-cache` what the
//! feature cache saves in training, `generate` greedy decoding, `eval` evaluation. This file holds what they
//! share: the work folder, reading a child's JSON line, peak memory, where the reference runs.

pub mod encoders;
pub mod eval;
pub mod feature_cache;
pub mod generate;
pub mod train;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};

/// A benchmark's work folder: the one given, which must not exist and is kept afterwards, or
/// a temporary one, removed when dropped.
pub(crate) struct WorkDir {
    pub path: PathBuf,
    temporary: bool,
}

impl WorkDir {
    /// `given`, or `TMP/cambrian-bench-NAME-PID`.
    pub fn new(given: Option<&Path>, name: &str) -> anyhow::Result<Self> {
        let (path, temporary) = match given {
            Some(path) => (std::path::absolute(path).context("resolving --work")?, false),
            None => (std::env::temp_dir().join(format!("cambrian-bench-{name}-{}", std::process::id())), true),
        };
        ensure!(!path.exists(), "{} already exists; choose a new work folder", path.display());
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, temporary })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.temporary
            && let Err(err) = std::fs::remove_dir_all(&self.path)
        {
            tracing::warn!("cannot remove {}: {err}", self.path.display());
        }
    }
}

/// The PyTorch side of a benchmark: its script, the interpreter that runs it, or none.
#[derive(clap::Args)]
pub struct ReferenceArgs {
    /// The PyTorch side's script. Default: the benchmark's own under tools/bench/
    /// (eval.py, generate.py, train.py, encoders.py).
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Python interpreter with torch and transformers (and timm, open_clip for `train`
    /// and `encoders`).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Measure ours only.
    #[arg(long)]
    pub no_reference: bool,
}

impl ReferenceArgs {
    /// The script run: `--reference`, or the benchmark's `default`.
    pub fn script(&self, default: &str) -> PathBuf {
        self.reference.clone().unwrap_or_else(|| PathBuf::from(default))
    }

    /// Runs the script with `args` and reads the JSON line it prints last.
    pub(crate) fn run<T: serde::de::DeserializeOwned>(&self, default: &str, args: &[&str]) -> anyhow::Result<T> {
        let script = self.script(default);
        if !script.is_file() {
            bail!("not run: {} not found (run from the repository root or pass --reference)", script.display());
        }
        let output = std::process::Command::new(&self.python)
            .arg(&script)
            .args(args)
            .output()
            .with_context(|| format!("not run: cannot start `{}`", self.python))?;
        parse_child(&output, &script.display().to_string())
    }
}

/// The last JSON line a measuring child printed, or its last line of stderr when it failed.
pub(crate) fn parse_child<T: serde::de::DeserializeOwned>(output: &std::process::Output, what: &str) -> anyhow::Result<T> {
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        bail!("{what} failed: {last}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).context("no JSON line in the output")?;
    serde_json::from_str(line).with_context(|| format!("{what} printed `{line}`"))
}

/// VmHWM of this process (Linux); `None` elsewhere.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Where the reference runs so that both sides share the device: the CPU, or the CUDA GPU
/// when ours runs on a GPU backend.
pub(crate) fn reference_device(ours: &str) -> Option<&'static str> {
    match ours {
        "cpu" => Some("cpu"),
        "wgpu" | "vulkan" | "cuda" => Some("cuda"),
        _ => None,
    }
}
