//! Benchmark specs: the TOML files in `benchmarks/` (the presets) and any a user writes.
//!
//! A spec names the dataset (hub repository, the config and split Cambrian loads, the files
//! that hold them), the columns that hold each part of a question, how Cambrian's eval script
//! builds the prompt (`[prompt]`, one kind per script family), the generation budget, and the
//! scorer (or, for a split whose answers are hidden, the submission file). A column may name a
//! field of a struct column with a dot: `metadata.category`. The README documents the schema.

use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SuiteError;
use crate::data::benchmark::Category;
use crate::eval::score::Scorer;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BenchmarkSpec {
    /// Registry name, e.g. `mme`.
    pub name: String,
    /// As the paper writes it.
    pub title: String,
    /// The Cambrian-1 Table 2 group: general, knowledge, ocr-chart or vision-centric.
    #[serde(deserialize_with = "category_from_name", serialize_with = "category_name")]
    pub category: Category,
    /// Hugging Face dataset repository.
    pub hub: String,
    /// Commit, branch or tag of the repository; absent: `main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The `load_dataset` config Cambrian names (`files` say what is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// The split Cambrian loads; absent where it reads files, not a split (MMVP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// How the question files are stored.
    #[serde(default, skip_serializing_if = "Format::is_parquet")]
    pub format: Format,
    /// Glob patterns of the parquet files of the questions in the repository; the matches are
    /// read in file-name order, which is the order of the question indices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Where the images are when the question rows do not hold them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<JoinedImages>,
    pub columns: Columns,
    /// The rows Cambrian asks; the others are left out but keep their index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
    pub prompt: Prompt,
    /// Cambrian's `--max_new_tokens` default for this benchmark.
    pub max_new_tokens: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scorer: Option<Scorer>,
    /// For a split with hidden answers: the file the official server scores, instead of a scorer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<Submission>,
}

/// Which column holds each part of a question. `question` is required; the others are read
/// when named.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub question: String,
    /// The question's id; absent: its index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// An image, or a list of images (the first is shown, as Cambrian does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The answer: a string, a number, or a list of strings (all accepted answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<ChoiceColumns>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<CategoryColumn>,
    /// The question's type as the scorer reads it (MMMU's and MathVista's `question_type`,
    /// CV-Bench's `type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The category: a column, or a part of one (MMMU's `id.split('_')[1]`:
/// `{ column = "id", split = "_", part = 1 }`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum CategoryColumn {
    Column(String),
    Part(ColumnPart),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnPart {
    pub column: String,
    pub split: String,
    pub part: usize,
}

impl CategoryColumn {
    /// The column read.
    pub fn column(&self) -> &str {
        match self {
            CategoryColumn::Column(column) | CategoryColumn::Part(ColumnPart { column, .. }) => column,
        }
    }
}

/// The choices: one list column, or one column per choice in letter order.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ChoiceColumns {
    List(String),
    Columns(Vec<String>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `datasets` parquet shards, the `files`.
    #[default]
    Parquet,
    /// MMVP/MMVP's `Questions.csv` and `MMVP Images/`, as Cambrian reads them: the columns
    /// `Index`, `Question`, `Options`, `Correct Answer` and `image` (crate::data::hub::mmvp_rows).
    Mmvp,
}

impl Format {
    fn is_parquet(&self) -> bool {
        *self == Format::Parquet
    }
}

/// Images in other files, found by key (GQA: `testdev_balanced_images`, key `id`, from the
/// question's `imageId`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JoinedImages {
    pub files: Vec<String>,
    /// The key column of the image files.
    pub key: String,
    /// The image column of the image files.
    pub image: String,
    /// The question column holding the key.
    pub by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// Rows with at most one image (SEED-Bench: `if len(line['image']) > 1: continue`).
    SingleImage,
    /// Rows with an image (ScienceQA-IMG: the rows its `multimodal_acc` covers).
    WithImage,
}

