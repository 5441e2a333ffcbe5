//! One or several encoders into the LLM: each encoder's token grid is resized bilinearly
//! (align_corners = false) to the connector's grid, the maps are concatenated on channels
//! in encoder order, and the projector maps them to the LLM's width. With one encoder at its
//! own grid this is LLaVA's connector. Cambrian then appends a learned `image_newline`
//! embedding after every row of the grid (optional here).

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::projector::{Projector, ProjectorKind};
use crate::encoders::Features;
use crate::nn::resample::{GridResample, resize_grids};

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
        let std = (hidden as f64).powf(-0.5);
        let image_newline = newline.then(|| Param::from_tensor(Tensor::random([hidden], Distribution::Normal(0.0, std), device)));
        Self { projector: Projector::new(kind, features, hidden, device), image_newline, grid }
    }

    /// LLM positions one image takes.
    pub fn image_tokens(&self) -> usize {
        let [rows, cols] = self.grid;
        rows * (cols + usize::from(self.image_newline.is_some()))
    }

    /// Each `features.tokens` [batch, tokens_i, channels_i] → [batch, rows × (cols + newline), hidden]
    pub fn forward(&self, features: Vec<Features>) -> Tensor<3> {
        let [rows, cols] = self.grid;
        let maps: Vec<Tensor<3>> = features
            .into_iter()
            .map(|f| match f.grid == self.grid {
                true => f.tokens,
                false => resize_grids(f.tokens, (f.grid[0], f.grid[1]), (rows, cols), GridResample::Bilinear),
            })
            .collect();
        let tokens = self.projector.forward(Tensor::cat(maps, 2));
        let Some(newline) = &self.image_newline else { return tokens };
        let [batch, _, hidden] = tokens.dims();
        // [batch, rows, cols, hidden] ++ [batch, rows, 1, hidden] → [batch, rows × (cols + 1), hidden]
        let newline = newline.val().reshape([1, 1, 1, hidden]).expand([batch, rows, 1, hidden]);
        Tensor::cat(vec![tokens.reshape([batch, rows, cols, hidden]), newline], 2).reshape([batch, rows * (cols + 1), hidden])
    }
}
