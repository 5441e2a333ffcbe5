//! A benchmark as `eval`, `score` and sweeps take it: its questions with the prompts the model
//! is asked and the truths the scorer judges, from any of the sources a user names (a preset,
//! a spec file, a folder holding a `benchmark.toml` with its data, a CV-Bench folder, a
//! multiple-choice JSONL). The multiple-choice loaders' items become questions whose truths
//! the crate's letter rule scores (`Scorer::Accuracy`, `Scorer::CvBench`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::data::DataError;
use crate::data::benchmark::{Benchmark, Category, Item, Scoring, letter};
use crate::data::hub::ImageRef;
use crate::data::suite::spec::Submission;
use crate::data::suite::{BenchmarkSpec, Dataset, Question, SuiteError};
use crate::eval::score::{Scorer, Truth};
use crate::features::key::hex;

/// The spec file a benchmark folder holds beside its data (as `cambrian synth` writes them).
pub const SPEC_FILE: &str = "benchmark.toml";

#[derive(Debug, thiserror::Error)]
pub enum QuestionsError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("{0}")]
    Source(String),
}

/// Where a benchmark's questions come from, as a user names them.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// A preset name, a spec file (`.toml`), a folder with a `benchmark.toml`, a CV-Bench
    /// folder or a multiple-choice JSONL.
    pub benchmark: &'a str,
    /// For a preset or spec: a folder with the dataset repository's layout, instead of the
    /// hub cache.
    pub data: Option<&'a Path>,
    /// For a multiple-choice JSONL: its category.
    pub category: Option<Category>,
    /// The name in reports; default: the preset's, or the file's stem.
    pub name: Option<&'a str>,
}

/// A benchmark's questions in index order, with what scores them.
#[derive(Debug, Clone)]
pub struct Questions {
    pub name: String,
    pub category: Category,
    /// None for a split whose answers are hidden: its `submission` is written instead.
    pub scorer: Option<Scorer>,
    pub submission: Option<Submission>,
    /// The preset's generation budget (the multiple-choice loaders have none).
    pub max_new_tokens: Option<usize>,
    /// The folder relative image paths are read from.
    pub root: PathBuf,
    pub questions: Vec<Question>,
    /// The expected score of guessing among the choices, where the loader knows it.
    pub chance: Option<f64>,
}

impl Questions {
    pub fn load(source: &Source) -> Result<Self, QuestionsError> {
        let path = Path::new(source.benchmark);
        let spec_in_folder = path.join(SPEC_FILE);
        if spec_in_folder.is_file() {
            let spec = BenchmarkSpec::from_file(&spec_in_folder)?;
            return Self::from_dataset(Dataset::open(spec, Some(source.data.unwrap_or(path)))?, source.name);
        }
        let is_spec = source.benchmark.ends_with(".toml");
        if is_spec || !path.exists() {
            let spec = crate::data::suite::resolve(source.benchmark)?;
            return Self::from_dataset(Dataset::open(spec, source.data)?, source.name);
        }
        if source.data.is_some() {
            return Err(QuestionsError::Source(format!("--data is for a preset or a spec; {} is read as it is", path.display())));
        }
        let name = match source.name {
            Some(name) => name.to_string(),
            None => path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "benchmark".into()),
        };
        let benchmark = crate::data::cvbench::load::benchmark(path, &name, source.category)?;
        Self::from_benchmark(&benchmark)
    }

    fn from_dataset(dataset: Dataset, name: Option<&str>) -> Result<Self, QuestionsError> {
        let questions = dataset.questions()?.collect::<Result<Vec<_>, _>>()?;
        if questions.is_empty() {
            return Err(QuestionsError::Source(format!("benchmark `{}` has no questions", dataset.spec.name)));
        }
        let spec = &dataset.spec;
        Ok(Self {
            name: name.unwrap_or(&spec.name).to_string(),
            category: spec.category,
            scorer: spec.scorer,
            submission: spec.submission,
            max_new_tokens: Some(spec.max_new_tokens),
            root: dataset.root().to_path_buf(),
            questions,
            chance: None,
        })
    }

    /// A multiple-choice benchmark's items as questions: the prompt with its lettered
    /// choices and Cambrian's letter suffix, the answer as "(A)".
    fn from_benchmark(benchmark: &Benchmark) -> Result<Self, QuestionsError> {
        let questions = benchmark
            .items
            .iter()
            .enumerate()
            .map(|(index, item)| Question {
                index,
                id: item.id.clone(),
                images: vec![ImageRef { bytes: None, path: Some(item.image.to_string_lossy().into_owned()) }],
                prompt: item.full_prompt(),
                has_image: true,
                truth: item_truth(index, item),
            })
            .collect();
        let scorer = match benchmark.scoring {
            Scoring::Accuracy => Scorer::Accuracy,
            Scoring::CvBench => Scorer::CvBench,
            Scoring::PairAccuracy => {
                return Err(QuestionsError::Source(format!("{}: pair accuracy is the `mmvp` preset's", benchmark.name)));
            }
        };
        Ok(Self {
            name: benchmark.name.clone(),
            category: benchmark.category,
            scorer: Some(scorer),
            submission: None,
            max_new_tokens: None,
            // The items' image paths are as the loader resolved them.
            root: PathBuf::new(),
            questions,
            chance: Some(benchmark.random_baseline().value),
        })
    }

    pub fn truths(&self) -> Vec<Truth> {
        self.questions.iter().map(|q| q.truth.clone()).collect()
    }

    /// Whether the choice-likelihood scorer applies: a scorer that reads a chosen letter, and
    /// every question with choices. Open-ended benchmarks (and MMMU's and MathVista's mixes)
    /// have generation only.
    pub fn multiple_choice(&self) -> bool {
        self.scorer.is_some_and(reads_letters) && self.questions.iter().all(|q| q.truth.choices.len() >= 2)
    }

    /// SHA-256 of everything scoring reads: the scorer, the category, and each question's
    /// prompt, truth and image bytes.
    pub fn sha256(&self) -> Result<String, DataError> {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::json!([self.category, self.scorer, self.submission.is_some()]).to_string());
        for question in &self.questions {
            let images: Vec<String> = question
                .images
                .iter()
                .map(|image| match (&image.bytes, &image.path) {
                    (Some(bytes), _) => Ok(hex(&Sha256::digest(bytes))),
                    (None, Some(path)) => {
                        let path = self.root.join(path);
                        std::fs::read(&path).map(|bytes| hex(&Sha256::digest(bytes))).map_err(DataError::io(&path))
                    }
                    (None, None) => Ok(String::new()),
                })
                .collect::<Result<_, _>>()?;
            let text =
                serde_json::json!([question.index, question.id, question.prompt, question.has_image, question.truth, images])
                    .to_string();
            hasher.update(text.len().to_le_bytes());
            hasher.update(text);
        }
        Ok(hex(&hasher.finalize()))
    }
}

