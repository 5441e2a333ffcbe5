//! The open tasks on disk: the test split of each as a hub dataset repository,
//! `open/<task>/{benchmark.toml, data/test-00000-of-00001.parquet}`, and its training split as
//! images `train/open/<task>/NNNNNN.png` with one LLaVA conversation per question, asked with
//! the prompt the benchmark's spec builds and answered with the canonical answer.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use image::{ImageFormat, RgbImage};

use super::benchmark::{FILE, Imitation};
use super::item;
use super::table::TableWriter;
use crate::data::DataError;
use crate::data::llava::IMAGE_PLACEHOLDER;
use crate::data::synth::text::{Conversation, exchange};
use crate::data::synth::{Config, Split};
use crate::progress::Progress;

/// Writes `open/<task>/` under `root`; returns the number of questions (rows).
pub fn benchmark(imitation: &Imitation, config: &Config, root: &Path, progress: &dyn Progress) -> Result<u64, DataError> {
    let dir = root.join("open").join(imitation.task.name());
    let path = dir.join(FILE);
    if let Some(data) = path.parent() {
        std::fs::create_dir_all(data).map_err(DataError::io(data))?;
    }
    let mut table = TableWriter::create(&path, imitation.columns())?;
    let mut rows: i32 = 0;
    for i in 0..config.open_samples {
        let item = item(imitation.task, config.seed, Split::Test, i, config.size);
        let png = encode_png(&item.image, &path)?;
        for question in &item.questions {
            table.push(imitation.row(rows, i, question, &png))?;
            rows += 1;
        }
        progress.advance(1);
    }
    table.finish()?;
    let spec = dir.join("benchmark.toml");
    let text = imitation.spec_toml().map_err(|err| DataError::invalid(&spec, err.to_string()))?;
    crate::atomic::write(&spec, text.as_bytes()).map_err(DataError::io(&spec))?;
    Ok(rows as u64)
}

/// Writes the training images of the task under `root`; returns their conversations.
pub fn training(
    imitation: &Imitation,
    config: &Config,
    root: &Path,
    progress: &dyn Progress,
) -> Result<Vec<Conversation>, DataError> {
    let name = imitation.task.name();
    let dir = root.join("train/open").join(name);
    std::fs::create_dir_all(&dir).map_err(DataError::io(&dir))?;
    let mut conversations = Vec::new();
    for i in 0..config.open_train_samples {
        let item = item(imitation.task, config.seed, Split::Train, i, config.size);
        let image = format!("train/open/{name}/{i:06}.png");
        let path = root.join(&image);
        item.image.save(&path).map_err(|source| DataError::Image { path, source })?;
        for (k, question) in item.questions.iter().enumerate() {
            let request = format!("{IMAGE_PLACEHOLDER}\n{}", imitation.prompt(question));
            conversations.push(exchange(&format!("synth-{name}-{i:06}-{k}"), &image, &request, question.canonical()));
        }
        progress.advance(1);
    }
    Ok(conversations)
}

/// The PNG file of `image`, for the table at `path`.
fn encode_png(image: &RgbImage, path: &Path) -> Result<Arc<[u8]>, DataError> {
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|source| DataError::Image { path: path.to_path_buf(), source })?;
    Ok(png.into())
}
