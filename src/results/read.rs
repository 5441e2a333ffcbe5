//! Reading `results.csv` and `metrics.csv`, with errors that name the file, the line and the
//! column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use thiserror::Error;

use super::{METRIC_COLUMNS, MetricRow, RESULT_COLUMNS, ResultRow};

#[derive(Debug, Error)]
pub enum ResultsError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} is empty: expected the header row `{expected}`", path.display())]
    Empty { path: PathBuf, expected: String },
    #[error("{}, line 1: missing column(s) {missing}; expected the header row `{expected}`", path.display())]
    MissingColumns { path: PathBuf, missing: String, expected: String },
    #[error("{} has a header row but no results", path.display())]
    NoRows { path: PathBuf },
    #[error("{}, line {line}: {message}", path.display())]
    Line { path: PathBuf, line: u64, message: String },
}

/// Every row of a `results.csv`, checked: scores in [0, 1], one known family per encoder,
/// one row per run and benchmark. A file without rows is an error.
pub fn read_results(path: &Path) -> Result<Vec<ResultRow>, ResultsError> {
    let rows = read_rows::<ResultRow>(path, &RESULT_COLUMNS)?;
    if rows.is_empty() {
        return Err(ResultsError::NoRows { path: path.to_path_buf() });
    }
    let mut first_lines: HashMap<(String, String), u64> = HashMap::new();
    let mut checked = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let invalid = |message| ResultsError::Line { path: path.to_path_buf(), line, message };
        check(&row).map_err(invalid)?;
        if let Some(first) = first_lines.insert((row.run.clone(), row.benchmark.clone()), line) {
            return Err(invalid(format!("run `{}` has `{}` already (line {first})", row.run, row.benchmark)));
        }
        checked.push(row);
    }
    Ok(checked)
}

/// Every row of a run's `metrics.csv`; a header without rows (a run that has not logged a
/// step yet) gives none.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricRow>, ResultsError> {
    Ok(read_rows::<MetricRow>(path, &METRIC_COLUMNS)?.into_iter().map(|(_, row)| row).collect())
}

/// The rows with their line numbers, after checking that the header has every column.
fn read_rows<T: DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Vec<(u64, T)>, ResultsError> {
    let bytes = std::fs::read(path).map_err(|source| ResultsError::Io { path: path.to_path_buf(), source })?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes.as_slice());
    let mut lines = Lines { bytes: &bytes, counted_to: 0, newlines: 0 };
    let line_error = |line, message| ResultsError::Line { path: path.to_path_buf(), line, message };
    let headers = reader.headers().map_err(|err| line_error(1, err.to_string()))?.clone();
    let expected = columns.join(",");
    if headers.iter().all(str::is_empty) {
        return Err(ResultsError::Empty { path: path.to_path_buf(), expected });
    }
    let missing: Vec<&str> = columns.iter().copied().filter(|c| !headers.iter().any(|h| h == *c)).collect();
    if !missing.is_empty() {
        return Err(ResultsError::MissingColumns { path: path.to_path_buf(), missing: missing.join(", "), expected });
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = lines.of(err.position());
            let message = match err.kind() {
                csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                    format!("{len} fields where the header has {expected_len}")
                }
                _ => err.to_string(),
            };
            line_error(line, message)
        })?;
        let line = lines.of(record.position());
        let row = record.deserialize(Some(&headers)).map_err(|err| {
            let message = match err.kind() {
                csv::ErrorKind::Deserialize { err: de, .. } => match de.field() {
                    Some(field) => format!("column `{}`: {}", &headers[field as usize], de.kind()),
                    None => de.kind().to_string(),
                },
                _ => err.to_string(),
            };
            line_error(line, message)
        })?;
        rows.push((line, row));
    }
    Ok(rows)
}

/// Line numbers from the reader's byte offsets. The csv reader places a record where the one
/// before ended, which is before the `\n` of a CRLF and before blank lines, so its own line
/// count is one low there.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Newlines in `bytes[..counted_to]`.
    counted_to: usize,
    newlines: u64,
}

impl Lines<'_> {
    /// The line at which the record placed at `position` starts (0 when the reader gives none).
    fn of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else { return 0 };
        let from = (position.byte() as usize).min(self.bytes.len());
        let start = from + self.bytes[from..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if start < self.counted_to {
            (self.counted_to, self.newlines) = (0, 0);
        }
        self.newlines += self.bytes[self.counted_to..start].iter().filter(|&&b| b == b'\n').count() as u64;
        self.counted_to = start;
        self.newlines + 1
    }
}

