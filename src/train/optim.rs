//! AdamW as the study ran it (PyTorch's `torch.optim.AdamW` through the HF Trainer), with
//! PyTorch's defaults set explicitly because burn's differ (ε 1e-5 and weight decay 1e-4
//! there): β = (0.9, 0.999), ε = 1e-8, decoupled weight decay as configured (the study uses
//! 0), and, like the Trainer's `get_decay_parameter_names`, no decay on biases and norm
//! weights. One optimizer per trained part, each with its own peak learning rate.

use std::path::Path;

use burn::module::ParamGroup;
use burn::optim::{AdamWConfig, ModuleOptimizer};

use super::TrainError;
use super::schedule::WarmupCosine;

/// Parameters the Trainer does not decay: biases, LayerNorm γ/β and RMSNorm γ.
const NO_DECAY: &str = r"(bias|beta|gamma)$";

pub fn adamw(weight_decay: f64) -> AdamWConfig {
    AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(weight_decay as f32)
}

/// A trained part's optimizer and learning-rate schedule.
pub struct PartOptimizer {
    pub optim: ModuleOptimizer,
    pub schedule: WarmupCosine,
}

impl PartOptimizer {
    pub fn new(weight_decay: f64, schedule: WarmupCosine) -> Self {
        let no_decay = ParamGroup::from_regex(NO_DECAY).expect("a valid pattern");
        let optim = adamw(weight_decay).init().with_group(no_decay, adamw(0.0).build(), None);
        Self { optim, schedule }
    }
}

/// The optimizers of one stage: the connector's always, the LLM's and each encoder's when
/// those train.
pub struct Optimizers {
    pub connector: PartOptimizer,
    pub llm: Option<PartOptimizer>,
    pub encoders: Vec<PartOptimizer>,
}

impl Optimizers {
    fn files(&mut self) -> Vec<(String, &mut PartOptimizer)> {
        let mut files = vec![("connector.optim.bpk".to_string(), &mut self.connector)];
        if let Some(llm) = &mut self.llm {
            files.push(("llm.optim.bpk".to_string(), llm));
        }
        for (i, encoder) in self.encoders.iter_mut().enumerate() {
            files.push((format!("encoder-{i}.optim.bpk"), encoder));
        }
        files
    }

    pub fn save(&mut self, dir: &Path) -> Result<(), TrainError> {
        for (name, part) in self.files() {
            let path = dir.join(name);
            part.optim.save(&path).map_err(|err| TrainError::record(&path, err))?;
        }
        Ok(())
    }

    pub fn load(&mut self, dir: &Path) -> Result<(), TrainError> {
        for (name, part) in self.files() {
            let path = dir.join(name);
            part.optim = part.optim.clone().load(&path).map_err(|err| TrainError::record(&path, err))?;
        }
        Ok(())
    }
}
