//! Vision encoders behind one interface: a spec (architecture, preprocessing, family,
//! weights), a model built from it, and `forward(pixels) → patch-token grid`.

pub mod aimv2;
pub mod beit;
pub mod convnext;
pub mod diffusion;
pub mod encode;
pub mod eva;
pub mod hf_config;
pub mod image_file;
pub mod naflex;
pub mod preprocess;
pub mod radio;
pub mod registry;
pub mod resample;
pub mod sam;
pub mod spec;
pub mod vit;
pub mod vit_keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::nn::resample::{GridResample, resize_grids};
use crate::weights::WeightsError;
use beit::Beit;
use diffusion::StableDiffusion;
use image_file::ImageFileError;
use preprocess::Pixels;
use sam::SamEncoder;
pub use spec::{Architecture, ArchitectureSpec, EncoderSpec, Family, Selection};
use vit::VisionTransformer;

#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("unknown encoder `{name}`{}; `cambrian encoders` lists the presets", did_you_mean(.closest))]
    Unknown { name: String, closest: Option<String> },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid encoder spec {origin}: {message}")]
    Spec { origin: String, message: String },
    #[error("invalid model configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Image(#[from] ImageFileError),
    #[error("layer {layer} does not exist: the encoder has {depth} blocks (layers 0..={depth}, or -1..=-{})", .depth + 1)]
    Layer { layer: i64, depth: usize },
    #[error("encoder `{encoder}` produced non-finite features (NaN or infinity): check its checkpoint and spec")]
    NonFinite { encoder: String },
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

impl EncoderError {
    /// The message of a configuration error without its `invalid model configuration` prefix,
    /// for wrapping into an error that names the file.
    pub fn config_message(self) -> String {
        match self {
            EncoderError::Config(message) => message,
            other => other.to_string(),
        }
    }
}

fn did_you_mean(closest: &Option<String>) -> String {
    closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default()
}

/// Where an encoder's parameters come from.
pub enum WeightsSource<'a> {
    /// A checkpoint file or folder.
    Path(&'a Path),
    /// Random initialisation, seeded.
    Random { seed: u64 },
}

/// The architectures, as one module type so that callers can train, freeze or save any.
// Built once per run, and burn implements Module for no Box: the size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum EncoderModel {
    Vit(VisionTransformer),
    Beit(Beit),
    Eva(eva::Eva),
    ConvNext(convnext::ConvNext),
    Diffusion(StableDiffusion),
    Sam(SamEncoder),
    Aimv2(aimv2::Aimv2),
    Radio(radio::Radio),
    Naflex(naflex::Naflex),
}

/// A patch-token grid: `tokens` [batch, rows × cols, hidden], row-major over `grid`.
pub struct Features {
    pub tokens: Tensor<3>,
    pub grid: [usize; 2],
}

impl Features {
    /// The tokens brought to `grid` (bilinear, align_corners = false; as they are when the
    /// grids agree). → [batch, rows × cols, hidden]
    pub fn resized(self, grid: [usize; 2]) -> Tensor<3> {
        match self.grid == grid {
            true => self.tokens,
            false => resize_grids(self.tokens, (self.grid[0], self.grid[1]), (grid[0], grid[1]), GridResample::Bilinear),
        }
    }
}

pub struct Encoder {
    pub spec: EncoderSpec,
    pub model: EncoderModel,
}

impl Encoder {
    pub fn build(spec: EncoderSpec, weights: WeightsSource, device: &Device) -> Result<Self, EncoderError> {
        // A spec read from a file is validated there; one changed since (`--tokens`) or made in
        // code is checked again before anything is allocated.
        spec.validate()?;
        let architecture = spec.architecture.spec();
        let model = match weights {
            WeightsSource::Path(path) => {
                let selection = Selection { key: spec.weights_key.as_deref(), prefix: spec.weights_prefix.as_deref() };
                let model = architecture.load(path, &selection, device)?;
                if let EncoderModel::Radio(radio) = &model {
                    radio.check_conditioner(&spec.preprocess)?;
                }
                model
            }
            WeightsSource::Random { seed } => {
                device.seed(seed);
                let model = architecture.build(None, device)?;
                crate::nn::init::materialize(&model);
                model
            }
        };
        Ok(Self { spec, model })
    }

    /// Decoded images, each preprocessed by the spec, through `forward` at the feature layer.
    /// A native-resolution encoder takes each image at its own grid, then brings every grid
    /// to the spec's output grid (bilinear, align_corners = false, as `feature_tokens`), so
    /// that the batch is one tensor for the connectors and the feature cache.
    /// [images] → [images, tokens, hidden]
    pub fn encode_images(&self, images: &[&RgbImage], device: &Device) -> Result<Features, EncoderError> {
        if self.spec.is_native() {
            let target = self.spec.output_grid()?;
            let tokens = self.encode_own_grids(images, device)?.into_iter().map(|f| f.resized(target)).collect();
            return Ok(Features { tokens: Tensor::cat(tokens, 0), grid: target });
        }
        let side = self.spec.resolution();
        let pixels: Vec<f32> = images.iter().flat_map(|image| self.spec.preprocess.apply(image)).collect();
        let pixels = Tensor::<4>::from_data(TensorData::new(pixels, [images.len(), 3, side, side]), device);
        self.forward(pixels, None)
    }

