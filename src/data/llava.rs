//! Instruction data in the LLaVA conversation format: a JSON array or JSONL of records
//! `{"id", "image"?, "conversations": [{"from": "human"|"gpt", "value"}, …]}`, images
//! resolved against an image folder. A record that cannot be trained on is skipped with its
//! index and reason (counted in the run summary); only an unreadable file is an error.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{jsonl_lines, stays_inside, without_bom};

/// The placeholder where the image tokens go.
pub const IMAGE_PLACEHOLDER: &str = "<image>";

#[derive(Debug, thiserror::Error)]
pub enum LlavaError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a LLaVA JSON array or JSONL file: {message}")]
    Format { path: PathBuf, message: String },
}

#[derive(Debug, Deserialize)]
struct Record {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    conversations: Vec<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    from: String,
    value: String,
}

/// One exchange: the user's prompt and the answer the loss is computed on.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub prompt: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Position in the file (0-based), stable across runs: the data order is built on it.
    pub index: usize,
    pub id: String,
    pub image: Option<PathBuf>,
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub index: usize,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct LlavaSet {
    pub samples: Vec<Sample>,
    pub skipped: Vec<Skipped>,
}

/// Reads `path` (JSON array, or one record per line) and checks every record.
pub fn load(path: &Path, image_dir: &Path) -> Result<LlavaSet, LlavaError> {
    let bytes = std::fs::read(path).map_err(|source| LlavaError::Io { path: path.to_path_buf(), source })?;
    let records = parse(&bytes).map_err(|message| LlavaError::Format { path: path.to_path_buf(), message })?;
    let mut set = LlavaSet::default();
    for (index, record) in records.into_iter().enumerate() {
        match record.and_then(|record| check(index, record, image_dir)) {
            Ok(sample) => set.samples.push(sample),
            Err(reason) => set.skipped.push(Skipped { index, reason }),
        }
    }
    Ok(set)
}

/// Records in order; a JSONL line that is not a record (not UTF-8, not JSON) becomes that
/// index's skip reason, with its line number.
fn parse(bytes: &[u8]) -> Result<Vec<Result<Record, String>>, String> {
    let bytes = without_bom(bytes);
    let record = |value: Result<Record, serde_json::Error>| value.map_err(|err| format!("malformed record: {err}"));
    if bytes.trim_ascii_start().starts_with(b"[") {
        let values: Vec<serde_json::Value> = serde_json::from_slice(bytes).map_err(|err| err.to_string())?;
        return Ok(values.into_iter().map(|v| record(serde_json::from_value(v))).collect());
    }
    let lines = jsonl_lines(bytes).map(|(line, text)| {
        text.and_then(|text| record(serde_json::from_str(text))).map_err(|reason| format!("line {line}: {reason}"))
    });
    Ok(lines.collect())
}

fn check(index: usize, record: Record, image_dir: &Path) -> Result<Sample, String> {
    let mut turns = Vec::new();
    let mut messages = record.conversations.iter();
    while let Some(human) = messages.next() {
        let Some(gpt) = messages.next() else { return Err("the last message has no answer".into()) };
        if human.from != "human" || gpt.from != "gpt" {
            return Err(format!("turns must alternate human, gpt; found {}, {}", human.from, gpt.from));
        }
        if gpt.value.trim().is_empty() {
            return Err(format!("empty answer in turn {}", turns.len() + 1));
        }
        turns.push(Turn { prompt: human.value.clone(), answer: gpt.value.clone() });
    }
    if turns.is_empty() {
        return Err("no conversation".into());
    }
    let placeholders: usize = turns.iter().map(|t| t.prompt.matches(IMAGE_PLACEHOLDER).count()).sum();
    let image = match (&record.image, placeholders) {
        (Some(file), _) if !stays_inside(file) => return Err(format!("image path {file:?} leaves the image folder")),
        (Some(file), 1) => Some(check_image(&image_dir.join(file))?),
        (Some(_), 0) => return Err(format!("an image is given but no prompt has {IMAGE_PLACEHOLDER}")),
        (Some(_), n) => return Err(format!("{n} {IMAGE_PLACEHOLDER} placeholders for one image")),
        (None, 0) => None,
        (None, _) => return Err(format!("{IMAGE_PLACEHOLDER} in the prompt but no image")),
    };
    let id = match record.id {
        Some(serde_json::Value::String(id)) => id,
        Some(other) => other.to_string(),
        None => index.to_string(),
    };
    Ok(Sample { index, id, image, turns })
}

