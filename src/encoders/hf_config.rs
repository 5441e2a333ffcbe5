//! A transformers model folder → an encoder spec, reading `config.json` the way transformers
//! does (`model_type`, a nested `vision_config` for two-tower models) and the preprocessing
//! from `preprocessor_config.json`. Any size of CLIP, SigLIP, DINOv2 (± registers), ViT,
//! ViT-MAE, DPT (MiDaS, with a ViT or BEiT backbone), AIMv2 and RADIO (NVIDIA's
//! `RADIOConfig`, recognised by its `architectures`, with its preprocessing from the config
//! itself) loads this way without a preset.
//!
//! Two layers, as `llm::config`: typed structs mirror the files, every field optional (a key
//! may be absent, as in a config saved with only its non-default values), and each model
//! type's config class supplies the defaults and decides which keys its model reads:
//! `Dinov2Config` sizes the MLP from `mlp_ratio` alone, for instance, whatever
//! `intermediate_size` says. A mistyped value is an error naming its key; unknown keys are
//! ignored, as real configs carry many.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::EncoderError;
use super::aimv2::Aimv2Spec;
use super::beit::BeitSpec;
use super::naflex::NaflexSpec;
use super::preprocess::{CropRounding, Interpolation, Preprocess, ResizeMode};
use super::radio::{OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, RadioSpec};
use super::spec::{Architecture, EncoderSpec, Family, check_eps, check_size, limits};
use super::vit::{VitLayout, VitSpec};
use crate::nn::mlp::Act;
use crate::nn::resample::GridResample;

/// The keys of `config.json` that choose the model; the vision fields are read from the
/// object that holds them (the file itself, `vision_config` or DPT's `backbone_config`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct HfConfig {
    model_type: Option<String>,
    architectures: Option<Vec<String>>,
    vision_config: Option<Value>,
    backbone_config: Option<Value>,
    is_hybrid: Option<bool>,
}

/// The vision fields of a transformers config (`CLIPVisionConfig`, `Dinov2Config`, ...).
#[derive(Deserialize, Default)]
#[serde(default)]
struct VisionConfig {
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    intermediate_size: Option<usize>,
    mlp_ratio: Option<f64>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    qkv_bias: Option<bool>,
    use_swiglu_ffn: Option<bool>,
    num_register_tokens: Option<usize>,
    /// SigLIP 2 NaFlex: rows of its square position table.
    num_patches: Option<usize>,
}

/// DPT's `backbone_config` of model_type `beit` (`BeitConfig`): the vision fields and the
/// switches MiDaS 3.1 needs.
#[derive(Deserialize, Default)]
#[serde(default)]
struct BeitBackbone {
    model_type: Option<String>,
    #[serde(flatten)]
    vision: VisionConfig,
    use_relative_position_bias: Option<bool>,
    use_shared_relative_position_bias: Option<bool>,
    use_absolute_position_embeddings: Option<bool>,
    layer_scale_init_value: Option<f64>,
}

/// How a model type's MLP width is set.
#[derive(Clone, Copy)]
enum MlpWidth {
    /// `intermediate_size` (default given).
    Intermediate(usize),
    /// `int(hidden_size * mlp_ratio)` (default ratio given); `intermediate_size` is not read.
    Ratio(f64),
}

/// A config class's defaults (its `__init__` arguments in transformers 5.24) and the keys its
/// model reads beyond the common ones.
struct ClassDefaults {
    image_size: usize,
    patch_size: usize,
    mlp: MlpWidth,
    hidden_act: &'static str,
    layer_norm_eps: f64,
    /// Reads `qkv_bias` (CLIP, SigLIP and BEiT fix their biases).
    reads_qkv_bias: bool,
    /// Reads `use_swiglu_ffn` (DINOv2).
    reads_swiglu: bool,
    /// Reads `num_register_tokens`, with this default (DINOv2 with registers).
    registers: Option<usize>,
}

const BASE: ClassDefaults = ClassDefaults {
    image_size: 224,
    patch_size: 16,
    mlp: MlpWidth::Intermediate(3072),
    hidden_act: "gelu",
    layer_norm_eps: 1e-12,
    reads_qkv_bias: true,
    reads_swiglu: false,
    registers: None,
};

fn class_defaults(model_type: &str) -> ClassDefaults {
    match model_type {
        "clip" | "clip_vision_model" => {
            ClassDefaults { patch_size: 32, hidden_act: "quick_gelu", layer_norm_eps: 1e-5, reads_qkv_bias: false, ..BASE }
        }
        "siglip" | "siglip_vision_model" | "siglip2" | "siglip2_vision_model" => {
            ClassDefaults { hidden_act: "gelu_pytorch_tanh", layer_norm_eps: 1e-6, reads_qkv_bias: false, ..BASE }
        }
        "dinov2" => ClassDefaults { patch_size: 14, mlp: MlpWidth::Ratio(4.0), layer_norm_eps: 1e-6, reads_swiglu: true, ..BASE },
        "dinov2_with_registers" => {
            ClassDefaults { mlp: MlpWidth::Ratio(4.0), layer_norm_eps: 1e-6, reads_swiglu: true, registers: Some(4), ..BASE }
        }
        "dpt" => ClassDefaults { image_size: 384, ..BASE },
        "beit" => ClassDefaults { reads_qkv_bias: false, ..BASE },
        // vit, vit_mae
        _ => BASE,
    }
}

