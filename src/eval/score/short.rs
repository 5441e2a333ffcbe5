//! Short-answer rules, each scoring one item: GQA, ChartQA, OCRBench, MMMU, MathVista and
//! RealWorldQA (their `compute_metrics` in Cambrian's `<b>_test.py`).

use super::{Truth, choice_letter, first_answer, hit, py};
use crate::eval::answer::{Extraction, extract};

/// OCRBench's category whose answers keep their case and lose their spaces.
const HANDWRITTEN_MATH: &str = "Handwritten Mathematical Expression Recognition";

/// Cambrian's `relaxed_accuracy(pred, gt)`: within 5% of `gt`.
fn relaxed(pred: f64, gt: f64) -> bool {
    (pred - gt).abs() <= gt.abs() * 0.05
}

pub(super) fn gqa(truth: &Truth, prediction: &str) -> Result<f64, String> {
    Ok(hit(prediction.to_lowercase().trim_end_matches('.') == first_answer(truth)?.to_lowercase()))
}

/// Relaxed accuracy within 5% of the answer when both sides parse, even when the strings are
/// equal ("nan" is wrong); otherwise exact match.
pub(super) fn chartqa(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let (answer, gt) = (prediction.to_lowercase(), first_answer(truth)?.to_lowercase());
    Ok(match (py::float(&gt), py::float(&answer)) {
        (Some(gt), Some(answer)) => hit(relaxed(answer, gt)),
        _ => hit(answer == gt),
    })
}

pub(super) fn ocrbench(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let clean = |text: &str| match truth.category.as_deref() {
        Some(HANDWRITTEN_MATH) => py::strip(text).replace('\n', " ").replace(' ', ""),
        _ => py::strip(&text.to_lowercase()).replace('\n', " "),
    };
    let answer = clean(prediction);
    Ok(hit(truth.answers.iter().any(|gt| answer.contains(&clean(gt)))))
}

/// Exact match, else Cambrian's `relaxed_accuracy(float(gt), float(answer))`: the arguments
/// are swapped, so the tolerance is 5% of the prediction.
fn match_or_relaxed(answer: &str, gt: &str) -> f64 {
    let relaxed_hit = || matches!((py::float(gt), py::float(answer)), (Some(gt), Some(answer)) if relaxed(gt, answer));
    hit(answer == gt || relaxed_hit())
}

pub(super) fn mmmu(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let rule = match truth.kind.as_deref() {
        Some("multiple-choice") => Extraction::MmBench,
        Some("open") => Extraction::Single,
        other => return Err(format!("kind {other:?} is not \"multiple-choice\" or \"open\"")),
    };
    Ok(match_or_relaxed(&extract(prediction, rule), &first_answer(truth)?.to_lowercase()))
}

/// Cambrian's test splits the prediction at its first "." for type "multiple-choice", a type
/// MathVista never has (its rows say "multi_choice"), so no prediction is split.
pub(super) fn mathvista(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let answer = first_answer(truth)?;
    let gt = match truth.kind.as_deref() {
        Some("multi_choice") => {
            // The eval script's `{choice: letter}` dict: a repeated choice takes its last letter.
            let index = truth.choices.iter().rposition(|c| c == answer).ok_or("the answer is not one of the choices")?;
            choice_letter(index)?
        }
        Some("free_form") => answer.to_lowercase(),
        other => return Err(format!("kind {other:?} is not \"multi_choice\" or \"free_form\"")),
    };
    Ok(match_or_relaxed(py::strip(&prediction.to_lowercase()), &gt))
}

/// The first word of the text after "answer is"; an empty one (where Cambrian's script
/// raises IndexError and stops) is wrong.
pub(super) fn realworldqa(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let answer = extract(prediction, Extraction::Single);
    let gt = first_answer(truth)?.to_lowercase();
    Ok(hit(py::split(&answer).next() == Some(gt.as_str())))
}
