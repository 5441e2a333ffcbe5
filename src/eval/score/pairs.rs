//! The paired benchmarks, MME and MMVP, whose scripts count a pair right with a running
//! counter over the row index rather than by grouping: the second row of a pair (odd index)
//! adds its point only when the counter is odd (the first row's point is there), and takes
//! that point back when it is wrong. Rows must come in split order; a pair split across two
//! categories, or a category starting on an odd row, counts as the counter says.

use std::collections::BTreeMap;

use super::{Items, ScoreError, Scored, short};
use crate::eval::answer::{Extraction, extract};

const PERCEPTION: [&str; 10] =
    ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"];
const COGNITION: [&str; 4] = ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"];

/// Cambrian's acc+ (MME) / pair (MMVP) counter: twice the number of pairs both right, when
/// the pairs sit on even/odd rows.
#[derive(Default)]
struct PairCounter(u64);

impl PairCounter {
    fn step(&mut self, index: usize, right: bool) {
        let (second, first_counted) = (index % 2 == 1, self.0 % 2 == 1);
        if right && (!second || first_counted) {
            self.0 += 1;
        } else if !right && second && first_counted {
            self.0 -= 1;
        }
    }
}

#[derive(Default)]
struct Category {
    right: f64,
    total: f64,
    pairs: PairCounter,
}

/// MME: per category acc and acc+, a category's score 100·(acc + acc+) (0–200), Perception
/// and Cognition the sums of theirs. Parts: "Perception", "Cognition", "total_score",
/// "accuracy" (all rows), and per category its score, "<category> acc" and "<category> acc+".
pub(super) fn mme(items: &Items) -> Result<Scored, ScoreError> {
    let correct = items.per_item(short::gqa)?.correct;
    let mut categories: BTreeMap<&str, Category> = BTreeMap::new();
    for (truth, &c) in items.truths.iter().zip(&correct) {
        let name = truth.category.as_deref().ok_or_else(|| items.bad(truth, "no category"))?;
        if !PERCEPTION.contains(&name) && !COGNITION.contains(&name) {
            return Err(items.bad(truth, format!("category {name:?} is not one of MME's")));
        }
        let category = categories.entry(name).or_default();
        category.right += c;
        category.total += 1.0;
        category.pairs.step(truth.index, c == 1.0);
    }
    let mut parts = BTreeMap::new();
    let (mut perception, mut cognition, mut perceived) = (0.0, 0.0, 0);
    for (name, category) in &categories {
        let (acc, acc_plus) = (category.right / category.total, category.pairs.0 as f64 / category.total);
        let score = 100.0 * (acc + acc_plus);
        if PERCEPTION.contains(name) {
            perception += score;
            perceived += 1;
        } else {
            cognition += score;
        }
        parts.insert(name.to_string(), score);
        parts.insert(format!("{name} acc"), 100.0 * acc);
        parts.insert(format!("{name} acc+"), 100.0 * acc_plus);
    }
    if perceived == 0 {
        return Err(ScoreError::Benchmark { scorer: items.scorer, reason: "no perception category".into() });
    }
    parts.insert("Perception".into(), perception);
    parts.insert("Cognition".into(), cognition);
    parts.insert("total_score".into(), perception + cognition);
    parts.insert("accuracy".into(), 100.0 * super::mean(&correct));
    Ok(Scored { score: perception / (200.0 * perceived as f64), paper_score: perception, parts, correct })
}

/// MMVP: right when the extraction (kept whole) is the answer's letter or its option's text;
/// the headline is the pair counter over all rows, 2·(pairs both right) / rows.
pub(super) fn mmvp(items: &Items) -> Result<Scored, ScoreError> {
    let correct = items.per_item(|truth, prediction| {
        let letter = super::first_answer(truth)?.to_lowercase().chars().nth(1).ok_or("the answer is not like \"(a)\"")?;
        let option = (letter as usize).checked_sub('a' as usize).and_then(|i| truth.choices.get(i));
        let text = option.ok_or_else(|| format!("the answer's letter {letter:?} names none of the choices"))?.to_lowercase();
        let answer = extract(prediction, Extraction::Mmvp);
        Ok(super::hit(answer == letter.to_string() || answer == text))
    })?;
    let mut pairs = PairCounter::default();
    for (truth, &c) in items.truths.iter().zip(&correct.correct) {
        pairs.step(truth.index, c == 1.0);
    }
    let score = pairs.0 as f64 / items.truths.len() as f64;
    Ok(Scored { score, paper_score: 100.0 * score, parts: BTreeMap::new(), correct: correct.correct })
}
