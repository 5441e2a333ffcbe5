//! One or several encoders into the LLM: each encoder's token grid is resized bilinearly
//! (align_corners = false) to the connector's grid, the maps are concatenated on channels
//! in encoder order, and the projector maps them to the LLM's width. With one encoder at its
//! own grid this is LLaVA's connector.

use burn::module::Module;
use burn::tensor::Tensor;

use super::projector::Projector;
use crate::encoders::Features;
use crate::nn::resample::{GridResample, resize_grids};

#[derive(Module, Debug)]
pub struct ConcatConnector {
    pub projector: Projector,
    /// [rows, cols] every encoder's map is brought to.
    pub grid: [usize; 2],
}

impl ConcatConnector {
    /// Each `features.tokens` [batch, tokens_i, channels_i] → [batch, rows × cols, hidden]
    pub fn forward(&self, features: Vec<Features>) -> Tensor<3> {
        let [rows, cols] = self.grid;
        let maps: Vec<Tensor<3>> = features
            .into_iter()
            .map(|f| match f.grid == self.grid {
                true => f.tokens,
                false => resize_grids(f.tokens, (f.grid[0], f.grid[1]), (rows, cols), GridResample::Bilinear),
            })
            .collect();
        self.projector.forward(Tensor::cat(maps, 2))
    }
}