/// The vision fields with the class's defaults applied, each checked against `spec::limits`.
struct Resolved {
    hidden_size: usize,
    depth: usize,
    heads: usize,
    image_size: usize,
    patch_size: usize,
    mlp_size: usize,
    act: Act,
    norm_eps: f64,
    qkv_bias: Option<bool>,
    registers: Option<usize>,
}

impl VisionConfig {
    fn resolve(&self, class: &ClassDefaults) -> Result<Resolved, EncoderError> {
        let hidden_size = self.hidden_size.unwrap_or(768);
        let depth = self.num_hidden_layers.unwrap_or(12);
        let heads = self.num_attention_heads.unwrap_or(12);
        let image_size = self.image_size.unwrap_or(class.image_size);
        let patch_size = self.patch_size.unwrap_or(class.patch_size);
        check_size("hidden_size", hidden_size, 1..=limits::WIDTH)?;
        check_size("num_hidden_layers", depth, 1..=limits::DEPTH)?;
        check_size("num_attention_heads", heads, 1..=limits::HEADS)?;
        check_size("image_size", image_size, 1..=limits::PIXELS)?;
        check_size("patch_size", patch_size, 1..=limits::PATCH)?;
        check_size("num_channels", self.num_channels.unwrap_or(3), 3..=3)?;
        let width = match class.mlp {
            MlpWidth::Intermediate(default) => self.intermediate_size.unwrap_or(default),
            MlpWidth::Ratio(default) => {
                let ratio = self.mlp_ratio.unwrap_or(default);
                if !(ratio.is_finite() && ratio > 0.0) {
                    return Err(EncoderError::Config(format!("mlp_ratio = {ratio} must be finite and positive")));
                }
                (hidden_size as f64 * ratio) as usize
            }
        };
        check_size("the MLP width (intermediate_size, or hidden_size × mlp_ratio)", width, 1..=limits::MLP)?;
        let swiglu = class.reads_swiglu && self.use_swiglu_ffn.unwrap_or(false);
        // Dinov2SwiGLUFFN: two thirds of the width, rounded up to a multiple of 8.
        let mlp_size = if swiglu { (width * 2 / 3).div_ceil(8) * 8 } else { width };
        let act_name = self.hidden_act.as_deref().unwrap_or(class.hidden_act);
        let act = match swiglu {
            true => Act::Swiglu,
            false => {
                Act::from_hf(act_name).ok_or_else(|| EncoderError::Config(format!("hidden_act `{act_name}` is not supported")))?
            }
        };
        let norm_eps = self.layer_norm_eps.unwrap_or(class.layer_norm_eps);
        check_eps("layer_norm_eps", norm_eps)?;
        let registers = class.registers.map(|default| self.num_register_tokens.unwrap_or(default));
        if let Some(registers) = registers {
            check_size("num_register_tokens", registers, 0..=limits::REGISTERS)?;
        }
        let qkv_bias = if class.reads_qkv_bias { Some(self.qkv_bias.unwrap_or(true)) } else { None };
        Ok(Resolved { hidden_size, depth, heads, image_size, patch_size, mlp_size, act, norm_eps, qkv_bias, registers })
    }
}

fn spec_error(path: &Path, message: String) -> EncoderError {
    EncoderError::Spec { origin: path.display().to_string(), message }
}

/// Deserializes a JSON object into a struct of optional fields; a mistyped value is an error
/// naming its key (the first key that fails alone), `within` a nested object if given.
fn typed<T: DeserializeOwned>(value: &Value, within: &str) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|err| {
        let fails_alone = |(key, v): &(&String, &Value)| {
            serde_json::from_value::<T>(Value::Object([((*key).clone(), (*v).clone())].into_iter().collect())).is_err()
        };
        match value.as_object().and_then(|object| object.iter().find(fails_alone)) {
            Some((key, _)) => format!("`{within}{key}`: {err}"),
            None => err.to_string(),
        }
    })
}

fn read_json(path: &Path) -> Result<Value, EncoderError> {
    let text = std::fs::read_to_string(path).map_err(|source| EncoderError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|err| spec_error(path, err.to_string()))
}

