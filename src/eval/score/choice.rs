//! The multiple-choice rules: SEED, MMBench, AI2D, ScienceQA (its `*_test.py` in Cambrian),
//! CV-Bench and plain accuracy (the crate's letter rule, `eval::answer::read_answer`).

use std::collections::BTreeMap;

use super::{ItemScores, Items, ScoreError, Scored, Truth, choice_letter, first_answer, hit, mean, py};
use crate::eval::answer::{Extraction, extract, extract_choice};

/// SEED-Bench's image dimensions by `question_type_id`, as seed_test.py names them.
const SEED_DIMENSIONS: [&str; 9] = [
    "Scene Understanding",
    "Instance Identity",
    "Instance Attribute",
    "Instance Location",
    "Instance Counting",
    "Spatial Relation",
    "Instance Interaction",
    "Visual Reasoning",
    "Text Recognition",
];

/// The crate's letter rule: the extracted letter against the answer, "(A)" or "A".
pub(super) fn letter(truth: &Truth, prediction: &str) -> Result<f64, String> {
    Ok(hit(extract_choice(prediction) == first_answer(truth)?.trim_matches(['(', ')']).to_lowercase()))
}

/// AI2D: the letter a–d becomes the index "0"–"3" (any other text stays as it is).
pub(super) fn ai2d(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let answer = extract(prediction, Extraction::MmBench);
    let index = match answer.as_str() {
        "a" => "0",
        "b" => "1",
        "c" => "2",
        "d" => "3",
        other => other,
    };
    Ok(hit(index == first_answer(truth)?.to_lowercase()))
}

/// ScienceQA's `is_correct`: the text before the first "." is the letter, or the whole text
/// equals the answer's up to ASCII punctuation and case.
fn scienceqa_item(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let answer_text = first_answer(truth)?;
    let index: usize = answer_text.parse().map_err(|_| format!("the answer {answer_text:?} is not a choice index"))?;
    let choice = truth.choices.get(index).ok_or_else(|| format!("the answer {index} is not one of the choices"))?;
    let gt = choice_letter(index)?;
    let sentence = |text: &str| py::strip(&text.replace(|c: char| c.is_ascii_punctuation(), "").to_lowercase()).to_string();
    let answer = extract(prediction, Extraction::Single);
    let option = answer.split('.').next().unwrap_or_default();
    Ok(hit(sentence(&answer) == sentence(py::strip(&choice.to_lowercase())) || option == gt))
}

/// ScienceQA: the headline is the accuracy over the rows with an image (`multimodal_acc`).
/// Parts: per category, "is_multimodal" (the headline), and "accuracy" as the script computes
/// it: over the categories and "is_multimodal" together, so image rows count twice.
pub(super) fn scienceqa(items: &Items) -> Result<Scored, ScoreError> {
    let scored = items.per_item(scienceqa_item)?;
    let mut multimodal = Vec::new();
    for (truth, &c) in items.truths.iter().zip(&scored.correct) {
        match truth.kind.as_deref() {
            None | Some("image") => multimodal.push(c),
            Some("text") => {}
            Some(other) => return Err(items.bad(truth, format!("kind {other:?} is not \"image\" or \"text\""))),
        }
    }
    if multimodal.is_empty() {
        return Err(ScoreError::Benchmark { scorer: items.scorer, reason: "no question with an image".into() });
    }
    let all: Vec<f64> = scored.correct.iter().chain(&multimodal).copied().collect();
    let score = mean(&multimodal);
    let mut result = scored.accuracy(true);
    result.parts.insert("is_multimodal".into(), 100.0 * score);
    result.parts.insert("accuracy".into(), 100.0 * mean(&all));
    Ok(Scored { score, paper_score: 100.0 * score, ..result })
}

