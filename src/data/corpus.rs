//! The text a model reads in its training data and benchmarks, from which `init-llm` builds a
//! vocabulary: the turns of a LLaVA JSON file (`conversations[*].value`), the questions,
//! choices and prompts of a benchmark JSONL, or else the whole text; ids, image paths and
//! boxes stay out. The multiple-choice answer instruction and the option letters are added,
//! since every benchmark prompt ends with them.

use std::path::PathBuf;

use serde_json::Value;

use super::DataError;
use super::benchmark::{LETTER_SUFFIX, letter};

/// Option letters every vocabulary holds: (A) to (F).
const LETTERS: usize = 6;

/// The model text of every file, one after the other, then the answer instruction.
pub fn read(files: &[PathBuf]) -> Result<String, DataError> {
    let mut text = String::new();
    for path in files {
        text.push_str(&model_text(&std::fs::read_to_string(path).map_err(DataError::io(path))?));
        text.push('\n');
    }
    let letters: Vec<String> = (0..LETTERS).map(|i| format!("({})", letter(i))).collect();
    text.push_str(&format!("{}\n{LETTER_SUFFIX}\n", letters.join(" ")));
    Ok(text)
}

/// What a model reads of a corpus file: the turns of a LLaVA JSON file (`conversations[*].value`),
/// the questions, choices and prompts of a benchmark JSONL, or else the whole text. Ids, image
/// paths and boxes stay out of the vocabulary.
pub fn model_text(file: &str) -> String {
    let strings = |value: &Value, key: &str| -> Vec<String> {
        match &value[key] {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).collect(),
            _ => Vec::new(),
        }
    };
    if let Ok(Value::Array(records)) = serde_json::from_str::<Value>(file) {
        let turns = records.iter().flat_map(|r| r["conversations"].as_array().into_iter().flatten());
        return turns.flat_map(|turn| strings(turn, "value")).collect::<Vec<_>>().join("\n");
    }
    let lines: Option<Vec<Value>> = file.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).ok()).collect();
    match lines {
        Some(items) if !items.is_empty() && items.iter().all(Value::is_object) => items
            .iter()
            .flat_map(|item| ["question", "choices", "prompt"].into_iter().flat_map(|key| strings(item, key)))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => file.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids, image paths and boxes are not words the model reads.
    #[test]
    fn the_vocabulary_holds_what_the_model_reads() {
        let llava = r#"[{"id": "x-000017", "image": "train/000017.png", "conversations": [{"from": "human", "value": "<image>\nWhat colour?"}, {"from": "gpt", "value": "Red."}]}]"#;
        let text = model_text(llava);
        assert!(text.contains("What colour?") && text.contains("Red.") && !text.contains("000017"), "{text}");
        let bench = "{\"idx\": 9, \"image\": \"img/2D/count/ade_9.png\", \"question\": \"How many chairs?\", \"choices\": [2, \"three\"], \"bbox\": [[1.5, 2.5]]}\n";
        let text = model_text(bench);
        assert!(text.contains("How many chairs?") && text.contains("three") && text.contains('2'), "{text}");
        assert!(!text.contains("ade_9") && !text.contains("1.5"), "{text}");
        assert_eq!(model_text("plain words here"), "plain words here");
    }
}
