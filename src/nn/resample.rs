//! Resampling of token grids (position embeddings, feature maps) as separable weight
//! matrices, matching `torch.nn.functional.interpolate(..., align_corners=False)`:
//! bilinear, plain bicubic (a = -0.75), and the antialiased bilinear and bicubic of ATen's
//! `_upsample_bilinear2d_aa` / `_upsample_bicubic2d_aa` (triangle or a = -0.5 cubic filter,
//! support widened when shrinking). burn's interpolate has no antialias,
//! and two small matmuls on the host-built weights run on every backend.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GridResample {
    /// Two taps, no antialias, even when shrinking (as Cambrian's feature interpolation).
    Bilinear,
    Bicubic,
    BicubicAntialias,
    /// `antialias=True` bilinear: SigLIP 2 NaFlex's per-image position table.
    BilinearAntialias,
}

fn cubic(x: f64, a: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    } else {
        0.0
    }
}

/// Row-major [output, input] weights of a 1-D resampling.
pub fn weights(input: usize, output: usize, kind: GridResample) -> Vec<f32> {
    let scale = input as f64 / output as f64;
    let mut w = vec![0.0f64; output * input];
    for out in 0..output {
        let row = &mut w[out * input..(out + 1) * input];
        match kind {
            GridResample::Bilinear => {
                // ATen's area_pixel_compute_source_index, in f32 as ATen computes it for
                // f32 tensors (the rounding shows at 1e-5 on 64-wide grids); negative
                // sources clamp to 0.
                let scale = input as f32 / output as f32;
                let src = (scale * (out as f32 + 0.5) - 0.5).max(0.0);
                let low = (src as usize).min(input - 1);
                let high = (low + 1).min(input - 1);
                let t = src - low as f32;
                row[low] += f64::from(1.0 - t);
                row[high] += f64::from(t);
            }
            GridResample::Bicubic => {
                // ATen: src = (i + 0.5) * scale - 0.5, taps floor(src)-1 ..= floor(src)+2,
                // indices clamped to the border.
                let src = (out as f64 + 0.5) * scale - 0.5;
                let base = src.floor();
                let t = src - base;
                for (k, dist) in [(-1, t + 1.0), (0, t), (1, 1.0 - t), (2, 2.0 - t)] {
                    let index = (base as i64 + k).clamp(0, input as i64 - 1) as usize;
                    row[index] += cubic(dist, -0.75);
                }
            }
            GridResample::BilinearAntialias => {
                // transformers' `Siglip2VisionEmbeddings.resize_positional_embeddings`: a
                // triangle of half-width max(scale, 1) about the source centre, normalised.
                let support = scale.max(1.0);
                let centre = (out as f64 + 0.5) * scale - 0.5;
                for (index, slot) in row.iter_mut().enumerate() {
                    *slot = (1.0 - (index as f64 - centre).abs() / support).max(0.0);
                }
                let total: f64 = row.iter().sum();
                row.iter_mut().for_each(|v| *v /= total);
            }
            GridResample::BicubicAntialias => {
                let support = 2.0 * scale.max(1.0);
                let inv_scale = 1.0 / scale.max(1.0);
                let centre = scale * (out as f64 + 0.5);
                let min = ((centre - support + 0.5) as i64).max(0) as usize;
                let max = ((centre + support + 0.5) as i64).min(input as i64) as usize;
                for (index, slot) in row.iter_mut().enumerate().take(max).skip(min) {
                    *slot = cubic((index as f64 - centre + 0.5) * inv_scale, -0.5);
                }
                let total: f64 = row.iter().sum();
                if total != 0.0 {
                    row.iter_mut().for_each(|v| *v /= total);
                }
            }
        }
    }
    w.into_iter().map(|v| v as f32).collect()
}

/// Resizes a row-major token grid: [rows × cols, channels] → [new_rows × new_cols, channels].
pub fn resize_grid(grid: Tensor<2>, from: (usize, usize), to: (usize, usize), kind: GridResample) -> Tensor<2> {
    resize_grids(grid.unsqueeze::<3>(), from, to, kind).squeeze_dim::<2>(0)
}

/// Resizes a batch of row-major token grids:
/// [batch, rows × cols, channels] → [batch, new_rows × new_cols, channels].
pub fn resize_grids(
    grids: Tensor<3>,
    (rows, cols): (usize, usize),
    (new_rows, new_cols): (usize, usize),
    kind: GridResample,
) -> Tensor<3> {
    let device: Device = grids.device();
    let [batch, _, channels] = grids.dims();
    let matrix = |input, output| Tensor::<2>::from_data(TensorData::new(weights(input, output, kind), [output, input]), &device);
    // Rows: [new_rows, rows] · [rows, batch × cols × channels]
    let x = grids.reshape([batch, rows, cols * channels]).swap_dims(0, 1).reshape([rows, batch * cols * channels]);
    let x = matrix(rows, new_rows).matmul(x);
    // Columns: [new_cols, cols] · [cols, new_rows × batch × channels]
    let x = x.reshape([new_rows, batch, cols, channels]).permute([2, 0, 1, 3]).reshape([cols, new_rows * batch * channels]);
    let x = matrix(cols, new_cols).matmul(x);
    // [new_cols, new_rows, batch, channels] → [batch, new_rows, new_cols, channels]
    x.reshape([new_cols, new_rows, batch, channels]).permute([2, 1, 0, 3]).reshape([batch, new_rows * new_cols, channels])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_the_identity() {
        for kind in
            [GridResample::Bilinear, GridResample::Bicubic, GridResample::BicubicAntialias, GridResample::BilinearAntialias]
        {
            let w = weights(5, 5, kind);
            for i in 0..5 {
                for j in 0..5 {
                    let expected = if i == j { 1.0 } else { 0.0 };
                    assert!((w[i * 5 + j] - expected).abs() < 1e-6, "{kind:?} {i} {j}");
                }
            }
        }
    }

    #[test]
    fn rows_of_weights_sum_to_one() {
        for kind in
            [GridResample::Bilinear, GridResample::Bicubic, GridResample::BicubicAntialias, GridResample::BilinearAntialias]
        {
            for (input, output) in [(7, 5), (5, 7), (37, 24)] {
                let w = weights(input, output, kind);
                for row in w.chunks(input) {
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                }
            }
        }
    }

    /// `F.interpolate(eye, mode="bilinear")` in torch 2.15, shrinking 5 → 3 and growing 3 → 5.
    #[test]
    fn bilinear_matches_torch() {
        let third = 1.0 / 3.0;
        #[rustfmt::skip]
        let shrink = [
            2.0 * third, third, 0.0, 0.0, 0.0,
            0.0, 0.0, 1.0, 0.0, 0.0,
            0.0, 0.0, 0.0, third, 2.0 * third,
        ];
        #[rustfmt::skip]
        let grow = [
            1.0, 0.0, 0.0,
            0.6, 0.4, 0.0,
            0.0, 1.0, 0.0,
            0.0, 0.4, 0.6,
            0.0, 0.0, 1.0,
        ];
        for ((input, output), expected) in [((5, 3), &shrink[..]), ((3, 5), &grow[..])] {
            let w = weights(input, output, GridResample::Bilinear);
            assert!(w.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6), "{input} → {output}: {w:?}");
        }
    }
}
