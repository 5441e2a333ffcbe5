//! Parity of the timm `Eva` family (EVA-02 CLIP, Perception Encoder core, DINOv3) with timm,
//! on the tiny random-weight checkpoints that tools/reference/make_eva_fixtures.py made from
//! the real timm model definitions, in their hub checkpoints' formats.
//!
//! For each fixture: the reference pixels through our model must give timm's
//! `forward_features` (class and register tokens dropped) within 1e-4; our preprocessing must
//! give the reference pixels within 1e-5; `cambrian encode` on the image files within 1e-3.
//! Each preset must parse and describe the grid and width its checkpoint has.

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::registry::{preset, resolve};
use cambrian::encoders::{Encoder, Family, WeightsSource};
use common::{Array, cambrian, fixtures, image, max_abs_diff, read_tensors, scratch, stderr};

const SAME_PIXELS_TOLERANCE: f32 = 1e-4;
const FROM_FILE_TOLERANCE: f32 = 1e-3;
const PIXEL_TOLERANCE: f32 = 1e-5;

fn case_dir(name: &str) -> PathBuf {
    fixtures().join("encoders").join(name)
}

fn encoder(dir: &std::path::Path, device: &Device) -> Encoder {
    let spec = dir.join("spec.toml");
    let resolved = resolve(Some(spec.to_str().unwrap()), None).expect("resolve spec");
    let weights = dir.join(resolved.spec.weights_file.as_deref().expect("fixture spec names its weights"));
    Encoder::build(resolved.spec, WeightsSource::Path(&weights), device).expect("load fixture")
}

fn forward(encoder: &Encoder, pixels: &Array, layer: Option<i64>, device: &Device) -> (Vec<f32>, Vec<usize>) {
    let shape: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    let input = Tensor::<4>::from_data(TensorData::new(pixels.values.clone(), shape), device);
    let out = encoder.forward(input, layer).expect("forward");
    let dims = out.tokens.dims().to_vec();
    (out.tokens.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), dims)
}

fn check(name: &str) {
    let dir = case_dir(name);
    let device = Device::flex();
    let reference = read_tensors(&dir.join("reference.safetensors"));
    let pixels = &reference.tensors["pixels"];
    let expected = &reference.tensors["features"];
    let encoder = encoder(&dir, &device);

    let (ours, shape) = forward(&encoder, pixels, None, &device);
    assert_eq!(shape, expected.shape, "{name}: feature shape");
    let diff = max_abs_diff(&ours, &expected.values);
    println!("{name}: same pixels, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "{name}: features differ by {diff} on identical pixels");

    let images: Vec<PathBuf> = reference.metadata["images"].split(',').map(image).collect();
    let our_pixels = cambrian::encoders::encode::preprocess_files(&encoder.spec.preprocess, &images).unwrap();
    let pixel_diff = max_abs_diff(&our_pixels.concat(), &pixels.values);
    println!("{name}: preprocessing, max |Δ| = {pixel_diff:.2e}");
    assert!(pixel_diff <= PIXEL_TOLERANCE, "{name}: preprocessing differs by {pixel_diff}");

    let out = scratch(&format!("eva-parity-{name}")).join("features.safetensors");
    let spec = dir.join("spec.toml");
    let mut args = vec!["encode", "--encoder", spec.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    let output = cambrian(&args);
    assert!(output.status.success(), "cambrian encode failed: {}", stderr(&output));
    let file = read_tensors(&out);
    let diff = max_abs_diff(&file.tensors["features"].values, &expected.values);
    println!("{name}: cambrian encode from files, max |Δ| = {diff:.2e}");
    assert!(diff <= FROM_FILE_TOLERANCE, "{name}: encode from files differs by {diff}");
    let grid: Vec<usize> = reference.metadata["grid"].split(',').map(|v| v.trim().parse().unwrap()).collect();
    let our_grid: Vec<usize> = file.tensors["grid"].values.iter().map(|v| *v as usize).collect();
    assert_eq!(our_grid, grid, "{name}: grid");
}

/// open_clip's fp16 `open_clip_model.safetensors` with the trunk under `visual.trunk.`.
#[test]
fn eva02_clip_from_an_open_clip_fp16_checkpoint() {
    check("eva02-clip");
}

#[test]
fn perception_encoder_core() {
    check("pe-core");
}

/// Built at 24 px, run at 30 px: the rope grid follows the input.
#[test]
fn dinov3_at_a_larger_input() {
    check("dinov3");
}

#[test]
fn dinov3_with_qv_biases_and_swiglu() {
    check("dinov3-qkvb-swiglu");
}

/// `layer = 1` is block 1's output without the final norm (timm `forward_intermediates`).
#[test]
fn eva02_clip_intermediate_layer() {
    let dir = case_dir("eva02-clip");
    let device = Device::flex();
    let reference = read_tensors(&dir.join("reference.safetensors"));
    let encoder = encoder(&dir, &device);
    let (ours, _) = forward(&encoder, &reference.tensors["pixels"], Some(1), &device);
    let diff = max_abs_diff(&ours, &reference.tensors["features_layer1"].values);
    println!("eva02-clip: layer 1, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "layer 1 differs by {diff}");
}

/// A checkpoint of another variant fails to load, naming the tensor it lacks (DINOv3's
/// LayerScale, absent from PE).
#[test]
fn a_checkpoint_of_another_variant_is_rejected_by_name() {
    let dir = case_dir("pe-core");
    let mut spec = resolve(Some(case_dir("dinov3").join("spec.toml").to_str().unwrap()), None).unwrap().spec;
    spec.weights_file = None;
    let err = Encoder::build(spec, WeightsSource::Path(&dir.join("model.safetensors")), &Device::flex())
        .err()
        .expect("a PE checkpoint must not load as DINOv3");
    let message = format!("{err:#}");
    assert!(message.contains("missing tensor `blocks.0.gamma_1`"), "{message}");
}

#[test]
fn presets_describe_their_checkpoints() {
    for (name, family, tokens, hidden) in [
        ("eva02-clip-vit-l-14-336", Family::LanguageSupervised, 576, 1024),
        ("eva02-clip-vit-l-14-224", Family::LanguageSupervised, 256, 1024),
        ("pe-core-vit-l-14-336", Family::LanguageSupervised, 576, 1024),
        ("dinov3-vit-l-16", Family::SelfSupervised, 256, 1024),
    ] {
        let spec = preset(name).unwrap();
        assert_eq!((spec.family, spec.native_tokens(), spec.hidden_size()), (family, tokens, hidden), "{name}");
        assert!(spec.architecture_name().starts_with("eva ("), "{name}");
        assert!(spec.hub.is_some() && spec.weights_file.is_some(), "{name}");
        assert!(spec.preprocess.pad_to_square, "{name}: Cambrian-1 pads to square");
    }
}
