//! The pre-training set: `cambrian synth`'s training scenes with the renderer's ground truth
//! (`train/truth.jsonl` and the maps it names, see `data::synth::truth`), each as the encoder
//! sees it: the image through the spec's preprocessing, and the dense maps sampled (nearest
//! pixel) at the centres of the pixels the patch embedding covers, through the same pad,
//! resize and crop, in patch order (see [`patchify`]).

use std::collections::BTreeSet;
use std::path::Path;

use image::{DynamicImage, ImageBuffer, Luma};

use super::PretrainError;
use crate::data::synth::scene::{COLOURS, Shape};
use crate::data::synth::truth::{DEPTH_MM_PER_M, ObjectRecord, TruthRecord};
use crate::data::{jsonl_lines, open_rgb, stays_inside};
use crate::encoders::EncoderSpec;

/// Multi-label classes: the three shapes, then the seven colours.
pub const LABELS: usize = Shape::ALL.len() + COLOURS.len();
/// Per-pixel classes: the sky, the ground, then each (shape, colour) pair, the way the
/// benchmark names objects ("the small pink sphere"): see [`pixel_class`].
pub const PIXEL_CLASSES: usize = 2 + Shape::ALL.len() * COLOURS.len();

/// The semantic class of a pixel: 0 the sky (depth 0), 1 the ground, 2 + shape × colours +
/// colour an object's.
pub fn pixel_class(depth_mm: u16, object: Option<&ObjectRecord>) -> u8 {
    match (depth_mm, object) {
        (_, Some(object)) => (2 + object.shape_index * COLOURS.len() + object.colour_index) as u8,
        (0, None) => 0,
        (_, None) => 1,
    }
}

/// One scene, in the encoder's frame. Dense values are in patch order: token by token
/// (row-major over the grid), each token's pixels row-major.
pub struct Item {
    /// The preprocessed image, [3, res, res].
    pub pixels: Vec<f32>,
    /// Inverse depth, 1/m (0 for the sky), [tokens × patch²].
    pub disparity: Vec<f32>,
    /// [`pixel_class`], [tokens × patch²].
    pub classes: Vec<u8>,
    /// 1 for each shape and colour present, [LABELS].
    pub labels: [f32; LABELS],
    /// The caption's words as vocabulary ids.
    pub words: Vec<usize>,
}

pub struct PretrainSet {
    pub items: Vec<Item>,
    /// Every caption word, sorted.
    pub vocabulary: Vec<String>,
}

/// A caption's words: lower-case runs of letters and digits.
pub fn words(caption: &str) -> Vec<String> {
    caption.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The geometry of the patch embedding's input: resolution, patch side, token grid.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub resolution: usize,
    pub patch: usize,
    pub grid: [usize; 2],
}

impl Frame {
    pub fn tokens(&self) -> usize {
        self.grid[0] * self.grid[1]
    }

    /// Values per token of a dense map with `channels` channels.
    pub fn per_token(&self, channels: usize) -> usize {
        self.patch * self.patch * channels
    }
}

/// Pixel (x, y) of the input frame for position `i` of a patch-ordered map.
fn pixel_of(frame: &Frame, i: usize) -> (usize, usize) {
    let p = frame.patch;
    let (token, inner) = (i / (p * p), i % (p * p));
    let (row, col) = (token / frame.grid[1], token % frame.grid[1]);
    (col * p + inner % p, row * p + inner / p)
}

/// A channels-first [channels, res, res] image in patch order, [tokens, patch², channels]
/// flattened (MAE's `patchify`).
pub fn patchify(frame: &Frame, chw: &[f32], channels: usize) -> Vec<f32> {
    let res = frame.resolution;
    let mut out = Vec::with_capacity(frame.tokens() * frame.per_token(channels));
    for i in 0..frame.tokens() * frame.patch * frame.patch {
        let (x, y) = pixel_of(frame, i);
        out.extend((0..channels).map(|c| chw[c * res * res + y * res + x]));
    }
    out
}

