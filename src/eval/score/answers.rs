//! The answers a model gave, read for re-scoring (`cambrian score`): an ANSWERS.jsonl file of
//! `{"index": i, "answer": "..."}` lines (other fields ignored, blank lines skipped), where `i`
//! is the question's 0-based position in the benchmark, or (index, answer) pairs taken from
//! elsewhere (an eval report). A question nobody answered is `None`, which scores wrong.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}, line {line}: {reason}")]
    Line { path: PathBuf, line: usize, reason: String },
    #[error("answer {position}: {reason}")]
    Pair { position: usize, reason: String },
}

/// One prediction per question, in benchmark order.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    pub predictions: Vec<Option<String>>,
}

impl Answers {
    pub fn answered(&self) -> usize {
        self.predictions.iter().filter(|p| p.is_some()).count()
    }

    /// Questions without an answer.
    pub fn missing(&self) -> usize {
        self.predictions.len() - self.answered()
    }
}

#[derive(Deserialize)]
struct Line {
    index: usize,
    answer: String,
}

/// Reads ANSWERS.jsonl for a benchmark of `questions` questions. Bad JSON, a duplicate index
/// and an index out of range are errors naming the line.
pub fn read_answers(path: &Path, questions: usize) -> Result<Answers, AnswersError> {
    let bytes = std::fs::read(path).map_err(|source| AnswersError::Io { path: path.to_path_buf(), source })?;
    let mut slots = Slots::new(questions);
    for (number, line) in (1..).zip(bytes.split(|&b| b == b'\n')) {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let bad = |reason: String| AnswersError::Line { path: path.to_path_buf(), line: number, reason };
        let Line { index, answer } = serde_json::from_slice(line).map_err(|e| bad(format!("not an answer object: {e}")))?;
        slots.put(index, answer, number).map_err(|previous| bad(slots.conflict(index, previous, "line")))?;
    }
    Ok(slots.into_answers())
}

/// The same from (index, answer) pairs; errors name the pair's 1-based position.
pub fn from_pairs(pairs: impl IntoIterator<Item = (usize, String)>, questions: usize) -> Result<Answers, AnswersError> {
    let mut slots = Slots::new(questions);
    for (position, (index, answer)) in (1..).zip(pairs) {
        slots
            .put(index, answer, position)
            .map_err(|previous| AnswersError::Pair { position, reason: slots.conflict(index, previous, "answer") })?;
    }
    Ok(slots.into_answers())
}

/// Each question's answer with where it came from (line or position).
struct Slots(Vec<Option<(String, usize)>>);

impl Slots {
    fn new(questions: usize) -> Self {
        Self(vec![None; questions])
    }

    /// Stores an answer; an index out of range or taken gives back the place of the answer
    /// already there (`None` when out of range).
    fn put(&mut self, index: usize, answer: String, place: usize) -> Result<(), Option<usize>> {
        match self.0.get_mut(index) {
            None => Err(None),
            Some(Some((_, previous))) => Err(Some(*previous)),
            Some(slot) => {
                *slot = Some((answer, place));
                Ok(())
            }
        }
    }

    fn conflict(&self, index: usize, previous: Option<usize>, place: &str) -> String {
        match previous {
            Some(previous) => format!("index {index} is answered twice (first on {place} {previous})"),
            None => format!("index {index} is out of range: the benchmark has {} questions", self.0.len()),
        }
    }

    fn into_answers(self) -> Answers {
        Answers { predictions: self.0.into_iter().map(|slot| slot.map(|(answer, _)| answer)).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: impl AsRef<[u8]>, questions: usize) -> Result<Answers, AnswersError> {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cambrian-answers-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("answers.jsonl");
        std::fs::write(&path, text).unwrap();
        let result = read_answers(&path, questions);
        std::fs::remove_dir_all(&dir).unwrap();
        result
    }

    #[test]
    fn reads_answers_and_counts_the_missing() {
        let text = "{\"index\": 2, \"answer\": \"yes\", \"question_id\": 7}\n\n{\"index\": 0, \"answer\": \"\"}\n";
        let answers = read(text, 4).unwrap();
        assert_eq!(answers.predictions, [Some(String::new()), None, Some("yes".into()), None]);
        assert_eq!((answers.answered(), answers.missing()), (2, 2));
    }

    #[test]
    fn errors_name_the_line() {
        for (text, expected) in [
            ("{\"index\": 0, \"answer\": \"a\"}\n{\"index\": 1, \"answer\": \"b\"\n", "line 2: not an answer object"),
            (
                "{\"index\": 0, \"answer\": \"a\"}\n{\"index\": 0, \"answer\": \"b\"}\n",
                "line 2: index 0 is answered twice (first on line 1)",
            ),
            ("{\"index\": 3, \"answer\": \"a\"}\n", "line 1: index 3 is out of range: the benchmark has 3 questions"),
            ("{\"index\": -1, \"answer\": \"a\"}\n", "line 1: not an answer object"),
            ("{\"index\": 0}\n", "line 1: not an answer object: missing field `answer`"),
            ("{\"index\": 0, \"answer\": null}\n", "line 1: not an answer object"),
        ] {
            let error = read(text, 3).unwrap_err().to_string();
            assert!(error.contains(expected), "{error:?} lacks {expected:?}");
        }
        let not_utf8 = read(b"\n\n{\"index\": 0, \"answer\": \"\xff\"}\n", 3).unwrap_err().to_string();
        assert!(not_utf8.contains("line 3: not an answer object"), "{not_utf8}");
    }

    #[test]
    fn pairs_check_like_lines() {
        let answers = from_pairs([(1, "b".to_string())], 2).unwrap();
        assert_eq!(answers.predictions, [None, Some("b".into())]);
        let error = from_pairs([(1, "b".into()), (1, "c".into())], 2).unwrap_err().to_string();
        assert_eq!(error, "answer 2: index 1 is answered twice (first on answer 1)");
        let error = from_pairs([(2, "b".into())], 2).unwrap_err().to_string();
        assert_eq!(error, "answer 1: index 2 is out of range: the benchmark has 2 questions");
    }
}
