//! Bilinear resizing of feature maps, matching `torch.nn.functional.interpolate(...,
//! mode="bilinear", align_corners=False)` with an output size (no antialias, so shrinking
//! samples two taps as torch does), as Cambrian-1 resizes every encoder's token grid. Written
//! as two matmuls with host-built weights, one per axis, so that it runs alike on every backend
//! (burn's `interpolate` defaults to `align_corners = true`).

use burn::tensor::{Device, Tensor, TensorData};

/// Row-major [output, input] weights of a 1-D resize. ATen: `src = (i + 0.5) · in/out − 0.5`,
/// clamped at 0; taps `floor(src)` and the next index (the last one repeated at the border).
pub fn weights(input: usize, output: usize) -> Vec<f32> {
    let scale = input as f64 / output as f64;
    let mut w = vec![0.0f32; output * input];
    for out in 0..output {
        let src = ((out as f64 + 0.5) * scale - 0.5).max(0.0);
        let left = (src.floor() as usize).min(input - 1);
        let right = (left + 1).min(input - 1);
        let t = src - left as f64;
        w[out * input + left] += (1.0 - t) as f32;
        w[out * input + right] += t as f32;
    }
    w
}

/// [batch, channels, rows, cols] → [batch, channels, new_rows, new_cols]
pub fn resize(maps: Tensor<4>, [new_rows, new_cols]: [usize; 2]) -> Tensor<4> {
    let [batch, channels, rows, cols] = maps.dims();
    if [rows, cols] == [new_rows, new_cols] {
        return maps;
    }
    let device: Device = maps.device();
    // [input, output]: the transpose of `weights`, to multiply from the right
    let matrix = |input, output| {
        Tensor::<2>::from_data(TensorData::new(weights(input, output), [output, input]), &device).transpose()
    };
    // Columns: [batch × channels × rows, cols] · [cols, new_cols]
    let x = maps.reshape([batch * channels * rows, cols]).matmul(matrix(cols, new_cols));
    // Rows, moved last: [batch × channels × new_cols, rows] · [rows, new_rows]
    let x = x.reshape([batch, channels, rows, new_cols]).swap_dims(2, 3).reshape([batch * channels * new_cols, rows]);
    let x = x.matmul(matrix(rows, new_rows));
    x.reshape([batch, channels, new_cols, new_rows]).swap_dims(2, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_weights_sum_to_one_and_same_size_is_the_identity() {
        for (input, output) in [(7, 5), (5, 7), (32, 24), (16, 24), (3, 1), (1, 4)] {
            for row in weights(input, output).chunks(input) {
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            }
        }
        let w = weights(4, 4);
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(w[i * 4 + j], if i == j { 1.0 } else { 0.0 });
            }
        }
    }

    #[test]
    fn doubling_interpolates_quarter_steps() {
        // torch: [0, 1] → [0, 0.25, 0.75, 1]
        let w = weights(2, 4);
        assert_eq!(w, vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]);
    }
}
