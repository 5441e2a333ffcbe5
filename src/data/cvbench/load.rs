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
//! `image` is relative to the JSONL's folder (and may lead out of it, to images kept beside);
//! `answer` is a letter, bare or in parentheses;
//! `task`, `source` and `group` (the pair of MMVP's pair accuracy) may be left out.
//!
//! A benchmark is read whole or refused: a line that is not a valid item (not UTF-8, not
//! JSON, more than 26 choices, a CV-Bench `filename` leading out of its folder) is an error
//! naming it, since scores over a silently shortened benchmark would not compare with anyone's.

use std::path::Path;

use serde::Deserialize;

use super::schema::Record;
use crate::data::benchmark::{Benchmark, Category, Item, Scoring, check_choices, lettered, parse_letter};
use crate::data::{DataError, jsonl_lines, stays_inside};

/// A benchmark as `eval` and sweeps name it: a CV-Bench folder (vision-centric), or a
/// multiple-choice JSONL of the given category, scored by accuracy.
pub fn benchmark(path: &Path, name: &str, category: Option<Category>) -> Result<Benchmark, DataError> {
    match (std::fs::metadata(path).map_err(DataError::io(path))?.is_dir(), category) {
        (true, _) => cvbench(path, name),
        (false, Some(category)) => jsonl(path, name, category, Scoring::Accuracy),
        (false, None) => Err(DataError::invalid(
            path,
            "a multiple-choice JSONL needs a category (`eval --category`, or `category` in a sweep's [[benchmarks]])",
        )),
    }
}

/// Reads a CV-Bench folder; its items score by CV-Bench's formula, category Vision-Centric.
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
    if !stays_inside(&record.filename) {
        return Err(format!("filename {:?} leaves the benchmark folder", record.filename));
    }
    check_choices(record.choices.len())?;
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
        let invalid = |message: String| DataError::invalid(path, format!("line {line}: {message}"));
        check_choices(g.choices.len()).map_err(invalid)?;
        let answer = parse_letter(&g.answer).ok_or_else(|| invalid(format!("answer {:?} is not a letter", g.answer)))?;
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

/// Non-empty lines of a JSONL file, numbered from 1 (a UTF-8 byte-order mark is allowed).
fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<(usize, T)>, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    let mut out = Vec::new();
    for (line, text) in jsonl_lines(&bytes) {
        let text = text.map_err(|reason| DataError::invalid(path, format!("line {line}: {reason}")))?;
        let value =
            serde_json::from_str(text).map_err(|source| DataError::JsonLine { path: path.to_path_buf(), line, source })?;
        out.push((line, value));
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
