//! 2-D axial rotary position embedding for vision transformers (RoFormer, Su et al. 2021;
//! for ViTs, Heo et al. 2024), in the three conventions of timm's `pos_embed_sincos.py`:
//! EVA-02's (integer patch index rescaled to a reference grid), Perception Encoder's (the
//! same, offset by one, x before y) and DINOv3's (patch centres normalised to [-1, 1], angles
//! in periods of `2π`).
//!
//! A head of width `D` splits into two axes of `D/4` frequency bands each. Band `k` of an axis
//! turns by `scale · t · base^(-k / (D/4))` radians at coordinate `t`. The `D/2` angles of a
//! position, first axis then second, are laid out over the `D` channels either interleaved
//! (`a0 a0 a1 a1 …`, pairs rotated as `(x0, x1) → (-x1, x0)`) or halved (`a0 a1 … a0 a1 …`,
//! halves rotated as `(x1, x2) → (-x2, x1)`).

use std::f64::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// DINOv3's angle factor: its bands are periods `base^(k / (D/4))` of a full turn.
pub const FULL_TURN: f64 = 2.0 * PI;

/// How a patch's row or column index becomes the coordinate the bands turn by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Coordinates {
    /// `(i + offset) · reference / n` on an axis of `n` patches (timm `grid_type = 'index'`
    /// with `ref_feat_shape`); no reference means `reference = n`.
    Index { offset: f64, reference: Option<[usize; 2]> },
    /// `2 (i + 0.5) / n - 1` (timm `grid_type = 'centered'`, DINOv3).
    Centered,
}

/// Which coordinate takes the first quarter of bands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AxisOrder {
    /// Row (y) first: timm `grid_indexing = 'ij'`.
    RowsFirst,
    /// Column (x) first: timm `grid_indexing = 'xy'`.
    ColsFirst,
}

/// How a position's angles are spread over a head's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pairing {
    /// Adjacent channel pairs rotate together (timm `rotate_half = False`).
    Interleaved,
    /// Channel `j` rotates with channel `j + D/2` (timm `rotate_half = True`).
    Half,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope2d {
    pub head_dim: usize,
    pub base: f64,
    /// Factor on every angle: 1 (EVA, PE) or 2π (DINOv3's periods).
    pub scale: f64,
    pub coordinates: Coordinates,
    pub axis_order: AxisOrder,
    pub pairing: Pairing,
}

/// The sine and cosine tables of one grid: each [1, 1, rows × cols, head_dim], row-major.
pub struct RopeTables {
    sin: Tensor<4>,
    cos: Tensor<4>,
    pairing: Pairing,
}

impl Rope2d {
    pub fn validate(&self) -> Result<(), String> {
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(4) {
            return Err(format!("rotary embedding needs a head width divisible by 4, not {}", self.head_dim));
        }
        Ok(())
    }

    /// Coordinates of the `n` patches along an axis whose reference length is `reference`.
    fn axis(&self, n: usize, reference: Option<usize>) -> Vec<f64> {
        (0..n)
            .map(|i| match self.coordinates {
                Coordinates::Index { offset, .. } => (i as f64 + offset) * reference.unwrap_or(n) as f64 / n as f64,
                Coordinates::Centered => 2.0 * (i as f64 + 0.5) / n as f64 - 1.0,
            })
            .collect()
    }