/// Reads `dir/config.json` (and `dir/preprocessor_config.json`) into a spec.
pub fn spec_from_dir(dir: &Path) -> Result<EncoderSpec, EncoderError> {
    let config_path = dir.join("config.json");
    let root = read_json(&config_path)?;
    let in_file = |message: String| spec_error(&config_path, message);
    let config: HfConfig = typed(&root, "").map_err(in_file)?;
    let model_type = config.model_type.clone().unwrap_or_default();
    // NVIDIA's RADIOConfig has no model_type; its model class names it.
    if config.architectures.iter().flatten().any(|name| name == "RADIOModel") {
        let (radio, preprocess) = radio_spec(&root).map_err(in_file)?;
        return finish_with(dir, "radio", Family::LanguageSupervised, None, Architecture::Radio(radio), preprocess);
    }
    let (layout, family, feature_layer, nested) = match model_type.as_str() {
        "clip" => (VitLayout::HfClip, Family::LanguageSupervised, Some(-2), Some("vision_config")),
        "clip_vision_model" => (VitLayout::HfClip, Family::LanguageSupervised, Some(-2), None),
        "siglip" => (VitLayout::HfSiglip, Family::LanguageSupervised, None, Some("vision_config")),
        "siglip_vision_model" => (VitLayout::HfSiglip, Family::LanguageSupervised, None, None),
        "dinov2" | "dinov2_with_registers" => (VitLayout::HfDinov2, Family::SelfSupervised, None, None),
        "vit" => (VitLayout::HfVit, Family::ClassSupervised, None, None),
        "vit_mae" => (VitLayout::HfVitMae, Family::SelfSupervised, None, None),
        // Cambrian-1's MiDaS tower takes `hidden_states[-1]`: the last block, before `layernorm`.
        "dpt" => match dpt_backbone(&config).map_err(in_file)? {
            None => (VitLayout::HfDpt, Family::Depth, Some(-1), None),
            Some(beit) => return finish(dir, &model_type, Family::Depth, Some(-1), Architecture::Beit(beit)),
        },
        // The NaFlex checkpoints; the fixed-resolution SigLIP 2 ones are model_type `siglip`.
        "siglip2" | "siglip2_vision_model" => {
            let naflex = naflex_spec(&config, root, &model_type).map_err(in_file)?;
            return finish(dir, &model_type, Family::LanguageSupervised, None, Architecture::Naflex(naflex));
        }
        "aimv2" | "aimv2_vision_model" => {
            let aimv2 = aimv2_spec(&config, root).map_err(in_file)?;
            return finish(dir, &model_type, Family::LanguageSupervised, None, Architecture::Aimv2(aimv2));
        }
        other => {
            return Err(in_file(format!(
                "model_type `{other}` is not a supported vision encoder (clip, siglip, dinov2, dinov2_with_registers, vit, vit_mae, dpt, aimv2, siglip2; or a RADIO config)"
            )));
        }
    };
    // A two-tower config without `vision_config` takes the vision class's defaults.
    let (object, prefix) = match nested {
        Some(key) => (config.vision_config.unwrap_or_else(|| Value::Object(Default::default())), format!("{key}.")),
        None => (root, String::new()),
    };
    let vision: VisionConfig = typed(&object, &prefix).map_err(in_file)?;
    let r = vision.resolve(&class_defaults(&model_type)).map_err(|err| in_file(format!("{prefix}{}", err.config_message())))?;
    let architecture = VitSpec {
        layout,
        image_size: r.image_size,
        patch_size: r.patch_size,
        hidden_size: r.hidden_size,
        depth: r.depth,
        heads: r.heads,
        mlp_size: r.mlp_size,
        act: Some(r.act),
        class_token: None,
        registers: r.registers,
        layer_scale: None,
        qkv_bias: r.qkv_bias,
        pre_norm: None,
        norm_eps: Some(r.norm_eps),
        pos_embed: None,
        // Dinov2WithRegisters resizes its position table with antialias, Dinov2 without.
        pos_resample: (model_type == "dinov2_with_registers").then_some(GridResample::BicubicAntialias),
        input_noise: None,
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
    finish_with(dir, model_type, family, feature_layer, architecture, preprocess_from_dir(dir)?)
}

fn finish_with(
    dir: &Path,
    model_type: &str,
    family: Family,
    feature_layer: Option<i64>,
    architecture: Architecture,
    mut preprocess: Preprocess,
) -> Result<EncoderSpec, EncoderError> {
    if preprocess.resize == ResizeMode::Keep {
        preprocess.patch_size = architecture.spec().native_patch();
    }
    let spec = EncoderSpec {
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
        preprocess,
    };
    spec.validate().map_err(|err| spec_error(dir, err.config_message()))?;
    Ok(spec)
}

/// A DPTConfig's backbone: `None` for DPT's own ViT (`dpt.` keys), a BEiT spec for a
/// `backbone_config` of model_type `beit` (MiDaS 3.1). BEiT options outside MiDaS 3.1's
/// (an absolute position table, a shared or no relative position bias) are refused.
fn dpt_backbone(config: &HfConfig) -> Result<Option<BeitSpec>, String> {
    if config.is_hybrid.unwrap_or(false) {
        return Err("DPT-Hybrid (a BiT backbone) is not supported".into());
    }
    let Some(backbone) = config.backbone_config.as_ref().filter(|b| !b.is_null()) else { return Ok(None) };
    let backbone: BeitBackbone = typed(backbone, "backbone_config.")?;
    if backbone.model_type.as_deref() != Some("beit") {
        return Err(format!("DPT backbone `{}` is not supported (beit)", backbone.model_type.as_deref().unwrap_or("?")));
    }
    // transformers' BeitConfig defaults for absent keys.
    for (key, value, wanted) in [
        ("use_relative_position_bias", backbone.use_relative_position_bias.unwrap_or(false), true),
        ("use_shared_relative_position_bias", backbone.use_shared_relative_position_bias.unwrap_or(false), false),
        ("use_absolute_position_embeddings", backbone.use_absolute_position_embeddings.unwrap_or(false), false),
    ] {
        if value != wanted {
            return Err(format!("BEiT backbone with {key} = {value} is not supported"));
        }
    }
    let r =
        backbone.vision.resolve(&class_defaults("beit")).map_err(|err| format!("backbone_config.{}", err.config_message()))?;
    Ok(Some(BeitSpec {
        image_size: r.image_size,
        patch_size: r.patch_size,
        hidden_size: r.hidden_size,
        depth: r.depth,
        heads: r.heads,
        mlp_size: r.mlp_size,
        act: Some(r.act),
        norm_eps: Some(r.norm_eps),
        layer_scale: Some(backbone.layer_scale_init_value.unwrap_or(0.1) > 0.0),
    }))
}

/// The vision tower of a SigLIP 2 NaFlex config (`Siglip2VisionConfig`, defaults of
/// transformers 5.25), nested under `vision_config` in `Siglip2Config`.
fn naflex_spec(config: &HfConfig, root: Value, model_type: &str) -> Result<NaflexSpec, String> {
    let (object, prefix) = match model_type {
        "siglip2" => (config.vision_config.clone().unwrap_or_else(|| Value::Object(Default::default())), "vision_config."),
        _ => (root, ""),
    };
    let vision: VisionConfig = typed(&object, prefix)?;
    let r = vision.resolve(&class_defaults(model_type)).map_err(|err| format!("{prefix}{}", err.config_message()))?;
    if r.act != Act::GeluTanh {
        return Err(format!("`{prefix}hidden_act`: SigLIP 2 uses gelu_pytorch_tanh"));
    }
    Ok(NaflexSpec {
        patch_size: r.patch_size,
        positions: vision.num_patches.unwrap_or(256),
        hidden_size: r.hidden_size,
        depth: r.depth,
        heads: r.heads,
        mlp_size: r.mlp_size,
        norm_eps: Some(r.norm_eps),
    })
}

/// `Aimv2VisionConfig`'s fields. The hub's original configs (remote code, `model_type`
/// `aimv2` without a `vision_config`) keep them at the top level and call the MLP and output
/// projection biases `use_bias`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Aimv2Vision {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_channels: Option<usize>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    hidden_act: Option<String>,
    rms_norm_eps: Option<f64>,
    qkv_bias: Option<bool>,
    mlp_bias: Option<bool>,
    use_bias: Option<bool>,
    is_native: Option<bool>,
}