    /// Decoded images, each preprocessed by the spec, at a native-resolution encoder's
    /// feature layer, each at its own grid (`EncoderSpec::own_grid`).
    /// [images] → images × [1, rows_i × cols_i, hidden]
    pub fn encode_own_grids(&self, images: &[&RgbImage], device: &Device) -> Result<Vec<Features>, EncoderError> {
        let pixels: Vec<Pixels> = images.iter().map(|image| self.spec.preprocess.pixels(image)).collect();
        self.encode_native(&pixels, None, images.len(), device)
    }

    /// Each image at its own grid, in input order: [1, rows_i × cols_i, hidden] each, at
    /// `layer` (default: the spec's feature layer). Images of one size share a forward, at
    /// most `batch_size` at a time.
    pub fn encode_native(
        &self,
        pixels: &[Pixels],
        layer: Option<i64>,
        batch_size: usize,
        device: &Device,
    ) -> Result<Vec<Features>, EncoderError> {
        let mut by_size: BTreeMap<[usize; 2], Vec<usize>> = BTreeMap::new();
        for (index, image) in pixels.iter().enumerate() {
            let [height, width] = image.size;
            let patch = self.spec.preprocess.patch_size.unwrap_or(1).max(1);
            let patches = (height / patch) * (width / patch);
            if patches == 0 || patches > spec::limits::PATCHES {
                return Err(EncoderError::Config(format!(
                    "{}: an input of {width} × {height} px gives {patches} patches of {patch} px (1 to {} are taken)",
                    self.spec.name,
                    spec::limits::PATCHES
                )));
            }
            by_size.entry(image.size).or_default().push(index);
        }
        let mut out: Vec<Option<Features>> = (0..pixels.len()).map(|_| None).collect();
        for ([height, width], indices) in by_size {
            for batch in indices.chunks(batch_size.max(1)) {
                let values: Vec<f32> = batch.iter().flat_map(|&i| pixels[i].values.iter().copied()).collect();
                let input = Tensor::<4>::from_data(TensorData::new(values, [batch.len(), 3, height, width]), device);
                let (tokens, grid) = self.forward_tokens(input, layer)?;
                let [_, count, hidden] = tokens.dims();
                for (row, &index) in batch.iter().enumerate() {
                    out[index] = Some(Features { tokens: tokens.clone().slice([row..row + 1, 0..count, 0..hidden]), grid });
                }
            }
        }
        Ok(out.into_iter().map(|f| f.expect("every image is in one size group")).collect())
    }

    /// The tokens of `layer` (default: the spec's feature layer) for a batch of
    /// preprocessed images, resized to `feature_tokens` if the spec asks.
    /// [batch, 3, res, res] → [batch, tokens, hidden]
    pub fn forward(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<Features, EncoderError> {
        let (tokens, grid) = self.forward_tokens(pixels, layer)?;
        let features = Features { tokens, grid };
        if self.spec.feature_tokens.is_none() {
            return Ok(features);
        }
        let target = self.spec.output_grid()?;
        Ok(Features { tokens: features.resized(target), grid: target })
    }

    /// The architecture's tokens at `layer` and their grid, checked finite.
    /// [batch, 3, height, width] → ([batch, rows × cols, hidden], [rows, cols])
    fn forward_tokens(&self, pixels: Tensor<4>, layer: Option<i64>) -> Result<(Tensor<3>, [usize; 2]), EncoderError> {
        let layer = layer.or(self.spec.feature_layer);
        let (tokens, grid) = match &self.model {
            EncoderModel::Vit(vit) => vit.forward(pixels, layer)?,
            EncoderModel::Beit(beit) => beit.forward(pixels, layer)?,
            EncoderModel::Eva(eva) => eva.forward(pixels, layer)?,
            EncoderModel::ConvNext(convnext) => convnext.forward(pixels, layer)?,
            EncoderModel::Diffusion(sd) => sd.forward(pixels, layer)?,
            EncoderModel::Sam(sam) => sam.forward(pixels, layer)?,
            EncoderModel::Aimv2(aimv2) => aimv2.forward(pixels, layer)?,
            EncoderModel::Radio(radio) => radio.forward(pixels, layer)?,
            EncoderModel::Naflex(naflex) => naflex.forward(pixels, layer)?,
        };
        // One reduction per batch: a NaN checkpoint tensor or eps must not pass as features.
        if !tokens.clone().is_finite().all().into_scalar::<bool>() {
            return Err(EncoderError::NonFinite { encoder: self.spec.name.clone() });
        }
        Ok((tokens, grid))
    }
}
