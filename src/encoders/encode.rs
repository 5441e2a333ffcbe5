//! Image files → patch tokens, and the features file `cambrian encode` writes:
//! safetensors with `features` [N, T, C] f32 and `grid` [2] i64 (rows, cols), the image
//! paths, encoder and layer in its metadata. Written to a temporary file, then renamed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

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
    let bytes = safetensors::serialize(tensors, Some(metadata.clone().into_iter().collect()))
        .map_err(|err| EncoderError::Config(err.to_string()))?;
    crate::atomic::write(path, &with_sorted_metadata(bytes, metadata)?).map_err(io)
}

/// A safetensors header: the metadata, then each tensor's entry.
#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(rename = "__metadata__")]
    metadata: BTreeMap<String, String>,
    #[serde(flatten)]
    tensors: BTreeMap<String, serde_json::Value>,
}

/// `safetensors::serialize` writes the metadata in the order of its HashMap, which changes
/// from run to run; this rewrites the header with the keys sorted (offsets are untouched, so
/// the data is as serialized), padded with spaces to 8 bytes as the format asks.
fn with_sorted_metadata(bytes: Vec<u8>, metadata: BTreeMap<String, String>) -> Result<Vec<u8>, EncoderError> {
    let invalid = |err: serde_json::Error| EncoderError::Config(format!("features header: {err}"));
    let length = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: Header = serde_json::from_slice(&bytes[8..8 + length]).map_err(invalid)?;
    let mut text = serde_json::to_vec(&Header { metadata, tensors: header.tensors }).map_err(invalid)?;
    text.resize(text.len().next_multiple_of(8), b' ');
    Ok([&(text.len() as u64).to_le_bytes()[..], &text, &bytes[8 + length..]].concat())
}
