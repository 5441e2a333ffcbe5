//! The `[architecture]` table of a `kind = "stable-diffusion"` spec. Its sub-tables mirror the
//! diffusers folder's configs field for field (`vae/config.json`, `unet/config.json`,
//! `text_encoder/config.json`, `scheduler/scheduler_config.json`), with the same defaults, so
//! that loading a folder can check that the spec describes it. Only the Stable Diffusion 2.x
//! structure is built; a folder whose configs leave it is refused with the field named.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::encoders::EncoderError;
use crate::encoders::spec::{check_eps, check_size, limits};

/// Most blocks of the VAE or the UNet (SD 2.1: 4).
const BLOCKS: usize = 8;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StableDiffusionSpec {
    /// The DDPM timestep the latents are noised to (Cambrian-1: 250).
    pub timestep: usize,
    /// Seed of the noise (see `noise.rs`); Cambrian-1 left it unseeded.
    pub noise_seed: u64,
    /// Pixels per output token: the up-block maps are resized to (resolution / patch_size)².
    pub patch_size: usize,
    pub vae: VaeConfig,
    pub unet: UnetConfig,
    pub text_encoder: TextConfig,
    pub scheduler: SchedulerConfig,
}

/// `AutoencoderKL`'s config.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct VaeConfig {
    pub block_out_channels: Vec<usize>,
    #[serde(default = "one")]
    pub layers_per_block: usize,
    #[serde(default = "four")]
    pub latent_channels: usize,
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    #[serde(default = "sd_scaling")]
    pub scaling_factor: f64,
    #[serde(default = "three")]
    pub in_channels: usize,
    #[serde(default = "yes")]
    pub use_quant_conv: bool,
    #[serde(default = "yes")]
    pub mid_block_add_attention: bool,
}

/// `UNet2DConditionModel`'s config. `attention_head_dim` is, as in diffusers, the number of
/// heads of each block (`num_attention_heads` falls back to it); one number means every block.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct UnetConfig {
    pub block_out_channels: Vec<usize>,
    #[serde(default = "two")]
    pub layers_per_block: usize,
    pub attention_head_dim: Heads,
    pub cross_attention_dim: usize,
    #[serde(default = "thirty_two")]
    pub norm_num_groups: usize,
    #[serde(default = "unet_eps")]
    pub norm_eps: f64,
    #[serde(default = "four")]
    pub in_channels: usize,
    #[serde(default = "one")]
    pub downsample_padding: usize,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Heads {
    All(usize),
    PerBlock(Vec<usize>),
}

/// transformers' `CLIPTextConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "clip_eps")]
    pub layer_norm_eps: f64,
}

/// The DDPM noise schedule of `scheduler_config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SchedulerConfig {
    #[serde(default = "thousand")]
    pub num_train_timesteps: usize,
    #[serde(default = "beta_start")]
    pub beta_start: f64,
    #[serde(default = "beta_end")]
    pub beta_end: f64,
    #[serde(default = "linear")]
    pub beta_schedule: String,
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn four() -> usize {
    4
}
fn thirty_two() -> usize {
    32
}
fn thousand() -> usize {
    1000
}
fn yes() -> bool {
    true
}
fn sd_scaling() -> f64 {
    0.18215
}
fn unet_eps() -> f64 {
    1e-5
}
fn clip_eps() -> f64 {
    1e-5
}
fn beta_start() -> f64 {
    0.0001
}
fn beta_end() -> f64 {
    0.02
}
fn linear() -> String {
    "linear".into()
}
fn quick_gelu() -> String {
    "quick_gelu".into()
}

impl UnetConfig {
    /// Heads of each down block (the up blocks take them reversed, the mid block the last).
    pub fn heads(&self) -> Vec<usize> {
        match &self.attention_head_dim {
            Heads::All(n) => vec![*n; self.block_out_channels.len()],
            Heads::PerBlock(heads) => heads.clone(),
        }
    }
}