/// SEED-Bench: parts per dimension.
pub(super) fn seed(items: &Items) -> Result<Scored, ScoreError> {
    let scored = items
        .per_item(|truth, prediction| Ok(hit(extract(prediction, Extraction::Seed) == first_answer(truth)?.to_lowercase())))?;
    let named: Vec<Truth> = items
        .truths
        .iter()
        .map(|truth| {
            let id = truth.category.as_deref().and_then(|c| c.parse::<usize>().ok());
            let name = id.and_then(|id| SEED_DIMENSIONS.get(id.wrapping_sub(1)));
            let name =
                name.ok_or_else(|| items.bad(truth, format!("category {:?} is not an image dimension 1-9", truth.category)))?;
            Ok(Truth { category: Some(name.to_string()), ..truth.clone() })
        })
        .collect::<Result<_, ScoreError>>()?;
    Ok(ItemScores { truths: &named, correct: scored.correct }.accuracy(true))
}

/// MMBench: parts per category and, where the rows carry Cambrian's `source_id` in `source`,
/// circular accuracy: a (category, source_id) group counts when all its rows are right.
pub(super) fn mmbench(items: &Items) -> Result<Scored, ScoreError> {
    let scored = items.per_item(|truth, prediction| {
        let gt = first_answer(truth).ok().filter(|gt| !gt.is_empty()).ok_or("no answer (a test-split row)")?;
        Ok(hit(extract(prediction, Extraction::MmBench) == gt.to_lowercase()))
    })?;
    let with_source = items.truths.iter().filter(|t| t.source.is_some()).count();
    if with_source != 0 && with_source != items.truths.len() {
        let truth = items.truths.iter().find(|t| t.source.is_none()).unwrap_or(&items.truths[0]);
        return Err(items.bad(truth, "no source id, where other rows have one"));
    }
    let mut groups: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for (truth, &c) in items.truths.iter().zip(&scored.correct) {
        if let Some(source) = &truth.source {
            *groups.entry((truth.category.as_deref().unwrap_or_default(), source)).or_insert(true) &= c == 1.0;
        }
    }
    let mut circular: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for ((category, _), all_right) in &groups {
        circular.entry(category).or_default().push(hit(*all_right));
    }
    let mut result = scored.accuracy(true);
    if !groups.is_empty() {
        for (category, hits) in &circular {
            result.parts.insert(format!("{category} circular"), 100.0 * mean(hits));
        }
        result.parts.insert("circular_accuracy".into(), 100.0 * mean(&groups.values().map(|&r| hit(r)).collect::<Vec<_>>()));
    }
    Ok(result)
}

/// CV-Bench: per type ("2D", "3D") the mean of its sources' accuracies, the headline their
/// mean: ½·[(ADE20K + COCO)/2 + Omni3D] on the released data. Parts: "2D", "3D",
/// "<type> <source>" and "<type> <task>".
pub(super) fn cv_bench(items: &Items) -> Result<Scored, ScoreError> {
    let scored = items.per_item(letter)?;
    let mut sources: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    let mut tasks: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for (truth, &c) in items.truths.iter().zip(&scored.correct) {
        let kind = truth.kind.as_deref().filter(|k| ["2D", "3D"].contains(k));
        let kind = kind.ok_or_else(|| items.bad(truth, format!("type {:?} is not \"2D\" or \"3D\"", truth.kind)))?;
        let source = truth.source.as_deref().ok_or_else(|| items.bad(truth, "no source"))?;
        sources.entry((kind, source)).or_default().push(c);
        if let Some(task) = &truth.category {
            tasks.entry((kind, task)).or_default().push(c);
        }
    }
    let mut parts = BTreeMap::new();
    let mut per_kind = Vec::new();
    for kind in ["2D", "3D"] {
        let accuracies: Vec<(&str, f64)> =
            sources.iter().filter(|((k, _), _)| *k == kind).map(|((_, source), hits)| (*source, mean(hits))).collect();
        if accuracies.is_empty() {
            continue;
        }
        let accuracy = mean(&accuracies.iter().map(|(_, a)| *a).collect::<Vec<_>>());
        parts.insert(kind.to_string(), 100.0 * accuracy);
        parts.extend(accuracies.iter().map(|(source, a)| (format!("{kind} {source}"), 100.0 * a)));
        per_kind.push(accuracy);
    }
    parts.extend(tasks.iter().map(|((kind, task), hits)| (format!("{kind} {task}"), 100.0 * mean(hits))));
    let score = mean(&per_kind);
    Ok(Scored { score, paper_score: 100.0 * score, parts, correct: scored.correct })
}