impl Keep {
    /// Whether Cambrian asks a row with this many images in `columns.image`.
    pub fn asks(self, images: usize) -> bool {
        match self {
            Keep::SingleImage => images <= 1,
            Keep::WithImage => images > 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Submission {
    /// DocVQA's server format: `[{"questionId": int, "answer": str}]`, the id from `columns.id`.
    Docvqa,
}

/// How the eval script builds `qs`, the user message: one kind per Cambrian script family.
/// Every kind puts `<image>\n` in front when the row has an image (or always, where the
/// script does).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Prompt {
    /// The question, then `suffix` on a line of its own (MME, GQA, ChartQA, OCRBench, DocVQA,
    /// RealWorldQA without a suffix, CV-Bench's ready-made `prompt`).
    ShortAnswer(ShortAnswer),
    /// Hint, question, `label`, each choice as "\nA. text", then `suffix` (MMBench, SEED,
    /// AI2D, ScienceQA).
    Lettered(Lettered),
    /// MMMU: by `columns.kind`, "multiple-choice" questions get " Options:" and the options
    /// found in the `options` text with `re.findall(r"'(.*?)'")`, then `suffix`; the others
    /// `open_suffix`; every `<image N>` is removed and the text stripped.
    Mmmu(Mmmu),
    /// MathVista: the ready-made question (`query`), then `suffix` for "multi_choice"
    /// questions (`columns.kind`), `open_suffix` for the others.
    #[serde(rename = "mathvista")]
    MathVista(MathVista),
    /// TextVQA: the question, "Reference OCR tokens:" with the tokens, then `suffix`.
    #[serde(rename = "textvqa")]
    TextVqa(TextVqa),
    /// MMVP: the question, " Options:", the `options` text "(a) x (b) y" as "\nA. x\nB. y",
    /// then `suffix`.
    Mmvp(Mmvp),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShortAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    #[serde(default)]
    pub image_tag: ImageTag,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lettered {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<Hint>,
    /// Text between the question and the choices (" Options:").
    #[serde(default)]
    pub label: String,
    /// A choice with this text is not shown (MMBench's "nan").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_choice: Option<String>,
    pub suffix: String,
}

/// A hint column put before the question with `join`, unless it holds `absent`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hint {
    pub column: String,
    pub absent: String,
    pub join: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mmmu {
    pub options: String,
    pub suffix: String,
    pub open_suffix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MathVista {
    pub suffix: String,
    pub open_suffix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TextVqa {
    pub ocr_tokens: String,
    pub suffix: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mmvp {
    pub options: String,
    pub suffix: String,
}

/// When `<image>\n` goes in front of the question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageTag {
    #[default]
    IfImage,
    /// Whether or not the row has an image (OCRBench, RealWorldQA).
    Always,
}

impl BenchmarkSpec {
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, SuiteError> {
        let spec: Self = toml::from_str(text).map_err(|err| {
            let line = err.span().map(|span| text[..span.start].lines().count().max(1));
            let at = line.map(|line| format!(", line {line}")).unwrap_or_default();
            SuiteError::Spec { origin: format!("{origin}{at}"), message: err.message().to_string() }
        })?;
        spec.check().map_err(|message| SuiteError::Spec { origin: origin.to_string(), message })?;
        Ok(spec)
    }

    pub fn from_file(path: &Path) -> Result<Self, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io { path: path.to_path_buf(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// What the types cannot say: the columns each prompt kind reads, one way to score.
    fn check(&self) -> Result<(), String> {
        let needs = |field: &str, present: bool| if present { Ok(()) } else { Err(format!("prompt kind needs columns.{field}")) };
        match &self.prompt {
            Prompt::Lettered(_) => needs("choices", self.columns.choices.is_some())?,
            Prompt::Mmmu(_) | Prompt::MathVista(_) => needs("kind", self.columns.kind.is_some())?,
            Prompt::ShortAnswer(_) | Prompt::TextVqa(_) | Prompt::Mmvp(_) => {}
        }
        if self.files.is_empty() != (self.format == Format::Mmvp) {
            return Err("parquet questions need `files`; MMVP's are its own".into());
        }
        if self.keep.is_some() && (self.columns.image.is_none() || self.images.is_some()) {
            return Err("`keep` filters on the images of columns.image".into());
        }
        match (&self.scorer, &self.submission) {
            (Some(_), None) if self.columns.answer.is_some() => Ok(()),
            (Some(_), None) => Err("a scorer needs columns.answer".into()),
            (None, Some(_)) if self.columns.id.is_some() => Ok(()),
            (None, Some(_)) => Err("a submission needs columns.id".into()),
            _ => Err("give exactly one of `scorer` and `submission`".into()),
        }
    }

    /// The question rows' columns to read (top-level names: `metadata.category` reads `metadata`).
    pub fn question_columns(&self) -> Vec<&str> {
        let c = &self.columns;
        let mut names: Vec<&str> =
            [Some(&c.question), c.id.as_ref(), c.image.as_ref(), c.answer.as_ref(), c.kind.as_ref(), c.source.as_ref()]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .chain(c.category.as_ref().map(CategoryColumn::column))
                .collect();
        match &c.choices {
            Some(ChoiceColumns::List(name)) => names.push(name),
            Some(ChoiceColumns::Columns(list)) => names.extend(list.iter().map(String::as_str)),
            None => {}
        }
        match &self.prompt {
            Prompt::Lettered(Lettered { hint: Some(hint), .. }) => names.push(&hint.column),
            Prompt::Mmmu(Mmmu { options, .. }) | Prompt::Mmvp(Mmvp { options, .. }) => names.push(options),
            Prompt::TextVqa(TextVqa { ocr_tokens, .. }) => names.push(ocr_tokens),
            _ => {}
        }
        if let Some(joined) = &self.images {
            names.push(&joined.by);
        }
        let mut top: Vec<&str> = names.into_iter().map(|name| name.split('.').next().unwrap_or(name)).collect();
        top.sort_unstable();
        top.dedup();
        top
    }
}

fn category_from_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Category, D::Error> {
    let name = String::deserialize(deserializer)?;
    <Category as clap::ValueEnum>::from_str(&name, false).map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown category `{name}`, expected one of `general`, `knowledge`, `ocr-chart`, `vision-centric`"
        ))
    })
}

/// The category as the spec writes it: `ocr-chart`.
pub fn category_name_of(category: Category) -> String {
    clap::ValueEnum::to_possible_value(&category).map(|value| value.get_name().to_string()).unwrap_or_default()
}

fn category_name<S: Serializer>(category: &Category, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&category_name_of(*category))
}
