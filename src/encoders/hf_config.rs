//! A transformers model folder → an encoder spec, reading `config.json` the way transformers
//! does (`model_type`, a nested `vision_config` for two-tower models) and the preprocessing
//! from `preprocessor_config.json`. Any size of CLIP, SigLIP, DINOv2 (± registers), ViT,
//! ViT-MAE and DPT (MiDaS, with a ViT or BEiT backbone) loads this way without a preset.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::EncoderError;
use super::beit::BeitSpec;
use super::preprocess::{CropRounding, Interpolation, Preprocess, ResizeMode};
use super::spec::{Architecture, EncoderSpec, Family};
use super::vit::{VitLayout, VitSpec};
use crate::nn::mlp::Act;
use crate::nn::resample::GridResample;

/// The vision fields of a transformers config (`CLIPVisionConfig`, `Dinov2Config`, ...).
#[derive(Deserialize)]
struct VisionConfig {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    image_size: usize,
    patch_size: usize,
    #[serde(default)]
    intermediate_size: Option<usize>,
    #[serde(default)]
    mlp_ratio: Option<f64>,
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    layer_norm_eps: Option<f64>,
    #[serde(default)]
    qkv_bias: Option<bool>,
    #[serde(default)]
    use_swiglu_ffn: Option<bool>,
    #[serde(default)]
    num_register_tokens: Option<usize>,
}

fn read_json(path: &Path) -> Result<Value, EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|err| spec_error(path, err.to_string()))
}

fn spec_error(path: &Path, message: String) -> EncoderError {
    EncoderError::Spec { origin: path.display().to_string(), message }
}

/// Reads `dir/config.json` (and `dir/preprocessor_config.json`) into a spec.
pub fn spec_from_dir(dir: &Path) -> Result<EncoderSpec, EncoderError> {
    let config_path = dir.join("config.json");
    let config = read_json(&config_path)?;
    let model_type = config["model_type"].as_str().unwrap_or_default().to_string();
    let (layout, family, feature_layer, vision) = match model_type.as_str() {
        "clip" => (VitLayout::HfClip, Family::LanguageSupervised, Some(-2), &config["vision_config"]),
        "clip_vision_model" => (VitLayout::HfClip, Family::LanguageSupervised, Some(-2), &config),
        "siglip" => (VitLayout::HfSiglip, Family::LanguageSupervised, None, &config["vision_config"]),
        "siglip_vision_model" => (VitLayout::HfSiglip, Family::LanguageSupervised, None, &config),
        "dinov2" | "dinov2_with_registers" => (VitLayout::HfDinov2, Family::SelfSupervised, None, &config),
        "vit" => (VitLayout::HfVit, Family::ClassSupervised, None, &config),
        "vit_mae" => (VitLayout::HfVitMae, Family::SelfSupervised, None, &config),
        // Cambrian-1's MiDaS tower takes `hidden_states[-1]`: the last block, before `layernorm`.
        "dpt" => match dpt_backbone(&config, &config_path)? {
            None => (VitLayout::HfDpt, Family::Depth, Some(-1), &config),
            Some(beit) => return finish(dir, &model_type, Family::Depth, Some(-1), Architecture::Beit(beit)),
        },
        other => {
            return Err(spec_error(
                &config_path,
                format!(
                    "model_type `{other}` is not a supported vision encoder (clip, siglip, dinov2, dinov2_with_registers, vit, vit_mae, dpt)"
                ),
            ));
        }
    };
    let vision: VisionConfig = serde_json::from_value(vision.clone()).map_err(|err| spec_error(&config_path, err.to_string()))?;
    let swiglu = vision.use_swiglu_ffn.unwrap_or(false);
    let act = if swiglu { Act::Swiglu } else { activation(&vision, &config_path)? };
    let architecture = VitSpec {
        layout,
        image_size: vision.image_size,
        patch_size: vision.patch_size,
        hidden_size: vision.hidden_size,
        depth: vision.num_hidden_layers,
        heads: vision.num_attention_heads,
        mlp_size: mlp_size(&vision, swiglu)
            .ok_or_else(|| spec_error(&config_path, "no intermediate_size or mlp_ratio".into()))?,
        act: Some(act),
        class_token: None,
        registers: vision.num_register_tokens,
        layer_scale: None,
        qkv_bias: vision.qkv_bias,
        pre_norm: None,
        norm_eps: vision.layer_norm_eps,
        pos_embed: None,
        // Dinov2WithRegisters resizes its position table with antialias, Dinov2 without.
        pos_resample: (model_type == "dinov2_with_registers").then_some(GridResample::BicubicAntialias),
    };
    finish(dir, &model_type, family, feature_layer, Architecture::Vit(architecture))
}

