//! AdamW as the study ran it (PyTorch's `torch.optim.AdamW` through the HF Trainer), with
//! PyTorch's defaults set explicitly because burn's differ (ε 1e-5 and weight decay 1e-4
//! there): β = (0.9, 0.999), ε = 1e-8, decoupled weight decay as configured (the study uses
//! 0), and, like the Trainer's `get_decay_parameter_names`, no decay on biases and norm
//! weights. One optimizer per trained part, each with its own peak learning rate. The step
//! is burn's AdamW arithmetic, fused into one parallel pass on the CPU ([`FusedAdamW`]).

use std::path::Path;

use burn::module::{ModuleVisitor, Param, ParamGroup};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;

use super::TrainError;
use super::adamw::FusedAdamW;
use super::schedule::WarmupCosine;
use crate::connectors::SvaConnector;

/// Parameters the Trainer does not decay: biases, LayerNorm γ/β and RMSNorm γ.
const NO_DECAY: &str = r"(bias|beta|gamma)$";

pub fn adamw(weight_decay: f64) -> FusedAdamW {
    FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay as f32)
}

/// A trained part's optimizer and learning-rate schedule.
pub struct PartOptimizer {
    pub optim: ModuleOptimizer,
    pub schedule: WarmupCosine,
}

impl PartOptimizer {
    pub fn new(weight_decay: f64, schedule: WarmupCosine) -> Self {
        let no_decay = ParamGroup::from_regex(NO_DECAY).expect("a valid pattern");
        let optim = ModuleOptimizer::from(adamw(weight_decay)).with_group(no_decay, adamw(0.0), None);
        Self { optim, schedule }
    }
}

/// The optimizers of one stage: the connector's always (without the SVA's samplers and
/// queries when they have their own), the LLM's and each encoder's when those train.
pub struct Optimizers {
    pub connector: PartOptimizer,
    /// The SVA's samplers and queries at `sva_lr`.
    pub sva: Option<PartOptimizer>,
    pub llm: Option<PartOptimizer>,
    pub encoders: Vec<PartOptimizer>,
}

/// Moves the gradients of the visited parameters into a set of their own.
struct Take<'a> {
    from: &'a mut GradientsParams,
    to: GradientsParams,
}

impl ModuleVisitor for Take<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.from.remove::<D>(param.id) {
            self.to.register(param.id, grad);
        }
    }
}

/// The SVA samplers' and queries' gradients, taken out of the connector's `grads`.
pub fn take_sampler_grads(sva: &SvaConnector, grads: &mut GradientsParams) -> GradientsParams {
    let mut take = Take { from: grads, to: GradientsParams::new() };
    sva.visit_samplers(&mut take);
    take.to
}

impl Optimizers {
    fn files(&mut self) -> Vec<(String, &mut PartOptimizer)> {
        let mut files = vec![("connector.optim.bpk".to_string(), &mut self.connector)];
        if let Some(sva) = &mut self.sva {
            files.push(("sva.optim.bpk".to_string(), sva));
        }
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

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::connectors::SvaSettings;
    use crate::connectors::sva::SvaLayout;
    use crate::encoders::Features;

    #[test]
    fn the_sva_samplers_and_queries_get_their_own_gradients() {
        let device = Device::flex().autodiff();
        let settings = SvaSettings { image_token_len: 4, vision_hidden_size: 16, ..SvaSettings::default() };
        let sva = SvaConnector::new(SvaLayout::new(&settings, &[[2, 2]], 1).unwrap(), &[8], 16, &device);
        let tokens = Tensor::random([1, 4, 8], Distribution::Normal(0.0, 1.0), &device);
        let (out, _) = sva.forward(vec![Features { tokens, grid: [2, 2] }], &[[2, 2]]).unwrap();
        let mut grads = GradientsParams::from_grads(out.sum().backward(), &sva);
        let taken = take_sampler_grads(&sva, &mut grads);
        let query = sva.vision_query.id;
        let sampler = sva.vision_sampler[0].layers[0].proj_in.weight.id;
        let (aux, newline) = (sva.mm_projector_aux[0].fc1.weight.id, sva.image_newline.id);
        assert!(taken.get::<2>(query).is_some() && taken.get::<2>(sampler).is_some());
        assert!(grads.get::<2>(query).is_none() && grads.get::<2>(sampler).is_none());
        assert!(grads.get::<2>(aux).is_some() && grads.get::<1>(newline).is_some());
        assert!(taken.get::<2>(aux).is_none());
    }
}
