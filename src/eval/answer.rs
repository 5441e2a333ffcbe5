//! Cambrian-1's answer extraction for multiple-choice questions (`extract_mcq_answer` in
//! `eval/eval/*/*_test.py`): lowercase; keep the text after the last occurrence of each of
//! "answer is", "answer is:", "answer:" in turn; strip spaces, trailing dots, a leading "("
//! and a trailing ")"; keep the first character.

/// The option letter (lowercase) a generated answer names, as Cambrian scores it.
pub fn extract_choice(generated: &str) -> String {
    let mut text = generated.to_lowercase().trim().to_string();
    for keyword in ["answer is", "answer is:", "answer:"] {
        if let Some((_, rest)) = text.rsplit_once(keyword) {
            text = rest.to_string();
        }
    }
    let text = text.trim().trim_end_matches('.').trim_start_matches('(').trim_end_matches(')');
    text.chars().take(1).collect()
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

    /// Each pair checked against Cambrian's Python function.
    #[test]
    fn matches_cambrians_extract_mcq_answer() {
        for (generated, expected) in [
            ("(A)", "a"),
            ("B", "b"),
            ("  C.  ", "c"),
            ("The answer is (D).", "d"),
            ("I think the answer is: B", ":"), // "answer is" splits first: Cambrian scores this wrong
            ("Answer: (c) the red box", "c"),
            ("answer is A. Wait, the answer is B", "b"),
            ("((A))..", "a"),
            ("", ""),
            ("The red one", "t"),
            (" answer is ", ""),
            ("Ä", "ä"),
        ] {
            assert_eq!(extract_choice(generated), expected, "{generated:?}");
        }
    }
}
