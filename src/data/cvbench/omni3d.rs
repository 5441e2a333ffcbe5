//! Omni3D-format 3D annotations (the COCO-like JSON of facebookresearch/omni3d): images carry
//! `K`, annotations carry `bbox2D_tight` / `bbox2D_proj` (`[x0, y0, x1, y1]`, `-1` when
//! absent), `bbox3D_cam` (the 8 corners in camera coordinates, metres), `center_cam`,
//! `valid3D` and `behind_camera`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::coco::{Category, Image, Info};
use crate::data::{DataError, read_json};

#[derive(Debug, Deserialize)]
pub struct OmniFile {
    #[serde(default)]
    pub info: Option<Info>,
    pub images: Vec<Image>,
    pub annotations: Vec<Annotation>,
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, Deserialize)]
#[allow(non_snake_case)]
pub struct Annotation {
    pub image_id: u64,
    pub category_id: u64,
    #[serde(default)]
    pub bbox2D_tight: Option<[f64; 4]>,
    #[serde(default)]
    pub bbox2D_proj: Option<[f64; 4]>,
    pub bbox3D_cam: Vec<[f64; 3]>,
    pub center_cam: [f64; 3],
    #[serde(default = "yes")]
    pub valid3D: bool,
    #[serde(default)]
    pub behind_camera: bool,
}

fn yes() -> bool {
    true
}

impl Annotation {
    /// The tight 2D box when present, else the projected 3D box.
    pub fn box2d(&self) -> Option<[f64; 4]> {
        let present = |b: &[f64; 4]| b.iter().any(|v| *v != -1.0);
        self.bbox2D_tight.filter(present).or(self.bbox2D_proj.filter(present))
    }

    /// Nearest and farthest corner distances from `point`, metres.
    pub fn corner_range(&self, point: [f64; 3]) -> (f64, f64) {
        self.bbox3D_cam.iter().map(|c| dist(*c, point)).fold((f64::INFINITY, 0.0), |(lo, hi), d| (lo.min(d), hi.max(d)))
    }
}

pub fn dist(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

impl OmniFile {
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file: OmniFile = read_json(path)?;
        if let Some(ann) = file.annotations.iter().find(|a| a.bbox3D_cam.len() != 8) {
            return Err(DataError::invalid(
                path,
                format!("an annotation of image {} has {} bbox3D_cam corners, not 8", ann.image_id, ann.bbox3D_cam.len()),
            ));
        }
        Ok(file)
    }

    pub fn describe(&self, path: &Path) -> String {
        self.info
            .as_ref()
            .and_then(|i| i.name.clone().or_else(|| i.description.clone()))
            .unwrap_or_else(|| path.file_stem().unwrap_or_default().to_string_lossy().into_owned())
    }

    pub fn by_image(&self) -> BTreeMap<u64, Vec<&Annotation>> {
        let mut map: BTreeMap<u64, Vec<&Annotation>> = BTreeMap::new();
        for ann in &self.annotations {
            map.entry(ann.image_id).or_default().push(ann);
        }
        map
    }
}
