//! LLaVA's `mm_projector` (`llava/model/multimodal_projector/builder.py`): `linear` is one
//! nn.Linear; `mlp2x_gelu` is nn.Sequential(Linear, GELU, Linear), so its checkpoint keys are
//! `mm_projector.0.*` and `mm_projector.2.*` (under `model.` in LLaVA and Cambrian files).

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::nn::precision::Precision;
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::{KeyMap, Rule::*};
use crate::weights::load::load_strict;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ProjectorKind {
    #[serde(rename = "linear")]
    Linear,
    #[serde(rename = "mlp2x_gelu")]
    Mlp2xGelu,
}

#[derive(Module, Debug)]
pub struct LinearProjector {
    proj: Linear,
    #[module(skip)]
    precision: Precision,
}

#[derive(Module, Debug)]
pub struct Mlp2xGelu {
    fc1: Linear,
    fc2: Linear,
    /// What the two products compute in (the GELU stays in the input's type).
    #[module(skip)]
    precision: Precision,
}

impl Mlp2xGelu {
    /// PyTorch's Linear init.
    pub fn new(features: usize, hidden: usize, device: &Device) -> Self {
        let (fc1, fc2) = (LinearConfig::new(features, hidden).init(device), LinearConfig::new(hidden, hidden).init(device));
        Self { fc1, fc2, precision: Precision::F32 }
    }

    pub fn with_precision(self, precision: Precision) -> Self {
        Self { precision, ..self }
    }

    /// [batch, tokens, features] → [batch, tokens, hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let p = self.precision;
        p.linear(&self.fc2, gelu(p.linear(&self.fc1, x)))
    }
}

#[derive(Module, Debug)]
pub enum Projector {
    Linear(LinearProjector),
    Mlp2xGelu(Mlp2xGelu),
}

static LINEAR_KEYS: KeyMap =
    KeyMap { layout: "LLaVA linear mm_projector", anchor: "mm_projector.weight", rules: &[Rename("mm_projector", "proj")] };

static MLP_KEYS: KeyMap = KeyMap {
    layout: "LLaVA mlp2x_gelu mm_projector",
    anchor: "mm_projector.0.weight",
    rules: &[Rename("mm_projector.0", "fc1"), Rename("mm_projector.2", "fc2")],
};

impl Projector {
    /// `features` channels in, `hidden` (the LLM's width) out; PyTorch's Linear init.
    pub fn new(kind: ProjectorKind, features: usize, hidden: usize, device: &Device) -> Self {
        match kind {
            ProjectorKind::Linear => {
                let proj = LinearConfig::new(features, hidden).init(device);
                Projector::Linear(LinearProjector { proj, precision: Precision::F32 })
            }
            ProjectorKind::Mlp2xGelu => Projector::Mlp2xGelu(Mlp2xGelu::new(features, hidden, device)),
        }
    }

    /// Loads an `mm_projector.bin` (or any checkpoint holding `…mm_projector.*`) strictly.
    pub fn load(&mut self, checkpoint: Checkpoint) -> Result<(), WeightsError> {
        match self {
            Projector::Linear(linear) => load_strict(linear, checkpoint, &LINEAR_KEYS),
            Projector::Mlp2xGelu(mlp) => load_strict(mlp, checkpoint, &MLP_KEYS),
        }
    }

    /// The projector computing in `precision`.
    pub fn with_precision(self, precision: Precision) -> Self {
        match self {
            Projector::Linear(linear) => Projector::Linear(LinearProjector { precision, ..linear }),
            Projector::Mlp2xGelu(mlp) => Projector::Mlp2xGelu(mlp.with_precision(precision)),
        }
    }

    /// [batch, tokens, features] → [batch, tokens, hidden]
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            Projector::Linear(linear) => linear.precision.linear(&linear.proj, x),
            Projector::Mlp2xGelu(mlp) => mlp.forward(x),
        }
    }
}
