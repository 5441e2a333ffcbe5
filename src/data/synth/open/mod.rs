//! Open-ended questions on the synthetic world, in the formats of the study's open-ended
//! benchmarks, so that the embedded default exercises every kind of scorer:
//! - `existence`: MME's yes/no pairs, one image asked twice ("Is there a …? Please answer yes
//!   or no."), the object present once and absent once (scored per pair, acc+);
//! - `colour`, `count`: short answers with ten annotator answers each, as VQAv2 and TextVQA
//!   keep them (scored by VQA accuracy);
//! - `sign`: a word printed on a sign in the scene, OCRBench's "what is written" (substring);
//! - `chart`: a bar chart with a numeric answer, ChartQA's relaxed accuracy.
//!
//! Like the multiple-choice tasks, every question is drawn answer first: the answer, the words
//! of the question and the scene are drawn independently, so the text alone gives nothing away
//! (tests/synth_open.rs). Item `i` of a task depends only on (seed, split, task, i).
//!
//! `benchmark` gives each task the format, prompt and scorer of the benchmark it imitates;
//! `write` puts its test split on disk as a hub dataset repository (`table`: parquet as
//! `datasets` writes it) and its training split as LLaVA conversations.

mod benchmark;
mod chart;
mod sign;
mod table;
mod vqa;
pub mod write;

pub use benchmark::Imitation;

use image::RgbImage;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Split, splitmix};
use crate::data::benchmark::Category;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpenTask {
    Existence,
    Colour,
    Count,
    Sign,
    Chart,
}

impl OpenTask {
    pub const ALL: [OpenTask; 5] = [OpenTask::Existence, OpenTask::Colour, OpenTask::Count, OpenTask::Sign, OpenTask::Chart];

    pub fn name(self) -> &'static str {
        match self {
            OpenTask::Existence => "existence",
            OpenTask::Colour => "colour",
            OpenTask::Count => "count",
            OpenTask::Sign => "sign",
            OpenTask::Chart => "chart",
        }
    }

    /// The study's category of the benchmark whose format the task takes.
    pub fn category(self) -> Category {
        match self {
            OpenTask::Existence | OpenTask::Colour | OpenTask::Count => Category::General,
            OpenTask::Sign | OpenTask::Chart => Category::OcrChart,
        }
    }
}

/// One image and its questions: two for `existence` (the pair, "Yes" first), one elsewhere.
pub struct OpenItem {
    pub image: RgbImage,
    pub questions: Vec<OpenQuestion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OpenQuestion {
    /// As the benchmark stores it (MME's ends with "Please answer yes or no.").
    pub question: String,
    /// The reference answers: "Yes"/"No"; ten annotators' answers; the sign's word; the value.
    pub answers: Vec<String>,
}

impl OpenQuestion {
    /// The answer a training conversation gives: the first annotator's (the canonical answer).
    pub fn canonical(&self) -> &str {
        &self.answers[0]
    }
}

/// Item `index` of `task` in `split`, with images of `size` pixels.
pub fn item(task: OpenTask, seed: u64, split: Split, index: u64, size: u32) -> OpenItem {
    let stream =
        splitmix(seed ^ splitmix(split as u64 + 11) ^ splitmix(task as u64 + 101) ^ splitmix(index.wrapping_add(0x0be7)));
    let mut rng = ChaCha8Rng::seed_from_u64(stream);
    match task {
        OpenTask::Existence => vqa::existence(size, &mut rng),
        OpenTask::Colour => vqa::colour(size, &mut rng),
        OpenTask::Count => vqa::count(size, &mut rng),
        OpenTask::Sign => sign::sign(size, &mut rng),
        OpenTask::Chart => chart::chart(size, &mut rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_depend_only_on_seed_split_task_and_index() {
        for task in OpenTask::ALL {
            let a = item(task, 3, Split::Test, 5, 64);
            let b = item(task, 3, Split::Test, 5, 64);
            assert_eq!(a.questions, b.questions, "{task:?}");
            assert_eq!(a.image, b.image, "{task:?}");
            let other = item(task, 3, Split::Train, 5, 64);
            assert!(other.image != a.image || other.questions != a.questions, "{task:?}: splits differ");
        }
    }
}