/// Reads every scene of `dir/train/truth.jsonl` as `spec` sees it.
pub fn load(dir: &Path, spec: &EncoderSpec, frame: &Frame) -> Result<PretrainSet, PretrainError> {
    let path = dir.join("train/truth.jsonl");
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => PretrainError::NoTruth { path: path.clone() },
        _ => PretrainError::Io { path: path.clone(), source },
    })?;
    let bad_line = |line: usize, message: String| PretrainError::Data(format!("{}, line {line}: {message}", path.display()));
    let mut records = Vec::new();
    for (line, text) in jsonl_lines(&bytes) {
        let record: TruthRecord =
            serde_json::from_str(text.map_err(|err| bad_line(line, err))?).map_err(|err| bad_line(line, err.to_string()))?;
        if let Some(file) = [&record.image, &record.depth, &record.instances].into_iter().find(|f| !stays_inside(f)) {
            return Err(bad_line(line, format!("`{file}` is not a path inside the folder")));
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(PretrainError::Data(format!("{}: no scenes", path.display())));
    }
    let vocabulary: Vec<String> = records.iter().flat_map(|r| words(&r.caption)).collect::<BTreeSet<_>>().into_iter().collect();
    let items = records.iter().map(|record| item(dir, record, spec, frame, &vocabulary)).collect::<Result<_, _>>()?;
    Ok(PretrainSet { items, vocabulary })
}

fn item(
    dir: &Path,
    record: &TruthRecord,
    spec: &EncoderSpec,
    frame: &Frame,
    vocabulary: &[String],
) -> Result<Item, PretrainError> {
    let image = open_rgb(&dir.join(&record.image))?;
    let side = image.width() as usize;
    let depth = read_map(&dir.join(&record.depth), side, "16-bit greyscale", |d| match d {
        DynamicImage::ImageLuma16(map) => Some(map),
        _ => None,
    })?;
    let instances = read_map(&dir.join(&record.instances), side, "8-bit greyscale", |d| match d {
        DynamicImage::ImageLuma8(map) => Some(map),
        _ => None,
    })?;
    let positions = frame.tokens() * frame.patch * frame.patch;
    // The source pixel under each input pixel's centre.
    let source: Vec<usize> = (0..positions)
        .map(|i| {
            let (x, y) = pixel_of(frame, i);
            let (sx, sy) = spec.preprocess.source_position(side, side, (x as f64 + 0.5, y as f64 + 0.5));
            let clamp = |v: f64| (v.floor().max(0.0) as usize).min(side - 1);
            clamp(sy) * side + clamp(sx)
        })
        .collect();
    let disparity = source
        .iter()
        .map(|&s| match depth[s] {
            0 => 0.0,
            mm => (DEPTH_MM_PER_M / mm as f64) as f32,
        })
        .collect();
    let mut labels = [0.0; LABELS];
    for object in &record.objects {
        if object.shape_index >= Shape::ALL.len() || object.colour_index >= COLOURS.len() {
            return Err(PretrainError::Data(format!("{}: object {} has an unknown shape or colour", record.id, object.instance)));
        }
        labels[object.shape_index] = 1.0;
        labels[Shape::ALL.len() + object.colour_index] = 1.0;
    }
    let classes = source
        .iter()
        .map(|&s| match instances[s] {
            0 => Ok(pixel_class(depth[s], None)),
            i => match record.objects.iter().find(|o| o.instance == i) {
                Some(object) => Ok(pixel_class(depth[s], Some(object))),
                None => Err(PretrainError::Data(format!("{}: instance {i} in its mask is not in its object list", record.id))),
            },
        })
        .collect::<Result<_, _>>()?;
    let words = words(&record.caption).iter().map(|w| vocabulary.binary_search(w).expect("built from these captions")).collect();
    Ok(Item { pixels: spec.preprocess.apply(&image), disparity, classes, labels, words })
}

/// A `side × side` PNG of the pixel type the ground truth writes (8-bit or 16-bit greyscale).
fn read_map<P: image::Primitive>(
    path: &Path,
    side: usize,
    want: &str,
    take: impl FnOnce(DynamicImage) -> Option<ImageBuffer<Luma<P>, Vec<P>>>,
) -> Result<Vec<P>, PretrainError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => PretrainError::NoTruth { path: path.to_path_buf() },
        _ => PretrainError::Io { path: path.to_path_buf(), source },
    })?;
    let bad = |message: String| PretrainError::Data(format!("{}: {message}", path.display()));
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).map_err(|err| bad(err.to_string()))?;
    let colour = decoded.color();
    let map = take(decoded).ok_or_else(|| bad(format!("a {colour:?} image, not {want}")))?;
    if (map.width() as usize, map.height() as usize) != (side, side) {
        return Err(bad(format!("{}×{} pixels, but its image has {side}×{side}", map.width(), map.height())));
    }
    Ok(map.into_raw())
}
