//! MMVP as Cambrian reads it (`eval/eval/mmvp/mmvp_eval.py`), not through `datasets`: the
//! repository `MMVP/MMVP`'s `Questions.csv` read with Python's `csv.reader` (quoted fields; the
//! columns by position: Index, Question, Options, Correct Answer; a header row, spelled `Index`
//! or `lndex`, skipped wherever it appears), and `MMVP Images/{Index}.jpg` for each question.

use std::path::Path;
use std::sync::Arc;

use super::{DatasetRepo, HubError, ImageRef, Row, Value};

const QUESTIONS: &str = "Questions.csv";
const IMAGES: &str = "MMVP Images/*.jpg";
const COLUMNS: [&str; 5] = ["Index", "Question", "Options", "Correct Answer", "image"];

/// The questions in file order, with the columns `Index` (an integer), `Question`, `Options`,
/// `Correct Answer` (strings) and `image` (the path of `MMVP Images/{Index}.jpg` in the
/// repository, which is checked to be there: downloaded when missing and allowed).
pub fn mmvp_rows(repo: &DatasetRepo) -> Result<Vec<Row>, HubError> {
    let questions = repo.file(QUESTIONS)?;
    repo.glob(IMAGES)?;
    let rows = read_questions(&questions)?;
    for row in &rows {
        repo.file(&image_path(row.int("Index")?))?;
    }
    Ok(rows)
}

fn read_questions(path: &Path) -> Result<Vec<Row>, HubError> {
    let text = std::fs::read_to_string(path).map_err(HubError::io(path))?;
    // Python's text mode reads every line ending as "\n", inside quoted fields too
    let text = text.trim_start_matches('\u{feff}').replace("\r\n", "\n").replace('\r', "\n");
    let source: Arc<Path> = path.into();
    let columns: Arc<[String]> = COLUMNS.iter().map(|column| column.to_string()).collect();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| HubError::Csv {
            path: path.to_path_buf(),
            line: err.position().map_or(0, |position| position.line()),
            message: err.to_string(),
        })?;
        let line = record.position().map_or(0, |position| position.line());
        let bad = |message: String| HubError::Csv { path: path.to_path_buf(), line, message };
        if matches!(record.get(0), Some("Index" | "lndex")) {
            continue;
        }
        if record.len() < 4 {
            return Err(bad(format!("{} fields, where Index, Question, Options, Correct Answer are expected", record.len())));
        }
        let index: i64 = record[0].trim().parse().map_err(|_| bad(format!("Index `{}` is not an integer", &record[0])))?;
        let image = ImageRef { bytes: None, path: Some(image_path(index)) };
        let text = |at: usize| Value::Str(record[at].to_string());
        let values = vec![Value::Int(index), text(1), text(2), text(3), Value::Image(image)];
        rows.push(Row::new(rows.len(), source.clone(), columns.clone(), values));
    }
    Ok(rows)
}

/// Cambrian's image for question `Index`: `images[int(Index) - 1]`, loaded from `{i + 1}.jpg`.
fn image_path(index: i64) -> String {
    format!("MMVP Images/{index}.jpg")
}
