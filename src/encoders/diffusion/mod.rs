//! Stable Diffusion 2.1 (Rombach et al., CVPR 2022; stabilityai/stable-diffusion-2-1) as a
//! vision encoder, as Cambrian-1 uses it (row 21 of its encoder table;
//! `cambrian/model/multimodal_encoder/diffusion_encoder.py`): one denoising step.
//!
//! 1. VAE: latents = mean of the encoder's Gaussian × `scaling_factor` (`vae.rs`).
//! 2. DDIM `add_noise` at `timestep` (250): √ᾱ_t·latents + √(1−ᾱ_t)·noise, the noise seeded
//!    (`noise.rs`; Cambrian-1 left it unseeded).
//! 3. One UNet pass at that timestep, conditioned on the empty prompt's embedding from the
//!    checkpoint's own CLIP text encoder and tokenizer (`text.rs`, `unet.rs`).
//! 4. The outputs of the four up blocks, each resized bilinearly (align_corners = false) to
//!    (resolution / patch_size)² and concatenated on channels: 1280 + 1280 + 640 + 320 = 3520
//!    at 512 px for SD 2.1, on a 32 × 32 grid.
//!
//! Weights are a diffusers folder (the hub snapshot): `vae/`, `unet/`, `text_encoder/`,
//! `tokenizer/`, `scheduler/`, checked against the spec's `[architecture]` table.

mod blocks;
pub mod config;
mod keys;
pub mod noise;
pub mod text;
pub mod unet;
pub mod vae;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::spec::{ArchitectureSpec, Selection, patch_grid};
use super::{EncoderError, EncoderModel};
use crate::weights::checkpoint::Checkpoint;
use crate::weights::load::load_strict;
pub use config::StableDiffusionSpec;
use config::check_folder_config;
use text::TextEncoder;
use unet::Unet;
use vae::VaeEncoder;

#[derive(Module, Debug)]
pub struct StableDiffusion {
    pub vae: VaeEncoder,
    pub unet: Unet,
    pub text_encoder: TextEncoder,
    /// The empty prompt's token ids.
    #[module(skip)]
    prompt_ids: Vec<i64>,
    #[module(skip)]
    step: NoiseStep,
}

/// What the forward pass needs besides the modules.
#[derive(Debug, Clone)]
struct NoiseStep {
    timestep: usize,
    seed: u64,
    patch_size: usize,
    /// √ᾱ_t and √(1 − ᾱ_t)
    signal: f64,
    noise: f64,
}

impl ArchitectureSpec for StableDiffusionSpec {
    fn describe(&self) -> String {
        format!("stable-diffusion (t = {}, {} up blocks)", self.timestep, self.unet.block_out_channels.len())
    }

    fn hidden_size(&self) -> usize {
        self.unet.block_out_channels.iter().sum()
    }

    fn grid(&self, resolution: usize) -> [usize; 2] {
        patch_grid(resolution, self.patch_size)
    }

    fn validate(&self) -> Result<(), EncoderError> {
        self.check()
    }

    fn build(&self, checkpoint: Option<Checkpoint>, device: &Device) -> Result<EncoderModel, EncoderError> {
        match checkpoint {
            None => Ok(EncoderModel::Diffusion(self.init(text::clip_default_ids(&self.text_encoder), device)?)),
            Some(checkpoint) => Err(EncoderError::Config(format!(
                "{}: Stable Diffusion weights are a diffusers folder (vae/, unet/, text_encoder/, tokenizer/, scheduler/); pass the folder",
                checkpoint.origin
            ))),
        }
    }

    fn hub_files(&self) -> &'static [&'static str] {
        FOLDER_FILES
    }

    fn load(&self, path: &Path, _selection: &Selection, device: &Device) -> Result<EncoderModel, EncoderError> {
        Ok(EncoderModel::Diffusion(self.load_folder(&diffusers_folder(path)?, device)?))
    }
}

/// The files of a diffusers folder this module reads (besides `model_index.json`).
const FOLDER_FILES: &[&str] = &[
    "vae/config.json",
    "vae/diffusion_pytorch_model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "text_encoder/config.json",
    "text_encoder/model.safetensors",
    "tokenizer/vocab.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "scheduler/scheduler_config.json",
];

/// The folder itself, or the folder of its `model_index.json`.
fn diffusers_folder(path: &Path) -> Result<PathBuf, EncoderError> {
    let dir =
        if path.file_name().is_some_and(|n| n == "model_index.json") { path.parent().unwrap_or(Path::new(".")) } else { path };
    if !dir.join("model_index.json").is_file() {
        return Err(EncoderError::Config(format!(
            "{} is not a diffusers folder (no model_index.json); download the whole repository snapshot (`hf download stabilityai/stable-diffusion-2-1`)",
            dir.display()
        )));
    }
    Ok(dir.to_path_buf())
}

/// `dir/<part>/<stem>.safetensors`, or its sharded index.
fn weights_file(dir: &Path, part: &str, stem: &str) -> PathBuf {
    let single = dir.join(part).join(format!("{stem}.safetensors"));
    let index = dir.join(part).join(format!("{stem}.safetensors.index.json"));
    if !single.exists() && index.exists() { index } else { single }
}