impl StableDiffusionSpec {
    /// Sizes in range (see `spec::limits`; SD 2.1 has 4 blocks of at most 1280 channels, a
    /// 49408-token vocabulary and 77 positions) and the parts fitting together.
    pub fn check(&self) -> Result<(), EncoderError> {
        let invalid = |message: String| Err(EncoderError::Config(message));
        let (vae, unet, text) = (&self.vae, &self.unet, &self.text_encoder);
        if !(1..=BLOCKS).contains(&vae.block_out_channels.len()) || !(2..=BLOCKS).contains(&unet.block_out_channels.len()) {
            return invalid(format!("the VAE needs 1 to {BLOCKS} blocks and the UNet 2 to {BLOCKS}"));
        }
        for (part, channels) in [("vae", &vae.block_out_channels), ("unet", &unet.block_out_channels)] {
            for (i, c) in channels.iter().enumerate() {
                check_size(&format!("{part}.block_out_channels[{i}]"), *c, 1..=limits::WIDTH)?;
            }
        }
        for (field, value, max) in [
            ("vae.layers_per_block", vae.layers_per_block, limits::DEPTH),
            ("vae.latent_channels", vae.latent_channels, limits::WIDTH),
            ("vae.in_channels", vae.in_channels, limits::WIDTH),
            ("unet.layers_per_block", unet.layers_per_block, limits::DEPTH),
            ("unet.cross_attention_dim", unet.cross_attention_dim, limits::WIDTH),
            ("unet.downsample_padding", unet.downsample_padding, limits::PATCH),
            ("text_encoder.vocab_size", text.vocab_size, 1 << 20),
            ("text_encoder.hidden_size", text.hidden_size, limits::WIDTH),
            ("text_encoder.intermediate_size", text.intermediate_size, limits::MLP),
            ("text_encoder.num_hidden_layers", text.num_hidden_layers, limits::DEPTH),
            ("text_encoder.max_position_embeddings", text.max_position_embeddings, limits::PIXELS),
            ("scheduler.num_train_timesteps", self.scheduler.num_train_timesteps, 1 << 20),
            ("patch_size", self.patch_size, limits::PIXELS),
        ] {
            check_size(field, value, 1..=max)?;
        }
        check_eps("unet.norm_eps", unet.norm_eps)?;
        check_eps("text_encoder.layer_norm_eps", text.layer_norm_eps)?;
        check_eps("vae.scaling_factor", vae.scaling_factor)?;
        let (start, end) = (self.scheduler.beta_start, self.scheduler.beta_end);
        if !(0.0..1.0).contains(&start) || !(0.0..1.0).contains(&end) {
            return invalid(format!("scheduler betas {start} and {end} must lie in [0, 1)"));
        }
        for (what, groups, channels) in
            [("vae", vae.norm_num_groups, &vae.block_out_channels), ("unet", unet.norm_num_groups, &unet.block_out_channels)]
        {
            if let Some(c) = channels.iter().find(|c| groups == 0 || **c % groups != 0) {
                return invalid(format!("{what}: {c} channels do not split into norm_num_groups = {groups}"));
            }
        }
        let heads = unet.heads();
        if heads.len() != unet.block_out_channels.len() {
            return invalid(format!(
                "unet: {} attention_head_dim entries for {} blocks",
                heads.len(),
                unet.block_out_channels.len()
            ));
        }
        if let Some((c, h)) = unet.block_out_channels.iter().zip(&heads).find(|(c, h)| **h == 0 || **c % **h != 0) {
            return invalid(format!("unet: {c} channels do not split into {h} heads"));
        }
        if unet.in_channels != vae.latent_channels {
            return invalid(format!(
                "unet in_channels {} differs from the VAE's latent_channels {}",
                unet.in_channels, vae.latent_channels
            ));
        }
        if text.hidden_size != unet.cross_attention_dim {
            return invalid(format!(
                "text hidden_size {} differs from the UNet's cross_attention_dim {}",
                text.hidden_size, unet.cross_attention_dim
            ));
        }
        if text.num_attention_heads == 0 || text.hidden_size % text.num_attention_heads != 0 {
            return invalid(format!(
                "text hidden_size {} does not split into {} heads",
                text.hidden_size, text.num_attention_heads
            ));
        }
        if self.timestep >= self.scheduler.num_train_timesteps {
            return invalid(format!(
                "timestep {} is beyond the schedule's {} steps",
                self.timestep, self.scheduler.num_train_timesteps
            ));
        }
        Ok(())
    }
}

