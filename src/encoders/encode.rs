//! Image files → patch tokens, and the features file `cambrian encode` writes:
//! safetensors with `features` [N, T, C] f32 and `grid` [2] i64 (rows, cols), the image
//! paths, encoder and layer in its metadata. A native-resolution encoder writes `grid`
//! [N, 2], one row per image, and each image's rows × cols tokens first in `features`, the
//! rest of its T (the largest image's) zero. Written to a temporary file, then renamed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::image_file::load_image;
use super::preprocess::{Pixels, Preprocess};
use super::{Encoder, EncoderError};
use crate::progress::Progress;

pub struct EncodedImages {
    /// Row-major [images, tokens, hidden].
    pub features: Vec<f32>,
    pub shape: [usize; 3],
    /// [rows, cols] of each image.
    pub grids: Vec<[usize; 2]>,
    /// Each image at its own grid: `grid` is written per image.
    pub native: bool,
}

/// Decodes and preprocesses every image first, so that a bad file fails before any compute.
pub fn preprocess_files(preprocess: &Preprocess, images: &[PathBuf]) -> Result<Vec<Pixels>, EncoderError> {
    images.iter().map(|path| Ok(preprocess.pixels(&load_image(path)?))).collect()
}

/// Runs the encoder over preprocessed images in batches: [3, res, res] each, or each at its
/// own size for a native-resolution encoder.
pub fn encode_pixels(
    encoder: &Encoder,
    pixels: &[Pixels],
    layer: Option<i64>,
    batch_size: usize,
    device: &Device,
    progress: &dyn Progress,
) -> Result<EncodedImages, EncoderError> {
    let native = encoder.spec.is_native();
    let mut images: Vec<(Vec<f32>, [usize; 2])> = Vec::new();
    let mut hidden = encoder.spec.hidden_size();
    progress.start(pixels.len() as u64, "images");
    for batch in pixels.chunks(batch_size.max(1)) {
        let outputs = match native {
            true => encoder.encode_native(batch, layer, batch.len(), device)?,
            false => {
                let side = encoder.spec.resolution();
                let values: Vec<f32> = batch.iter().flat_map(|p| p.values.iter().copied()).collect();
                let data = TensorData::new(values, [batch.len(), 3, side, side]);
                vec![encoder.forward(Tensor::<4>::from_data(data, device), layer)?]
            }
        };
        for out in outputs {
            let [_, tokens, width] = out.tokens.dims();
            hidden = width;
            let values = out
                .tokens
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|err| EncoderError::Config(format!("reading features back from the device: {err:?}")))?;
            images.extend(values.chunks_exact(tokens * width).map(|image| (image.to_vec(), out.grid)));
        }
        progress.advance(batch.len() as u64);
    }
    progress.finish();
    Ok(padded(images, hidden, native))
}

/// Each image's [tokens_i × hidden] values → one [images, max tokens, hidden] block, each
/// image's tokens first and zeros after them.
fn padded(images: Vec<(Vec<f32>, [usize; 2])>, hidden: usize, native: bool) -> EncodedImages {
    let tokens = images.iter().map(|(_, [rows, cols])| rows * cols).max().unwrap_or(0);
    let mut features = vec![0.0; images.len() * tokens * hidden];
    for (slot, (values, _)) in features.chunks_exact_mut((tokens * hidden).max(1)).zip(&images) {
        slot[..values.len()].copy_from_slice(values);
    }
    let grids = images.into_iter().map(|(_, grid)| grid).collect::<Vec<_>>();
    EncodedImages { features, shape: [grids.len(), tokens, hidden], grids, native }
}

/// Writes the features file atomically (temporary file in the same folder, then rename); the
/// same features and metadata give the same bytes.
pub fn write_features(path: &Path, encoded: &EncodedImages, metadata: BTreeMap<String, String>) -> Result<(), EncoderError> {
    let io = |source| EncoderError::Io { path: path.to_path_buf(), source };
    let features: Vec<u8> = encoded.features.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (grid, grid_shape) = match encoded.native {
        true => (encoded.grids.concat(), vec![encoded.grids.len(), 2]),
        false => (encoded.grids.first().copied().unwrap_or_default().to_vec(), vec![2]),
    };
    let grid: Vec<u8> = grid.iter().flat_map(|v| (*v as i64).to_le_bytes()).collect();
    let view = |dtype, shape: Vec<usize>, bytes| {
        TensorView::new(dtype, shape, bytes).map_err(|err| EncoderError::Config(format!("features tensor: {err}")))
    };
    let tensors =
        vec![("features", view(Dtype::F32, encoded.shape.to_vec(), &features)?), ("grid", view(Dtype::I64, grid_shape, &grid)?)];
    let bytes = crate::weights::sorted::serialize(tensors, metadata).map_err(EncoderError::Config)?;
    crate::atomic::write(path, &bytes).map_err(io)
}