/// The vision tower of an AIMv2 config, with `Aimv2VisionConfig`'s defaults (transformers 5.24).
fn aimv2_spec(config: &HfConfig, root: Value) -> Result<Aimv2Spec, String> {
    let (object, prefix) = match &config.vision_config {
        Some(vision) => (vision.clone(), "vision_config."),
        None => (root, ""),
    };
    let v: Aimv2Vision = typed(&object, prefix)?;
    let qkv_bias = v.qkv_bias.unwrap_or(false);
    let act = v.hidden_act.as_deref().unwrap_or("silu");
    if act != "silu" {
        return Err(format!("`{prefix}hidden_act` `{act}` is not supported (AIMv2's SwiGLU uses silu)"));
    }
    if v.num_channels.unwrap_or(3) != 3 {
        return Err(format!("`{prefix}num_channels` must be 3"));
    }
    // The remote-code model gives the output projection `use_bias`, transformers' `qkv_bias`.
    if let Some(use_bias) = v.use_bias.filter(|b| *b != qkv_bias) {
        return Err(format!("`{prefix}use_bias` = {use_bias} with qkv_bias = {qkv_bias} is not supported"));
    }
    Ok(Aimv2Spec {
        image_size: v.image_size.unwrap_or(224),
        patch_size: v.patch_size.unwrap_or(14),
        hidden_size: v.hidden_size.unwrap_or(1024),
        depth: v.num_hidden_layers.unwrap_or(24),
        heads: v.num_attention_heads.unwrap_or(8),
        mlp_size: v.intermediate_size.unwrap_or(2816),
        qkv_bias: Some(qkv_bias),
        mlp_bias: Some(v.mlp_bias.or(v.use_bias).unwrap_or(false)),
        norm_eps: Some(v.rms_norm_eps.unwrap_or(1e-5)),
        is_native: v.is_native,
    })
}

