//! Parity of the SAM image encoder with segment-anything's `ImageEncoderViT`, on the tiny
//! random-weight full-`Sam` state dicts that tools/reference/make_sam_fixtures.py made.
//!
//! For each fixture: the reference pixels through our model must give the pre-neck features
//! within 1e-4; our preprocessing (Cambrian's white pad to square, resize, SAM's
//! normalisation) must give the reference pixels; `cambrian encode` from the image files
//! must give the features within 1e-3.

mod common;

use burn::tensor::{Device, Tensor};
use cambrian::encoders::registry::preset;
use common::encoder_case::{Case, FROM_FILE_TOLERANCE};
use common::{cambrian, fixtures, image, max_abs_diff, scratch, stderr};

fn check(name: &str) {
    Case::open(name).check();
}

/// Windowed blocks pad the 4×4 grid to 6×6; the checkpoint is a whole `Sam` state dict.
#[test]
fn sam_padded_windows_from_a_full_sam_state_dict() {
    check("sam-tiny");
}

/// No absolute table; the global blocks' relative tables (trained for a 4×4 grid) are
/// resized linearly for the 3×3 grid of a 48 px input.
#[test]
fn sam_relative_tables_resized_for_another_grid() {
    check("sam-tiny-rel-pos-resized");
}

/// `--layer 2` is the output of the second block.
#[test]
fn sam_layer_selection() {
    let case = Case::open("sam-tiny");
    let file = case.encode_cli(&["--layer", "2"]);
    let diff = max_abs_diff(&file.tensors["features"].values, &case.reference.tensors["features_layer2"].values);
    println!("sam-tiny --layer 2: max |Δ| = {diff:.2e}");
    assert!(diff <= FROM_FILE_TOLERANCE, "--layer 2: differs by {diff}");
}

/// A spec deeper than the checkpoint: the first block the file lacks is named, prefix included.
#[test]
fn sam_missing_block_is_named() {
    let dir = fixtures().join("encoders/sam-tiny");
    let scratch_dir = scratch("sam-missing-block");
    let spec = std::fs::read_to_string(dir.join("spec.toml")).unwrap().replace("depth = 4", "depth = 5");
    let spec_path = scratch_dir.join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let out = scratch_dir.join("f.safetensors");
    let output = cambrian(&[
        "encode",
        "--encoder",
        spec_path.to_str().unwrap(),
        "--weights",
        dir.join("sam_tiny.pth").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        image("scene-61x47.png").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("missing tensor `image_encoder.blocks.4."), "{}", stderr(&output));
    assert!(!out.exists());
}

/// The absolute table is not resized (segment-anything adds it as is): another input size is
/// an error, not silently different features.
#[test]
fn sam_with_absolute_positions_rejects_another_resolution() {
    let device = Device::flex();
    let encoder = Case::open("sam-tiny").encoder(&device);
    let err = encoder.forward(Tensor::<4>::zeros([1, 3, 48, 48], &device), None).err().expect("48 px must fail");
    assert!(err.to_string().contains("covers a 4×4 grid"), "{err}");
}

/// The presets parse and state the Cambrian-1 sizes (building them at 1024 px is left to the
/// manual `--init random` check: ViT-H has 632M parameters).
#[test]
fn sam_presets_describe_the_study_encoders() {
    for (name, hidden, tokens) in [("sam-vit-l-1024", 1024, 4096), ("sam-vit-h-1024", 1280, 4096)] {
        let spec = preset(name).expect("preset");
        assert_eq!(spec.family.to_string(), "segmentation");
        assert_eq!((spec.resolution(), spec.hidden_size(), spec.native_tokens()), (1024, hidden, tokens), "{name}");
        assert_eq!(spec.preprocess.pad_colour, Some([255, 255, 255]), "{name}");
    }
}
