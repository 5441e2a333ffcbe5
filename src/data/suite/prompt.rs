//! Cambrian's prompt builders, one per eval-script family (cambrian-mllm/cambrian 539ffc3,
//! `eval/eval/<b>/<b>_eval.py`, `process` or `CustomDataset.__getitem__`), as pure functions of
//! a row's text. Each returns `qs` without the image placeholder: the text Cambrian puts after
//! `<image>\n`. tests/benchmark_suite.rs checks them against the prompts Cambrian's own code
//! builds for the fixture rows (tests/fixtures/benchmarks/prompts.json).

use crate::data::benchmark::letter;
use crate::eval::score::py;

/// `question + "\n" + suffix` (mme_eval.py:35, gqa_eval.py:33, chartqa_eval.py:39-47,
/// ocrbench_eval.py:46-52, docvqa_eval.py:35-36); no suffix: the question (realworldqa_eval.py:45).
pub fn short_answer(question: &str, suffix: Option<&str>) -> String {
    match suffix {
        Some(suffix) => format!("{question}\n{suffix}"),
        None => question.to_string(),
    }
}

/// `hint + join + question + label`, then "\n{letter}. {choice}" for each shown choice, then
/// "\n" + suffix (mmbench_en_eval.py:41-49, seed_eval.py:36-41, ai2d_eval.py:44-51,
/// scienceqa_eval.py:44-52). `choices` carry their letters: MMBench keeps a choice's letter
/// when an earlier one is not shown.
pub fn lettered(hint: Option<(&str, &str)>, question: &str, label: &str, choices: &[(char, &str)], suffix: &str) -> String {
    let mut qs = match hint {
        Some((hint, join)) => format!("{hint}{join}{question}{label}"),
        None => format!("{question}{label}"),
    };
    for (letter, choice) in choices {
        qs.push_str(&format!("\n{letter}. {choice}"));
    }
    qs.push('\n');
    qs.push_str(suffix);
    qs
}

/// MMMU (mmmu_eval.py:36-55): " Options:" and the lettered `options` for a multiple-choice
/// question, else the open suffix; then every `<image N>` removed and the text stripped. With
/// the placeholder in front, Python's `strip()` meets `<` first and strips the end only.
pub fn mmmu(question: &str, options: Option<&[String]>, suffix: &str, open_suffix: &str, has_image: bool) -> String {
    let qs = match options {
        Some(options) => {
            let lettered: Vec<(char, &str)> = options.iter().enumerate().map(|(i, o)| (letter(i), o.as_str())).collect();
            self::lettered(None, question, " Options:", &lettered, suffix)
        }
        None => format!("{question}\n{open_suffix}"),
    };
    let qs = without_image_refs(&qs);
    if has_image { qs.trim_end_matches(py::is_space).to_string() } else { py::strip(&qs).to_string() }
}

/// `re.findall(r"'(.*?)'", options)`: the texts between single quotes, a match never crossing
/// a newline (where one does, the search resumes after the opening quote).
pub fn quoted(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('\'') {
        let after = &rest[open + 1..];
        match after.find(['\'', '\n']) {
            Some(end) if after.as_bytes()[end] == b'\'' => {
                found.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    found
}

/// `re.sub(r'<image \d+>', '', text)`; `\d` is any Unicode decimal digit.
fn without_image_refs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<image ") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "<image ".len()..];
        let digits = after.find(|c: char| py::decimal(c).is_none()).unwrap_or(after.len());
        if digits > 0 && after[digits..].starts_with('>') {
            rest = &after[digits + 1..];
        } else {
            out.push_str("<image ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// MathVista (mathvista_eval.py:36-47): the ready-made query, then the multi-choice or the
/// free-form suffix.
pub fn mathvista(query: &str, multi_choice: bool, suffix: &str, open_suffix: &str) -> String {
    format!("{query}\n{}", if multi_choice { suffix } else { open_suffix })
}

/// TextVQA (textvqa_eval.py:35-43): "\nReference OCR tokens:", then " t0", ", t1", …
pub fn textvqa(question: &str, ocr_tokens: &[String], suffix: &str) -> String {
    format!(
        "{question}\nReference OCR tokens:{}\n{suffix}",
        if ocr_tokens.is_empty() { String::new() } else { format!(" {}", ocr_tokens.join(", ")) }
    )
}

/// MMVP (mmvp_eval.py:36-45): the options text split at "(b)", each part stripped, "(a)"
/// and "(b)" turned into "A." and "B.", the second part given "B. " in front.
pub fn mmvp(question: &str, options: &str, suffix: &str) -> String {
    let mut parts: Vec<String> = options.split("(b)").map(|p| py::strip(p).replace("(a)", "A.").replace("(b)", "B.")).collect();
    if let Some(second) = parts.get_mut(1) {
        *second = format!("B. {second}");
    }
    let mut qs = format!("{question} Options:");
    for part in parts {
        qs.push('\n');
        qs.push_str(&part);
    }
    qs.push('\n');
    qs.push_str(suffix);
    qs
}

/// MMVP's `give_options` (mmvp_eval.py:72-75): the text after ")" of each part after a "(",
/// stripped: "(a) Open (b) Closed" → ["Open", "Closed"]. `None` where a part has no ")"
/// (Python raises IndexError).
pub fn mmvp_choices(options: &str) -> Option<Vec<String>> {
    options.split('(').skip(1).map(|part| part.split(')').nth(1).map(|text| py::strip(text).to_string())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_matches_python_findall() {
        // re.findall(r"'(.*?)'", s) for each s, from CPython 3.11.
        assert_eq!(quoted("['A', 'B', 'C']"), ["A", "B", "C"]);
        assert_eq!(quoted("[\"The man's hat\", \"The woman's hat\"]"), ["s hat\", \"The woman"]);
        assert_eq!(quoted("['a\nb', 'c']"), [", "]);
        assert_eq!(quoted("[]"), Vec::<String>::new());
        assert_eq!(quoted("['']"), [""]);
    }

    #[test]
    fn image_refs_need_digits_and_a_closing_bracket() {
        // re.sub(r'<image \d+>', '', s)
        assert_eq!(without_image_refs("see <image 1> and <image 12>."), "see  and .");
        assert_eq!(without_image_refs("<image x> <image 3"), "<image x> <image 3");
        assert_eq!(without_image_refs("<image <image 2>>"), "<image >");
        assert_eq!(without_image_refs("<image \u{0663}>"), "");
    }

    #[test]
    fn mmmu_strips_both_ends_only_without_an_image() {
        assert_eq!(mmmu("<image 1> Why?", None, "s", "Open.", true), " Why?\nOpen.");
        assert_eq!(mmmu("<image 1> Why?", None, "s", "Open.", false), "Why?\nOpen.");
    }

    #[test]
    fn mmvp_options_and_choices() {
        assert_eq!(mmvp("Q?", "(a) Open (b) Closed", "S"), "Q? Options:\nA. Open\nB. Closed\nS");
        assert_eq!(mmvp_choices("(a) Open (b) Closed"), Some(vec!["Open".to_string(), "Closed".to_string()]));
        assert_eq!(mmvp_choices("(a Open"), None);
    }
}