/// NVIDIA's `RADIOConfig` (radio/hf_model.py): the training `args` the model is built from,
/// the preferred input resolution, and whether a FeatureNormalizer is part of the model.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RadioConfigFile {
    args: Option<Value>,
    patch_size: Option<usize>,
    preferred_resolution: Option<Vec<usize>>,
    feature_normalizer_config: Option<Value>,
    vitdet_window_size: Option<usize>,
}

/// The `args` fields create_model_from_args and enable_cpe read.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RadioArgs {
    model: Option<String>,
    model_kwargs: Option<serde_json::Map<String, Value>>,
    in_chans: Option<usize>,
    cpe_max_size: Option<usize>,
    register_multiple: Option<usize>,
    cpe_num_registers: Option<usize>,
    cls_token_per_teacher: Option<bool>,
    teachers: Option<Vec<RadioTeacher>>,
    model_norm: Option<bool>,
}

#[derive(Deserialize)]
struct RadioTeacher {
    name: String,
}

/// The timm ViTs RADIO releases name in `args.model` (timm's definitions, and
/// `vit_huge_patch16_224` / `vit_giant_patch16_224` of RADIO's extra_timm_models.py): name,
/// patch, width, depth, heads; the MLP is 4 × the width.
const RADIO_TIMM_MODELS: &[(&str, usize, usize, usize, usize)] = &[
    ("vit_tiny_patch16_224", 16, 192, 12, 3),
    ("vit_small_patch16_224", 16, 384, 12, 6),
    ("vit_base_patch16_224", 16, 768, 12, 12),
    ("vit_large_patch16_224", 16, 1024, 24, 16),
    ("vit_huge_patch16_224", 16, 1280, 32, 16),
    ("vit_giant_patch16_224", 16, 1536, 40, 24),
];

/// `model_kwargs` that change sizes only; any other is refused (it may change the model).
const RADIO_MODEL_KWARGS: &[&str] = &["patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "img_size", "weight_init"];

/// A RADIO config → the architecture as create_model_from_args builds it, and the
/// preprocessing: a square resize to `preferred_resolution` (bicubic) and the default input
/// conditioner's OpenAI CLIP mean and std (the checkpoint's own is checked against it when it
/// loads).
fn radio_spec(root: &Value) -> Result<(RadioSpec, Preprocess), String> {
    let file: RadioConfigFile = typed(root, "")?;
    if file.vitdet_window_size.is_some() {
        return Err("`vitdet_window_size`: RADIO's windowed ViTDet attention is not supported".into());
    }
    let args: RadioArgs = typed(file.args.as_ref().ok_or("no `args`")?, "args.")?;
    let name = args.model.as_deref().ok_or("no `args.model`")?;
    let &(_, mut patch_size, mut width, mut depth, mut heads) =
        RADIO_TIMM_MODELS.iter().find(|(known, ..)| *known == name).ok_or_else(|| {
            let known: Vec<&str> = RADIO_TIMM_MODELS.iter().map(|m| m.0).collect();
            format!("`args.model` `{name}` is not a supported RADIO backbone ({})", known.join(", "))
        })?;
    let (mut mlp_ratio, mut image_size) = (4.0, 224);
    for (key, value) in args.model_kwargs.iter().flatten() {
        let number = || value.as_u64().map(|n| n as usize).ok_or(format!("`args.model_kwargs.{key}` must be a whole number"));
        match key.as_str() {
            "patch_size" => patch_size = number()?,
            "embed_dim" => width = number()?,
            "depth" => depth = number()?,
            "num_heads" => heads = number()?,
            "img_size" => image_size = number()?,
            "mlp_ratio" => mlp_ratio = value.as_f64().ok_or("`args.model_kwargs.mlp_ratio` must be a number")?,
            "weight_init" => {}
            other => {
                return Err(format!("`args.model_kwargs.{other}` is not supported (only {})", RADIO_MODEL_KWARGS.join(", ")));
            }
        }
    }
    if args.in_chans.unwrap_or(3) != 3 {
        return Err("`args.in_chans` must be 3".into());
    }
    if let Some(top) = file.patch_size.filter(|p| *p != patch_size) {
        return Err(format!("`patch_size` {top} differs from the model's {patch_size} (`args.model`, `args.model_kwargs`)"));
    }
    let cpe_max_size = args.cpe_max_size.ok_or("no `args.cpe_max_size`: RADIO without CPE is not supported")?;
    let per_teacher = args.cls_token_per_teacher.ok_or("no `args.cls_token_per_teacher`")?;
    let teachers = args.teachers.ok_or("no `args.teachers`")?;
    let unique: std::collections::BTreeSet<&str> = teachers.iter().map(|t| t.name.as_str()).collect();
    let cls_tokens = if per_teacher { unique.len() } else { 1 };
    // ClsToken: `num_registers` if set, else up to the next multiple of `register_multiple`.
    let registers = match (args.cpe_num_registers.filter(|n| *n > 0), args.register_multiple.filter(|m| *m > 0)) {
        (Some(n), _) => n,
        (None, Some(multiple)) => multiple - cls_tokens % multiple,
        (None, None) => 0,
    };
    let side = match file.preferred_resolution.as_deref() {
        Some(&[h, w]) if h == w && h > 0 && h.is_multiple_of(patch_size) => h,
        other => {
            return Err(format!("`preferred_resolution` {other:?} must be a square whose side is a multiple of {patch_size}"));
        }
    };
    let radio = RadioSpec {
        patch_size,
        hidden_size: width,
        depth,
        heads,
        mlp_size: (width as f64 * mlp_ratio) as usize,
        cpe_max_size,
        cls_tokens,
        registers,
        image_size: Some(image_size),
        final_norm: Some(args.model_norm.unwrap_or(false)),
        patch_norm: Some(false),
        feature_normalizer: Some(file.feature_normalizer_config.is_some_and(|c| !c.is_null())),
        norm_eps: None,
    };
    let preprocess = Preprocess {
        pad_to_square: false,
        pad_colour: None,
        resize: ResizeMode::Squash,
        resize_size: side,
        crop_size: side,
        max_patches: None,
        patch_size: None,
        interpolation: Interpolation::Bicubic,
        crop_rounding: CropRounding::Floor,
        mean: OPENAI_CLIP_MEAN,
        std: OPENAI_CLIP_STD,
    };
    Ok((radio, preprocess))
}

/// `preprocessor_config.json` as the image processors write it (the keys read here).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ProcessorConfig {
    size: Option<Side>,
    crop_size: Option<Side>,
    do_center_crop: Option<bool>,
    /// false: each image at its own size (the native AIMv2's processor).
    do_resize: Option<bool>,
    keep_aspect_ratio: Option<bool>,
    do_pad: Option<bool>,
    ensure_multiple_of: Option<usize>,
    /// A PIL filter number.
    resample: Option<u8>,
    do_rescale: Option<bool>,
    rescale_factor: Option<f64>,
    do_normalize: Option<bool>,
    image_mean: Option<[f32; 3]>,
    image_std: Option<[f32; 3]>,
    image_processor_type: Option<String>,
    /// `Siglip2ImageProcessor`'s token budget and patch.
    max_num_patches: Option<usize>,
    patch_size: Option<usize>,
}

