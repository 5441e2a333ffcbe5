//! Writes a benchmark folder in the released layout: `test_2d.jsonl`, `test_3d.jsonl` and
//! `img/<type>/<task>/<source>_<idx>.png`, the image copies carrying the box prompts.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::RgbImage;

use super::schema::{Question, Record};
use crate::data::DataError;
use crate::data::draw::{BOX_COLOURS, draw_box, thickness};

pub struct Writer {
    root: PathBuf,
    lines_2d: Vec<u8>,
    lines_3d: Vec<u8>,
    next_idx: u64,
}

impl Writer {
    pub fn new(root: &Path) -> Self {
        Self { root: root.to_path_buf(), lines_2d: Vec::new(), lines_3d: Vec::new(), next_idx: 0 }
    }

    /// Draws the question's boxes on a copy of `image`, saves it and records the line.
    pub fn add(
        &mut self,
        question: &Question,
        image: &RgbImage,
        source: &str,
        source_dataset: &str,
        source_filename: &str,
    ) -> Result<Record, DataError> {
        let idx = self.next_idx;
        self.next_idx += 1;
        let filename = format!("img/{}/{}_{idx}.png", question.task.folder(), source.to_lowercase());
        let copy = boxed(question, image);
        let path = self.root.join(&filename);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(DataError::io(dir))?;
        }
        copy.save(&path).map_err(|source| DataError::Image { path: path.clone(), source })?;
        let record = question.record(idx, &filename, source, source_dataset, source_filename);
        let lines = if question.task.kind() == "2D" { &mut self.lines_2d } else { &mut self.lines_3d };
        serde_json::to_writer(&mut *lines, &record).map_err(|source| DataError::Json { path: path.clone(), source })?;
        lines.push(b'\n');
        Ok(record)
    }

    pub fn is_empty(&self) -> bool {
        self.next_idx == 0
    }

    /// Writes the JSONL files (a type with no items gets no file).
    pub fn finish(self) -> Result<(), DataError> {
        for (name, lines) in [("test_2d.jsonl", &self.lines_2d), ("test_3d.jsonl", &self.lines_3d)] {
            if lines.is_empty() {
                continue;
            }
            let path = self.root.join(name);
            let mut file = std::fs::File::create(&path).map_err(DataError::io(&path))?;
            file.write_all(lines).map_err(DataError::io(&path))?;
        }
        Ok(())
    }
}

/// A copy of `image` with the question's boxes drawn, red, blue, green in order.
pub fn boxed(question: &Question, image: &RgbImage) -> RgbImage {
    let mut copy = image.clone();
    let t = thickness(&copy);
    for (bbox, (_, colour)) in question.boxes.iter().zip(BOX_COLOURS) {
        draw_box(&mut copy, *bbox, colour, t);
    }
    copy
}
