//! Parity of the depth encoders (MiDaS 3.0: DPT's ViT; MiDaS 3.1: DPT's BEiT) with
//! transformers' `DPTForDepthEstimation`, on the tiny random-weight checkpoints that
//! tools/reference/make_dpt_fixtures.py made (run at 40 px on models trained at 32 px, so the
//! position tables are resized).
//!
//! For each fixture: the reference pixels through our model give the reference features
//! (`hidden_states[-1]` without the class token) within 1e-4; our preprocessing of the image
//! files equals the reference processor's; `cambrian encode` from the files is within 1e-3.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::encode::preprocess_files;
use cambrian::encoders::registry::{preset, resolve};
use cambrian::encoders::{Encoder, EncoderModel, EncoderSpec, Family, WeightsSource};
use common::encoder_case::{Case, PIXEL_TOLERANCE, SAME_PIXELS_TOLERANCE};
use common::{Array, fixtures, image, max_abs_diff, pixel_values, read_tensors, scratch};

fn case_dir(name: &str) -> PathBuf {
    fixtures().join("encoders").join(name)
}

fn load(dir: &Path, device: &Device) -> Encoder {
    let resolved = resolve(None, Some(dir)).expect("resolve spec from config.json");
    Encoder::build(resolved.spec, WeightsSource::Path(dir), device).expect("load fixture")
}

fn to_tensor(pixels: &Array, device: &Device) -> Tensor<4> {
    let shape: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    Tensor::<4>::from_data(TensorData::new(pixels.values.clone(), shape), device)
}

fn values(tokens: Tensor<3>) -> Vec<f32> {
    tokens.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn check(name: &str) {
    let encoder = Case::open(name).check();
    assert_eq!(encoder.spec.family, Family::Depth);
}

#[test]
fn midas_3_0_dpt_vit_with_bilinear_position_resize() {
    check("hf-dpt");
}

#[test]
fn midas_3_1_dpt_beit_with_resized_relative_position_bias() {
    check("hf-dpt-beit");
}

/// At the trained resolution no table is resized (the presets' case).
#[test]
fn both_backbones_at_their_trained_resolution() {
    let device = Device::flex();
    for name in ["hf-dpt", "hf-dpt-beit"] {
        let dir = case_dir(name);
        let reference = read_tensors(&dir.join("reference.safetensors"));
        let out = load(&dir, &device).forward(to_tensor(&reference.tensors["pixels_native"], &device), None).unwrap();
        assert_eq!(out.grid, [4, 4], "{name}");
        let diff = max_abs_diff(&values(out.tokens), &reference.tensors["features_native"].values);
        println!("{name}: trained resolution, max |Δ| = {diff:.2e}");
        assert!(diff <= SAME_PIXELS_TOLERANCE, "{name}: features at the trained resolution differ by {diff}");
    }
}

/// The checkpoint's `dpt.layernorm` loads too: the final output (no layer) is its output.
#[test]
fn dpt_vit_final_norm() {
    let dir = case_dir("hf-dpt");
    let device = Device::flex();
    let reference = read_tensors(&dir.join("reference.safetensors"));
    let EncoderModel::Vit(vit) = load(&dir, &device).model else { panic!("DPT's ViT is a vit") };
    let (tokens, _) = vit.forward(to_tensor(&reference.tensors["pixels"], &device), None).unwrap();
    let diff = max_abs_diff(&values(tokens), &reference.tensors["features_last"].values);
    assert!(diff <= SAME_PIXELS_TOLERANCE, "final norm output differs by {diff}");
}

/// A copy of a fixture folder with `edit` applied to one of its JSON files.
fn edited_copy(name: &str, file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let dir = scratch(&format!("dpt-edited-{name}-{file}"));
    for entry in std::fs::read_dir(case_dir(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let path = dir.join(file);
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, json.to_string()).unwrap();
    dir
}

fn resolve_error(dir: &Path) -> String {
    match resolve(None, Some(dir)) {
        Ok(_) => panic!("{} should not resolve", dir.display()),
        Err(err) => err.to_string(),
    }
}

#[test]
fn unsupported_dpt_configurations_are_named() {
    let hybrid = edited_copy("hf-dpt", "config.json", |c| c["is_hybrid"] = true.into());
    assert!(resolve_error(&hybrid).contains("DPT-Hybrid"), "{}", resolve_error(&hybrid));
    let shared =
        edited_copy("hf-dpt-beit", "config.json", |c| c["backbone_config"]["use_shared_relative_position_bias"] = true.into());
    assert!(resolve_error(&shared).contains("use_shared_relative_position_bias"), "{}", resolve_error(&shared));
    let aspect = edited_copy("hf-dpt", "preprocessor_config.json", |c| c["keep_aspect_ratio"] = true.into());
    assert!(resolve_error(&aspect).contains("keep_aspect_ratio"), "{}", resolve_error(&aspect));
}

/// Intel/dpt-large's preprocessor_config.json predates `do_rescale`; transformers rescales.
#[test]
fn a_feature_extractor_config_without_do_rescale_rescales() {
    let old = edited_copy("hf-dpt", "preprocessor_config.json", |c| {
        let c = c.as_object_mut().unwrap();
        c.remove("do_rescale");
        c.remove("rescale_factor");
    });
    let spec = resolve(None, Some(&old)).expect("resolve").spec;
    let reference = read_tensors(&case_dir("hf-dpt").join("reference.safetensors"));
    let images: Vec<PathBuf> = reference.metadata["images"].split(',').map(image).collect();
    let ours = preprocess_files(&spec.preprocess, &images).unwrap();
    assert!(max_abs_diff(&pixel_values(&ours), &reference.tensors["pixels"].values) <= PIXEL_TOLERANCE);
}

/// Each preset at its real width and resolution, one block deep (random weights): the token
/// grid Cambrian-1 lists (576 and 1024 tokens of 1024 channels) from a padded demo image.
#[test]
fn presets_give_the_native_token_grid() {
    let device = Device::flex();
    for (name, tokens) in [("midas-dpt-large-384", 576), ("midas-beit-large-512", 1024)] {
        let full = preset(name).unwrap();
        assert_eq!((full.family, full.native_tokens(), full.hidden_size()), (Family::Depth, tokens, 1024), "{name}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("encoders").join(format!("{name}.toml"));
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("\ndepth = 24\n"), "{name}: expected 24 blocks");
        let spec = EncoderSpec::from_toml(&text.replace("\ndepth = 24\n", "\ndepth = 1\n"), name).unwrap();
        let side = spec.resolution();
        let pixels = preprocess_files(&spec.preprocess, &[image("demo-96x72.jpg")]).unwrap();
        let pixels = pixel_values(&pixels);
        let encoder = Encoder::build(spec, WeightsSource::Random { seed: 1 }, &device).unwrap();
        let input = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, side, side]), &device);
        let out = encoder.forward(input, None).unwrap();
        assert_eq!(out.tokens.dims(), [1, tokens, 1024], "{name}");
        assert!(values(out.tokens).iter().all(|v| v.is_finite()), "{name}: non-finite features");
    }
}
