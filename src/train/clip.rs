//! Gradient clipping by the global norm, as `torch.nn.utils.clip_grad_norm_` (and so the
//! HF Trainer's `max_grad_norm = 1.0`): the L2 norm over every gradient of the model taken
//! together; if it exceeds `max_norm`, every gradient is scaled by max_norm / (norm + 1e-6).
//! burn's `GradientClipping::Norm` clips each tensor on its own, which is not the recipe.
//! A model trained as several parts (connector, LLM, encoders) sums [`squared_norm`] over
//! them and [`scale`]s each by the one factor.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Sum of squares of the gradients present for the visited parameters.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.total += grad.powi_scalar(2).sum().into_scalar::<f64>();
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
            self.grads.register(param.id, grad.mul_scalar(self.factor));
        }
    }
}

/// Σ grad² over `model`'s parameters that have a gradient in `grads`.
pub fn squared_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
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