fn finish(
    dir: &Path,
    model_type: &str,
    family: Family,
    feature_layer: Option<i64>,
    architecture: Architecture,
) -> Result<EncoderSpec, EncoderError> {
    Ok(EncoderSpec {
        title: format!("{model_type} from {}", dir.display()),
        name: dir.file_name().and_then(|n| n.to_str()).unwrap_or("model").to_string(),
        family,
        hub: None,
        weights_file: None,
        url: None,
        weights_key: None,
        weights_prefix: None,
        feature_layer,
        feature_tokens: None,
        architecture,
        preprocess: preprocess_from_dir(dir)?,
    })
}

fn activation(vision: &VisionConfig, path: &Path) -> Result<Act, EncoderError> {
    let name = vision.hidden_act.as_deref().unwrap_or("gelu");
    Act::from_hf(name).ok_or_else(|| spec_error(path, format!("hidden_act `{name}` is not supported")))
}

/// A DPTConfig's backbone: `None` for DPT's own ViT (`dpt.` keys), a BEiT spec for a
/// `backbone_config` of model_type `beit` (MiDaS 3.1). BEiT options outside MiDaS 3.1's
/// (an absolute position table, a shared or no relative position bias) are refused.
fn dpt_backbone(config: &Value, path: &Path) -> Result<Option<BeitSpec>, EncoderError> {
    if config["is_hybrid"].as_bool().unwrap_or(false) {
        return Err(spec_error(path, "DPT-Hybrid (a BiT backbone) is not supported".into()));
    }
    let backbone = &config["backbone_config"];
    if backbone.is_null() {
        return Ok(None);
    }
    match backbone["model_type"].as_str() {
        Some("beit") => {}
        other => return Err(spec_error(path, format!("DPT backbone `{}` is not supported (beit)", other.unwrap_or("?")))),
    }
    let flag = |key: &str, default: bool| backbone[key].as_bool().unwrap_or(default);
    // transformers' BeitConfig defaults for absent keys.
    for (key, default, wanted) in [
        ("use_relative_position_bias", false, true),
        ("use_shared_relative_position_bias", false, false),
        ("use_absolute_position_embeddings", false, false),
    ] {
        if flag(key, default) != wanted {
            return Err(spec_error(path, format!("BEiT backbone with {key} = {} is not supported", !wanted)));
        }
    }
    let vision: VisionConfig = serde_json::from_value(backbone.clone()).map_err(|err| spec_error(path, err.to_string()))?;
    Ok(Some(BeitSpec {
        image_size: vision.image_size,
        patch_size: vision.patch_size,
        hidden_size: vision.hidden_size,
        depth: vision.num_hidden_layers,
        heads: vision.num_attention_heads,
        mlp_size: mlp_size(&vision, false).ok_or_else(|| spec_error(path, "no intermediate_size".into()))?,
        act: Some(activation(&vision, path)?),
        norm_eps: vision.layer_norm_eps,
        layer_scale: Some(backbone["layer_scale_init_value"].as_f64().unwrap_or(0.1) > 0.0),
    }))
}

