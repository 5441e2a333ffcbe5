//! One or several encoders into the LLM: each encoder's token grid is resized bilinearly
//! (align_corners = false) to the connector's grid, the maps are concatenated on channels
//! in encoder order, and the projector maps them to the LLM's width. With one encoder at its
//! own grid this is LLaVA's connector. Cambrian then appends a learned `image_newline`
//! embedding after every row of the grid (optional here). The other grid connectors
//! (C-Abstractor, pixel shuffle, LDP, Perceiver) take their input through [`gather`] too,
//! and those with an output grid end its rows with [`append_newlines`].
//!
//! With `[connector] native`, one native-resolution encoder's images keep their own grids
//! (`forward_own_grids`): the projector maps every token as it is, so an image of another
//! aspect ratio or size takes another number of LLM positions, as NaFlex models are used.

use std::collections::BTreeMap;

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
    /// With own grids: the encoder's token budget (`max_patches`, or the patch limit when
    /// images keep their own size), each image at its own grid.
    #[module(skip)]
    pub own_grid_budget: Option<usize>,
}

impl ConcatConnector {
    /// Randomly initialised: the projector as PyTorch's Linear, the newline as Cambrian's
    /// `randn · hidden^-1/2`.
    pub fn new(kind: ProjectorKind, features: usize, hidden: usize, grid: [usize; 2], newline: bool, device: &Device) -> Self {
        let image_newline = new_newline(newline, hidden, device);
        Self { projector: Projector::new(kind, features, hidden, device), image_newline, grid, own_grid_budget: None }
    }

    /// The connector taking each image at its own grid, of at most `budget` tokens.
    pub fn with_own_grids(self, budget: usize) -> Self {
        Self { own_grid_budget: Some(budget), ..self }
    }

    /// LLM positions one image takes; with own grids the most it can take (a grid one token
    /// wide: the budget, and as many newlines).
    pub fn image_tokens(&self) -> usize {
        match self.own_grid_budget {
            Some(budget) => tokens_with_newlines([budget, 1], &self.image_newline),
            None => tokens_with_newlines(self.grid, &self.image_newline),
        }
    }

    /// Each `features.tokens` [batch, tokens_i, channels_i] → [batch, rows × (cols + newline), hidden]
    pub fn forward(&self, features: Vec<Features>) -> Tensor<3> {
        let tokens = self.projector.forward(gather(features, self.grid));
        append_newlines(tokens, self.grid, &self.image_newline)
    }

    /// One encoder's images at their own grids, images × [1, rows_i × cols_i, channels] →
    /// [images, longest, hidden] (image i's first rows_i × (cols_i + newline) positions,
    /// zeros after) and those lengths.
    pub fn forward_own_grids(&self, images: Vec<Features>) -> (Tensor<3>, Vec<usize>) {
        let grids: Vec<[usize; 2]> = images.iter().map(|f| f.grid).collect();
        // One projector pass over every token: [1, Σ rows_i × cols_i, channels] → [1, Σ …, hidden]
        let projected = self.projector.forward(Tensor::cat(images.into_iter().map(|f| f.tokens).collect(), 1));
        let mut offset = 0;
        let mut rows = Vec::with_capacity(grids.len());
        for grid in grids {
            let count = grid[0] * grid[1];
            rows.push(append_newlines(projected.clone().narrow(1, offset, count), grid, &self.image_newline));
            offset += count;
        }
        pad_and_stack(rows)
    }
}

/// `forward` over images at their own grids, the images of one grid batched together:
/// images × [1, rows_i × cols_i, channels] → per image, in order, `forward`'s [1, n_i, hidden].
pub fn per_grid(images: Vec<Features>, forward: impl Fn(Tensor<3>, [usize; 2]) -> Tensor<3>) -> Vec<Tensor<3>> {
    let mut by_grid: BTreeMap<[usize; 2], Vec<usize>> = BTreeMap::new();
    for (index, image) in images.iter().enumerate() {
        by_grid.entry(image.grid).or_default().push(index);
    }
    let mut tokens: Vec<Option<Tensor<3>>> = images.into_iter().map(|f| Some(f.tokens)).collect();
    let mut out: Vec<Option<Tensor<3>>> = vec![None; tokens.len()];
    for (grid, indices) in by_grid {
        let batch = indices.iter().map(|&i| tokens[i].take().expect("each image in one group")).collect();
        let result = forward(Tensor::cat(batch, 0), grid);
        for (row, &i) in indices.iter().enumerate() {
            out[i] = Some(result.clone().narrow(0, row, 1));
        }
    }
    out.into_iter().map(|t| t.expect("each image in one group")).collect()
}

/// Images' embeddings [1, n_i, hidden] → [images, longest, hidden] (zeros after each image's
/// own positions) and each n_i.
pub fn pad_and_stack(images: Vec<Tensor<3>>) -> (Tensor<3>, Vec<usize>) {
    let lengths: Vec<usize> = images.iter().map(|t| t.dims()[1]).collect();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let rows = images
        .into_iter()
        .map(|image| {
            let [_, length, hidden] = image.dims();
            match length < longest {
                true => {
                    let device = image.device();
                    Tensor::cat(vec![image, Tensor::zeros([1, longest - length, hidden], &device)], 1)
                }
                false => image,
            }
        })
        .collect();
    (Tensor::cat(rows, 0), lengths)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each image through its own grid is what the fixed-grid path gives at that grid, with
    /// the shorter image's positions after its own zero.
    #[test]
    fn own_grids_project_each_image_as_the_fixed_grid_path_would() {
        let device = Device::flex();
        let connector = ConcatConnector::new(ProjectorKind::Mlp2xGelu, 4, 8, [1, 1], true, &device).with_own_grids(16);
        crate::nn::init::materialize(&connector);
        assert_eq!(connector.image_tokens(), 32, "16 tokens in one column, and 16 newlines");
        let grids = [[2, 3], [3, 1]];
        let features: Vec<Features> = grids
            .iter()
            .map(|&grid| Features { tokens: Tensor::random([1, grid[0] * grid[1], 4], Distribution::Default, &device), grid })
            .collect();
        let each: Vec<Tensor<3>> = features.iter().map(|f| f.tokens.clone()).collect();
        let (embeds, lengths) = connector.forward_own_grids(features);
        assert_eq!(lengths, [2 * 4, 3 * 2]);
        assert_eq!(embeds.dims(), [2, 8, 8]);
        for (i, (tokens, grid)) in each.into_iter().zip(grids).enumerate() {
            let fixed = ConcatConnector { grid, own_grid_budget: None, ..connector.clone() };
            let expected = fixed.forward(vec![Features { tokens, grid }]);
            let got = embeds.clone().narrow(0, i, 1);
            let diff = (got.clone().narrow(1, 0, lengths[i]) - expected).abs().max().into_scalar::<f32>();
            assert!(diff <= 1e-6, "image {i}: {diff}");
            if lengths[i] < 8 {
                assert_eq!(got.narrow(1, lengths[i], 8 - lengths[i]).abs().max().into_scalar::<f32>(), 0.0, "image {i}");
            }
        }
    }
}