/// `size`/`crop_size`: an int, `{"shortest_edge": n}` or `{"height": h, "width": w}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Side {
    Square(usize),
    Sides { shortest_edge: Option<usize>, height: Option<usize>, width: Option<usize> },
}

impl Side {
    fn read(&self, key: &str) -> Result<(ResizeMode, usize), String> {
        match *self {
            Side::Square(n) => Ok((ResizeMode::Squash, n)),
            Side::Sides { shortest_edge: Some(n), .. } => Ok((ResizeMode::ShortestEdge, n)),
            Side::Sides { height: Some(h), width: Some(w), .. } if h == w => Ok((ResizeMode::Squash, h)),
            Side::Sides { height, width, .. } => {
                Err(format!("`{key}`: only square sizes are supported, found height {height:?}, width {width:?}"))
            }
        }
    }
}

fn preprocess_from_dir(dir: &Path) -> Result<Preprocess, EncoderError> {
    let path = dir.join("preprocessor_config.json");
    if !path.is_file() {
        return Err(spec_error(&path, "missing; pass --encoder SPEC.toml to give the preprocessing".into()));
    }
    let config: ProcessorConfig = typed(&read_json(&path)?, "").map_err(|message| spec_error(&path, message))?;
    preprocess(&config).map_err(|message| spec_error(&path, message))
}