    /// The tables for a grid of [rows, cols] patches.
    pub fn tables(&self, [rows, cols]: [usize; 2], device: &Device) -> RopeTables {
        let bands = self.head_dim / 4;
        let reference = match self.coordinates {
            Coordinates::Index { reference, .. } => reference,
            Coordinates::Centered => None,
        };
        let ys = self.axis(rows, reference.map(|r| r[0]));
        let xs = self.axis(cols, reference.map(|r| r[1]));
        let frequencies: Vec<f64> = (0..bands).map(|k| self.scale * self.base.powf(-(k as f64) / bands as f64)).collect();
        let mut sin = Vec::with_capacity(rows * cols * self.head_dim);
        let mut cos = Vec::with_capacity(rows * cols * self.head_dim);
        for y in &ys {
            for x in &xs {
                let (first, second) = match self.axis_order {
                    AxisOrder::RowsFirst => (*y, *x),
                    AxisOrder::ColsFirst => (*x, *y),
                };
                // [first axis bands, second axis bands]: D/2 angles
                let angles: Vec<f64> = [first, second].iter().flat_map(|t| frequencies.iter().map(move |f| t * f)).collect();
                let channels: Vec<f64> = match self.pairing {
                    Pairing::Interleaved => angles.iter().flat_map(|a| [*a, *a]).collect(),
                    Pairing::Half => angles.iter().chain(&angles).copied().collect(),
                };
                sin.extend(channels.iter().map(|a| a.sin() as f32));
                cos.extend(channels.iter().map(|a| a.cos() as f32));
            }
        }
        let shape = [1, 1, rows * cols, self.head_dim];
        RopeTables {
            sin: Tensor::from_data(TensorData::new(sin, shape), device),
            cos: Tensor::from_data(TensorData::new(cos, shape), device),
            pairing: self.pairing,
        }
    }
}

impl RopeTables {
    /// Rotates queries or keys of the grid's patches: [batch, heads, patches, head_dim] → same.
    pub fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        x.clone() * self.cos.clone() + rotate(x, self.pairing) * self.sin.clone()
    }
}

/// The partner of each channel, negated where the rotation asks: [.., D] → [.., D].
fn rotate(x: Tensor<4>, pairing: Pairing) -> Tensor<4> {
    let [batch, heads, tokens, dim] = x.dims();
    match pairing {
        Pairing::Interleaved => {
            // [.., D/2, 2]: (x0, x1) → (-x1, x0)
            let pairs = x.reshape([batch * heads, tokens, dim / 2, 2]);
            let even = pairs.clone().narrow(3, 0, 1);
            let odd = pairs.narrow(3, 1, 1);
            Tensor::cat(vec![odd.neg(), even], 3).reshape([batch, heads, tokens, dim])
        }
        Pairing::Half => super::rope::rotate_half(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope(pairing: Pairing) -> Rope2d {
        Rope2d {
            head_dim: 8,
            base: 100.0,
            scale: 1.0,
            coordinates: Coordinates::Index { offset: 0.0, reference: None },
            axis_order: AxisOrder::RowsFirst,
            pairing,
        }
    }

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    /// Rotation keeps each rotated pair's length, and the first patch (coordinate 0) is untouched.
    #[test]
    fn rotation_preserves_pair_norms_and_origin() {
        let device = Device::flex();
        for pairing in [Pairing::Interleaved, Pairing::Half] {
            let tables = rope(pairing).tables([2, 3], &device);
            let x = Tensor::<4>::from_data(
                TensorData::new((0..48).map(|v| (v as f32 * 0.37).sin()).collect::<Vec<_>>(), [1, 1, 6, 8]),
                &device,
            );
            let (before, after) = (values(x.clone()), values(tables.apply(x)));
            assert!(before[..8].iter().zip(&after[..8]).all(|(a, b)| (a - b).abs() < 1e-6), "{pairing:?}");
            let partner = |j: usize| match pairing {
                Pairing::Interleaved => j ^ 1,
                Pairing::Half => (j + 4) % 8,
            };
            for token in 0..6 {
                for j in 0..8 {
                    let norm = |v: &[f32]| v[token * 8 + j].hypot(v[token * 8 + partner(j)]);
                    assert!((norm(&before) - norm(&after)).abs() < 1e-5, "{pairing:?} token {token} channel {j}");
                }
            }
        }
    }

    #[test]
    fn index_coordinates_rescale_to_the_reference_grid() {
        let mut r = rope(Pairing::Interleaved);
        r.coordinates = Coordinates::Index { offset: 1.0, reference: Some([2, 2]) };
        assert_eq!(r.axis(4, Some(2)), vec![0.5, 1.0, 1.5, 2.0]);
        r.coordinates = Coordinates::Centered;
        assert_eq!(r.axis(4, None), vec![-0.75, -0.25, 0.25, 0.75]);
    }
}
