//! Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_` (and so the
//! HF Trainer's `max_grad_norm = 1.0`): the L2 norm over every gradient of the model taken
//! together; if it exceeds `max_norm`, every gradient is scaled by max_norm / (norm + 1e-6).
//! burn's `GradientClipping::Norm` clips each tensor on its own, which is not the recipe.
//! A model trained as several parts (connector, LLM, encoders) sums [`squared_norm`] over
//! them and [`scale`]s each by the one factor. On the CPU both are loops over the rayon
//! pool (burn-flex runs element-wise operations on one thread); the squared norm adds its
//! chunks' f64 sums in a fixed order, so it does not depend on the pool's scheduling.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::adamw::{MIN_CHUNK, host, on_cpu, slice, slice_mut};

/// Sum of squares of the gradients present for the visited parameters.
struct SquaredNorm<'a> {
    grads: &'a mut GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Taken out and put back, so that the CPU loop reads the gradient's own buffer.
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let grad = match on_cpu(&grad) {
                true => {
                    let (device, data) = (grad.device(), host(grad));
                    let chunks: Vec<f64> = slice(&data)
                        .par_chunks(MIN_CHUNK)
                        .map(|chunk| chunk.iter().map(|&g| f64::from(g) * f64::from(g)).sum())
                        .collect();
                    self.total += chunks.iter().sum::<f64>();
                    Tensor::from_data(data, &device)
                }
                false => {
                    self.total += grad.clone().powi_scalar(2).sum().into_scalar::<f64>();
                    grad
                }
            };
            self.grads.register(param.id, grad);
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let scaled = match on_cpu(&grad) {
                true => {
                    let (device, factor) = (grad.device(), self.factor as f32);
                    let mut data = host(grad);
                    slice_mut(&mut data).par_iter_mut().with_min_len(MIN_CHUNK).for_each(|g| *g *= factor);
                    Tensor::from_data(data, &device)
                }
                false => grad.mul_scalar(self.factor),
            };
            self.grads.register(param.id, scaled);
        }
    }
}

/// Σ grad² over `model`'s parameters that have a gradient in `grads`.
pub fn squared_norm<M: Module>(model: &M, grads: &mut GradientsParams) -> f64 {
    let mut norm = SquaredNorm { grads, total: 0.0 };
    model.visit(&mut norm);
    norm.total
}

/// The factor that brings a global `norm` down to `max_norm`, or `None` when it is within.
pub fn clip_factor(norm: f64, max_norm: f64) -> Option<f64> {
    let factor = max_norm / (norm + 1e-6);
    (factor < 1.0).then_some(factor)
}

/// Multiplies every gradient of `model`'s parameters in `grads` by `factor`.
pub fn scale<M: Module>(model: &M, grads: &mut GradientsParams, factor: f64) {
    model.visit(&mut Scale { grads, factor });
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;

    #[derive(Module, Debug)]
    struct Two {
        a: Linear,
        b: Linear,
    }

    /// Clips in place as the trainer does over one part; returns the norm before clipping.
    fn clip(model: &Two, grads: &mut GradientsParams, max_norm: f64) -> f64 {
        let norm = squared_norm(model, grads).sqrt();
        if let Some(factor) = clip_factor(norm, max_norm) {
            scale(model, grads, factor);
        }
        norm
    }

    /// On random gradients, the CPU loops against burn's tensor operations (the path every
    /// other device takes): the norm within float rounding of the sum (f64 chunk sums here, an
    /// f32 reduction there; 1e-6 relative), the scaled gradients equal to the bit.
    #[test]
    fn the_cpu_loops_equal_burns_operations() {
        let device = Device::flex().autodiff();
        let model = Two { a: LinearConfig::new(300, 200).init(&device), b: LinearConfig::new(3, 4).init(&device) };
        let x = Tensor::<2>::random([5, 300], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
        let loss = model.a.forward(x.clone()).powi_scalar(2).sum() + model.b.forward(x.narrow(1, 0, 3)).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let weight: Tensor<2> = grads.get(model.a.weight.id).unwrap();
        assert!(on_cpu(&weight));
        let mut burns = 0.0;
        model.visit(&mut BurnsNorm { grads: &grads, total: &mut burns });
        let ours = squared_norm(&model, &mut grads);
        assert!((ours - burns).abs() <= 1e-6 * burns, "{ours} against {burns}");
        scale(&model, &mut grads, 0.37);
        let scaled: Tensor<2> = grads.get(model.a.weight.id).unwrap();
        assert_eq!(slice(&host(scaled)), slice(&host(weight.mul_scalar(0.37))));
    }

    struct BurnsNorm<'a> {
        grads: &'a GradientsParams,
        total: &'a mut f64,
    }

    impl ModuleVisitor for BurnsNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                *self.total += grad.powi_scalar(2).sum().into_scalar::<f64>();
            }
        }
    }

    /// loss = Σ a(x) + Σ b(x) with x = ones: ∂/∂W = 1 for every weight entry and ∂/∂bias = 1,
    /// so the global norm is √(entries + biases) and clipping to 1 scales each by 1/norm.
    #[test]
    fn scales_all_gradients_by_one_global_factor() {
        let device = Device::flex().autodiff();
        let model = Two { a: LinearConfig::new(3, 2).init(&device), b: LinearConfig::new(3, 4).init(&device) };
        let x = Tensor::<2>::ones([1, 3], &device);
        let loss = model.a.forward(x.clone()).sum() + model.b.forward(x).sum();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let count = (3 * 2 + 2 + 3 * 4 + 4) as f64;
        let norm = clip(&model, &mut grads, 1.0);
        assert!((norm - count.sqrt()).abs() < 1e-5, "{norm}");
        let expected = 1.0 / (count.sqrt() + 1e-6);
        let weight: Tensor<2> = grads.get(model.b.weight.id).unwrap();
        weight.into_data().assert_approx_eq::<f32>(&TensorData::from([[expected as f32; 4]; 3]), Default::default());
        let after = clip(&model, &mut grads, 1.0);
        assert!((after - 1.0).abs() < 1e-5, "{after}");
    }

    #[test]
    fn leaves_small_gradients_alone() {
        let device = Device::flex().autodiff();
        let model = Two { a: LinearConfig::new(1, 1).init(&device), b: LinearConfig::new(1, 1).init(&device) };
        let loss = model.a.forward(Tensor::<2>::ones([1, 1], &device)).sum().mul_scalar(0.1);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let norm = clip(&model, &mut grads, 1.0);
        let weight: Tensor<2> = grads.get(model.a.weight.id).unwrap();
        assert!((weight.into_scalar::<f64>() - 0.1).abs() < 1e-7);
        assert!((norm - (0.02f64).sqrt()).abs() < 1e-6);
    }
}