fn preprocess(config: &ProcessorConfig) -> Result<Preprocess, String> {
    if config.image_processor_type.as_deref().is_some_and(|name| name.starts_with("Siglip2ImageProcessor")) {
        return max_patches_preprocess(config);
    }
    let (resize, resize_size) = config.size.as_ref().ok_or("no `size`")?.read("size")?;
    let centre_crop = config.do_center_crop.unwrap_or(false);
    let resize = match (config.do_resize.unwrap_or(true), centre_crop) {
        (true, _) => resize,
        // Each image at its own size, `size` its nominal side; the patch it is cut to comes
        // from the architecture (`finish_with`).
        (false, false) => ResizeMode::Keep,
        (false, true) => return Err("do_center_crop without do_resize is not supported".into()),
    };
    let crop_size = match (centre_crop, &config.crop_size) {
        (true, Some(crop)) => crop.read("crop_size")?.1,
        (true, None) => return Err("do_center_crop without `crop_size`".into()),
        (false, _) => resize_size,
    };
    if resize == ResizeMode::ShortestEdge && !centre_crop {
        return Err("a shortest-edge resize without a centre crop gives non-square inputs".into());
    }
    // DPTImageProcessor's options: only a plain square resize is a `squash`.
    if config.keep_aspect_ratio.unwrap_or(false) || config.do_pad.unwrap_or(false) {
        return Err("keep_aspect_ratio and do_pad are not supported".into());
    }
    let multiple = config.ensure_multiple_of.unwrap_or(1).max(1);
    if !resize_size.is_multiple_of(multiple) {
        return Err(format!("size {resize_size} is not a multiple of ensure_multiple_of {multiple}"));
    }
    let interpolation = filter(config.resample, Interpolation::Bicubic)?;
    check_rescale(config)?;
    let (mean, std) = match config.do_normalize.unwrap_or(false) {
        true => (
            config.image_mean.ok_or("do_normalize without `image_mean`")?,
            config.image_std.ok_or("do_normalize without `image_std`")?,
        ),
        false => ([0.0; 3], [1.0; 3]),
    };
    Ok(Preprocess {
        pad_to_square: false,
        pad_colour: None,
        resize,
        resize_size,
        crop_size,
        max_patches: None,
        patch_size: None,
        interpolation,
        crop_rounding: CropRounding::Floor,
        mean,
        std,
    })
}

/// A PIL filter number (`resample`) as ours; absent: the processor class's `default`.
fn filter(resample: Option<u8>, default: Interpolation) -> Result<Interpolation, String> {
    match resample {
        None => Ok(default),
        Some(3) => Ok(Interpolation::Bicubic),
        Some(2) => Ok(Interpolation::Bilinear),
        Some(1) => Ok(Interpolation::Lanczos),
        Some(other) => Err(format!("resample filter {other} is not supported")),
    }
}

/// Pixels scaled by 1/255, the one rescale we apply. Feature-extractor configs from before
/// `do_rescale` existed (Intel/dpt-large's) leave it out; every transformers image processor
/// defaults it to true.
fn check_rescale(config: &ProcessorConfig) -> Result<(), String> {
    let rescale = config.rescale_factor.unwrap_or(1.0 / 255.0);
    if !config.do_rescale.unwrap_or(true) || (rescale - 1.0 / 255.0).abs() > 1e-9 {
        return Err("only do_rescale with rescale_factor 1/255 is supported".into());
    }
    Ok(())
}

