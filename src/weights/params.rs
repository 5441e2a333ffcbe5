//! A module's parameters as a PyTorch checkpoint names and shapes them, found without reading
//! or initialising any: burn's own `BurnToPyTorchAdapter` renames a norm's `gamma`/`beta` to
//! `weight`/`bias` and transposes a `Linear` weight, and is applied here to shape-only
//! stand-ins of the parameters. This is what lets a checkpoint tensor be checked against its
//! parameter before its bytes are read, and burn's parameter paths be reported as the
//! checkpoint's keys.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::store::burn_pack::Error as PackError;
use burn::store::{BurnToPyTorchAdapter, ModuleAdapter, ModuleContext, bridge};
use burn::tensor::{Bool, DType, Int, Shape, Tensor};

#[derive(Default)]
pub struct Params {
    /// Checkpoint-style path (`norm.weight`) → shape in the checkpoint's orientation.
    shapes: HashMap<String, Vec<usize>>,
    /// burn's path (`norm.gamma`) → checkpoint-style path.
    checkpoint_paths: HashMap<String, String>,
}

impl Params {
    pub fn of<M: Module>(module: &M) -> Self {
        let mut visitor = Visitor::default();
        module.visit(&mut visitor);
        visitor.params
    }

    /// The shape a checkpoint stores for the parameter at checkpoint-style `path`.
    pub fn shape(&self, path: &str) -> Option<&[usize]> {
        self.shapes.get(path).map(Vec::as_slice)
    }

    /// burn's `path` as a checkpoint names it (the path itself where the two agree).
    pub fn checkpoint_path<'p>(&'p self, path: &'p str) -> &'p str {
        self.checkpoint_paths.get(path).map_or(path, String::as_str)
    }
}

#[derive(Default)]
struct Visitor {
    path: Vec<String>,
    containers: Vec<String>,
    params: Params,
}

impl Visitor {
    fn add(&mut self, shape: Shape) {
        let burn_path = self.path.join(".");
        // Never read: the adapter only composes its transpose onto the data source.
        let stand_in = bridge::deferred(burn_path.clone(), DType::F32, shape, None, || {
            Err(PackError::ValidationError("a shape-only stand-in has no data".to_string()))
        });
        let adapted = BurnToPyTorchAdapter.adapt(stand_in, ModuleContext::new(&self.containers));
        self.params.shapes.insert(adapted.name.clone(), adapted.shape.as_slice().to_vec());
        self.params.checkpoint_paths.insert(burn_path, adapted.name);
    }
}

impl ModuleVisitor for Visitor {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.add(param.lazy_shape());
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.add(param.lazy_shape());
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.add(param.lazy_shape());
    }
}
