//! One encoder parity fixture (`tests/fixtures/encoders/NAME/`: `reference.safetensors` from a
//! tools/reference script, a `spec.toml` naming the weights file, or a transformers folder)
//! and the three checks every family's parity test makes on it: the reference pixels through
//! our model give the reference features within 1e-4; our preprocessing gives the reference
//! pixels within 1e-5 (f32 rounding); `cambrian encode` on the image files gives the features
//! within 1e-3 and the reference grid.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor, TensorData};
use cambrian::encoders::encode::preprocess_files;
use cambrian::encoders::registry::resolve;
use cambrian::encoders::{Encoder, WeightsSource};

use super::{Array, TensorFile, cambrian, fixtures, image, max_abs_diff, pixel_values, read_tensors, scratch, stderr};

pub const SAME_PIXELS_TOLERANCE: f32 = 1e-4;
pub const FROM_FILE_TOLERANCE: f32 = 1e-3;
/// Our preprocessing vs the reference processor's, in normalised pixel units.
pub const PIXEL_TOLERANCE: f32 = 1e-5;

pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    /// `spec.toml` for checkpoints that are not transformers folders.
    pub spec: Option<PathBuf>,
    pub reference: TensorFile,
}

impl Case {
    pub fn open(name: &str) -> Case {
        let dir = fixtures().join("encoders").join(name);
        let spec = Some(dir.join("spec.toml")).filter(|p| p.is_file());
        let reference = read_tensors(&dir.join("reference.safetensors"));
        Case { name: name.to_string(), dir, spec, reference }
    }

    pub fn encoder(&self, device: &Device) -> Encoder {
        let spec_arg = self.spec.as_ref().map(|p| p.to_str().unwrap());
        let resolved = resolve(spec_arg, Some(&self.dir)).expect("resolve spec");
        let weights = match (&self.spec, &resolved.spec.weights_file) {
            (Some(_), Some(file)) => self.dir.join(file),
            _ => self.dir.clone(),
        };
        Encoder::build(resolved.spec, WeightsSource::Path(&weights), device).expect("load fixture")
    }

    /// The image files the reference preprocessed.
    pub fn images(&self) -> Vec<PathBuf> {
        self.reference.metadata["images"].split(',').map(image).collect()
    }

    /// `cambrian encode` on the image files (`extra` flags added); returns the features file.
    pub fn encode_cli(&self, extra: &[&str]) -> TensorFile {
        let out = scratch(&format!("parity-{}-{}", self.name, extra.join("_"))).join("features.safetensors");
        let mut args = vec!["encode", "--out", out.to_str().unwrap()];
        match &self.spec {
            Some(spec) => args.extend(["--encoder", spec.to_str().unwrap()]),
            None => args.extend(["--weights", self.dir.to_str().unwrap()]),
        }
        args.extend(extra);
        let images = self.images();
        args.extend(images.iter().map(|p| p.to_str().unwrap()));
        let output = cambrian(&args);
        assert!(output.status.success(), "cambrian encode failed: {}", stderr(&output));
        read_tensors(&out)
    }

    /// The three checks; returns the encoder for a test's further assertions.
    pub fn check(&self) -> Encoder {
        let name = &self.name;
        let device = Device::flex();
        let pixels = &self.reference.tensors["pixels"];
        let expected = &self.reference.tensors["features"];
        let encoder = self.encoder(&device);

        let (ours, shape) = forward(&encoder, pixels, None, &device);
        assert_eq!(shape, expected.shape, "{name}: feature shape");
        let diff = max_abs_diff(&ours, &expected.values);
        println!("{name}: same pixels, max |Δ| = {diff:.2e}");
        assert!(diff <= SAME_PIXELS_TOLERANCE, "{name}: features differ by {diff} on identical pixels");

        let our_pixels = preprocess_files(&encoder.spec.preprocess, &self.images()).unwrap();
        let pixel_diff = max_abs_diff(&pixel_values(&our_pixels), &pixels.values);
        println!("{name}: preprocessing, max |Δ| = {pixel_diff:.2e}");
        assert!(pixel_diff <= PIXEL_TOLERANCE, "{name}: preprocessing differs by {pixel_diff}");

        let file = self.encode_cli(&[]);
        let features = &file.tensors["features"];
        assert_eq!(features.shape, expected.shape, "{name}: feature shape from files");
        let diff = max_abs_diff(&features.values, &expected.values);
        println!("{name}: cambrian encode from files, max |Δ| = {diff:.2e}");
        assert!(diff <= FROM_FILE_TOLERANCE, "{name}: encode from files differs by {diff}");
        let grid: Vec<usize> = self.reference.metadata["grid"].split(',').map(|v| v.trim().parse().unwrap()).collect();
        let our_grid: Vec<usize> = file.tensors["grid"].values.iter().map(|v| *v as usize).collect();
        assert_eq!(our_grid, grid, "{name}: grid");
        encoder
    }
}

/// Our features for `pixels` [batch, 3, res, res] at `layer`: (values, shape).
pub fn forward(encoder: &Encoder, pixels: &Array, layer: Option<i64>, device: &Device) -> (Vec<f32>, Vec<usize>) {
    let shape: [usize; 4] = pixels.shape.clone().try_into().unwrap();
    let input = Tensor::<4>::from_data(TensorData::new(pixels.values.clone(), shape), device);
    let out = encoder.forward(input, layer).expect("forward");
    let dims = out.tokens.dims().to_vec();
    (out.tokens.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), dims)
}
