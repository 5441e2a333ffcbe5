//! Decomposed relative position bias (MViTv2, Li et al. 2022; used by ViTDet and SAM's image
//! encoder): one learned table per axis, indexed by the query-key offset along that axis, read
//! through the query. The attention logit of query (h, w) and key (h', w') gains
//! `q · Rh[h - h'] + q · Rw[w - w']`.
//!
//! Only self-attention over one grid is covered (query and key grids alike), so the offset is
//! `i - j + size - 1`; the coordinate scaling of the reference `get_rel_pos` for pooled keys
//! would be the identity here. A table trained for another grid size is resized linearly, as
//! `F.interpolate(mode="linear", align_corners=False)` does.

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::resample::{GridResample, weights};

/// The table's rows for every (query, key) pair along an axis of `size` positions, the table
/// first resized to `2 · size - 1` rows if it has another length. [rows, C] → [size, size, C]
pub fn rel_pos_pairs(table: Tensor<2>, size: usize) -> Tensor<3> {
    let device: Device = table.device();
    let [rows, channels] = table.dims();
    let wanted = 2 * size - 1;
    let table = if rows == wanted {
        table
    } else {
        // 1-D `F.interpolate(mode="linear")` is the bilinear resize along one axis.
        let weights = TensorData::new(weights(rows, wanted, GridResample::Bilinear), [wanted, rows]);
        Tensor::<2>::from_data(weights, &device).matmul(table)
    };
    let offsets: Vec<i64> = (0..size).flat_map(|i| (0..size).map(move |j| (i + size - 1 - j) as i64)).collect();
    let offsets = Tensor::<1, Int>::from_data(TensorData::new(offsets, [size * size]), &device);
    table.select(0, offsets).reshape([size, size, channels])
}

/// The additive attention bias of queries `q` over their own grid.
/// q: [batch, rows, cols, C], tables: [2·rows - 1, C] and [2·cols - 1, C] (or resizable to
/// them) → [batch, rows · cols (queries), rows · cols (keys)]
pub fn decomposed_rel_pos_bias(q: Tensor<4>, rel_pos_h: Tensor<2>, rel_pos_w: Tensor<2>) -> Tensor<3> {
    let [batch, rows, cols, channels] = q.dims();
    // [rows (query), rows (key), C] and [cols, cols, C]
    let pairs_h = rel_pos_pairs(rel_pos_h, rows);
    let pairs_w = rel_pos_pairs(rel_pos_w, cols);
    // by_row[b, h, w, k] = q[b, h, w] · Rh[h, k]: batched over h,
    // [rows, batch · cols, C] · [rows, C, rows] → [rows, batch · cols, rows]
    let by_row = q
        .clone()
        .permute([1, 0, 2, 3])
        .reshape([rows, batch * cols, channels])
        .matmul(pairs_h.swap_dims(1, 2))
        .reshape([rows, batch, cols, rows])
        .permute([1, 0, 2, 3]);
    // by_col[b, h, w, k] = q[b, h, w] · Rw[w, k]: [cols, batch · rows, C] · [cols, C, cols]
    let by_col = q
        .permute([2, 0, 1, 3])
        .reshape([cols, batch * rows, channels])
        .matmul(pairs_w.swap_dims(1, 2))
        .reshape([cols, batch, rows, cols])
        .permute([1, 2, 0, 3]);
    // [batch, rows, cols, key rows, key cols]
    let shape = [batch, rows, cols, rows, cols];
    let bias = by_row.unsqueeze_dim::<5>(4).expand(shape) + by_col.unsqueeze_dim::<5>(3).expand(shape);
    bias.reshape([batch, rows * cols, rows * cols])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_weights_match_half_pixel_interpolation() {
        // 7 → 5: scale 1.4, sources 0.2, 1.6, 3.0, 4.4, 5.8.
        let w = weights(7, 5, GridResample::Bilinear);
        let row = |i: usize| &w[i * 7..(i + 1) * 7];
        assert!((row(0)[0] - 0.8).abs() < 1e-6 && (row(0)[1] - 0.2).abs() < 1e-6);
        assert!((row(2)[3] - 1.0).abs() < 1e-6);
        assert!((row(4)[5] - 0.2).abs() < 1e-5 && (row(4)[6] - 0.8).abs() < 1e-5);
        for i in 0..5 {
            assert!((row(i).iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn pairs_index_the_table_by_offset() {
        let device = Device::flex();
        // Row r of the table holds the value r.
        let table = Tensor::<1, Int>::arange(0..5, &device).float().reshape([5, 1]);
        let pairs = rel_pos_pairs(table, 3).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        // pairs[i][j] = i - j + 2
        assert_eq!(pairs, vec![2.0, 1.0, 0.0, 3.0, 2.0, 1.0, 4.0, 3.0, 2.0]);
    }
}
