//! Rotary position embeddings (Su et al. 2021) in transformers' rotate-half convention: the
//! head dimension is split into halves [x1, x2] rotated as (x1 cos − x2 sin, x2 cos + x1 sin),
//! with frequency i shared by channels i and i + head_dim/2 (burn's `RotaryEncoding`
//! interleaves pairs instead). Frequencies follow `modeling_rope_utils`: the default
//! `1 / theta^(2i/d)` in f32, optionally rescaled as Llama 3.1 does (`llama3`).

use burn::tensor::{Device, Tensor, TensorData};

/// Llama 3.1's frequency rescaling (`rope_type: llama3`): long wavelengths divided by
/// `factor`, short ones kept, the band between interpolated smoothly.
#[derive(Debug, Clone, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f32,
    pub low_freq_factor: f32,
    pub high_freq_factor: f32,
    pub original_max_position_embeddings: f32,
}

#[derive(Debug, Clone)]
pub struct Rope {
    /// [head_dim / 2]
    inv_freq: Vec<f32>,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, scaling: Option<&Llama3Scaling>) -> Self {
        let base = theta as f32;
        let mut inv_freq: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / base.powf(i as f32 / head_dim as f32)).collect();
        if let Some(s) = scaling {
            inv_freq.iter_mut().for_each(|f| *f = llama3_frequency(*f, s));
        }
        Self { inv_freq }
    }

    /// cos and sin tables for positions `start..start + len`: [len, head_dim] each.
    pub fn tables(&self, start: usize, len: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(len * 2 * half);
        let mut sin = Vec::with_capacity(len * 2 * half);
        for position in start..start + len {
            // The two halves of a row repeat the same angles (transformers' `cat((freqs, freqs))`).
            for _ in 0..2 {
                for f in &self.inv_freq {
                    let angle = f * position as f32;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let table = |values| Tensor::<2>::from_data(TensorData::new(values, [len, 2 * half]), device);
        (table(cos), table(sin))
    }
}

fn llama3_frequency(inv_freq: f32, s: &Llama3Scaling) -> f32 {
    let low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    let high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    let wavelen = 2.0 * std::f32::consts::PI / inv_freq;
    if wavelen > low_freq_wavelen {
        inv_freq / s.factor
    } else if wavelen < high_freq_wavelen {
        inv_freq
    } else {
        let smooth =
            (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * inv_freq / s.factor + smooth * inv_freq
    }
}

/// Rotates `x` [batch, heads, tokens, head_dim] by the tables [tokens, head_dim], or by
/// tables [batch or 1, 1, tokens, head_dim] (positions that differ per row).
pub fn apply<const D: usize>(x: Tensor<4>, cos: &Tensor<D>, sin: &Tensor<D>) -> Tensor<4> {
    x.clone() * cos.clone().unsqueeze::<4>() + rotate_half(x) * sin.clone().unsqueeze::<4>()
}

/// HF's `rotate_half`: (x1, x2) → (-x2, x1) over the two halves of the last axis.
pub fn rotate_half(x: Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    Tensor::cat(vec![x2.neg(), x1], 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let s =
            Llama3Scaling { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192.0 };
        assert_eq!(llama3_frequency(1.0, &s), 1.0);
        let low = 2.0 * std::f32::consts::PI / 10_000.0;
        assert!((llama3_frequency(low, &s) - low / 8.0).abs() < 1e-12);
        // In the band the result lies between the two.
        let mid = 2.0 * std::f32::consts::PI / 4000.0;
        let scaled = llama3_frequency(mid, &s);
        assert!(scaled < mid && scaled > mid / 8.0);
    }
}
