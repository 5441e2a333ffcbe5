//! TextVQA's VQA accuracy: `TextVQAAccuracyEvaluator` and `EvalAIAnswerProcessor` of
//! Cambrian's `eval/eval/textvqa/m4c_evaluator.py` (from facebookresearch/mmf).

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{Truth, py};

const NUMBERS: [(&str, &str); 12] = [
    ("none", "0"),
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
];

const ARTICLES: [&str; 3] = ["a", "an", "the"];

const PUNCTUATION: [char; 21] =
    [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];

/// The processor's table as it stands, entries that a lowercase word cannot reach included.
#[rustfmt::skip]
static CONTRACTIONS: LazyLock<HashMap<&str, &str>> = LazyLock::new(|| HashMap::from([
    ("aint", "ain't"), ("arent", "aren't"), ("cant", "can't"), ("couldve", "could've"), ("couldnt", "couldn't"),
    ("couldn'tve", "couldn't've"), ("couldnt've", "couldn't've"), ("didnt", "didn't"), ("doesnt", "doesn't"),
    ("dont", "don't"), ("hadnt", "hadn't"), ("hadnt've", "hadn't've"), ("hadn'tve", "hadn't've"), ("hasnt", "hasn't"),
    ("havent", "haven't"), ("hed", "he'd"), ("hed've", "he'd've"), ("he'dve", "he'd've"), ("hes", "he's"),
    ("howd", "how'd"), ("howll", "how'll"), ("hows", "how's"), ("Id've", "I'd've"), ("I'dve", "I'd've"), ("Im", "I'm"),
    ("Ive", "I've"), ("isnt", "isn't"), ("itd", "it'd"), ("itd've", "it'd've"), ("it'dve", "it'd've"), ("itll", "it'll"),
    ("let's", "let's"), ("maam", "ma'am"), ("mightnt", "mightn't"), ("mightnt've", "mightn't've"),
    ("mightn'tve", "mightn't've"), ("mightve", "might've"), ("mustnt", "mustn't"), ("mustve", "must've"),
    ("neednt", "needn't"), ("notve", "not've"), ("oclock", "o'clock"), ("oughtnt", "oughtn't"), ("ow's'at", "'ow's'at"),
    ("'ows'at", "'ow's'at"), ("'ow'sat", "'ow's'at"), ("shant", "shan't"), ("shed've", "she'd've"),
    ("she'dve", "she'd've"), ("she's", "she's"), ("shouldve", "should've"), ("shouldnt", "shouldn't"),
    ("shouldnt've", "shouldn't've"), ("shouldn'tve", "shouldn't've"), ("somebody'd", "somebodyd"),
    ("somebodyd've", "somebody'd've"), ("somebody'dve", "somebody'd've"), ("somebodyll", "somebody'll"),
    ("somebodys", "somebody's"), ("someoned", "someone'd"), ("someoned've", "someone'd've"),
    ("someone'dve", "someone'd've"), ("someonell", "someone'll"), ("someones", "someone's"),
    ("somethingd", "something'd"), ("somethingd've", "something'd've"), ("something'dve", "something'd've"),
    ("somethingll", "something'll"), ("thats", "that's"), ("thered", "there'd"), ("thered've", "there'd've"),
    ("there'dve", "there'd've"), ("therere", "there're"), ("theres", "there's"), ("theyd", "they'd"),
    ("theyd've", "they'd've"), ("they'dve", "they'd've"), ("theyll", "they'll"), ("theyre", "they're"),
    ("theyve", "they've"), ("twas", "'twas"), ("wasnt", "wasn't"), ("wed've", "we'd've"), ("we'dve", "we'd've"),
    ("weve", "we've"), ("werent", "weren't"), ("whatll", "what'll"), ("whatre", "what're"), ("whats", "what's"),
    ("whatve", "what've"), ("whens", "when's"), ("whered", "where'd"), ("wheres", "where's"), ("whereve", "where've"),
    ("whod", "who'd"), ("whod've", "who'd've"), ("who'dve", "who'd've"), ("wholl", "who'll"), ("whos", "who's"),
    ("whove", "who've"), ("whyll", "why'll"), ("whyre", "why're"), ("whys", "why's"), ("wont", "won't"),
    ("wouldve", "would've"), ("wouldnt", "wouldn't"), ("wouldnt've", "wouldn't've"), ("wouldn'tve", "wouldn't've"),
    ("yall", "y'all"), ("yall'll", "y'all'll"), ("y'allll", "y'all'll"), ("yall'd've", "y'all'd've"),
    ("y'alld've", "y'all'd've"), ("y'all'dve", "y'all'd've"), ("youd", "you'd"), ("youd've", "you'd've"),
    ("you'dve", "you'd've"), ("youll", "you'll"), ("youre", "you're"), ("youve", "you've"),
]));

/// `EvalAIAnswerProcessor.__call__`.
fn normalize(answer: &str) -> String {
    // word_tokenize
    let text = answer.to_lowercase().replace([',', '?'], "").replace("'s", " 's");
    let text = py::strip(py::strip(&text).replace(['\n', '\t'], " ").as_str()).to_string();
    digits_and_articles(&strip_periods(&punctuation(&text)))
}

/// `process_punctuation` without its comma test, which cannot fire: `word_tokenize` has
/// removed every comma already.
fn punctuation(text: &str) -> String {
    let mut out = text.to_string();
    for p in PUNCTUATION {
        let spaced = text.contains(&format!("{p} ")) || text.contains(&format!(" {p}"));
        out = out.replace(p, if spaced { "" } else { " " });
    }
    out
}

/// `PERIOD_STRIP.sub("", text, re.UNICODE)`: removes each "." not followed by a decimal digit
/// (the pattern's `(?!<=\d)` is a look-ahead, always true); `re.UNICODE` (32) lands in the
/// `count` argument, so at most the first 32.
fn strip_periods(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let before_digit = chars.peek().is_some_and(|&next| py::decimal(next).is_some());
        if c == '.' && !before_digit && removed < 32 {
            removed += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// `process_digit_article`.
fn digits_and_articles(text: &str) -> String {
    let lower = text.to_lowercase();
    let words = py::split(&lower)
        .map(|word| NUMBERS.iter().find(|(name, _)| *name == word).map_or(word, |(_, digit)| digit))
        .filter(|word| !ARTICLES.contains(word))
        .map(|word| CONTRACTIONS.get(word).copied().unwrap_or(word));
    words.collect::<Vec<_>>().join(" ")
}

/// The soft score of one prediction against ten human answers: for each answer, the share
/// (at most 1) of a third of the other nine that match the prediction, averaged.
pub(super) fn accuracy(truth: &Truth, prediction: &str) -> Result<f64, String> {
    if truth.answers.len() != 10 {
        return Err(format!("VQA accuracy needs 10 answers, the question has {}", truth.answers.len()));
    }
    let answers: Vec<String> = truth.answers.iter().map(|a| normalize(a)).collect();
    let prediction = normalize(prediction);
    let matching = answers.iter().filter(|a| **a == prediction).count();
    if matching == 0 {
        return Ok(0.0);
    }
    let sum: f64 = answers.iter().map(|a| f64::min(1.0, (matching - usize::from(*a == prediction)) as f64 / 3.0)).sum();
    Ok(sum / answers.len() as f64)
}
