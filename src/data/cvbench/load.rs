//! Loading benchmarks: CV-Bench as released on the hub (`test_2d.jsonl`, `test_3d.jsonl`, or
//! the older single `test.jsonl`, beside the `img/` folder its `filename` fields point into),
//! which is also the layout `cvbench build` and `synth` write; and a generic multiple-choice
//! JSONL for any other benchmark (MMVP, RealWorldQA, …), one item a line:
//!
//! ```json
//! {"id": "1", "image": "images/1.jpg", "question": "…", "choices": ["a", "b"], "answer": "A",
//!  "task": "orientation", "source": "MMVP", "group": "1"}
//! ```
//!
//! `image` is relative to the JSONL's folder; `answer` is a letter, bare or in parentheses;
//! `task`, `source` and `group` (the pair of MMVP's pair accuracy) may be left out.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;

use super::schema::Record;
use crate::data::DataError;
use crate::data::benchmark::{Benchmark, Category, Item, Scoring, lettered, parse_letter};

/// Reads a CV-Bench folder; its items score by CV-Bench's formula, category Vision-Centric.
/// A benchmark as `eval` and sweeps name it: a CV-Bench folder (vision-centric), or a
/// multiple-choice JSONL of the given category, scored by accuracy.
pub fn benchmark(path: &Path, name: &str, category: Option<Category>) -> Result<Benchmark, DataError> {
    match (path.is_dir(), category) {
        (true, _) => cvbench(path, name),
        (false, Some(category)) => jsonl(path, name, category, Scoring::Accuracy),
        (false, None) => Err(DataError::invalid(path, "a multiple-choice JSONL needs a category")),
    }
}

pub fn cvbench(dir: &Path, name: &str) -> Result<Benchmark, DataError> {
    let files: Vec<_> = ["test_2d.jsonl", "test_3d.jsonl"].iter().map(|f| dir.join(f)).filter(|p| p.is_file()).collect();
    let files = if files.is_empty() { vec![dir.join("test.jsonl")] } else { files };
    if !files[0].is_file() {
        return Err(DataError::invalid(dir, "no test_2d.jsonl, test_3d.jsonl or test.jsonl: not a CV-Bench folder"));
    }
    let mut items = Vec::new();
    for path in &files {
        for (line, record) in read_lines::<Record>(path)? {
            items.push(cvbench_item(record, dir).map_err(|m| DataError::invalid(path, format!("line {line}: {m}")))?);
        }
    }
    check_images(&items, dir)?;
    Benchmark::new(name, Category::VisionCentric, Scoring::CvBench, items)
}

fn cvbench_item(record: Record, dir: &Path) -> Result<Item, String> {
    let answer = parse_letter(&record.answer).ok_or_else(|| format!("answer {:?} is not a letter", record.answer))?;
    Ok(Item {
        id: record.idx.to_string(),
        image: dir.join(&record.filename),
        question: record.question,
        choices: record.choices,
        answer,
        prompt: record.prompt,
        task: record.task,
        kind: record.kind,
        source: record.source,
        group: None,
    })
}

#[derive(Deserialize)]
struct GenericLine {
    id: serde_json::Value,
    image: String,
    question: String,
    choices: Vec<String>,
    answer: String,
    #[serde(default)]
    task: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    group: Option<serde_json::Value>,
}

/// Reads the generic multiple-choice JSONL.
pub fn jsonl(path: &Path, name: &str, category: Category, scoring: Scoring) -> Result<Benchmark, DataError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let mut items = Vec::new();
    for (line, g) in read_lines::<GenericLine>(path)? {
        let answer = parse_letter(&g.answer)
            .ok_or_else(|| DataError::invalid(path, format!("line {line}: answer {:?} is not a letter", g.answer)))?;
        items.push(Item {
            id: text(g.id),
            image: dir.join(&g.image),
            prompt: lettered(&g.question, &g.choices),
            question: g.question,
            choices: g.choices,
            answer,
            task: g.task,
            kind: String::new(),
            source: g.source,
            group: g.group.map(text),
        });
    }
    check_images(&items, dir)?;
    Benchmark::new(name, category, scoring, items)
}

/// Non-empty lines of a JSONL file, numbered from 1.
fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, DataError> {
    let file = std::fs::File::open(path).map_err(DataError::io(path))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(DataError::io(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|source| DataError::JsonLine {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// Every image must exist; the error names the first missing one and how many are.
fn check_images(items: &[Item], dir: &Path) -> Result<(), DataError> {
    let missing: Vec<&Item> = items.iter().filter(|i| !i.image.is_file()).collect();
    match missing.first() {
        None => Ok(()),
        Some(first) => Err(DataError::invalid(
            dir,
            format!("{} of {} images missing, first {} (item {})", missing.len(), items.len(), first.image.display(), first.id),
        )),
    }
}
