//! The native-resolution AIMv2 against transformers' `Aimv2VisionModel` with `is_native`, on
//! the tiny random-weight folder tools/reference/make_aimv2_native_fixtures.py made: three
//! images of three aspect ratios (90 × 30, 61 × 47, 38 × 70), none a multiple of the 8 px
//! patch on both sides, each through the hub's PIL processor (no resize, no crop) and the
//! model alone.
//!
//! Per image: the reference pixels give its tokens within 1e-4 (2-D sin-cos positions at its
//! own grid, no position table); our preprocessing gives its pixels within 1e-5 (the image as
//! it is, the remainder past the last whole patch left out) and its tokens within 1e-3. The
//! folder reads without a spec; the preset says what the folder says.

mod common;

use burn::tensor::Device;
use cambrian::encoders::encode::preprocess_files;
use cambrian::encoders::preprocess::{Pixels, ResizeMode};
use cambrian::encoders::{Architecture, Encoder};
use common::encoder_case::{Case, FROM_FILE_TOLERANCE, PIXEL_TOLERANCE, SAME_PIXELS_TOLERANCE};
use common::{Array, max_abs_diff};

fn values(features: cambrian::encoders::Features) -> Vec<f32> {
    features.tokens.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn grid_of(case: &Case, i: usize) -> [usize; 2] {
    let values = &case.reference.tensors[&format!("grid_{i}")].values;
    [values[0] as usize, values[1] as usize]
}

#[test]
fn native_aimv2_matches_transformers_at_each_images_own_grid() {
    let case = Case::open("aimv2-native");
    let device = Device::flex();
    let encoder: Encoder = case.encoder(&device);
    assert!(matches!(&encoder.spec.architecture, Architecture::Aimv2(a) if a.is_native == Some(true)));
    assert_eq!((encoder.spec.preprocess.resize, encoder.spec.preprocess.patch_size), (ResizeMode::Keep, Some(8)));

    let reference: Vec<Pixels> = (0..3)
        .map(|i| {
            let Array { values, shape } = &case.reference.tensors[&format!("pixels_{i}")];
            Pixels { values: values.clone(), size: [shape[1], shape[2]] }
        })
        .collect();
    for (i, features) in encoder.encode_native(&reference, None, 2, &device).unwrap().into_iter().enumerate() {
        assert_eq!(features.grid, grid_of(&case, i), "image {i}: grid");
        let diff = max_abs_diff(&values(features), &case.reference.tensors[&format!("features_{i}")].values);
        println!("image {i}: same pixels, max |Δ| = {diff:.2e}");
        assert!(diff <= SAME_PIXELS_TOLERANCE, "image {i}: tokens differ by {diff}");
    }

    let ours = preprocess_files(&encoder.spec.preprocess, &case.images()).unwrap();
    for (i, pixels) in ours.iter().enumerate() {
        let reference = &case.reference.tensors[&format!("pixels_{i}")];
        assert_eq!(pixels.size.to_vec(), reference.shape[1..], "image {i}: the whole patches of the image");
        let diff = max_abs_diff(&pixels.values, &reference.values);
        assert!(diff <= PIXEL_TOLERANCE, "image {i}: pixels differ by {diff}");
    }
    for (i, features) in encoder.encode_native(&ours, None, 3, &device).unwrap().into_iter().enumerate() {
        let diff = max_abs_diff(&values(features), &case.reference.tensors[&format!("features_{i}")].values);
        println!("image {i}: through our preprocessing, max |Δ| = {diff:.2e}");
        assert!(diff <= FROM_FILE_TOLERANCE, "image {i}: tokens differ by {diff}");
    }
}

/// An image smaller than one patch has no token: a short error, not an empty tensor.
#[test]
fn an_image_smaller_than_a_patch_is_refused() {
    let case = Case::open("aimv2-native");
    let encoder = case.encoder(&Device::flex());
    let tiny = image::RgbImage::from_pixel(5, 30, image::Rgb([10, 20, 30]));
    let err = encoder.encode_own_grids(&[&tiny], &Device::flex()).map(drop).unwrap_err().to_string();
    assert!(err.contains("gives 0 patches of 8 px"), "{err}");
}

/// The preset's sizes and preprocessing are those the hub-style folder reads into, at
/// aimv2-large-patch14's sizes.
#[test]
fn the_native_preset_reads_as_its_hub_folder_would() {
    let preset = cambrian::encoders::registry::preset("aimv2-vit-l-14-native").unwrap();
    let Architecture::Aimv2(arch) = &preset.architecture else { panic!("not an aimv2") };
    assert_eq!((arch.hidden_size, arch.depth, arch.heads, arch.mlp_size, arch.is_native), (1024, 24, 8, 2816, Some(true)));
    assert_eq!(
        (preset.preprocess.resize, preset.preprocess.patch_size, preset.preprocess.pad_to_square),
        (ResizeMode::Keep, Some(14), false)
    );
    let case = Case::open("aimv2-native");
    let folder = case.encoder(&Device::flex()).spec;
    assert_eq!((folder.preprocess.mean, folder.preprocess.std), (preset.preprocess.mean, preset.preprocess.std));
    assert!(preset.is_native() && folder.is_native());
}
