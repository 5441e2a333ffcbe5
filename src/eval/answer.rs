//! Cambrian-1's answer extraction (`extract_mcq_answer`, `extract_single_answer` and
//! `extract_answer` in `eval/eval/*/*_test.py`): lowercase and strip; keep the text after the
//! last occurrence of each of "answer is", "answer is:", "answer:" in turn; strip again; then
//! each script trims in its own way ([`Extraction`]).

use super::score::py;

/// The trimming after the answer keyword, one per family of Cambrian's scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extraction {
    /// `extract_single_answer` (MMMU open questions, RealWorldQA) and ScienceQA's
    /// `extract_answer`: `.rstrip('.')`.
    Single,
    /// SEED's `extract_mcq_answer`, also the crate's multiple-choice path: `.rstrip('.')`, then
    /// a leading "(" and a trailing ")" stripped, then the first character.
    Seed,
    /// MMBench's, MMMU's and AI2D's `extract_mcq_answer`: as [`Extraction::Seed`] with
    /// `.rstrip('.:,')`.
    MmBench,
    /// MMVP's `extract_mcq_answer`: as [`Extraction::MmBench`] but the whole text is kept.
    Mmvp,
}

/// The answer a generated text gives, lowercase, as the script of `rule` reads it.
pub fn extract(generated: &str, rule: Extraction) -> String {
    let mut text = generated.to_lowercase();
    text = py::strip(&text).to_string();
    for keyword in ["answer is", "answer is:", "answer:"] {
        if let Some((_, rest)) = text.rsplit_once(keyword) {
            text = rest.to_string();
        }
    }
    let text = py::strip(&text);
    let trailing: &[char] = if matches!(rule, Extraction::Single | Extraction::Seed) { &['.'] } else { &['.', ':', ','] };
    let text = text.trim_end_matches(trailing);
    if rule == Extraction::Single {
        return text.to_string();
    }
    let text = text.trim_start_matches('(').trim_end_matches(')');
    match rule {
        Extraction::Mmvp => text.to_string(),
        _ => text.chars().take(1).collect(),
    }
}

/// The option letter (lowercase) a generated answer names, as Cambrian's SEED script reads it.
pub fn extract_choice(generated: &str) -> String {
    extract(generated, Extraction::Seed)
}

/// The choice a model's reply names, read with Cambrian-1's `extract_mcq_answer`
/// ([`extract_choice`]); a letter outside the choices is `None`.
pub fn read_answer(reply: &str, n_choices: usize) -> Option<usize> {
    let first = extract_choice(reply).chars().next()?;
    let index = (first as usize).checked_sub('a' as usize)?;
    (index < n_choices).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each triple checked against Cambrian's Python functions (seed_test.py,
    /// mmbench_en_test.py, mmvp_test.py, realworldqa_test.py's `extract_single_answer` before
    /// its `.split()[0]`); tests/scorers.rs checks many more through the scorers.
    #[test]
    fn matches_cambrians_extractions() {
        use Extraction::*;
        for (generated, rule, expected) in [
            ("(A)", Seed, "a"),
            ("B", Seed, "b"),
            ("  C.  ", Seed, "c"),
            ("The answer is (D).", Seed, "d"),
            ("I think the answer is: B", Seed, ":"), // "answer is" splits first: Cambrian scores this wrong
            ("Answer: (c) the red box", Seed, "c"),
            ("answer is A. Wait, the answer is B", Seed, "b"),
            ("((A))..", Seed, "a"),
            ("", Seed, ""),
            ("The red one", Seed, "t"),
            (" answer is ", Seed, ""),
            ("Ä", Seed, "ä"),
            ("\u{1c}B", Seed, "b"), // Python's strip() removes U+001C, Rust's trim() does not
            (",", Seed, ","),
            (",", MmBench, ""),
            ("(:", Seed, ":"),
            ("(:", MmBench, ""),
            ("(a) Open.", MmBench, "a"),
            ("(a) Open.", Mmvp, "a) open"),
            ("Open:", Mmvp, "open"),
            ("The answer is 3.5 km.", Single, "3.5 km"),
            ("(B).", Single, "(b)"),
        ] {
            assert_eq!(extract(generated, rule), expected, "{generated:?} under {rule:?}");
        }
    }
}