/// A multiple-choice item's truth as the letter-reading scorers take it: the answer "(A)",
/// the choices, the task as the category, CV-Bench's type and source.
pub fn item_truth(index: usize, item: &Item) -> Truth {
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Truth {
        index,
        answers: vec![format!("({})", letter(item.answer))],
        choices: item.choices.clone(),
        category: nonempty(&item.task),
        kind: nonempty(&item.kind),
        source: nonempty(&item.source),
    }
}

/// The scorers whose rule reads a choice's letter from the reply.
fn reads_letters(scorer: Scorer) -> bool {
    matches!(
        scorer,
        Scorer::Accuracy | Scorer::CvBench | Scorer::Seed | Scorer::MmBench | Scorer::Ai2d | Scorer::ScienceQa | Scorer::Mmvp
    )
}

/// The reply that chooses choice `index`, as the likelihood scorer ranks and the scorer reads
/// it: its letter ("(a)" for MMVP, whose options are lettered so).
pub fn choice_reply(scorer: Scorer, index: usize) -> String {
    match scorer {
        Scorer::Mmvp => format!("({})", letter(index).to_ascii_lowercase()),
        _ => letter(index).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(answer: &str, choices: &[&str], category: Option<&str>, kind: Option<&str>) -> Truth {
        Truth {
            index: 0,
            answers: vec![answer.to_string()],
            choices: choices.iter().map(|c| c.to_string()).collect(),
            category: category.map(str::to_string),
            kind: kind.map(str::to_string),
            source: kind.map(|_| "COCO".to_string()),
        }
    }

    /// The likelihood scorer's reply for each choice is read by the benchmark's own scorer as
    /// that choice: right for the answer's choice only.
    #[test]
    fn each_choice_reply_is_read_as_its_choice() {
        let four = ["red", "green", "blue", "grey"];
        let cases = [
            (Scorer::Accuracy, truth("(B)", &four, None, None), 1),
            (Scorer::CvBench, truth("(C)", &four, Some("Count"), Some("2D")), 2),
            (Scorer::Seed, truth("D", &four, Some("1"), None), 3),
            (Scorer::MmBench, truth("A", &four, Some("image_scene"), None), 0),
            (Scorer::Ai2d, truth("2", &four, None, None), 2),
            (Scorer::ScienceQa, truth("1", &["dog", "cat", "cow"], Some("grade1"), Some("image")), 1),
            (Scorer::Mmvp, truth("(b)", &["Open", "Closed"], None, None), 1),
        ];
        for (scorer, truth, right) in cases {
            assert!(reads_letters(scorer), "{scorer}");
            for j in 0..truth.choices.len() {
                let reply = choice_reply(scorer, j);
                let scored = scorer.score(std::slice::from_ref(&truth), &[Some(reply.clone())]).unwrap();
                assert_eq!(scored.correct[0], f64::from(u8::from(j == right)), "{scorer}: choice {j} as {reply:?}");
            }
        }
    }
}
