//! A preset's questions: its dataset located (the hub cache, or a `--data` folder with the
//! repository's layout), its rows read with only the columns it needs, in the order of their
//! indices, and each row Cambrian asks turned into a [`Question`] with Cambrian's prompt and
//! the scorer's [`Truth`]. Images stay encoded; questions are built as they are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::SuiteError;
use super::prompt;
use super::spec::{BenchmarkSpec, CategoryColumn, ChoiceColumns, ColumnPart, Format, ImageTag, JoinedImages, Prompt};
use crate::data::benchmark::letter;
use crate::data::hub::{self, DatasetRepo, HubError, ImageRef, Row, Value};
use crate::eval::score::Truth;

/// One question as the model is asked it and the scorer judges it.
#[derive(Debug, Clone)]
pub struct Question {
    /// The row's position in the split (all rows counted, asked or not).
    pub index: usize,
    pub id: String,
    /// The image shown (Cambrian shows one), encoded.
    pub images: Vec<ImageRef>,
    /// Cambrian's `qs` after the image placeholder: the model sees `<image>\n` + this when
    /// `has_image`, else this alone.
    pub prompt: String,
    pub has_image: bool,
    pub truth: Truth,
}

/// A benchmark bound to its files.
pub struct Dataset {
    pub spec: BenchmarkSpec,
    repo: DatasetRepo,
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl Dataset {
    /// Finds the spec's files: in `data` (a folder with the repository's layout), else in the
    /// hub cache, downloaded when missing and online.
    pub fn open(spec: BenchmarkSpec, data: Option<&Path>) -> Result<Self, SuiteError> {
        let repo = match data {
            Some(dir) => DatasetRepo::local(dir),
            None => DatasetRepo::hub(&spec.hub, spec.revision.as_deref()),
        };
        Self::in_repo(spec, repo)
    }

    /// The dataset when its files are all in the hub cache (nothing is downloaded), else `None`.
    pub fn cached(spec: BenchmarkSpec) -> Result<Option<Self>, SuiteError> {
        let cache = crate::weights::hub::cache().path().clone();
        let repo = DatasetRepo::in_cache(cache, &spec.hub, spec.revision.as_deref(), true);
        match Self::in_repo(spec, repo) {
            Ok(dataset) => Ok(Some(dataset)),
            Err(SuiteError::Data { source: HubError::Missing { .. }, .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn in_repo(spec: BenchmarkSpec, repo: DatasetRepo) -> Result<Self, SuiteError> {
        let context = |source| SuiteError::Data { preset: spec.name.clone(), source };
        let mut files = Vec::new();
        for pattern in &spec.files {
            files.extend(repo.glob(pattern).map_err(context)?);
        }
        let root = repo.root().map_err(context)?;
        Ok(Self { spec, repo, root, files })
    }

    /// The folder relative image paths are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The parquet files of the questions, in index order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The questions, in index order, built as the rows are read.
    pub fn questions(&self) -> Result<impl Iterator<Item = Result<Question, SuiteError>> + '_, SuiteError> {
        let joined = self.spec.images.as_ref().map(|joined| self.joined_images(joined)).transpose()?;
        Ok(self
            .rows(&self.spec.question_columns())?
            .filter_map(move |row| row.and_then(|row| self.question(&row, joined.as_ref())).transpose()))
    }

    /// The number of questions, reading one column: the images where `keep` filters on
    /// them, else the question.
    pub fn count(&self) -> Result<usize, SuiteError> {
        let columns = &self.spec.columns;
        let column = match (self.spec.keep, &columns.image) {
            (Some(_), Some(image)) => image,
            _ => &columns.question,
        };
        let mut count = 0;
        for row in self.rows(&[column])? {
            let row = row?;
            let asked = match self.spec.keep {
                Some(keep) => keep.asks(row.images(column).map_err(|source| self.data_error(source))?.len()),
                None => true,
            };
            count += usize::from(asked);
        }
        Ok(count)
    }

    /// The question rows with `columns`, in index order.
    fn rows(&self, columns: &[&str]) -> Result<Box<dyn Iterator<Item = Result<Row, SuiteError>> + '_>, SuiteError> {
        let hub = |source| self.data_error(source);
        Ok(match self.spec.format {
            Format::Parquet => Box::new(hub::rows(&self.files, columns).map_err(hub)?.map(move |row| row.map_err(hub))),
            Format::Mmvp => Box::new(hub::mmvp_rows(&self.repo).map_err(hub)?.into_iter().map(Ok)),
        })
    }

    fn data_error(&self, source: HubError) -> SuiteError {
        SuiteError::Data { preset: self.spec.name.clone(), source }
    }

    /// GQA's `{id: image}` of the image config (gqa_eval.py:73-76).
    fn joined_images(&self, joined: &JoinedImages) -> Result<HashMap<String, ImageRef>, SuiteError> {
        let hub = |source| self.data_error(source);
        let mut files = Vec::new();
        for pattern in &joined.files {
            files.extend(self.repo.glob(pattern).map_err(hub)?);
        }
        let mut images = HashMap::new();
        for row in hub::rows(&files, &[&joined.key, &joined.image]).map_err(hub)? {
            let row = row.map_err(hub)?;
            let image = row.images(&joined.image).map_err(hub)?.into_iter().next().cloned();
            let image = image.ok_or_else(|| self.row_error(&row, format!("no image in `{}`", joined.image)))?;
            images.insert(row.str(&joined.key).map_err(hub)?.to_string(), image);
        }
        Ok(images)
    }

    fn row_error(&self, row: &Row, message: String) -> SuiteError {
        SuiteError::Row { preset: self.spec.name.clone(), path: row.source().to_path_buf(), row: row.index, message }
    }

    /// The question of one row, or `None` for a row Cambrian does not ask.
    fn question(&self, row: &Row, joined: Option<&HashMap<String, ImageRef>>) -> Result<Option<Question>, SuiteError> {
        let hub = |source| self.data_error(source);
        let spec = &self.spec;
        let columns = &spec.columns;
        let mut images: Vec<ImageRef> = match (&spec.images, &columns.image) {
            (Some(join), _) => {
                let key = row.str(&join.by).map_err(hub)?;
                let image = joined.and_then(|images| images.get(key));
                vec![image.cloned().ok_or_else(|| self.row_error(row, format!("no image with {} {key:?}", join.key)))?]
            }
            (None, Some(column)) => row.images(column).map_err(hub)?.into_iter().cloned().collect(),
            (None, None) => Vec::new(),
        };
        if spec.keep.is_some_and(|keep| !keep.asks(images.len())) {
            return Ok(None);
        }
        images.truncate(1);
        let always = matches!(&spec.prompt, Prompt::ShortAnswer(short) if short.image_tag == ImageTag::Always);
        let has_image = always || !images.is_empty();
        let (prompt, choices) = self.prompt(row, !images.is_empty())?;
        let text = |column: &Option<String>| column.as_deref().map(|c| cell_text(row, c)).transpose().map(Option::flatten);
        let fail = |message| self.row_error(row, message);
        let truth = Truth {
            index: row.index,
            answers: columns.answer.as_deref().map(|c| answers(row, c)).transpose().map_err(fail)?.unwrap_or_default(),
            choices,
            category: self.category(row)?,
            kind: text(&columns.kind).map_err(fail)?,
            source: text(&columns.source).map_err(fail)?,
        };
        let id = text(&columns.id).map_err(fail)?.unwrap_or_else(|| row.index.to_string());
        Ok(Some(Question { index: row.index, id, images, prompt, has_image, truth }))
    }

    /// The category; a part of a column as Python's `text.split(sep)[part]` gives it.
    fn category(&self, row: &Row) -> Result<Option<String>, SuiteError> {
        let fail = |message| self.row_error(row, message);
        match &self.spec.columns.category {
            None => Ok(None),
            Some(CategoryColumn::Column(column)) => cell_text(row, column).map_err(fail),
            Some(CategoryColumn::Part(ColumnPart { column, split, part })) => {
                let Some(text) = cell_text(row, column).map_err(fail)? else { return Ok(None) };
                let found = text.split(split.as_str()).nth(*part).map(str::to_string);
                found.map(Some).ok_or_else(|| fail(format!("`{column}` {text:?} has no part {part} split at {split:?}")))
            }
        }
    }

    /// Cambrian's `qs` after the image placeholder, and the choices it shows.
    fn prompt(&self, row: &Row, image: bool) -> Result<(String, Vec<String>), SuiteError> {
        let columns = &self.spec.columns;
        let str = |column: &str| row.str(column).map_err(|source| self.data_error(source));
        let question = str(&columns.question)?;
        let kind = || columns.kind.as_deref().map(str).transpose().map(Option::unwrap_or_default);
        let choices = || self.lettered_choices(row, None).map(|shown| shown.into_iter().map(|(_, text)| text).collect());
        Ok(match &self.spec.prompt {
            Prompt::ShortAnswer(short) => (prompt::short_answer(question, short.suffix.as_deref()), choices()?),
            Prompt::Lettered(lettered) => {
                let hint = match &lettered.hint {
                    Some(hint) => {
                        Some(str(&hint.column)?).filter(|text| *text != hint.absent).map(|text| (text, hint.join.as_str()))
                    }
                    None => None,
                };
                let shown = self.lettered_choices(row, lettered.absent_choice.as_deref())?;
                let letters: Vec<(char, &str)> = shown.iter().map(|(letter, text)| (*letter, text.as_str())).collect();
                let qs = prompt::lettered(hint, question, &lettered.label, &letters, &lettered.suffix);
                (qs, shown.into_iter().map(|(_, text)| text).collect())
            }
            Prompt::Mmmu(mmmu) => {
                let options = prompt::quoted(str(&mmmu.options)?);
                self.check_letters(row, options.len())?;
                let choice = kind()? == "multiple-choice";
                (prompt::mmmu(question, choice.then_some(&options[..]), &mmmu.suffix, &mmmu.open_suffix, image), options)
            }
            Prompt::MathVista(mathvista) => {
                let multi_choice = kind()? == "multi_choice";
                (prompt::mathvista(question, multi_choice, &mathvista.suffix, &mathvista.open_suffix), choices()?)
            }
            Prompt::TextVqa(textvqa) => {
                let tokens = row.strings(&textvqa.ocr_tokens).map_err(|source| self.data_error(source))?;
                let tokens: Vec<String> = tokens.into_iter().map(str::to_string).collect();
                (prompt::textvqa(question, &tokens, &textvqa.suffix), Vec::new())
            }
            Prompt::Mmvp(mmvp) => {
                let options = str(&mmvp.options)?;
                let choices = prompt::mmvp_choices(options)
                    .ok_or_else(|| self.row_error(row, format!("options {options:?} are not \"(a) … (b) …\"")))?;
                (prompt::mmvp(question, options, &mmvp.suffix), choices)
            }
        })
    }

    /// Choices are lettered A to Z.
    fn check_letters(&self, row: &Row, choices: usize) -> Result<(), SuiteError> {
        match choices {
            0..=26 => Ok(()),
            _ => Err(self.row_error(row, format!("{choices} choices, more than the letters A-Z"))),
        }
    }

    /// Each shown choice of `columns.choices` with its letter: its position among the choice
    /// columns (MMBench's columns are A–D) or in the list; a choice holding `absent` is not shown.
    fn lettered_choices(&self, row: &Row, absent: Option<&str>) -> Result<Vec<(char, String)>, SuiteError> {
        let hub = |source| self.data_error(source);
        let texts: Vec<&str> = match &self.spec.columns.choices {
            Some(ChoiceColumns::List(column)) => row.strings(column).map_err(hub)?,
            Some(ChoiceColumns::Columns(columns)) => columns.iter().map(|c| row.str(c)).collect::<Result<_, _>>().map_err(hub)?,
            None => Vec::new(),
        };
        self.check_letters(row, texts.len())?;
        let shown = texts.into_iter().enumerate().filter(|(_, text)| Some(*text) != absent);
        Ok(shown.map(|(i, text)| (letter(i), text.to_string())).collect())
    }
}

/// A cell as Python's `str()` writes it, for ids, categories and types: text, or an integer
/// (SEED's `question_type_id`); null is `None`. A dotted name reads a struct's field.
fn cell_text(row: &Row, column: &str) -> Result<Option<String>, String> {
    match cell(row, column)? {
        Value::Null => Ok(None),
        Value::Str(text) => Ok(Some(text.clone())),
        Value::Int(number) => Ok(Some(number.to_string())),
        other => Err(format!("column `{column}` should hold text or an integer, found {}", other.kind())),
    }
}

/// The accepted answers: one text or integer (ScienceQA's index), or a list of texts.
fn answers(row: &Row, column: &str) -> Result<Vec<String>, String> {
    match cell(row, column)? {
        Value::List(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("column `{column}` should hold texts, found {}", item.kind()))
            })
            .collect(),
        _ => Ok(cell_text(row, column)?.into_iter().collect()),
    }
}

fn cell<'r>(row: &'r Row, column: &str) -> Result<&'r Value, String> {
    let mut path = column.split('.');
    let top = path.next().unwrap_or(column);
    let mut value = row.get(top).ok_or_else(|| format!("column `{top}` was not read"))?;
    for field in path {
        value = value.field(field).ok_or_else(|| format!("column `{column}`: no field `{field}` in {}", value.kind()))?;
    }
    Ok(value)
}