impl StableDiffusionSpec {
    fn init(&self, prompt_ids: Vec<i64>, device: &Device) -> Result<StableDiffusion, EncoderError> {
        self.check()?;
        if prompt_ids.len() > self.text_encoder.max_position_embeddings {
            return Err(EncoderError::Config(format!(
                "the prompt is {} tokens long, the text encoder has {} positions",
                prompt_ids.len(),
                self.text_encoder.max_position_embeddings
            )));
        }
        let alpha = noise::alpha_cumprod(&self.scheduler, self.timestep)?;
        Ok(StableDiffusion {
            vae: VaeEncoder::new(&self.vae, device),
            unet: Unet::new(&self.unet, device),
            text_encoder: TextEncoder::new(&self.text_encoder, device)?,
            prompt_ids,
            step: NoiseStep {
                timestep: self.timestep,
                seed: self.noise_seed,
                patch_size: self.patch_size,
                signal: alpha.sqrt(),
                noise: (1.0 - alpha).sqrt(),
            },
        })
    }

    fn load_folder(&self, dir: &Path, device: &Device) -> Result<StableDiffusion, EncoderError> {
        self.check()?;
        let blocks = [self.vae.block_out_channels.len(), self.unet.block_out_channels.len()];
        check_folder_config(dir, "vae", "config.json", &self.vae, blocks)?;
        check_folder_config(dir, "unet", "config.json", &self.unet, blocks)?;
        check_folder_config(dir, "text_encoder", "config.json", &self.text_encoder, blocks)?;
        check_folder_config(dir, "scheduler", "scheduler_config.json", &self.scheduler, blocks)?;
        let mut model = self.init(text::empty_prompt_ids(&dir.join("tokenizer"))?, device)?;
        let vae = Checkpoint::open(&weights_file(dir, "vae", "diffusion_pytorch_model"), None)?;
        load_strict(&mut model.vae, vae, &keys::VAE)?;
        let mut unet = Checkpoint::open(&weights_file(dir, "unet", "diffusion_pytorch_model"), None)?;
        keys::feed_forward_names(&mut unet);
        load_strict(&mut model.unet, unet, &keys::UNET)?;
        load_strict(&mut model.text_encoder, Checkpoint::open(&dir.join("text_encoder"), None)?, &keys::TEXT)?;
        Ok(model)
    }
}

impl StableDiffusion {
    /// Features with the spec's seeded noise. [batch, 3, H, W] → ([batch, rows × cols, Σ
    /// up-block channels], [rows, cols])
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        if let Some(layer) = layer {
            return Err(EncoderError::Config(format!(
                "Stable Diffusion features are the concatenated up-block outputs; there is no layer {layer} to select"
            )));
        }
        let latents = self.latents(pixels.clone());
        let [_, channels, height, width] = latents.dims();
        let noise = gaussian(self.step.seed, [channels, height, width], &latents.device());
        self.features(pixels, latents, noise)
    }

    /// The same with a given noise tensor [latent channels, h, w], shared by the batch.
    pub fn forward_with_noise(&self, pixels: Tensor<4>, noise: Tensor<3>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let latents = self.latents(pixels.clone());
        self.features(pixels, latents, noise)
    }

    /// The seeded noise for latents of `[channels, h, w]`.
    pub fn noise(&self, shape: [usize; 3], device: &Device) -> Tensor<3> {
        gaussian(self.step.seed, shape, device)
    }

    /// VAE mean × scaling factor. [batch, 3, H, W] → [batch, latent, h, w]
    pub fn latents(&self, pixels: Tensor<4>) -> Tensor<4> {
        self.vae.forward(pixels)
    }

    /// The empty prompt's `last_hidden_state`. → [1, tokens, hidden]
    pub fn prompt_embeds(&self) -> Tensor<3> {
        self.text_encoder.forward(&self.prompt_ids)
    }

    fn features(&self, pixels: Tensor<4>, latents: Tensor<4>, noise: Tensor<3>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let [batch, _, height, width] = pixels.dims();
        let [_, channels, h, w] = latents.dims();
        if noise.dims() != [channels, h, w] {
            return Err(EncoderError::Config(format!("noise of shape {:?} for latents of [{channels}, {h}, {w}]", noise.dims())));
        }
        let noisy = latents * self.step.signal + noise.unsqueeze::<4>() * self.step.noise;
        let prompt = self.prompt_embeds();
        let [_, tokens, hidden] = prompt.dims();
        let context = prompt.expand([batch, tokens, hidden]);
        let grid = [height / self.step.patch_size, width / self.step.patch_size];
        let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size(grid);
        let maps: Vec<Tensor<4>> = self
            .unet
            .up_block_outputs(noisy, self.step.timestep, &context)
            .into_iter()
            .map(|map| interpolate(map, options.clone()))
            .collect();
        // [batch, Σ channels, rows, cols] → [batch, rows × cols, Σ channels]
        let tokens = Tensor::cat(maps, 1).flatten::<3>(2, 3).swap_dims(1, 2);
        Ok((tokens, grid))
    }
}

fn gaussian(seed: u64, [channels, height, width]: [usize; 3], device: &Device) -> Tensor<3> {
    let values = noise::gaussian_noise(seed, channels * height * width);
    Tensor::from_data(TensorData::new(values, [channels, height, width]), device)
}
