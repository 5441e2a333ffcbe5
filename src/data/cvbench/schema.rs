//! One line of the released `test_2d.jsonl` / `test_3d.jsonl` (HF `nyu-visionx/CV-Bench`):
//! `idx, type, task, image, question, choices, answer "(A)", prompt, filename, source,
//! source_dataset, source_filename, target_class, target_size, bbox`. The JSONL files sit
//! beside an `img/` folder that `filename` points into ("img/2D/count/…").

use serde::{Deserialize, Deserializer, Serialize};

use crate::data::benchmark::{letter, lettered};

/// The four tasks, named as in the released `task` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    Count,
    Relation,
    Depth,
    Distance,
}

impl Task {
    pub const ALL: [Task; 4] = [Task::Count, Task::Relation, Task::Depth, Task::Distance];

    pub fn name(self) -> &'static str {
        match self {
            Task::Count => "Count",
            Task::Relation => "Relation",
            Task::Depth => "Depth",
            Task::Distance => "Distance",
        }
    }

    /// "2D" or "3D", the released `type`.
    pub fn kind(self) -> &'static str {
        match self {
            Task::Count | Task::Relation => "2D",
            Task::Depth | Task::Distance => "3D",
        }
    }

    /// Image sub-folder under `img/`.
    pub fn folder(self) -> String {
        format!("{}/{}", self.kind(), self.name().to_lowercase())
    }

    /// The 2D templates end in "Select from the following choices." (Cambrian-1's
    /// evaluation-prompt table); the Omni3D template does not.
    pub fn prompt(self, question: &str, choices: &[String]) -> String {
        match self.kind() {
            "2D" => lettered(&format!("{question} Select from the following choices."), choices),
            _ => lettered(question, choices),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub idx: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub task: String,
    /// The image's relative path in what we write; the hub's JSONL may carry anything here.
    #[serde(default)]
    pub image: serde_json::Value,
    pub question: String,
    #[serde(deserialize_with = "strings")]
    pub choices: Vec<String>,
    pub answer: String,
    pub prompt: String,
    pub filename: String,
    pub source: String,
    #[serde(default)]
    pub source_dataset: String,
    #[serde(default)]
    pub source_filename: String,
    #[serde(default)]
    pub target_class: Option<String>,
    #[serde(default)]
    pub target_size: Option<serde_json::Value>,
    /// Boxes drawn on the image, in prompt-colour order, `[x0, y0, x1, y1]` pixels.
    #[serde(default)]
    pub bbox: Option<serde_json::Value>,
}

/// A generated question with the boxes to draw, before it becomes a [`Record`].
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub task: Task,
    pub question: String,
    pub choices: Vec<String>,
    pub answer: usize,
    /// Boxes to draw, red, blue, green in order.
    pub boxes: Vec<[f64; 4]>,
    pub target_class: Option<String>,
}

impl Question {
    pub fn prompt(&self) -> String {
        self.task.prompt(&self.question, &self.choices)
    }

    /// The released-schema line for this question, its image at `filename`.
    pub fn record(&self, idx: u64, filename: &str, source: &str, source_dataset: &str, source_filename: &str) -> Record {
        let bbox = (!self.boxes.is_empty()).then(|| serde_json::json!(self.boxes));
        Record {
            idx,
            kind: self.task.kind().to_string(),
            task: self.task.name().to_string(),
            image: serde_json::Value::String(filename.to_string()),
            question: self.question.clone(),
            choices: self.choices.clone(),
            answer: format!("({})", letter(self.answer)),
            prompt: self.prompt(),
            filename: filename.to_string(),
            source: source.to_string(),
            source_dataset: source_dataset.to_string(),
            source_filename: source_filename.to_string(),
            target_class: self.target_class.clone(),
            target_size: None,
            bbox,
        }
    }
}

/// Choices as strings, whether the file stores them as strings or numbers.
fn strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<serde_json::Value>::deserialize(deserializer)?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            serde_json::Value::Number(n) => Ok(n.to_string()),
            other => Err(serde::de::Error::custom(format!("choice {other} is neither text nor a number"))),
        })
        .collect()
}