/// What the types alone do not say: scores are fractions, and each encoder of a combination
/// has one family from the study's taxonomy.
fn check(row: &ResultRow) -> Result<(), String> {
    let scores = [
        ("chance", row.chance),
        ("generation", Some(row.generation)),
        ("generation_low", row.generation_low),
        ("generation_high", row.generation_high),
        ("likelihood", row.likelihood),
        ("generation_blind", row.generation_blind),
        ("likelihood_blind", row.likelihood_blind),
    ];
    for (column, score) in scores {
        if let Some(score) = score.filter(|s| !(0.0..=1.0).contains(s)) {
            return Err(format!("column `{column}`: {score} is not a score in [0, 1]"));
        }
    }
    row.families().map_err(|message| format!("column `family`: {message}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::benchmark::Category;

    fn row() -> ResultRow {
        ResultRow {
            sweep: "study".into(),
            run: "siglip-so400m-14-384+dinov2-vit-l-14-518_mlp2x_gelu-1a2b3c4d".into(),
            encoder: "siglip-so400m-14-384+dinov2-vit-l-14-518".into(),
            family: "language-supervised+self-supervised".into(),
            weights: "hub:google/siglip-so400m-patch14-384/model.safetensors+random".into(),
            connector: "mlp2x_gelu".into(),
            stage1_samples: 1_200_000,
            stage2_samples: 737_000,
            encoder_trainable: false,
            llm: "vicuna-7b".into(),
            seed: 3,
            benchmark: "ChartQA".into(),
            category: Category::OcrChart,
            questions: 2500,
            unreadable: 2,
            degraded: 0,
            chance: None,
            generation: 0.6033333333333334,
            generation_low: Some(0.584),
            generation_high: Some(0.6223333333333333),
            paper_score: 60.33333333333334,
            likelihood: None,
            generation_blind: Some(0.25),
            likelihood_blind: None,
            train_secs: 12.5,
        }
    }

    fn write(name: &str, rows: &[ResultRow]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("cambrian-results-{name}-{}.csv", std::process::id()));
        let mut writer = csv::Writer::from_path(&path).unwrap();
        for row in rows {
            writer.serialize(row).unwrap();
        }
        writer.flush().unwrap();
        path
    }

    #[test]
    fn a_written_row_reads_back_identically() {
        let rows = [row()];
        let path = write("roundtrip", &rows);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(RESULT_COLUMNS.join(",").as_str()));
        assert!(text.contains(",OCR & Chart,") && text.contains(",0.25,,12.5"), "{text}");
        assert_eq!(read_results(&path).unwrap(), rows);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_score_outside_zero_one_names_line_and_column() {
        let mut bad = row();
        bad.generation_blind = Some(61.0);
        let path = write("range", &[row(), bad]);
        let message = read_results(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(message.contains("line 3: column `generation_blind`: 61 is not a score"), "{message}");
    }

    /// The file of `write`, rewritten by `edit`.
    fn rewrite(path: &Path, edit: impl Fn(&str) -> String) {
        let text = std::fs::read_to_string(path).unwrap();
        std::fs::write(path, edit(&text)).unwrap();
    }

    #[test]
    fn line_numbers_count_crlf_and_blank_lines() {
        let mut bad = row();
        bad.generation_blind = Some(61.0);
        let path = write("crlf", &[row(), bad]);
        rewrite(&path, |text| text.replace('\n', "\r\n"));
        let message = read_results(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(message.contains("line 3: column `generation_blind`: 61 is not a score"), "{message}");
        // the header, a blank line, the row (line 3), a blank line, the row again (line 5)
        let path = write("blank", &[row(), row()]);
        rewrite(&path, |text| {
            let lines: Vec<&str> = text.lines().collect();
            format!("{}\r\n\r\n{}\n\n{}\n", lines[0], lines[1], lines[2])
        });
        let message = read_results(&path).unwrap_err().to_string();
        assert!(message.contains("line 5: run `") && message.contains("already (line 3)"), "{message}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_header() {
        let rows = [row()];
        let path = write("bom", &rows);
        rewrite(&path, |text| format!("\u{feff}{}", text.replace('\n', "\r\n")));
        assert_eq!(read_results(&path).unwrap(), rows);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn families_must_match_the_encoders() {
        let mut bad = row();
        bad.family = "language-supervised".into();
        let path = write("families", &[bad]);
        let message = read_results(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(message.contains("line 2: column `family`: 1 families"), "{message}");
    }

    #[test]
    fn a_benchmark_twice_for_one_run_is_an_error() {
        let path = write("twice", &[row(), row()]);
        let message = read_results(&path).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(
            message.contains(
                "line 3: run `siglip-so400m-14-384+dinov2-vit-l-14-518_mlp2x_gelu-1a2b3c4d` has `ChartQA` already (line 2)"
            ),
            "{message}"
        );
    }

    #[test]
    fn metrics_read_back_and_an_empty_log_has_no_rows() {
        let path = std::env::temp_dir().join(format!("cambrian-metrics-{}.csv", std::process::id()));
        std::fs::write(&path, "stage,step,loss,lr,grad_norm,tokens_per_sec,secs\n").unwrap();
        assert!(read_metrics(&path).unwrap().is_empty());
        let text = "stage,step,loss,lr,grad_norm,tokens_per_sec,secs\n2,10,1.5,2e-5,0.8,900.5,12\n2,11,,2e-5,0,0,12\n";
        std::fs::write(&path, text).unwrap();
        let rows = read_metrics(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let expected =
            MetricRow { stage: 2, step: 10, loss: Some(1.5), lr: 2e-5, grad_norm: 0.8, tokens_per_sec: 900.5, secs: 12.0 };
        let skipped = MetricRow { step: 11, loss: None, grad_norm: 0.0, tokens_per_sec: 0.0, ..expected.clone() };
        assert_eq!(rows, [expected, skipped], "an empty loss: a skipped step");
    }
}
