//! Each open task as the benchmark whose format it takes: the preset it imitates lends its
//! columns, prompt suffix and scorer to the task's spec (`benchmark.toml`), and the task's
//! table has that benchmark's columns, named and typed as on the hub:
//! - existence, MME (`lmms-lab/MME`): question_id, image, question, answer, category;
//! - colour and count, TextVQA (`lmms-lab/textvqa`): question_id (int32), question, image,
//!   answers (ten strings); the prompt is the plain short answer, with no OCR-token line (the
//!   scenes have no OCR tokens);
//! - sign, OCRBench (`echo840/OCRBench`): question, question_type, answer (a list), image;
//! - chart, ChartQA (`lmms-lab/ChartQA`): type, question, answer, image.

use std::sync::Arc;

use super::table::{Cell, Feature};
use super::{OpenQuestion, OpenTask};
use crate::data::suite::prompt::short_answer;
use crate::data::suite::spec::{ImageTag, Prompt, ShortAnswer};
use crate::data::suite::{BenchmarkSpec, preset};

/// The one shard of the test split, as `datasets` names it.
pub const FILE: &str = "data/test-00000-of-00001.parquet";
/// Generated answers are a word or a number.
const MAX_NEW_TOKENS: usize = 16;

const MME: &[(&str, Feature)] = &[
    ("question_id", Feature::String),
    ("image", Feature::Image),
    ("question", Feature::String),
    ("answer", Feature::String),
    ("category", Feature::String),
];
const TEXTVQA: &[(&str, Feature)] =
    &[("question_id", Feature::Int32), ("question", Feature::String), ("image", Feature::Image), ("answers", Feature::Strings)];
const OCRBENCH: &[(&str, Feature)] =
    &[("question", Feature::String), ("question_type", Feature::String), ("answer", Feature::Strings), ("image", Feature::Image)];
const CHARTQA: &[(&str, Feature)] =
    &[("type", Feature::String), ("question", Feature::String), ("answer", Feature::String), ("image", Feature::Image)];

/// A task in its benchmark's format.
pub struct Imitation {
    pub task: OpenTask,
    /// The preset imitated, and its short title.
    pub preset: (&'static str, &'static str),
    pub spec: BenchmarkSpec,
    prompt: ShortAnswer,
}

impl Imitation {
    pub fn of(task: OpenTask) -> Self {
        let preset_name = match task {
            OpenTask::Existence => ("mme", "MME"),
            OpenTask::Colour | OpenTask::Count => ("textvqa-val", "TextVQA"),
            OpenTask::Sign => ("ocrbench", "OCRBench"),
            OpenTask::Chart => ("chartqa", "ChartQA"),
        };
        let borrowed = preset(preset_name.0).unwrap_or_else(|err| panic!("a built-in preset: {err}"));
        let prompt = match borrowed.prompt {
            Prompt::ShortAnswer(short) => short,
            Prompt::TextVqa(textvqa) => ShortAnswer { suffix: Some(textvqa.suffix), image_tag: ImageTag::IfImage },
            other => panic!("preset `{}` is not a short-answer benchmark: {other:?}", preset_name.0),
        };
        let name = task.name();
        let spec = BenchmarkSpec {
            name: format!("synth-{name}"),
            title: format!("Synthetic {name} ({}-style)", preset_name.1),
            category: task.category(),
            hub: format!("cambrian/synth-{name}"),
            revision: None,
            config: None,
            split: Some("test".to_string()),
            files: vec!["data/test-*.parquet".to_string()],
            prompt: Prompt::ShortAnswer(prompt.clone()),
            max_new_tokens: MAX_NEW_TOKENS,
            ..borrowed
        };
        Self { task, preset: preset_name, spec, prompt }
    }

    /// The user message the spec builds for `question` after `<image>\n`.
    pub fn prompt(&self, question: &OpenQuestion) -> String {
        short_answer(&question.question, self.prompt.suffix.as_deref())
    }

    pub fn columns(&self) -> &'static [(&'static str, Feature)] {
        match self.task {
            OpenTask::Existence => MME,
            OpenTask::Colour | OpenTask::Count => TEXTVQA,
            OpenTask::Sign => OCRBENCH,
            OpenTask::Chart => CHARTQA,
        }
    }

    /// Row `row` of the table, question `question` of item `item`, whose image is `png`.
    pub fn row(&self, row: i32, item: u64, question: &OpenQuestion, png: &Arc<[u8]>) -> Vec<Cell> {
        let text = |s: &str| Cell::Str(s.to_string());
        let image = Cell::Image(png.clone());
        match self.task {
            // MME's question_id is the image's file name, shared by the pair.
            OpenTask::Existence => vec![
                Cell::Str(format!("{item:06}.png")),
                image,
                text(&question.question),
                text(question.canonical()),
                text("existence"),
            ],
            OpenTask::Colour | OpenTask::Count => {
                vec![Cell::Int(row), text(&question.question), image, Cell::Strings(question.answers.clone())]
            }
            // A word read off a sign: OCRBench's IIIT5K-like "Regular Text Recognition".
            OpenTask::Sign => {
                vec![text(&question.question), text("Regular Text Recognition"), Cell::Strings(question.answers.clone()), image]
            }
            // ChartQA's machine-generated questions are its `augmented` half.
            OpenTask::Chart => vec![text("augmented_test"), text(&question.question), text(question.canonical()), image],
        }
    }

    /// `benchmark.toml`: the spec, with a header saying what it is.
    pub fn spec_toml(&self) -> Result<String, toml::ser::Error> {
        let (name, title) = self.preset;
        Ok(format!(
            "# Written by `cambrian synth`: the synthetic {} task in the format of {title} (preset `{name}`), prompted\n\
             # and scored as it is. Read from this folder (`--data`); `hub` is never downloaded.\n{}",
            self.task.name(),
            toml::to_string(&self.spec)?
        ))
    }
}
