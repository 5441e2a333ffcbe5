//! Diffusion (DDPM, Ho et al. 2020): each image is noised to a random timestep t of Stable
//! Diffusion's schedule (1000 steps, scaled-linear β from 0.00085 to 0.012, the schedule the
//! study's SD 2.1 tower uses), x_t = √ᾱ_t·x + √(1−ᾱ_t)·ε on the normalised pixels, and a
//! light head (one linear layer per token to its patch's pixels) predicts ε, by mean squared
//! error. The encoder is not told t (noise-unconditional denoising, which Sun et al. 2025,
//! "Is Noise Conditioning Necessary for Denoising Generative Models?", find works), so the
//! architecture stays the shared ViT. Its features are then read at one fixed level, as the
//! study reads SD at t = 250: the exported spec's `[architecture.input_noise]` (see
//! `encoders::vit::InputNoise`) noises every input so before the patch embedding.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::data::{Frame, patchify};
use super::{Batch, PretrainError};
use crate::encoders::diffusion::config::SchedulerConfig;
use crate::encoders::diffusion::noise::{alpha_cumprod, gaussian_noise};
use crate::encoders::vit::VisionTransformer;

/// The timestep the exported encoder's features are read at (Cambrian-1's SD tower: 250).
pub const FEATURE_TIMESTEP: usize = 250;

/// Stable Diffusion 2.1's `scheduler_config.json`.
pub fn schedule() -> SchedulerConfig {
    SchedulerConfig { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: "scaled_linear".into() }
}

#[derive(Module, Debug)]
pub struct DenoiseHead {
    head: Linear,
    /// ᾱ_t for every t.
    #[module(skip)]
    alphas: Vec<f64>,
}

impl DenoiseHead {
    pub fn new(hidden: usize, frame: &Frame, device: &Device) -> Result<Self, PretrainError> {
        let schedule = schedule();
        let alphas = (0..schedule.num_train_timesteps).map(|t| alpha_cumprod(&schedule, t)).collect::<Result<_, _>>()?;
        Ok(Self { head: LinearConfig::new(hidden, frame.per_token(3)).init(device), alphas })
    }

    /// The noised batch and its noise in patch order: ([batch, 3, res, res], [batch, pixels × 3]).
    pub fn noised(&self, batch: &Batch, rng: &mut ChaCha8Rng) -> (Tensor<4>, Tensor<2>) {
        let n = batch.items.len();
        let res = batch.frame.resolution;
        let (mut noised, mut targets) = (Vec::new(), Vec::new());
        for item in &batch.items {
            let alpha = self.alphas[rng.random_range(0..self.alphas.len())];
            let noise = gaussian_noise(rng.random(), item.pixels.len());
            let (signal, sigma) = (alpha.sqrt() as f32, (1.0 - alpha).sqrt() as f32);
            noised.extend(item.pixels.iter().zip(&noise).map(|(x, e)| signal * x + sigma * e));
            targets.extend(patchify(&batch.frame, &noise, 3));
        }
        let pixels = targets.len() / n;
        (
            Tensor::from_data(TensorData::new(noised, [n, 3, res, res]), batch.device),
            Tensor::from_data(TensorData::new(targets, [n, pixels]), batch.device),
        )
    }

    pub fn loss(&self, vit: &VisionTransformer, batch: &Batch, rng: &mut ChaCha8Rng) -> Result<Tensor<1>, PretrainError> {
        let (noised, noise) = self.noised(batch, rng);
        let (tokens, _) = vit.forward(noised, batch.layer)?;
        let [n, t, _] = tokens.dims();
        // [batch, tokens, patch² × 3] → [batch, pixels × 3], patch order
        let predicted = self.head.forward(tokens).reshape([n, t * batch.frame.per_token(3)]);
        Ok((predicted - noise).powi_scalar(2).mean())
    }
}
