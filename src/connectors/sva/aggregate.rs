//! The SVA inside the LLM (`CambrianLlamaModel.forward` with `connector_only = False`, the
//! training path): after decoder layer start + k·stride, the hidden states of each image's
//! L·(L + 1) positions lose their newline column, query the same encoder windows through
//! `vision_sampler_layers[k]` (depth 1, queries of the LLM's width), and are written back;
//! the newline positions keep their hidden states.

use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::sampler::VisionTokenSampler;
use super::{SvaConnector, SvaContext, padding};
use crate::llm::LayerHook;

/// An image in the batch: the row of its example, the position of its first token, and its
/// index in the [`SvaContext`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageSpan {
    pub row: usize,
    pub start: usize,
    pub image: usize,
}

pub struct Aggregation<'a> {
    samplers: &'a [VisionTokenSampler],
    /// The decoder layers after which samplers run, in order.
    after: &'a [usize],
    side: usize,
    spans: Vec<ImageSpan>,
    /// Per encoder [spans · L², m_i², hidden], in span order.
    windows: Vec<Tensor<3>>,
    /// [spans · L², Σ m_i²], true where a window token is padding.
    masked: Tensor<2, Bool>,
    /// [spans · L², 1, hidden]
    global: Tensor<3>,
}

impl SvaConnector {
    /// The hook that aggregates inside the LLM for a batch showing images at `spans`, or
    /// `None` when the settings say `connector_only` or no image is shown.
    pub fn aggregation(&self, context: &SvaContext, spans: &[ImageSpan]) -> Option<Aggregation<'_>> {
        if self.vision_sampler_layers.is_empty() || spans.is_empty() {
            return None;
        }
        let (n, cells, c) = (spans.len(), self.layout.side.pow(2), self.layout.hidden);
        let device = context.global.device();
        let images: Vec<i64> = spans.iter().map(|s| s.image as i64).collect();
        let images = Tensor::<1, Int>::from_data(TensorData::new(images, [n]), &device);
        let windows = context
            .windows
            .iter()
            .map(|w| {
                let [_, _, tokens, _] = w.dims();
                w.clone().select(0, images.clone()).reshape([n * cells, tokens, c])
            })
            .collect();
        // Narrowed, not selected: burn-flex 0.22.1's `select` turns a bool tensor into u8.
        let masks: Vec<Tensor<3, Bool>> = context
            .masks
            .iter()
            .map(|m| Tensor::cat(spans.iter().map(|s| m.clone().narrow(0, s.image, 1)).collect(), 0))
            .collect();
        let global = context.global.clone().select(0, images).reshape([n, 1, c]).expand([n, cells, c]).reshape([n * cells, 1, c]);
        Some(Aggregation {
            samplers: &self.vision_sampler_layers,
            after: &self.layout.llm_layers,
            side: self.layout.side,
            spans: spans.to_vec(),
            windows,
            masked: padding(&masks, n * cells),
            global,
        })
    }
}

impl LayerHook for Aggregation<'_> {
    /// hidden [batch, positions, width] → the same, each image's tokens re-queried.
    fn after_layer(&self, layer: usize, hidden: Tensor<3>) -> Tensor<3> {
        let Some(k) = self.after.iter().position(|&l| l == layer) else { return hidden };
        let [batch, _, width] = hidden.dims();
        let (n, side) = (self.spans.len(), self.side);
        let len = side * (side + 1);
        let taken: Vec<Tensor<3>> =
            self.spans.iter().map(|s| hidden.clone().narrow(0, s.row, 1).narrow(1, s.start, len)).collect();
        // [n, L, L + 1, width]: the image tokens, then each row's newline.
        let grid = Tensor::cat(taken, 0).reshape([n, side, side + 1, width]);
        let queries = grid.clone().narrow(2, 0, side).reshape([n * side * side, 1, width]);
        let out = self.samplers[k].forward(queries, self.global.clone(), &self.windows, self.masked.clone());
        let spans = Tensor::cat(vec![out.reshape([n, side, side, width]), grid.narrow(2, side, 1)], 2).reshape([n, len, width]);
        let rows = (0..batch)
            .map(|b| {
                let row = hidden.clone().narrow(0, b, 1);
                let Some(j) = self.spans.iter().position(|s| s.row == b) else { return row };
                let (start, positions) = (self.spans[j].start, row.dims()[1]);
                let mut pieces = vec![spans.clone().narrow(0, j, 1)];
                if start > 0 {
                    pieces.insert(0, row.clone().narrow(1, 0, start));
                }
                if start + len < positions {
                    pieces.push(row.narrow(1, start + len, positions - start - len));
                }
                Tensor::cat(pieces, 1)
            })
            .collect();
        Tensor::cat(rows, 0)
    }
}
