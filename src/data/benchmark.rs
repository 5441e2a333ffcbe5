//! The multiple-choice benchmark: items, the study's four categories, the scoring rules
//! (CV-Bench's formula, MMVP's pair accuracy, plain accuracy), the answer matching of the
//! Cambrian-1 evaluation scripts and the random-guess baseline of every benchmark.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::DataError;

/// Appended to every multiple-choice prompt at evaluation, as in Cambrian-1.
pub const LETTER_SUFFIX: &str = "Answer with the option's letter from the given choices directly.";

/// The benchmark clusters of Cambrian-1 §2.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Category {
    General,
    Knowledge,
    #[serde(rename = "OCR & Chart")]
    #[value(name = "ocr-chart")]
    OcrChart,
    #[serde(rename = "Vision-Centric")]
    #[value(name = "vision-centric")]
    VisionCentric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Fraction of items answered right.
    Accuracy,
    /// MMVP: a group (pair) counts only when all its items are right.
    PairAccuracy,
    /// CV-Bench: mean of the 2D accuracy (mean over the 2D sources, ADE20K and COCO) and the
    /// 3D accuracy (mean over the 3D sources, Omni3D); each source's accuracy pools its tasks.
    CvBench,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub image: PathBuf,
    pub question: String,
    pub choices: Vec<String>,
    /// Index into `choices`.
    pub answer: usize,
    /// Question with its lettered choices, as shown to the model (without [`LETTER_SUFFIX`]).
    pub prompt: String,
    pub task: String,
    /// CV-Bench's `type`: "2D" or "3D"; empty elsewhere.
    pub kind: String,
    pub source: String,
    /// Items scored together under pair accuracy.
    pub group: Option<String>,
}

impl Item {
    /// The full text given to the model.
    pub fn full_prompt(&self) -> String {
        format!("{}\n{LETTER_SUFFIX}", self.prompt)
    }
}

/// A score in [0, 1] with its named parts (per type and source for CV-Bench).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    pub parts: Vec<(String, f64)>,
}

#[derive(Debug, Clone)]
pub struct Benchmark {
    pub name: String,
    pub category: Category,
    pub scoring: Scoring,
    pub items: Vec<Item>,
}

impl Benchmark {
    /// Checks what scoring needs: answers within the choices, two to 26 choices, a group
    /// on every item under pair accuracy, a 2D/3D type on every item under CV-Bench's rule.
    pub fn new(name: &str, category: Category, scoring: Scoring, items: Vec<Item>) -> Result<Self, DataError> {
        let bad = |item: &Item, message: &str| DataError::invalid(name, format!("item {}: {message}", item.id));
        if items.is_empty() {
            return Err(DataError::invalid(name, "no items"));
        }
        for item in &items {
            check_choices(item.choices.len()).map_err(|message| bad(item, &message))?;
            if item.answer >= item.choices.len() {
                return Err(bad(item, "answer is not one of the choices"));
            }
            if scoring == Scoring::PairAccuracy && item.group.is_none() {
                return Err(bad(item, "pair accuracy needs a `group` on every item"));
            }
            if scoring == Scoring::CvBench && item.kind != "2D" && item.kind != "3D" {
                return Err(bad(item, "CV-Bench scoring needs type 2D or 3D"));
            }
        }
        Ok(Self { name: name.to_string(), category, scoring, items })
    }

    /// Scores predicted choice indices (`None`: no letter could be read).
    pub fn score(&self, predictions: &[Option<usize>]) -> Result<Score, DataError> {
        if predictions.len() != self.items.len() {
            return Err(DataError::Config(format!(
                "{}: {} predictions for {} items",
                self.name,
                predictions.len(),
                self.items.len()
            )));
        }
        let correct: Vec<f64> = self.items.iter().zip(predictions).map(|(item, p)| f64::from(*p == Some(item.answer))).collect();
        Ok(self.aggregate(&correct))
    }

    /// The expected score of guessing uniformly among each item's choices.
    pub fn random_baseline(&self) -> Score {
        let chance: Vec<f64> = self.items.iter().map(|item| 1.0 / item.choices.len() as f64).collect();
        self.aggregate(&chance)
    }

    /// Applies the scoring rule to per-item probabilities of being right. Every rule is linear
    /// in each item, and independent guesses multiply within a pair, so expectations pass
    /// through exactly.
    fn aggregate(&self, correct: &[f64]) -> Score {
        match self.scoring {
            Scoring::Accuracy => Score { value: mean(correct.iter().copied()), parts: Vec::new() },
            Scoring::PairAccuracy => {
                let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
                for (item, c) in self.items.iter().zip(correct) {
                    *groups.entry(item.group.as_deref().unwrap_or_default()).or_insert(1.0) *= c;
                }
                Score { value: mean(groups.into_values()), parts: Vec::new() }
            }
            Scoring::CvBench => self.cv_bench(correct),
        }
    }

    fn cv_bench(&self, correct: &[f64]) -> Score {
        let mut by_source: BTreeMap<(&str, &str), (f64, usize)> = BTreeMap::new();
        for (item, c) in self.items.iter().zip(correct) {
            let entry = by_source.entry((item.kind.as_str(), item.source.as_str())).or_default();
            entry.0 += c;
            entry.1 += 1;
        }
        let mut parts = Vec::new();
        let mut per_kind = Vec::new();
        for kind in ["2D", "3D"] {
            let sources: Vec<(&str, f64)> =
                by_source.iter().filter(|((k, _), _)| *k == kind).map(|((_, s), (sum, n))| (*s, sum / *n as f64)).collect();
            if sources.is_empty() {
                continue;
            }
            let acc = mean(sources.iter().map(|(_, a)| *a));
            parts.push((kind.to_string(), acc));
            parts.extend(sources.iter().map(|(s, a)| (format!("{kind} {s}"), *a)));
            per_kind.push(acc);
        }
        Score { value: mean(per_kind.into_iter()), parts }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Choices a question may have: at least two, and no more than there are letters A–Z.
pub fn check_choices(count: usize) -> Result<(), String> {
    match count {
        0 | 1 => Err("fewer than two choices".into()),
        2..=26 => Ok(()),
        _ => Err(format!("{count} choices; at most 26 can be lettered A-Z")),
    }
}

/// The letter of choice `index` < 26 (a benchmark has no more choices): 0 → 'A'.
pub fn letter(index: usize) -> char {
    (b'A' + index as u8) as char
}

/// Parses "(A)" or "A" into a choice index.
pub fn parse_letter(text: &str) -> Option<usize> {
    let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
    let mut chars = inner.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'A'..='Z'), None) => Some(c as usize - 'A' as usize),
        _ => None,
    }
}

/// Lettered choices under a question: "question\n(A) x\n(B) y".
pub fn lettered(question: &str, choices: &[String]) -> String {
    let mut text = question.to_string();
    for (i, choice) in choices.iter().enumerate() {
        text.push_str(&format!("\n({}) {choice}", letter(i)));
    }
    text
}
