//! What a sweep makes before its runs, once, into `{data}`: the synthetic benchmark and
//! training data (`{data}/synth`), a small random-init LLM whose tokenizer covers them
//! (`{data}/llm`). Each appears whole or not at all; concurrent sweep processes take turns
//! through a lock on the folder.
//!
//! Each folder holds `made-from.json`: the cambrian version, its `[prepare.*]` settings and
//! the SHA-256 of each input file (a corpus file under `{data}/synth` stands for the synth
//! folder's stamp, which determines it). A folder without that stamp (unfinished, or from an
//! older cambrian) or with another one is made again. The stamps together are the prepared
//! data's identity, part of every run id: new data means new runs, never a finished run over
//! data it was not trained on.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SweepError;
use super::lock::RunLock;
use super::spec::{LlmPrepare, Paths, Prepare, SynthPrepare};
use super::stamp::{MADE_BY, sha256_file};
use crate::atomic::write_json;
use crate::data::corpus;
use crate::data::synth;
use crate::features::key::hex;
use crate::llm::random_init::{Shape, create};
use crate::progress::Silent;

const STAMP: &str = "made-from.json";

/// What a prepared folder was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MadeFrom {
    pub made_by: String,
    /// The `[prepare.*]` table.
    pub settings: serde_json::Value,
    /// Each input file as the sweep file names it → SHA-256 of its bytes (or of the synth
    /// folder's stamp, for a file made there).
    pub inputs: BTreeMap<String, String>,
}

impl MadeFrom {
    fn new(settings: &impl Serialize, inputs: BTreeMap<String, String>) -> Self {
        let settings = serde_json::to_value(settings).expect("prepare settings serialize");
        Self { made_by: MADE_BY.into(), settings, inputs }
    }

    fn sha256(&self) -> String {
        hex(&Sha256::digest(serde_json::to_vec(self).expect("a stamp serializes")))
    }
}

/// The folders `[prepare]` asks for, each with the stamp it must carry.
pub struct Plan {
    synth: Option<(SynthPrepare, MadeFrom)>,
    llm: Option<(LlmPrepare, MadeFrom)>,
}

impl Plan {
    /// Reads the inputs that lie outside `{data}`; `origin` is the sweep file, for errors.
    pub fn new(prepare: &Prepare, paths: &Paths, origin: &Path) -> Result<Self, SweepError> {
        let synth = prepare.synth.as_ref().map(|s| (s.clone(), MadeFrom::new(s, BTreeMap::new())));
        let llm = match &prepare.llm {
            None => None,
            Some(l) => {
                let mut inputs = BTreeMap::new();
                for file in &l.corpus {
                    let hash = match (file.strip_prefix("{data}/synth/"), &synth) {
                        (Some(_), Some((_, stamp))) => format!("made by [prepare.synth] {}", stamp.sha256()),
                        _ if file.starts_with("{data}") => {
                            let message = format!("prepare.llm.corpus: `{file}` is not made by [prepare.synth]");
                            return Err(SweepError::spec(origin, message));
                        }
                        _ => sha256_file(&paths.resolve(file))?,
                    };
                    inputs.insert(file.clone(), hash);
                }
                Some((l.clone(), MadeFrom::new(l, inputs)))
            }
        };
        Ok(Self { synth, llm })
    }

    /// The first 16 hex digits of the SHA-256 of the stamps; none when nothing is prepared.
    pub fn identity(&self) -> Option<String> {
        let stamps = [self.synth.as_ref().map(|s| &s.1), self.llm.as_ref().map(|l| &l.1)];
        let text = serde_json::to_vec(&stamps).expect("stamps serialize");
        stamps.iter().any(Option::is_some).then(|| hex(&Sha256::digest(text))[..16].to_string())
    }

    /// Makes each folder that lacks its stamp.
    pub fn prepare(&self, paths: &Paths, device: &Device) -> Result<(), SweepError> {
        if self.synth.is_none() && self.llm.is_none() {
            return Ok(());
        }
        let data = paths.data_dir;
        let _lock = loop {
            if let Some(lock) = RunLock::acquire(data)? {
                break lock;
            }
            tracing::info!("waiting for another process preparing {}", data.display());
            std::thread::sleep(Duration::from_millis(500));
        };
        if let Some((s, stamp)) = &self.synth {
            ensure(&data.join("synth"), stamp, |out| {
                let mut config = synth::Config::new(s.samples, s.train_samples, s.size, s.seed);
                config.open_samples = s.open_samples.unwrap_or(config.open_samples);
                config.open_train_samples = s.open_train_samples.unwrap_or(config.open_train_samples);
                synth::write(&config, out, &Silent)?;
                Ok(())
            })?;
        }
        if let Some((l, stamp)) = &self.llm {
            ensure(&data.join("llm"), stamp, |out| {
                let corpus: Vec<_> = l.corpus.iter().map(|c| paths.resolve(c)).collect();
                let shape = Shape {
                    hidden_size: l.hidden_size,
                    intermediate_size: l.intermediate_size,
                    layers: l.layers,
                    heads: l.heads,
                    kv_heads: l.kv_heads,
                    max_positions: 4096,
                };
                Ok(create(out, &corpus::read(&corpus)?, &shape, l.seed, device)?)
            })?;
        }
        Ok(())
    }
}

/// Keeps `out` if it carries `stamp`; otherwise removes it, makes it again and stamps it.
fn ensure(out: &Path, stamp: &MadeFrom, make: impl FnOnce(&Path) -> Result<(), SweepError>) -> Result<(), SweepError> {
    let path = out.join(STAMP);
    let found: Option<MadeFrom> = std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    if found.as_ref() == Some(stamp) {
        return Ok(());
    }
    if out.exists() {
        tracing::warn!("{}: made from other settings or inputs, or unfinished; making it again", out.display());
        std::fs::remove_dir_all(out).map_err(SweepError::io(out))?;
    }
    make(out)?;
    write_json(&path, stamp).map_err(|err| SweepError::Io { path: path.clone(), source: std::io::Error::other(err) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synth(seed: u64) -> Prepare {
        Prepare {
            synth: Some(SynthPrepare {
                samples: 4,
                train_samples: 4,
                open_samples: None,
                open_train_samples: None,
                size: 64,
                seed,
            }),
            llm: None,
        }
    }

    #[test]
    fn a_prepared_folder_made_from_other_settings_is_made_again() {
        let dir = std::env::temp_dir().join(format!("cambrian-prepare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let paths = Paths { spec_dir: &dir, data_dir: &dir.join("data") };
        let origin = dir.join("sweep.toml");
        let test_file = dir.join("data/synth/test_2d.jsonl");
        let first = Plan::new(&synth(0), &paths, &origin).unwrap();
        first.prepare(&paths, &Device::flex()).unwrap();
        let made = std::fs::read(&test_file).unwrap();

        let second = Plan::new(&synth(1), &paths, &origin).unwrap();
        assert_ne!(first.identity(), second.identity(), "other settings, other data, other runs");
        second.prepare(&paths, &Device::flex()).unwrap();
        assert_ne!(std::fs::read(&test_file).unwrap(), made, "made again from seed 1");

        std::fs::remove_file(dir.join("data/synth").join(STAMP)).unwrap();
        std::fs::write(&test_file, b"").unwrap();
        second.prepare(&paths, &Device::flex()).unwrap();
        assert!(!std::fs::read(&test_file).unwrap().is_empty(), "an unstamped folder is made again");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
