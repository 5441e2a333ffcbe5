//! Each encoder's map cut into the query grid's local windows, and the padding masks of
//! pad-to-square images, as Cambrian-1 trains (`rearrange_vision_tower_features_train` in
//! `cambrian_arch.py`; the masks of `prepare_image_info` / `prepare_multimodal_data` in
//! `train/train_fsdp.py`).
//!
//! A mask is true where a token shows the image and false where it shows the padding that
//! made the image square; a window with no image token is set back to all true (attention
//! over nothing is undefined). Masks are laid out for the base query grid (side L =
//! √image_token_len): [images, L², m²]. A query group of another side q reads the same
//! memory as [images · q², r²], r = side / q, without re-windowing it — exactly the
//! released `.view`, so the group's windows and mask entries line up only where no padding is.

use burn::tensor::{Bool, Device, Tensor, TensorData};

/// [images, side², channels] → [images · q², r², channels], r = side / q: row (image, i, j)
/// holds the r×r window at query cell (i, j), row-major.
pub fn windows(tokens: Tensor<3>, side: usize, q: usize) -> Tensor<3> {
    let [images, _, channels] = tokens.dims();
    let r = side / q;
    tokens.reshape([images, q, r, q, r, channels]).permute([0, 1, 3, 2, 4, 5]).reshape([images * q * q, r * r, channels])
}

/// Rows or columns of a side×side grid covered by padding at each end: (top, bottom, left,
/// right), as `get_padding_offset((side, side), image_size)`: the image, scaled to fit the
/// square, takes `int(short · side / long)` lines, centred with the rest split evenly (floor).
fn padding(side: usize, [width, height]: [usize; 2]) -> [usize; 4] {
    let (w, h, s) = (width as f64, height as f64, side as f64);
    if w / h > 1.0 {
        let kept = (h * (s / w)) as usize;
        let pad = side.saturating_sub(kept) / 2;
        [pad, pad, 0, 0]
    } else {
        let kept = (w * (s / h)) as usize;
        let pad = side.saturating_sub(kept) / 2;
        [0, 0, pad, pad]
    }
}

/// One image's mask for an encoder map of side `side` cut into windows of side m for a
/// base grid of side L = side / m: [L², m²] row-major, true where the image is.
fn image_mask(side: usize, m: usize, size: [usize; 2]) -> Vec<bool> {
    let [top, bottom, left, right] = padding(side, size);
    let shown = |y: usize, x: usize| y >= top && y < side - bottom && x >= left && x < side - right;
    let l = side / m;
    let mut mask = Vec::with_capacity(side * side);
    for (i, j) in (0..l).flat_map(|i| (0..l).map(move |j| (i, j))) {
        let window: Vec<bool> =
            (0..m).flat_map(|a| (0..m).map(move |b| (a, b))).map(|(a, b)| shown(i * m + a, j * m + b)).collect();
        let any = window.iter().any(|&s| s);
        mask.extend(window.into_iter().map(|s| s || !any));
    }
    mask
}

/// Every image's mask for an encoder map of side `side` and window side m: [images, L², m²].
/// `sizes` are the images' (width, height) before they were padded to square.
pub fn masks(side: usize, m: usize, sizes: &[[usize; 2]], device: &Device) -> Tensor<3, Bool> {
    let l = side / m;
    let values: Vec<bool> = sizes.iter().flat_map(|&size| image_mask(side, m, size)).collect();
    Tensor::from_data(TensorData::new(values, [sizes.len(), l * l, m * m]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_image_pads_top_and_bottom_and_a_tall_one_left_and_right() {
        // 8 · 30/40 = 6 rows of image, one of padding above and below.
        assert_eq!(padding(8, [40, 30]), [1, 1, 0, 0]);
        assert_eq!(padding(8, [30, 40]), [0, 0, 1, 1]);
        assert_eq!(padding(8, [50, 50]), [0, 0, 0, 0]);
    }

    #[test]
    fn windows_of_padding_alone_are_set_back_to_true() {
        // 4×4 map, windows 2×2 (L = 2); 4 · 10/40 = 1 row of image, padding (4 − 1) / 2 = 1
        // row above and below: the top windows keep their bottom row, the bottom windows
        // their top row.
        let mask = image_mask(4, 2, [40, 10]);
        let top = [false, false, true, true];
        let bottom = [true, true, false, false];
        assert_eq!(mask, [top, top, bottom, bottom].concat());
        // 4 · 4/40 = 0 rows: two rows of padding at each end, every window all padding.
        assert!(image_mask(4, 2, [40, 4]).into_iter().all(|s| s));
    }
}
