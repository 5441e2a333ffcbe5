//! The forward diffusion step: `add_noise` of diffusers' DDIM scheduler, and the seeded
//! Gaussian noise it adds.
//!
//! Cambrian-1 draws the noise with an unseeded `torch.randn_like`, so its features vary from
//! run to run. Here the noise is a pure function of the spec's `noise_seed` and the latent
//! shape, the same on every backend and for every batch: SplitMix64 (Steele et al. 2014)
//! gives two 53-bit uniforms u₁, u₂ ∈ (0, 1] per value, and Box-Muller turns them into
//! √(−2 ln u₁)·cos(2π u₂), computed in f64 and rounded to f32, in row-major order over
//! [channels, height, width]. Every image of a batch gets the same noise, so that features do
//! not depend on the batch an image lands in. tools/reference/make_diffusion_fixtures.py
//! implements the same generator for the parity fixture.

use super::config::SchedulerConfig;
use crate::encoders::EncoderError;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1], so that its logarithm is finite.
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
}

/// `count` standard normal values from `seed`.
pub fn gaussian_noise(seed: u64, count: usize) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    (0..count)
        .map(|_| {
            let (u1, u2) = (rng.uniform(), rng.uniform());
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// ᾱ_t, the product of (1 − β_s) for s ≤ t, of the scheduler's β schedule: `linear`
/// (β evenly spaced) or `scaled_linear` (√β evenly spaced).
pub fn alpha_cumprod(config: &SchedulerConfig, timestep: usize) -> Result<f64, EncoderError> {
    let steps = config.num_train_timesteps;
    let (start, end) = match config.beta_schedule.as_str() {
        "linear" => (config.beta_start, config.beta_end),
        "scaled_linear" => (config.beta_start.sqrt(), config.beta_end.sqrt()),
        other => return Err(EncoderError::Config(format!("beta_schedule `{other}` is not supported (linear, scaled_linear)"))),
    };
    let beta = |s: usize| {
        let value = if steps == 1 { start } else { start + (end - start) * s as f64 / (steps - 1) as f64 };
        if config.beta_schedule == "scaled_linear" { value * value } else { value }
    };
    Ok((0..=timestep).map(|s| 1.0 - beta(s)).product())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal_and_reproducible() {
        let noise = gaussian_noise(3, 20_000);
        assert_eq!(noise, gaussian_noise(3, 20_000));
        assert_ne!(noise[..8], gaussian_noise(4, 8)[..]);
        let mean = noise.iter().map(|v| *v as f64).sum::<f64>() / noise.len() as f64;
        let var = noise.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / noise.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "mean {mean}, variance {var}");
    }

    #[test]
    fn stable_diffusion_schedule_at_250() {
        let config = SchedulerConfig {
            num_train_timesteps: 1000,
            beta_start: 0.00085,
            beta_end: 0.012,
            beta_schedule: "scaled_linear".into(),
        };
        // diffusers: DDIMScheduler(...).alphas_cumprod[250] = 0.673792 (f32)
        let value = alpha_cumprod(&config, 250).unwrap();
        assert!((value - 0.673_792_3).abs() < 1e-6, "{value}");
    }
}
