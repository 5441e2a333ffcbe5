//! Parity of every ViT layout with its reference implementation (transformers, timm,
//! open_clip), on the tiny random-weight checkpoints that tools/reference/ made.
//!
//! For each fixture: the reference preprocessing's pixels through our model must give the
//! reference features within 1e-4; `cambrian encode` from the image files (our preprocessing,
//! our loader, the whole command) within 1e-3; and our pixels must equal the reference's.

mod common;

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::registry::resolve;
use cambrian::encoders::{Encoder, WeightsSource};
use common::{Array, cambrian, fixtures, image, max_abs_diff, read_tensors, scratch, stderr};

const SAME_PIXELS_TOLERANCE: f32 = 1e-4;
const FROM_FILE_TOLERANCE: f32 = 1e-3;
/// Our preprocessing vs the reference processor's, in normalised pixel units (f32 rounding).
const PIXEL_TOLERANCE: f32 = 1e-5;

struct Case {
    dir: PathBuf,
    /// `spec.toml` for checkpoints that are not transformers folders.
    spec: Option<PathBuf>,
}

fn case(name: &str) -> Case {
    let dir = fixtures().join("encoders").join(name);
    let spec = Some(dir.join("spec.toml")).filter(|p| p.is_file());
    Case { dir, spec }
}

impl Case {
    fn encoder(&self, device: &Device) -> Encoder {
        let spec_arg = self.spec.as_ref().map(|p| p.to_str().unwrap());
        let resolved = resolve(spec_arg, Some(&self.dir)).expect("resolve spec");
        let weights = match (&self.spec, &resolved.spec.weights_file) {
            (Some(_), Some(file)) => self.dir.join(file),
            _ => self.dir.clone(),
        };
        Encoder::build(resolved.spec, WeightsSource::Path(&weights), device).expect("load fixture")
    }

    fn images(&self, metadata_images: &str) -> Vec<PathBuf> {
        metadata_images.split(',').map(image).collect()
    }

    /// `cambrian encode` on the image files; returns the features file.
    fn encode_cli(&self, images: &[PathBuf], extra: &[&str]) -> common::TensorFile {
        let out = scratch(&format!("parity-{}-{}", self.dir.file_name().unwrap().to_string_lossy(), extra.join("_")))
            .join("features.safetensors");
        let mut args = vec!["encode", "--out", out.to_str().unwrap()];
        match &self.spec {
            Some(spec) => args.extend(["--encoder", spec.to_str().unwrap()]),
            None => args.extend(["--weights", self.dir.to_str().unwrap()]),
        }
        args.extend(extra);
        args.extend(images.iter().map(|p| p.to_str().unwrap()));
        let output = cambrian(&args);
        assert!(output.status.success(), "cambrian encode failed: {}", stderr(&output));
        read_tensors(&out)
    }
}

fn forward(encoder: &Encoder, pixels: &Array, layer: Option<i64>, device: &Device) -> (Vec<f32>, Vec<usize>) {
    let shape: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    let input = Tensor::<4>::from_data(TensorData::new(pixels.values.clone(), shape), device);
    let out = encoder.forward(input, layer).expect("forward");
    let dims = out.tokens.dims().to_vec();
    (out.tokens.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), dims)
}

fn check(name: &str) {
    let case = case(name);
    let device = Device::flex();
    let reference = read_tensors(&case.dir.join("reference.safetensors"));
    let pixels = &reference.tensors["pixels"];
    let expected = &reference.tensors["features"];
    let encoder = case.encoder(&device);

    let (ours, shape) = forward(&encoder, pixels, None, &device);
    assert_eq!(shape, expected.shape, "{name}: feature shape");
    let diff = max_abs_diff(&ours, &expected.values);
    println!("{name}: same pixels, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "{name}: features differ by {diff} on identical pixels");

    let images = case.images(&reference.metadata["images"]);
    let our_pixels = cambrian::encoders::encode::preprocess_files(&encoder.spec.preprocess, &images).unwrap();
    let pixel_diff = max_abs_diff(&our_pixels.concat(), &pixels.values);
    println!("{name}: preprocessing, max |Δ| = {pixel_diff:.2e}");
    assert!(pixel_diff <= PIXEL_TOLERANCE, "{name}: preprocessing differs by {pixel_diff}");

    let file = case.encode_cli(&images, &[]);
    let features = &file.tensors["features"];
    assert_eq!(features.shape, expected.shape);
    let diff = max_abs_diff(&features.values, &expected.values);
    println!("{name}: cambrian encode from files, max |Δ| = {diff:.2e}");
    assert!(diff <= FROM_FILE_TOLERANCE, "{name}: encode from files differs by {diff}");
    let grid: Vec<usize> = reference.metadata["grid"].split(',').map(|v| v.trim().parse().unwrap()).collect();
    let our_grid: Vec<usize> = file.tensors["grid"].values.iter().map(|v| *v as usize).collect();
    assert_eq!(our_grid, grid, "{name}: grid");
}

#[test]
fn hf_clip_vision() {
    check("hf-clip-vision");
}

#[test]
fn hf_clip_vision_tower_of_a_full_clip_model() {
    check("hf-clip-full");
}

#[test]
fn hf_siglip() {
    check("hf-siglip");
}

#[test]
fn hf_siglip_with_a_remainder_after_the_last_patch() {
    check("hf-siglip-remainder");
}

#[test]
fn hf_siglip_from_a_bf16_checkpoint() {
    check("hf-siglip-bf16");
}

#[test]
fn hf_dinov2_sharded_with_position_interpolation() {
    check("hf-dinov2");
}

#[test]
fn hf_dinov2_with_registers_and_swiglu() {
    check("hf-dinov2-reg-swiglu");
}

#[test]
fn hf_vit() {
    check("hf-vit");
}

#[test]
fn hf_vit_mae() {
    check("hf-vit-mae");
}

#[test]
fn timm_vit_with_class_token() {
    check("timm-vit-cls");
}

#[test]
fn open_clip_siglip_trunk_padded_to_square() {
    check("open-clip-siglip-trunk");
}

#[test]
fn open_clip_native_vit() {
    check("open-clip-native");
}

#[test]
fn moco_v3_base_encoder_from_a_nested_pth_tar() {
    check("moco-v3-pth-tar");
}

#[test]
fn ijepa_encoder_from_a_nested_pth_tar() {
    check("ijepa-pth-tar");
}

/// `--layer` counts like transformers' hidden_states.
#[test]
fn hf_clip_layer_selection() {
    let case = case("hf-clip-vision");
    let reference = read_tensors(&case.dir.join("reference.safetensors"));
    let images = case.images(&reference.metadata["images"]);
    for (layer, key) in [("-1", "features_last"), ("1", "features_layer1")] {
        let file = case.encode_cli(&images, &["--layer", layer]);
        let diff = max_abs_diff(&file.tensors["features"].values, &reference.tensors[key].values);
        assert!(diff <= FROM_FILE_TOLERANCE, "--layer {layer}: differs by {diff}");
        assert_eq!(file.metadata["layer"], layer);
    }
}

#[test]
fn a_layer_beyond_the_model_is_an_error() {
    let case = case("hf-clip-vision");
    let out = scratch("layer-error").join("f.safetensors");
    let output = cambrian(&[
        "encode",
        "--weights",
        case.dir.to_str().unwrap(),
        "--layer",
        "7",
        "--out",
        out.to_str().unwrap(),
        image("scene-61x47.png").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("layer 7 does not exist: the encoder has 3 blocks"), "{}", stderr(&output));
    assert!(!Path::new(&out).exists());
}
