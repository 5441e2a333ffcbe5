//! Parity of the timm `Eva` family (EVA-02 CLIP, Perception Encoder core, DINOv3) with timm,
//! on the tiny random-weight checkpoints that tools/reference/make_eva_fixtures.py made from
//! the real timm model definitions, in their hub checkpoints' formats.
//!
//! For each fixture: the reference pixels through our model must give timm's
//! `forward_features` (class and register tokens dropped) within 1e-4; our preprocessing must
//! give the reference pixels within 1e-5; `cambrian encode` on the image files within 1e-3.
//! Each preset must parse and describe the grid and width its checkpoint has.

mod common;

use burn::tensor::Device;
use cambrian::encoders::registry::{preset, resolve};
use cambrian::encoders::{Encoder, Family, WeightsSource};
use common::encoder_case::{Case, SAME_PIXELS_TOLERANCE, forward};
use common::{fixtures, max_abs_diff};

fn check(name: &str) {
    Case::open(name).check();
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
    let case = Case::open("eva02-clip");
    let device = Device::flex();
    let (ours, _) = forward(&case.encoder(&device), &case.reference.tensors["pixels"], Some(1), &device);
    let diff = max_abs_diff(&ours, &case.reference.tensors["features_layer1"].values);
    println!("eva02-clip: layer 1, max |Δ| = {diff:.2e}");
    assert!(diff <= SAME_PIXELS_TOLERANCE, "layer 1 differs by {diff}");
}

/// A checkpoint of another variant fails to load, naming the tensor it lacks (DINOv3's
/// LayerScale, absent from PE).
#[test]
fn a_checkpoint_of_another_variant_is_rejected_by_name() {
    let dir = fixtures().join("encoders/pe-core");
    let dinov3 = fixtures().join("encoders/dinov3/spec.toml");
    let mut spec = resolve(Some(dinov3.to_str().unwrap()), None).unwrap().spec;
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