/// The file exists and its header decodes (a full decode happens when it is encoded).
fn check_image(path: &Path) -> Result<PathBuf, String> {
    let reader = image::ImageReader::open(path).map_err(|err| format!("image {}: {err}", path.display()))?;
    let reader = reader.with_guessed_format().map_err(|err| format!("image {}: {err}", path.display()))?;
    reader.into_dimensions().map_err(|err| format!("image {}: {err}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images")
    }

    fn load_text(text: impl AsRef<[u8]>, name: &str) -> LlavaSet {
        let path = std::env::temp_dir().join(format!("cambrian-llava-{name}-{}.json", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let set = load(&path, &fixture_dir()).unwrap();
        std::fs::remove_file(path).unwrap();
        set
    }

    #[test]
    fn good_and_bad_records_are_sorted_with_reasons() {
        let text = r#"[
            {"id": "ok", "image": "scene-61x47.png", "conversations": [
                {"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Red."},
                {"from": "human", "value": "And the shape?"}, {"from": "gpt", "value": "A disc."}]},
            {"id": 7, "conversations": [{"from": "human", "value": "Text only?"}, {"from": "gpt", "value": "Yes."}]},
            {"image": "missing.png", "conversations": [{"from": "human", "value": "<image> hi"}, {"from": "gpt", "value": "x"}]},
            {"image": "scene-61x47.png", "conversations": [{"from": "human", "value": "no placeholder"}, {"from": "gpt", "value": "x"}]},
            {"image": "scene-61x47.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "  "}]},
            {"conversations": [{"from": "human", "value": "<image> but none"}, {"from": "gpt", "value": "x"}]},
            {"conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]},
            {"conversations": "not a list"}
        ]"#;
        let set = load_text(text, "mixed");
        assert_eq!(set.samples.len(), 2);
        assert_eq!(set.samples[0].turns.len(), 2);
        assert_eq!(set.samples[1].id, "7");
        let reasons: Vec<(usize, &str)> = set.skipped.iter().map(|s| (s.index, s.reason.as_str())).collect();
        assert_eq!(reasons.len(), 6, "{reasons:?}");
        assert!(reasons[0].1.contains("missing.png"), "{reasons:?}");
        assert!(reasons[1].1.contains("no prompt has <image>"));
        assert!(reasons[2].1.contains("empty answer"));
        assert!(reasons[3].1.contains("no image"));
        assert!(reasons[4].1.contains("alternate"));
        assert!(reasons[5].1.contains("malformed record"));
        assert_eq!(reasons.iter().map(|r| r.0).collect::<Vec<_>>(), vec![2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn jsonl_lines_are_records() {
        let text =
            "{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"gpt\", \"value\": \"b\"}]}\n{oops\n";
        let set = load_text(text, "jsonl");
        assert_eq!(set.samples.len(), 1);
        assert_eq!(set.skipped[0].index, 1);
    }

    #[test]
    fn a_byte_order_mark_is_read_past_and_a_line_that_is_not_utf8_costs_only_that_record() {
        let record = |answer: &str| {
            format!(r#"{{"conversations": [{{"from": "human", "value": "a"}}, {{"from": "gpt", "value": "{answer}"}}]}}"#)
        };
        let array = format!("\u{FEFF}[{}, {}]", record("b"), record("c"));
        assert_eq!(load_text(array, "bom-array").samples.len(), 2);
        let mut jsonl = format!("\u{FEFF}{}\n\n", record("b")).into_bytes();
        // "café" in Latin-1: the byte 0xE9 alone is not UTF-8.
        jsonl.extend(record("caf_").bytes().map(|b| if b == b'_' { 0xE9 } else { b }));
        jsonl.extend(format!("\n{}\n", record("d")).bytes());
        let set = load_text(jsonl, "latin1-line");
        assert_eq!(set.samples.iter().map(|s| s.turns[0].answer.as_str()).collect::<Vec<_>>(), ["b", "d"]);
        assert_eq!(set.samples.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 2], "the bad record keeps its place");
        assert_eq!(set.skipped.len(), 1);
        assert_eq!(set.skipped[0].index, 1);
        assert!(set.skipped[0].reason.starts_with("line 3: not UTF-8"), "{:?}", set.skipped);
    }

    #[test]
    fn an_image_path_that_leaves_the_image_folder_is_skipped() {
        let inside = fixture_dir().join("scene-61x47.png");
        let record = |image: &str| {
            format!(
                r#"{{"image": "{image}", "conversations": [{{"from": "human", "value": "<image>"}}, {{"from": "gpt", "value": "x"}}]}}"#
            )
        };
        let escaping = ["../images/scene-61x47.png", inside.to_str().unwrap(), "./../../../../../../../etc/hostname"];
        let mut lines: Vec<String> = escaping.iter().map(|image| record(image)).collect();
        lines.push(record("./scene-61x47.png"));
        let set = load_text(lines.join("\n"), "escaping");
        assert_eq!(set.samples.len(), 1, "{:?}", set.skipped);
        assert_eq!(set.samples[0].index, 3);
        assert_eq!(set.skipped.len(), 3);
        for skip in &set.skipped {
            assert!(skip.reason.contains("leaves the image folder"), "{skip:?}");
        }
    }

    #[test]
    fn a_corrupt_image_is_skipped() {
        let dir = std::env::temp_dir().join(format!("cambrian-llava-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let json = dir.join("data.json");
        std::fs::write(
            &json,
            r#"[{"image": "bad.png", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "x"}]}]"#,
        )
        .unwrap();
        let set = load(&json, &dir).unwrap();
        assert!(set.samples.is_empty());
        assert!(set.skipped[0].reason.contains("bad.png"), "{:?}", set.skipped);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
