//! Parity of the OpenCLIP ConvNeXt encoders with timm/open_clip run as Cambrian-1's
//! `clip_convnext_encoder.py` runs them, on the tiny random-weight open_clip checkpoints that
//! tools/reference/make_convnext_fixtures.py made (the shared bilinear resize is checked in
//! tests/feature_interpolation.rs).
//!
//! For each fixture: the reference pixels through our model must give the reference features
//! within 1e-4 (features are O(1): the largest is about 5.5); our preprocessing of the image
//! files must give the reference pixels within 1e-5; `cambrian encode` on the files must give
//! the reference features within 1e-3.

mod common;

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::convnext::{ConvNextSpec, Stages};
use cambrian::encoders::registry::preset;
use cambrian::encoders::{Architecture, Encoder, EncoderSpec, WeightsSource};
use common::encoder_case::{Case, SAME_PIXELS_TOLERANCE};
use common::{Array, fixtures, max_abs_diff, read_tensors};

fn case_dir(name: &str) -> PathBuf {
    fixtures().join("encoders").join(name)
}

fn spec_path(name: &str) -> PathBuf {
    case_dir(name).join("spec.toml")
}

fn encoder(name: &str, spec: EncoderSpec, device: &Device) -> Encoder {
    let weights = case_dir(name).join(spec.weights_file.as_deref().expect("fixture spec names its weights"));
    Encoder::build(spec, WeightsSource::Path(&weights), device).expect("load fixture")
}

fn to_tensor<const D: usize>(array: &Array, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = array.shape.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(array.values.clone(), shape), device)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// Our features for the reference pixels against `expected`; returns the max |Δ|.
fn same_pixels(encoder: &Encoder, pixels: &Array, expected: &Array, device: &Device) -> f32 {
    let out = encoder.forward(to_tensor(pixels, device), None).expect("forward");
    assert_eq!(out.tokens.dims().to_vec(), expected.shape, "feature shape");
    max_abs_diff(&values(out.tokens), &expected.values)
}

fn check(name: &str) {
    Case::open(name).check();
}

#[test]
fn open_clip_convnext_last_stage_from_a_pickle() {
    check("open-clip-convnext-last");
}

#[test]
fn open_clip_convnext_all_stages_resized_and_concatenated_from_safetensors() {
    check("open-clip-convnext-multi-stage");
}

/// The presets' setting: the last stage alone, resized to the output grid.
#[test]
fn open_clip_convnext_last_stage_resized_to_a_grid() {
    let name = "open-clip-convnext-multi-stage";
    let device = Device::flex();
    let reference = read_tensors(&case_dir(name).join("reference.safetensors"));
    let mut spec = EncoderSpec::from_file(&spec_path(name)).unwrap();
    let Architecture::ConvNext(arch) = &mut spec.architecture else { panic!("a convnext fixture") };
    arch.stages = Stages::Last;
    let encoder = encoder(name, spec, &device);
    let diff = same_pixels(&encoder, &reference.tensors["pixels"], &reference.tensors["features_last"], &device);
    println!("last stage at 6×6, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "last stage resized differs by {diff}");
}

#[test]
fn presets_give_cambrians_token_counts_and_widths() {
    for (name, tokens, hidden, resolution) in [
        ("convnext-l-512", 576, 1536, 512),
        ("convnext-l-1024", 576, 1536, 1024),
        ("convnext-xxl-1024", 576, 3072, 1024),
        ("convnext-xxl-1024-multi-stage", 9216, 5760, 1024),
    ] {
        let spec = preset(name).unwrap();
        assert_eq!((spec.native_tokens(), spec.hidden_size(), spec.resolution()), (tokens, hidden, resolution), "{name}");
        assert!(spec.preprocess.pad_to_square, "{name}: Cambrian pads to square");
    }
}

#[test]
fn a_layer_is_an_error_naming_the_stages_option() {
    let name = "open-clip-convnext-last";
    let device = Device::flex();
    let encoder = encoder(name, EncoderSpec::from_file(&spec_path(name)).unwrap(), &device);
    let err = encoder.forward(Tensor::zeros([1, 3, 64, 64], &device), Some(-2)).err().expect("an error");
    assert!(err.to_string().contains("convnext has no selectable layer"), "{err}");
}

#[test]
fn all_stages_without_an_output_grid_is_an_error() {
    let mut spec = EncoderSpec::from_file(&spec_path("open-clip-convnext-multi-stage")).unwrap();
    spec.architecture = Architecture::ConvNext(ConvNextSpec {
        output_grid: None,
        ..match spec.architecture {
            Architecture::ConvNext(arch) => arch,
            _ => panic!("a convnext fixture"),
        }
    });
    let err = Encoder::build(spec, WeightsSource::Random { seed: 0 }, &Device::flex()).err().expect("an error");
    assert!(err.to_string().contains("stages = \"all\" needs output_grid"), "{err}");
}

#[test]
fn a_checkpoint_of_another_architecture_is_an_error_naming_the_layout() {
    let spec = EncoderSpec::from_file(&spec_path("open-clip-convnext-last")).unwrap();
    let vit = fixtures().join("encoders/open-clip-native/open_clip_pytorch_model.bin");
    let err = Encoder::build(spec, WeightsSource::Path(&vit), &Device::flex()).err().expect("an error");
    assert!(err.to_string().contains("not a timm ConvNeXt checkpoint"), "{err}");
}