/// transformers' MLP width; Dinov2SwiGLUFFN rounds two thirds of it up to a multiple of 8.
fn mlp_size(vision: &VisionConfig, swiglu: bool) -> Option<usize> {
    let width = match (vision.intermediate_size, vision.mlp_ratio) {
        (Some(size), _) => size,
        (None, Some(ratio)) => (vision.hidden_size as f64 * ratio) as usize,
        (None, None) => return None,
    };
    Some(if swiglu { (width * 2 / 3).div_ceil(8) * 8 } else { width })
}

/// `size`/`crop_size` come as `{"shortest_edge": n}`, `{"height": h, "width": w}` or an int.
fn side(value: &Value, path: &Path) -> Result<(ResizeMode, usize), EncoderError> {
    let square = |h: &Value, w: &Value| match (h.as_u64(), w.as_u64()) {
        (Some(h), Some(w)) if h == w => Ok((ResizeMode::Squash, h as usize)),
        _ => Err(spec_error(path, format!("only square sizes are supported, found {value}"))),
    };
    if let Some(n) = value.as_u64() {
        return Ok((ResizeMode::Squash, n as usize));
    }
    if let Some(n) = value["shortest_edge"].as_u64() {
        return Ok((ResizeMode::ShortestEdge, n as usize));
    }
    square(&value["height"], &value["width"])
}

fn preprocess_from_dir(dir: &Path) -> Result<Preprocess, EncoderError> {
    let path = dir.join("preprocessor_config.json");
    if !path.is_file() {
        return Err(spec_error(&path, "missing; pass --encoder SPEC.toml to give the preprocessing".into()));
    }
    let config = read_json(&path)?;
    let flag = |key: &str| config[key].as_bool().unwrap_or(false);
    let (resize, resize_size) = side(&config["size"], &path)?;
    let crop_size = if flag("do_center_crop") { side(&config["crop_size"], &path)?.1 } else { resize_size };
    if resize == ResizeMode::ShortestEdge && !flag("do_center_crop") {
        return Err(spec_error(&path, "a shortest-edge resize without a centre crop gives non-square inputs".into()));
    }
    // DPTImageProcessor's options: only a plain square resize is a `squash`.
    if flag("keep_aspect_ratio") || flag("do_pad") {
        return Err(spec_error(&path, "keep_aspect_ratio and do_pad are not supported".into()));
    }
    let multiple = config["ensure_multiple_of"].as_u64().unwrap_or(1).max(1) as usize;
    if !resize_size.is_multiple_of(multiple) {
        return Err(spec_error(&path, format!("size {resize_size} is not a multiple of ensure_multiple_of {multiple}")));
    }
    let interpolation = match config["resample"].as_u64() {
        Some(3) | None => Interpolation::Bicubic,
        Some(2) => Interpolation::Bilinear,
        Some(1) => Interpolation::Lanczos,
        Some(other) => return Err(spec_error(&path, format!("resample filter {other} is not supported"))),
    };
    let rescale = config["rescale_factor"].as_f64().unwrap_or(1.0 / 255.0);
    // Feature-extractor configs from before `do_rescale` existed (Intel/dpt-large's) leave it
    // out; every transformers image processor defaults it to true.
    let do_rescale = config["do_rescale"].as_bool().unwrap_or(true);
    if !do_rescale || (rescale - 1.0 / 255.0).abs() > 1e-9 {
        return Err(spec_error(&path, "only do_rescale with rescale_factor 1/255 is supported".into()));
    }
    let triple = |key: &str| -> Result<[f32; 3], EncoderError> {
        serde_json::from_value(config[key].clone()).map_err(|_| spec_error(&path, format!("{key} must be 3 numbers")))
    };
    let (mean, std) = if flag("do_normalize") { (triple("image_mean")?, triple("image_std")?) } else { ([0.0; 3], [1.0; 3]) };
    Ok(Preprocess {
        pad_to_square: false,
        pad_colour: None,
        resize,
        resize_size,
        crop_size,
        interpolation,
        crop_rounding: CropRounding::Floor,
        mean,
        std,
    })
}