/// `Siglip2ImageProcessor`: each image at its aspect ratio within `max_num_patches` (default
/// 256) patches of `patch_size` (16), PIL bilinear, normalised by mean and std 0.5.
fn max_patches_preprocess(config: &ProcessorConfig) -> Result<Preprocess, String> {
    let budget = config.max_num_patches.unwrap_or(256);
    let patch = config.patch_size.unwrap_or(16);
    check_size("max_num_patches", budget, 1..=limits::PATCHES).map_err(EncoderError::config_message)?;
    check_size("patch_size", patch, 1..=limits::PATCH).map_err(EncoderError::config_message)?;
    let interpolation = filter(config.resample, Interpolation::Bilinear)?;
    check_rescale(config)?;
    let (mean, std) = match config.do_normalize.unwrap_or(true) {
        true => (config.image_mean.unwrap_or([0.5; 3]), config.image_std.unwrap_or([0.5; 3])),
        false => ([0.0; 3], [1.0; 3]),
    };
    let side = budget.isqrt() * patch;
    Ok(Preprocess {
        pad_to_square: false,
        pad_colour: None,
        resize: ResizeMode::MaxPatches,
        resize_size: side,
        crop_size: side,
        max_patches: Some(budget),
        patch_size: Some(patch),
        interpolation,
        crop_rounding: CropRounding::Floor,
        mean,
        std,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TestDir;
    use serde_json::json;

    /// A transformers folder holding `config` and a plain square processor config.
    fn folder(name: &str, config: Value) -> TestDir {
        let dir = TestDir::new(&format!("hf-config-{name}"));
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        let processor = json!({"size": {"height": 32, "width": 32}, "do_normalize": true, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]});
        std::fs::write(dir.join("preprocessor_config.json"), processor.to_string()).unwrap();
        dir
    }

    fn vit(spec: EncoderSpec) -> VitSpec {
        match spec.architecture {
            Architecture::Vit(vit) => vit,
            other => panic!("not a vit: {other:?}"),
        }
    }

    /// `Dinov2Config(intermediate_size=...)` saves both keys; Dinov2MLP reads `mlp_ratio` only.
    #[test]
    fn dinov2_sizes_its_mlp_from_mlp_ratio_alone() {
        let config =
            json!({"model_type": "dinov2", "hidden_size": 32, "num_attention_heads": 4, "mlp_ratio": 2, "intermediate_size": 40});
        assert_eq!(vit(spec_from_dir(&folder("dinov2-ratio", config)).unwrap()).mlp_size, 64);
        let config =
            json!({"model_type": "vit", "hidden_size": 32, "num_attention_heads": 4, "mlp_ratio": 2, "intermediate_size": 40});
        assert_eq!(vit(spec_from_dir(&folder("vit-intermediate", config)).unwrap()).mlp_size, 40);
    }

    /// A key left out (a config saved with only its non-default values) takes its class's default.
    #[test]
    fn absent_keys_take_the_model_types_defaults() {
        let clip = vit(spec_from_dir(&folder("clip-defaults", json!({"model_type": "clip"}))).unwrap());
        assert_eq!((clip.patch_size, clip.mlp_size, clip.act, clip.norm_eps), (32, 3072, Some(Act::QuickGelu), Some(1e-5)));
        let siglip = vit(spec_from_dir(&folder("siglip-defaults", json!({"model_type": "siglip_vision_model"}))).unwrap());
        assert_eq!((siglip.patch_size, siglip.act, siglip.norm_eps), (16, Some(Act::GeluTanh), Some(1e-6)));
        let registers =
            vit(spec_from_dir(&folder("dinov2-reg-defaults", json!({"model_type": "dinov2_with_registers"}))).unwrap());
        assert_eq!((registers.patch_size, registers.registers, registers.mlp_size), (16, Some(4), 3072));
        // CLIP's attention always has biases: a stray `qkv_bias` is not read.
        let clip = json!({"model_type": "clip_vision_model", "qkv_bias": false});
        assert_eq!(vit(spec_from_dir(&folder("clip-qkv", clip)).unwrap()).qkv_bias, None);
    }

    /// The hub's original AIMv2 config (remote code: `model_type` `aimv2`, fields at the top,
    /// `use_bias`) and transformers' own (`aimv2_vision_model`) give the same spec; the
    /// native-resolution model and unequal biases are refused by key.
    #[test]
    fn aimv2_reads_the_original_and_the_transformers_config() {
        let sizes = json!({"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
            "image_size": 32, "patch_size": 8, "qkv_bias": false, "rms_norm_eps": 1e-5});
        let with = |extra: Value| {
            let mut config = sizes.clone();
            config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            config
        };
        let aimv2 = |name: &str, config: Value| match spec_from_dir(&folder(name, config)).map(|spec| spec.architecture) {
            Ok(Architecture::Aimv2(aimv2)) => Ok(aimv2),
            Ok(other) => panic!("not an aimv2: {other:?}"),
            Err(err) => Err(err.to_string()),
        };
        let original = aimv2("aimv2-original", with(json!({"model_type": "aimv2", "use_bias": false}))).unwrap();
        let native = aimv2("aimv2-native", with(json!({"model_type": "aimv2_vision_model", "mlp_bias": false}))).unwrap();
        for spec in [&original, &native] {
            assert_eq!((spec.hidden_size, spec.mlp_size, spec.depth, spec.heads, spec.image_size), (32, 48, 2, 4, 32));
            assert_eq!((spec.qkv_bias, spec.mlp_bias), (Some(false), Some(false)));
        }
        let nested = aimv2("aimv2-two-tower", json!({"model_type": "aimv2", "vision_config": sizes.clone()})).unwrap();
        assert_eq!(nested.hidden_size, 32);
        let err = aimv2("aimv2-use-bias", with(json!({"model_type": "aimv2", "use_bias": true}))).unwrap_err();
        assert!(err.contains("`use_bias` = true"), "{err}");
    }

    #[test]
    fn a_mistyped_or_out_of_range_value_is_an_error_naming_its_key() {
        let cases = [
            ("mistyped", json!({"model_type": "dinov2", "hidden_size": "32"}), "`hidden_size`: invalid type: string \"32\""),
            (
                "nested",
                json!({"model_type": "clip", "vision_config": {"layer_norm_eps": "small"}}),
                "`vision_config.layer_norm_eps`",
            ),
            ("zero", json!({"model_type": "vit", "hidden_size": 0}), "hidden_size = 0 is out of range"),
            (
                "huge",
                json!({"model_type": "siglip", "vision_config": {"num_hidden_layers": 1_000_000_000u64}}),
                "vision_config.num_hidden_layers = 1000000000 is out of range",
            ),
            ("eps", json!({"model_type": "vit", "layer_norm_eps": -1.0}), "layer_norm_eps = -1 must be finite and positive"),
            ("ratio", json!({"model_type": "dinov2", "mlp_ratio": 1e9}), "the MLP width"),
        ];
        for (name, config, message) in cases {
            let err = spec_from_dir(&folder(name, config)).expect_err(name).to_string();
            assert!(err.contains("config.json") && err.contains(message), "{name}: {err}");
        }
    }
}
