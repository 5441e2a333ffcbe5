//! COCO-format instance annotations (COCO itself, and ADE20K converted to that format):
//! `images[{id, file_name, width, height}]`, `annotations[{id, image_id, category_id,
//! bbox [x, y, w, h], iscrowd}]`, `categories[{id, name}]`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::data::{DataError, read_json};

#[derive(Debug, Deserialize)]
pub struct CocoFile {
    #[serde(default)]
    pub info: Option<Info>,
    pub images: Vec<Image>,
    pub annotations: Vec<Annotation>,
    pub categories: Vec<Category>,
}

#[derive(Debug, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Image {
    pub id: u64,
    pub file_name: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Annotation {
    pub image_id: u64,
    pub category_id: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    #[serde(default)]
    pub iscrowd: u8,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Category {
    pub id: u64,
    pub name: String,
}

impl Annotation {
    /// `[x0, y0, x1, y1]`.
    pub fn xyxy(&self) -> [f64; 4] {
        let [x, y, w, h] = self.bbox;
        [x, y, x + w, y + h]
    }
}

impl CocoFile {
    pub fn open(path: &Path) -> Result<Self, DataError> {
        read_json(path)
    }

    /// A description for `source_dataset`: the file's own, else its name.
    pub fn describe(&self, path: &Path) -> String {
        self.info
            .as_ref()
            .and_then(|i| i.description.clone().or_else(|| i.name.clone()))
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
