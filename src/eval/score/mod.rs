//! The benchmark scorers of Cambrian-1's evaluation scripts (`eval/eval/<b>/<b>_test.py` at
//! cambrian-mllm/cambrian 539ffc3), reproduced rule for rule, with lmms-eval's ANLS for
//! DocVQA: pure functions from ground truths and generated answers to a score.
//!
//! Every prediction is first stripped as the eval scripts strip their outputs
//! (`outputs.strip()`); a missing one (`None`) scores wrong. Each [`Scorer`] documents which
//! [`Truth`] fields it reads. tests/scorers.rs checks each against Cambrian's own functions
//! on crafted cases (tests/fixtures/scorers/, from tools/reference/make_scorer_fixtures.py).

mod anls;
pub mod answers;
mod choice;
mod pairs;
pub(crate) mod py;
mod short;
mod vqa;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One question's ground truth, as the benchmark's rows give it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Truth {
    /// The row's position in the split (MME's and MMVP's pair counters read its parity).
    pub index: usize,
    pub answers: Vec<String>,
    pub choices: Vec<String>,
    pub category: Option<String>,
    pub kind: Option<String>,
    pub source: Option<String>,
}

/// A benchmark's scoring rule: which [`Truth`] fields it reads and how. The headline is the
/// accuracy (mean item score) unless said otherwise. "The answer" is `answers[0]`; "parts per
/// category" group the rows that have a `category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scorer {
    /// GQA: exact match of `pred.lower().rstrip('.')` with the lowercase answer.
    Gqa,
    /// MME: GQA's match; per `category` (required; one of MME's 14) acc and acc+, acc+ from
    /// Cambrian's running counter over the parity of `index`; a category scores
    /// 100·(acc + acc+). Headline: the perception sum (0–2000 over the ten perception
    /// categories), `score` its share of 200 per perception category present.
    Mme,
    /// TextVQA: VQA accuracy over the ten `answers` with the EvalAI answer processor.
    #[serde(rename = "textvqa")]
    TextVqa,
    /// ChartQA: relaxed accuracy (5% of the answer) when both parse as Python floats, else
    /// exact lowercase match.
    #[serde(rename = "chartqa")]
    ChartQa,
    /// OCRBench: any of `answers` contained in the prediction, both lowercased and stripped;
    /// `category` "Handwritten Mathematical Expression Recognition" keeps case and removes
    /// spaces. Parts per category.
    #[serde(rename = "ocrbench")]
    OcrBench,
    /// DocVQA validation: lmms-eval's ANLS over `answers` (threshold 0.5).
    Anls,
    /// MMMU: `kind` "multiple-choice" (MMBench's letter extraction) or "open" (the text after
    /// "answer is"); exact lowercase match, or relaxed accuracy within 5% of the prediction.
    /// Parts per category.
    Mmmu,
    /// MathVista: `kind` "multi_choice" (the answer is the text of one of `choices`, scored
    /// as its letter) or "free_form"; MMMU's match on the stripped lowercase prediction.
    /// Parts per category.
    #[serde(rename = "mathvista")]
    MathVista,
    /// ScienceQA: the answer is the index of the right one of `choices`; right when the text
    /// after "answer is" names its letter or equals its text up to punctuation. `kind` "text"
    /// marks a row without an image (Cambrian's `is_multimodal` false; "image" or none: with
    /// one). Headline: accuracy over the rows with an image. Parts per category (grade).
    #[serde(rename = "scienceqa")]
    ScienceQa,
    /// RealWorldQA: the first word after "answer is", lowercase, equals the answer.
    #[serde(rename = "realworldqa")]
    RealWorldQa,
    /// MMVP: the answer is "(a)" or "(b)"; right when MMVP's extraction gives its letter or
    /// its text in `choices`; pair accuracy from Cambrian's running counter over `index`.
    Mmvp,
    /// SEED-Bench: SEED's letter extraction; `category` is the `question_type_id` (1–9),
    /// reported under its dimension's name.
    Seed,
    /// MMBench: MMBench's letter extraction; parts per category and, where every row has a
    /// `source` (Cambrian's `source_id`: question, image hash, source), circular accuracy.
    #[serde(rename = "mmbench")]
    MmBench,
    /// AI2D: MMBench's letter extraction, the letter as an index compared with the answer ("0"–"3").
    Ai2d,
    /// CV-Bench: the crate's letter rule against the answer "(A)"; per `kind` ("2D" / "3D")
    /// the mean of its `source`s' accuracies, the headline their mean. Parts per type, source
    /// and task (`category`).
    CvBench,
    /// Multiple choice: the crate's letter rule against the answer letter; plain accuracy.
    Accuracy,
}

/// A benchmark's score: the headline in [0, 1], the same in the study's units (percent, or
/// MME's points), named parts in the study's units, and each item's score (0 or 1, or its
/// soft score) in the order of the truths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub score: f64,
    pub paper_score: f64,
    pub parts: BTreeMap<String, f64>,
    pub correct: Vec<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("{predictions} predictions for {truths} questions")]
    Length { truths: usize, predictions: usize },
    #[error("no questions to score")]
    Empty,
    #[error("{scorer} scorer, question {index}: {reason}")]
    Truth { scorer: Scorer, index: usize, reason: String },
    #[error("{scorer} scorer: {reason}")]
    Benchmark { scorer: Scorer, reason: String },
}

