//! Image files → patch tokens, and the features file `cambrian encode` writes:
//! safetensors with `features` [N, T, C] f32 and `grid` [2] i64 (rows, cols), the image
//! paths, encoder and layer in its metadata. Written to a temporary file, then renamed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::image_file::load_image;
use super::preprocess::Preprocess;
use super::{Encoder, EncoderError};
use crate::progress::Progress;

pub struct EncodedImages {
    /// Row-major [images, tokens, hidden].
    pub features: Vec<f32>,
    pub shape: [usize; 3],
    pub grid: [usize; 2],
}

/// Decodes and preprocesses every image first, so that a bad file fails before any compute.
pub fn preprocess_files(preprocess: &Preprocess, images: &[PathBuf]) -> Result<Vec<Vec<f32>>, EncoderError> {
    images.iter().map(|path| Ok(preprocess.apply(&load_image(path)?))).collect()
}

/// Runs the encoder over preprocessed images ([3, res, res] each) in batches.
pub fn encode_pixels(
    encoder: &Encoder,
    pixels: &[Vec<f32>],
    layer: Option<i64>,
    batch_size: usize,
    device: &Device,
    progress: &dyn Progress,
) -> Result<EncodedImages, EncoderError> {
    let side = encoder.spec.resolution();
    let mut features = Vec::new();
    let mut shape = [0, 0, 0];
    let mut grid = [0, 0];
    progress.start(pixels.len() as u64, "images");
    for batch in pixels.chunks(batch_size.max(1)) {
        let data = TensorData::new(batch.concat(), [batch.len(), 3, side, side]);
        let out = encoder.forward(Tensor::<4>::from_data(data, device), layer)?;
        let [n, tokens, hidden] = out.tokens.dims();
        let values = out
            .tokens
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|err| EncoderError::Config(format!("reading features back from the device: {err:?}")))?;
        features.extend(values);
        shape = [shape[0] + n, tokens, hidden];
        grid = out.grid;
        progress.advance(n as u64);
    }
    progress.finish();
    Ok(EncodedImages { features, shape, grid })
}

/// Writes the features file atomically (temporary file in the same folder, then rename); the
/// same features and metadata give the same bytes.
pub fn write_features(path: &Path, encoded: &EncodedImages, metadata: BTreeMap<String, String>) -> Result<(), EncoderError> {
    let io = |source| EncoderError::Io { path: path.to_path_buf(), source };
    let features: Vec<u8> = encoded.features.iter().flat_map(|v| v.to_le_bytes()).collect();
    let grid: Vec<u8> = encoded.grid.iter().flat_map(|v| (*v as i64).to_le_bytes()).collect();
    let view = |dtype, shape: Vec<usize>, bytes| {
        TensorView::new(dtype, shape, bytes).map_err(|err| EncoderError::Config(format!("features tensor: {err}")))
    };
    let tensors =
        vec![("features", view(Dtype::F32, encoded.shape.to_vec(), &features)?), ("grid", view(Dtype::I64, vec![2], &grid)?)];
    let bytes = crate::weights::sorted::serialize(tensors, metadata).map_err(EncoderError::Config)?;
    crate::atomic::write(path, &bytes).map_err(io)
}
