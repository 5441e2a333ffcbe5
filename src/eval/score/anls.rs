//! DocVQA's ANLS as lmms-eval computes it (`anls` in `lmms_eval/api/metrics.py`, threshold
//! 0.5): the edit distance of the normalized strings over the longer raw string's length.

use super::{Truth, py};

/// Lowercase, stripped, whitespace runs as one space.
fn normalize(text: &str) -> Vec<char> {
    py::split(&text.to_lowercase()).collect::<Vec<_>>().join(" ").chars().collect()
}

/// Levenshtein distance over code points.
fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=a.len()).collect();
    for (j, cb) in b.iter().enumerate() {
        let mut current = vec![j + 1];
        for (i, ca) in a.iter().enumerate() {
            let cost = if ca == cb { previous[i] } else { 1 + previous[i].min(previous[i + 1]).min(current[i]) };
            current.push(cost);
        }
        previous = current;
    }
    previous[a.len()]
}

/// 1 − the smallest normalized distance to an answer, 0 below 0.5. The length is
/// `max(len(answer.upper()), len(pred.upper()))` of the raw strings, as lmms-eval has it.
pub(super) fn anls(truth: &Truth, prediction: &str) -> Result<f64, String> {
    let upper_len = |text: &str| text.to_uppercase().chars().count();
    let predicted = normalize(prediction);
    let distance = |answer: &String| {
        let length = upper_len(answer).max(upper_len(prediction));
        if length == 0 { 0.0 } else { levenshtein(&normalize(answer), &predicted) as f64 / length as f64 }
    };
    let nearest = truth.answers.iter().map(distance).reduce(f64::min).ok_or("no answers")?;
    let similarity = 1.0 - nearest;
    Ok(if similarity < 0.5 { 0.0 } else { similarity })
}
