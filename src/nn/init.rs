//! Eager initialisation. burn initialises a parameter lazily, on its first use, from the
//! device's random generator as it is at that moment, so a module built right after
//! `device.seed(s)` gets parameters that depend on whatever drew random numbers before its
//! first forward pass (another module's first pass, or none when that module is skipped).
//! `materialize` draws them at once, so that a seeded build is a function of its seed alone.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;

/// Initialises every float parameter of `module` that is still lazy, in the module's order.
pub fn materialize<M: Module>(module: &M) {
    module.visit(&mut Materialize);
}

struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        param.val();
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::LinearConfig;
    use burn::tensor::{Device, Distribution};

    use super::*;

    /// A seeded build gives the same parameters whatever draws random numbers after it.
    #[test]
    fn materialized_parameters_do_not_depend_on_later_draws() {
        let device = Device::flex();
        let weights = |draw_between: bool| {
            device.seed(7);
            let linear = LinearConfig::new(3, 2).init(&device);
            materialize(&linear);
            if draw_between {
                Tensor::<1>::random([5], Distribution::Default, &device);
            }
            linear.weight.val().into_data()
        };
        assert_eq!(weights(false), weights(true));
    }
}