/// The name a spec uses, `mme`.
impl std::fmt::Display for Scorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self).map_err(|_| std::fmt::Error)?;
        f.write_str(name.as_str().unwrap_or_default())
    }
}

impl Scorer {
    /// Scores `predictions[i]` against `truths[i]`.
    pub fn score(&self, truths: &[Truth], predictions: &[Option<String>]) -> Result<Scored, ScoreError> {
        if truths.len() != predictions.len() {
            return Err(ScoreError::Length { truths: truths.len(), predictions: predictions.len() });
        }
        if truths.is_empty() {
            return Err(ScoreError::Empty);
        }
        let predictions: Vec<Option<&str>> = predictions.iter().map(|p| p.as_deref().map(py::strip)).collect();
        let items = Items { scorer: *self, truths, predictions: &predictions };
        match self {
            Scorer::Gqa => Ok(items.per_item(short::gqa)?.accuracy(false)),
            Scorer::Mme => pairs::mme(&items),
            Scorer::TextVqa => Ok(items.per_item(vqa::accuracy)?.accuracy(false)),
            Scorer::ChartQa => Ok(items.per_item(short::chartqa)?.accuracy(false)),
            Scorer::OcrBench => Ok(items.per_item(short::ocrbench)?.accuracy(true)),
            Scorer::Anls => Ok(items.per_item(anls::anls)?.accuracy(false)),
            Scorer::Mmmu => Ok(items.per_item(short::mmmu)?.accuracy(true)),
            Scorer::MathVista => Ok(items.per_item(short::mathvista)?.accuracy(true)),
            Scorer::ScienceQa => choice::scienceqa(&items),
            Scorer::RealWorldQa => Ok(items.per_item(short::realworldqa)?.accuracy(false)),
            Scorer::Mmvp => pairs::mmvp(&items),
            Scorer::Seed => choice::seed(&items),
            Scorer::MmBench => choice::mmbench(&items),
            Scorer::Ai2d => Ok(items.per_item(choice::ai2d)?.accuracy(false)),
            Scorer::CvBench => choice::cv_bench(&items),
            Scorer::Accuracy => Ok(items.per_item(choice::letter)?.accuracy(false)),
        }
    }
}

/// The truths and stripped predictions being scored.
struct Items<'a> {
    scorer: Scorer,
    truths: &'a [Truth],
    predictions: &'a [Option<&'a str>],
}

/// A per-item rule: the item's score for a prediction, or why its truth cannot be scored.
type Rule = fn(&Truth, &str) -> Result<f64, String>;

impl<'a> Items<'a> {
    /// The error for a truth the scorer cannot read.
    fn bad(&self, truth: &Truth, reason: impl Into<String>) -> ScoreError {
        ScoreError::Truth { scorer: self.scorer, index: truth.index, reason: reason.into() }
    }

    /// Each item scored alone (a missing prediction: 0).
    fn per_item(&self, rule: Rule) -> Result<ItemScores<'a>, ScoreError> {
        let correct = self
            .truths
            .iter()
            .zip(self.predictions)
            .map(|(truth, prediction)| {
                // An unanswered question still has its truth checked, and scores 0.
                let score = rule(truth, prediction.unwrap_or_default()).map_err(|reason| self.bad(truth, reason))?;
                Ok(if prediction.is_some() { score } else { 0.0 })
            })
            .collect::<Result<_, _>>()?;
        Ok(ItemScores { truths: self.truths, correct })
    }
}

/// Per-item scores of `truths`, before aggregation.
struct ItemScores<'a> {
    truths: &'a [Truth],
    correct: Vec<f64>,
}

impl ItemScores<'_> {
    /// Mean item score as the headline, with per-category parts when asked.
    fn accuracy(self, by_category: bool) -> Scored {
        let score = mean(&self.correct);
        let parts = if by_category { category_parts(self.truths, &self.correct) } else { BTreeMap::new() };
        Scored { score, paper_score: 100.0 * score, parts, correct: self.correct }
    }
}

/// Percent accuracy per category over the rows that have one.
fn category_parts(truths: &[Truth], correct: &[f64]) -> BTreeMap<String, f64> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (truth, &c) in truths.iter().zip(correct) {
        if let Some(category) = &truth.category {
            groups.entry(category.clone()).or_default().push(c);
        }
    }
    groups.into_iter().map(|(category, scores)| (category, 100.0 * mean(&scores))).collect()
}

/// The mean, summed left to right as Python's `sum` does; 0 for none.
fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// An item's score under a right/wrong rule.
fn hit(right: bool) -> f64 {
    if right { 1.0 } else { 0.0 }
}

/// The letter of choice `index` as the scripts compare it, `chr(ord('A') + index).lower()`.
fn choice_letter(index: usize) -> Result<String, String> {
    let code = u32::try_from(index).ok().and_then(|i| i.checked_add('A' as u32)).and_then(char::from_u32);
    code.map(|c| c.to_lowercase().to_string()).ok_or_else(|| format!("choice {index} has no letter"))
}

/// The answer a scorer compares with, `answers[0]`.
fn first_answer(truth: &Truth) -> Result<&str, String> {
    truth.answers.first().map(String::as_str).ok_or_else(|| "no answer".to_string())
}
