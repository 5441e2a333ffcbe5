//! What a sweep makes before its runs, once, into `{data}`: the synthetic benchmark and
//! training data (`{data}/synth`), a small random-init LLM whose tokenizer covers them
//! (`{data}/llm`). Each appears whole or not at all; concurrent sweep processes take turns
//! through a lock on the folder.

use std::time::Duration;

use burn::tensor::Device;

use super::SweepError;
use super::lock::RunLock;
use super::spec::{Paths, Prepare};
use crate::data::corpus;
use crate::data::synth;
use crate::llm::random_init::{Shape, create};
use crate::progress::Silent;

pub fn prepare(prepare: &Prepare, paths: &Paths, device: &Device) -> Result<(), SweepError> {
    if prepare.synth.is_none() && prepare.llm.is_none() {
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
    if let Some(s) = &prepare.synth {
        let out = data.join("synth");
        if !out.is_dir() {
            let config = synth::Config { samples: s.samples, train_samples: s.train_samples, size: s.size, seed: s.seed };
            synth::write(&config, &out, &Silent)?;
        }
    }
    if let Some(l) = &prepare.llm {
        let out = data.join("llm");
        if !out.is_dir() {
            let corpus: Vec<_> = l.corpus.iter().map(|c| paths.resolve(c)).collect();
            let shape = Shape {
                hidden_size: l.hidden_size,
                intermediate_size: l.intermediate_size,
                layers: l.layers,
                heads: l.heads,
                kv_heads: l.kv_heads,
                max_positions: 4096,
            };
            create(&out, &corpus::read(&corpus)?, &shape, l.seed, device)?;
        }
    }
    Ok(())
}
