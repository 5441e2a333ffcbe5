//! Parity of every ViT layout with its reference implementation (transformers, timm,
//! open_clip), on the tiny random-weight checkpoints that tools/reference/ made.
//!
//! For each fixture: the reference preprocessing's pixels through our model must give the
//! reference features within 1e-4; `cambrian encode` from the image files (our preprocessing,
//! our loader, the whole command) within 1e-3; and our pixels must equal the reference's.

mod common;

use std::path::Path;

use burn::tensor::Device;
use cambrian::encoders::registry::preset;
use cambrian::encoders::{Architecture, Encoder, EncoderSpec, WeightsSource};
use common::encoder_case::{Case, FROM_FILE_TOLERANCE, SAME_PIXELS_TOLERANCE, forward};
use common::{cambrian, image, max_abs_diff, scratch, stderr};

fn check(name: &str) {
    Case::open(name).check();
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

/// A saved `Dinov2Config(intermediate_size=40)`: transformers sizes the MLP from `mlp_ratio`.
#[test]
fn hf_dinov2_ignores_intermediate_size_as_transformers_does() {
    check("hf-dinov2-intermediate-size");
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

/// The study's SigLIP presets, shrunk to the fixture's sizes, on the fixture's trunk (built from
/// `vit_so400m_patch14_siglip_384`'s registered definition): every structural choice of the
/// preset (activation, class token, layout) must be the trunk's. Both presets name the same
/// structure (`vit_large_patch16_siglip_384` differs in sizes only).
#[test]
fn the_siglip_presets_build_the_trunk_open_clip_loads() {
    let case = Case::open("open-clip-siglip-trunk");
    let fixture = EncoderSpec::from_file(case.spec.as_ref().unwrap()).unwrap();
    let Architecture::Vit(sizes) = &fixture.architecture else { panic!("a vit fixture") };
    let device = Device::flex();
    for name in ["siglip-so400m-14-384", "siglip-vit-l-16-384"] {
        let mut spec = preset(name).unwrap();
        let Architecture::Vit(vit) = &mut spec.architecture else { panic!("{name} is a vit") };
        (vit.image_size, vit.patch_size, vit.hidden_size) = (sizes.image_size, sizes.patch_size, sizes.hidden_size);
        (vit.depth, vit.heads, vit.mlp_size) = (sizes.depth, sizes.heads, sizes.mlp_size);
        spec.preprocess = fixture.preprocess.clone();
        let weights = case.dir.join(fixture.weights_file.as_ref().unwrap());
        let encoder = Encoder::build(spec, WeightsSource::Path(&weights), &device).unwrap();
        let (ours, _) = forward(&encoder, &case.reference.tensors["pixels"], None, &device);
        let diff = max_abs_diff(&ours, &case.reference.tensors["features"].values);
        assert!(diff <= SAME_PIXELS_TOLERANCE, "{name}: features differ by {diff} from the trunk's");
    }
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
    let case = Case::open("hf-clip-vision");
    for (layer, key) in [("-1", "features_last"), ("1", "features_layer1")] {
        let file = case.encode_cli(&["--layer", layer]);
        let diff = max_abs_diff(&file.tensors["features"].values, &case.reference.tensors[key].values);
        assert!(diff <= FROM_FILE_TOLERANCE, "--layer {layer}: differs by {diff}");
        assert_eq!(file.metadata["layer"], layer);
    }
}

#[test]
fn a_layer_beyond_the_model_is_an_error() {
    let case = Case::open("hf-clip-vision");
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
