//! Parity of every ViT layout with its reference implementation (transformers, timm,
//! open_clip), on the tiny random-weight checkpoints that tools/reference/ made.
//!
//! For each fixture: the reference preprocessing's pixels through our model must give the
//! reference features within 1e-4; `cambrian encode` from the image files (our preprocessing,
//! our loader, the whole command) within 1e-3; and our pixels must equal the reference's.

mod common;

use std::path::Path;

use common::encoder_case::{Case, FROM_FILE_TOLERANCE};
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
