//! Feature-map interpolation (Cambrian-1's `interp`) against
//! `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`, on grids from
//! tools/reference/make_resample_fixtures.py, and through `cambrian encode --tokens`.

mod common;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::nn::resample::{GridResample, resize_grids};
use common::{cambrian, fixtures, image, max_abs_diff, read_tensors, scratch, stderr};

const TOLERANCE: f32 = 1e-5;

#[test]
fn bilinear_grids_match_torch_interpolate() {
    let file = read_tensors(&fixtures().join("resample/bilinear.safetensors"));
    let device = Device::flex();
    let mut names: Vec<&String> = file.metadata.keys().collect();
    names.sort();
    assert_eq!(names.len(), 9, "every case of the fixture");
    for name in names {
        let sizes: Vec<usize> = file.metadata[name.as_str()].split(',').map(|v| v.parse().unwrap()).collect();
        let input = &file.tensors[&format!("{name}.input")];
        let expected = &file.tensors[&format!("{name}.output")];
        let shape: [usize; 3] = input.shape.clone().try_into().unwrap();
        let grids = Tensor::<3>::from_data(TensorData::new(input.values.clone(), shape), &device);
        let out = resize_grids(grids, (sizes[0], sizes[1]), (sizes[2], sizes[3]), GridResample::Bilinear);
        assert_eq!(out.dims().to_vec(), expected.shape, "{name}: shape");
        let ours = out.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        let diff = max_abs_diff(&ours, &expected.values);
        println!("{name}: max |Δ| = {diff:.2e}");
        assert!(diff <= TOLERANCE, "{name}: differs from torch by {diff}");
    }
}

#[test]
fn encode_resizes_to_the_requested_token_count() {
    let expected = &read_tensors(&fixtures().join("resample/bilinear.safetensors")).tensors["clip_tokens9"];
    let out = scratch("tokens9").join("features.safetensors");
    let weights = fixtures().join("encoders/hf-clip-vision");
    let args = ["encode", "--weights", weights.to_str().unwrap(), "--tokens", "9", "--out", out.to_str().unwrap()];
    let images = [image("scene-61x47.png"), image("tall-38x70.png")];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(images.iter().map(|p| p.to_str().unwrap()));
    let output = cambrian(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    let file = read_tensors(&out);
    assert_eq!(file.tensors["features"].shape, vec![2, 9, 32]);
    assert_eq!(file.tensors["grid"].values, vec![3.0, 3.0]);
    let diff = max_abs_diff(&file.tensors["features"].values, &expected.values);
    assert!(diff <= 1e-3, "--tokens 9 differs from torch by {diff}");
}

#[test]
fn a_token_count_that_is_not_square_is_an_error() {
    let out = scratch("tokens10").join("features.safetensors");
    let weights = fixtures().join("encoders/hf-clip-vision");
    let output = cambrian(&[
        "encode",
        "--weights",
        weights.to_str().unwrap(),
        "--tokens",
        "10",
        "--out",
        out.to_str().unwrap(),
        image("scene-61x47.png").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("feature_tokens 10 is not a square"), "{}", stderr(&output));
    assert!(!out.exists());
}