/// Fields of a folder's configs that must hold for the Stable Diffusion 2.x structure this
/// module builds: (key, required value, diffusers' default where the key is absent).
fn structural(part: &str, [vae_blocks, unet_blocks]: [usize; 2]) -> Vec<(&'static str, Value, Value)> {
    let same = |key, value: Value| (key, value.clone(), value);
    let sd_down = |blocks: usize| {
        let mut types = vec![json!("CrossAttnDownBlock2D"); blocks - 1];
        types.push(json!("DownBlock2D"));
        Value::Array(types)
    };
    let sd_up = |blocks: usize| {
        let mut types = vec![json!("UpBlock2D")];
        types.extend(vec![json!("CrossAttnUpBlock2D"); blocks - 1]);
        Value::Array(types)
    };
    match part {
        "vae" => vec![
            same("act_fn", json!("silu")),
            ("down_block_types", Value::Array(vec![json!("DownEncoderBlock2D"); vae_blocks]), json!(["DownEncoderBlock2D"])),
            same("latents_mean", Value::Null),
            same("latents_std", Value::Null),
        ],
        "unet" => vec![
            ("down_block_types", sd_down(unet_blocks), sd_down(4)),
            ("up_block_types", sd_up(unet_blocks), sd_up(4)),
            ("use_linear_projection", json!(true), json!(false)),
            same("mid_block_type", json!("UNetMidBlock2DCrossAttn")),
            same("act_fn", json!("silu")),
            same("flip_sin_to_cos", json!(true)),
            same("freq_shift", json!(0)),
            same("center_input_sample", json!(false)),
            same("transformer_layers_per_block", json!(1)),
            same("only_cross_attention", json!(false)),
            same("dual_cross_attention", json!(false)),
            same("num_attention_heads", Value::Null),
            same("class_embed_type", Value::Null),
            same("addition_embed_type", Value::Null),
            same("encoder_hid_dim", Value::Null),
            same("time_embedding_type", json!("positional")),
            same("time_embedding_dim", Value::Null),
            same("time_cond_proj_dim", Value::Null),
            same("timestep_post_act", Value::Null),
            same("resnet_time_scale_shift", json!("default")),
            same("attention_type", json!("default")),
            same("cross_attention_norm", Value::Null),
            same("conv_in_kernel", json!(3)),
            same("mid_block_scale_factor", json!(1)),
        ],
        "text_encoder" => vec![same("use_attention_mask", json!(false))],
        "scheduler" => vec![same("trained_betas", Value::Null), same("rescale_betas_zero_snr", json!(false))],
        _ => Vec::new(),
    }
}

/// Reads `dir/<part>/<file>` and checks it against the spec's table `ours`; `blocks` are the
/// VAE's and the UNet's block counts.
pub fn check_folder_config<T: Serialize + for<'de> Deserialize<'de> + PartialEq>(
    dir: &Path,
    part: &str,
    file: &str,
    ours: &T,
    blocks: [usize; 2],
) -> Result<(), EncoderError> {
    let path = dir.join(part).join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| EncoderError::Io { path: path.clone(), source })?;
    let spec_error = |message: String| EncoderError::Spec { origin: path.display().to_string(), message };
    let config: Value = serde_json::from_str(&text).map_err(|err| spec_error(err.to_string()))?;
    for (key, expected, default) in structural(part, blocks) {
        let found = config.get(key).unwrap_or(&default);
        let same = found == &expected || (found.is_number() && expected.is_number() && found.as_f64() == expected.as_f64());
        if !same {
            return Err(spec_error(format!("`{key}` is {found}; only {expected} (Stable Diffusion 2.x) is supported")));
        }
    }
    let theirs: T = serde_json::from_value(config).map_err(|err| spec_error(err.to_string()))?;
    if &theirs != ours {
        let (theirs, ours) = (json!(theirs), json!(ours));
        let key = ours.as_object().and_then(|o| o.keys().find(|k| theirs.get(*k) != ours.get(*k))).cloned().unwrap_or_default();
        return Err(spec_error(format!(
            "`{key}` is {}, the spec's [architecture.{part}] says {}",
            theirs.get(&key).unwrap_or(&Value::Null),
            ours.get(&key).unwrap_or(&Value::Null)
        )));
    }
    Ok(())
}
