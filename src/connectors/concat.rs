//! One or several encoders into the LLM: each encoder's token grid is resized bilinearly
//! (align_corners = false) to the connector's grid, the maps are concatenated on channels
//! in encoder order, and the projector maps them to the LLM's width. With one encoder at its
//! own grid this is LLaVA's connector. Cambrian then appends a learned `image_newline`
//! embedding after every row of the grid (optional here). The other grid connectors
//! (C-Abstractor, pixel shuffle, LDP, Perceiver) take their input through [`gather`] too,
//! and those with an output grid end its rows with [`append_newlines`].

use burn::module::{Module, Param};
use burn::store::ModuleSnapshot;
use burn::tensor::{Device, Distribution, Tensor};

use super::projector::{Projector, ProjectorKind};
use crate::encoders::Features;
use crate::weights::WeightsError;
use crate::weights::checkpoint::Checkpoint;
use crate::weights::keymap::KeyMap;
use crate::weights::load::load_strict;

#[derive(Module, Debug)]
pub struct ConcatConnector {
    pub projector: Projector,
    /// [hidden]: appended after each row of image tokens.
    pub image_newline: Option<Param<Tensor<1>>>,
    /// [rows, cols] every encoder's map is brought to.
    pub grid: [usize; 2],
}

impl ConcatConnector {
    /// Randomly initialised: the projector as PyTorch's Linear, the newline as Cambrian's
    /// `randn · hidden^-1/2`.
    pub fn new(kind: ProjectorKind, features: usize, hidden: usize, grid: [usize; 2], newline: bool, device: &Device) -> Self {
        let image_newline = new_newline(newline, hidden, device);
        Self { projector: Projector::new(kind, features, hidden, device), image_newline, grid }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        tokens_with_newlines(self.grid, &self.image_newline)
    }

    /// Each `features.tokens` [batch, tokens_i, channels_i] → [batch, rows × (cols + newline), hidden]
    pub fn forward(&self, features: Vec<Features>) -> Tensor<3> {
        let tokens = self.projector.forward(gather(features, self.grid));
        append_newlines(tokens, self.grid, &self.image_newline)
    }
}

/// Cambrian's `image_newline` (`randn · hidden^-1/2`) when `newline`.
pub fn new_newline(newline: bool, hidden: usize, device: &Device) -> Option<Param<Tensor<1>>> {
    let std = (hidden as f64).powf(-0.5);
    newline.then(|| Param::from_tensor(Tensor::random([hidden], Distribution::Normal(0.0, std), device)))
}

/// Loads `module` strictly with its `newline` set aside: the newline is the probe's, in no
/// project's checkpoint, and keeps its values.
pub fn load_beside_newline<M: Module + ModuleSnapshot>(
    module: &mut M,
    newline: fn(&mut M) -> &mut Option<Param<Tensor<1>>>,
    checkpoint: Checkpoint,
    keys: &KeyMap,
) -> Result<(), WeightsError> {
    let kept = newline(module).take();
    let loaded = load_strict(module, checkpoint, keys);
    *newline(module) = kept;
    loaded
}

/// Every encoder's map brought to `grid` and concatenated on channels:
/// each [batch, tokens_i, channels_i] → [batch, rows × cols, Σ channels_i]
pub fn gather(features: Vec<Features>, grid: [usize; 2]) -> Tensor<3> {
    Tensor::cat(features.into_iter().map(|f| f.resized(grid)).collect(), 2)
}

/// LLM positions of a `grid` of tokens, with a newline after each row when there is one.
pub fn tokens_with_newlines(grid: [usize; 2], newline: &Option<Param<Tensor<1>>>) -> usize {
    let [rows, cols] = grid;
    rows * (cols + usize::from(newline.is_some()))
}

/// [batch, rows × cols, hidden] ++ the newline after each row → [batch, rows × (cols + 1), hidden]
pub fn append_newlines(tokens: Tensor<3>, grid: [usize; 2], newline: &Option<Param<Tensor<1>>>) -> Tensor<3> {
    let Some(newline) = newline else { return tokens };
    let [rows, cols] = grid;
    let [batch, _, hidden] = tokens.dims();
    // [batch, rows, cols, hidden] ++ [batch, rows, 1, hidden]
    let newline = newline.val().reshape([1, 1, 1, hidden]).expand([batch, rows, 1, hidden]);
    Tensor::cat(vec![tokens.reshape([batch, rows, cols, hidden]), newline], 2).reshape([batch, rows * (cols + 1), hidden])
}
