//! burn's AdamW with its step on the CPU done in one pass over both cores.
//!
//! burn's `AdamW` updates a parameter in about a dozen element-wise tensor operations
//! (moments, bias corrections, square root, division, decay, update), and burn-flex runs
//! each of them as a serial loop on the calling thread: with a study's vocabulary, where
//! the embedding and the LM head hold most of the parameters, those passes are a sizeable
//! part of a training step while the second core waits. [`FusedAdamW`] computes the same
//! expressions, in the same order and precision, in one loop over the parameter, its
//! gradient and its two moments, split over the rayon pool. It keeps burn's state type, so
//! optimizer files written by either read in the other, and it hands every other device
//! and precision to burn's own step.

use burn::optim::{AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// Elements per rayon task: below this, splitting costs more than it saves.
pub(crate) const MIN_CHUNK: usize = 1 << 14;

/// AdamW (decoupled weight decay, no AMSGrad) with burn's arithmetic.
#[derive(Clone)]
pub struct FusedAdamW {
    reference: AdamW,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
}

impl FusedAdamW {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let config = AdamWConfig::new().with_beta_1(beta_1).with_beta_2(beta_2).with_epsilon(epsilon);
        Self { reference: config.with_weight_decay(weight_decay).build(), beta_1, beta_2, epsilon, weight_decay }
    }
}

/// A CPU tensor's buffer: its own when nothing else holds it, else a copy.
pub(crate) fn host<const D: usize>(tensor: Tensor<D>) -> TensorData {
    tensor.into_data()
}

/// The f32 values of a buffer [`host`] took.
pub(crate) fn slice(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>().expect("an f32 tensor holds f32 values")
}

pub(crate) fn slice_mut(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>().expect("an f32 tensor holds f32 values")
}

/// The fused pass runs on f32 tensors on the CPU (flex); elsewhere burn's own step does.
fn fuses<const D: usize>(tensor: &Tensor<D>, grad: &Tensor<D>) -> bool {
    on_cpu(tensor) && on_cpu(grad)
}

/// An f32 tensor of the CPU backend, whose values the host loops here can take.
pub(crate) fn on_cpu<const D: usize>(tensor: &Tensor<D>) -> bool {
    tensor.device() == Device::flex() && tensor.dtype() == DType::F32
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fuses(&tensor, &grad) {
            return self.reference.step(lr, tensor, grad, state);
        }
        let (device, shape) = (tensor.device(), tensor.shape());
        let (mut param, grad) = (host(tensor), host(grad));
        let (time, mut moment_1, mut moment_2) = match state {
            Some(AdamWState { momentum }) => (momentum.time + 1, host(momentum.moment_1), host(momentum.moment_2)),
            None => (1, TensorData::zeros::<f32, _>(shape.clone()), TensorData::zeros::<f32, _>(shape.clone())),
        };
        let first = time == 1;
        let (beta_1, beta_2, epsilon) = (self.beta_1, self.beta_2, self.epsilon);
        let (factor_1, factor_2) = (1.0 - beta_1, 1.0 - beta_2);
        // burn's scalars reach the f32 kernels as f32: its f64 products are rounded first.
        let correction_1 = 1f32 - beta_1.powi(time as i32);
        let correction_2 = 1f32 - beta_2.powi(time as i32);
        let decay_rate = lr * self.weight_decay as f64;
        let keep = (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32);
        let lr = lr as f32;
        slice_mut(&mut param)
            .par_iter_mut()
            .zip(slice_mut(&mut moment_1).par_iter_mut())
            .zip(slice_mut(&mut moment_2).par_iter_mut())
            .zip(slice(&grad).par_iter())
            .with_min_len(MIN_CHUNK)
            .for_each(|(((p, m), v), &g)| {
                // burn's order: m·β₁ + g·(1 − β₁), v·β₂ + g²·(1 − β₂); a first step starts from g.
                (*m, *v) = match first {
                    true => (g * factor_1, g * g * factor_2),
                    false => (*m * beta_1 + g * factor_1, *v * beta_2 + g * g * factor_2),
                };
                let delta = (*m / correction_1) / ((*v / correction_2).sqrt() + epsilon);
                *p = keep.map_or(*p, |keep| *p * keep) - delta * lr;
            });
        let tensor = |data: TensorData| Tensor::<D>::from_data(data, &device);
        let momentum = AdaptiveMomentumState::new(time, tensor(moment_1), tensor(moment_2));
        (tensor(param), Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::tensor::Distribution;

    use super::*;

    fn values_of(linear: &Linear) -> Vec<f32> {
        let mut out = slice(&host(linear.weight.val())).to_vec();
        out.extend(slice(&host(linear.bias.as_ref().expect("a bias").val())));
        out
    }

    /// Five steps of both optimizers on the same gradients, with and without weight decay:
    /// the fused pass computes burn's expressions in burn's order, so the parameters agree
    /// to the bit, and the moments it saves load into burn's AdamW and the other way round.
    #[test]
    fn the_fused_step_equals_burns_adamw() {
        let device = Device::flex().autodiff();
        for weight_decay in [0.0, 0.05] {
            let start = LinearConfig::new(70, 300).init(&device);
            let weight = start.weight.val().inner();
            assert!(fuses(&weight, &weight), "the optimizer sees the parameters as flex f32 tensors");
            let (mut ours, mut burns) = (start.clone(), start);
            let mut fused = ModuleOptimizer::from(FusedAdamW::new(0.9, 0.999, 1e-8, weight_decay));
            let config = AdamWConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8);
            let mut reference = config.with_weight_decay(weight_decay).init();
            for step in 0..5 {
                let x = Tensor::<2>::random([3, 70], Distribution::Normal(0.0, 1.0), &device);
                let grads =
                    |model: &Linear| GradientsParams::from_grads(model.forward(x.clone()).powi_scalar(2).sum().backward(), model);
                let lr = 1e-2 / (step + 1) as f64;
                ours = fused.step(lr, ours.clone(), grads(&ours));
                burns = reference.step(lr, burns.clone(), grads(&burns));
                assert_eq!(values_of(&ours), values_of(&burns), "step {step}, weight decay {weight_decay}");
            }
            // Swap the optimizers' states: the next step still agrees.
            let (fused_state, burns_state) = (fused.to_record(), reference.to_record());
            fused = fused.load_record(burns_state);
            reference = reference.load_record(fused_state);
            let x = Tensor::<2>::random([3, 70], Distribution::Normal(0.0, 1.0), &device);
            let grads = |model: &Linear| GradientsParams::from_grads(model.forward(x.clone()).sum().backward(), model);
            let (ours, burns) =
                (fused.step(1e-3, ours.clone(), grads(&ours)), reference.step(1e-3, burns.clone(), grads(&burns)));
            assert_eq!(values_of(&ours), values_of(&burns), "after swapping states, weight decay {weight_decay}");
        }
    }
}
