//! The files the official servers score, for the splits whose answers are hidden.

use std::path::Path;

use serde::Serialize;

use super::spec::Submission;
use super::{Question, SuiteError};

/// One line of DocVQA's submission, as Cambrian's docvqa_test.py writes it.
#[derive(Debug, PartialEq, Serialize)]
struct DocVqaAnswer<'a> {
    #[serde(rename = "questionId")]
    question_id: i64,
    answer: &'a str,
}

impl Submission {
    /// Writes `answers[i]` for `questions[i]` atomically: DocVQA's
    /// `[{"questionId": int(questionId), "answer": answer}]` (submitted at
    /// <https://rrc.cvc.uab.es/?ch=17&com=mymethods&task=2>); a missing answer is the empty one,
    /// as the script reads `data.get('answer', '')`.
    pub fn write(self, path: &Path, questions: &[Question], answers: &[Option<String>]) -> Result<(), SuiteError> {
        if questions.len() != answers.len() {
            return Err(SuiteError::Answers { path: path.to_path_buf(), questions: questions.len(), answers: answers.len() });
        }
        match self {
            Submission::Docvqa => {
                let lines = questions
                    .iter()
                    .zip(answers)
                    .map(|(question, answer)| {
                        let question_id = question.id.parse().map_err(|_| SuiteError::Id { id: question.id.clone() })?;
                        Ok(DocVqaAnswer { question_id, answer: answer.as_deref().unwrap_or_default() })
                    })
                    .collect::<Result<Vec<_>, SuiteError>>()?;
                Ok(crate::atomic::write_json(path, &lines)?)
            }
        }
    }
}
