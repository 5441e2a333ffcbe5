//! A preset's questions: its dataset located (the hub cache, or a `--data` folder with the
//! repository's layout), its rows read with only the columns it needs, in the order of their
//! indices, and each row Cambrian asks turned into a [`Question`] with Cambrian's prompt and
//! the scorer's [`Truth`]. Images stay encoded; questions are built as they are read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::prompt;
use super::spec::{BenchmarkSpec, ChoiceColumns, ImageSource, ImageTag, Prompt};
use super::SuiteError;
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
    files: Vec<PathBuf>,
}

impl Dataset {
    /// Finds the spec's files: in `data` (a folder with the repository's layout), else in the
    /// hub cache, downloaded when missing and online.
    pub fn open(spec: BenchmarkSpec, data: Option<&Path>) -> Result<Self, SuiteError> {
        let context = |source| SuiteError::Data { preset: spec.name.clone(), source };
        let repo = DatasetRepo::open(&spec.hub, spec.revision.as_deref(), data).map_err(context)?;
        let files = glob_all(&repo, &spec.files).map_err(context)?;
        Ok(Self { spec, repo, files })
    }

    /// The dataset when its files are all in the hub cache (nothing is downloaded), else `None`.
    pub fn cached(spec: BenchmarkSpec) -> Result<Option<Self>, SuiteError> {
        let context = |source| SuiteError::Data { preset: spec.name.clone(), source };
        let Some(repo) = DatasetRepo::cached(&spec.hub, spec.revision.as_deref()).map_err(context)? else { return Ok(None) };
        let files = glob_all(&repo, &spec.files).map_err(context)?;
        Ok(Some(Self { spec, repo, files }))
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
        for row in hub::rows(&self.files, &[column]).map_err(|source| self.data_error(source))? {
            let row = row.map_err(|source| self.data_error(source))?;
            let images = match self.spec.keep {
                Some(_) => row.images(column).map_err(|source| self.data_error(source))?.len(),
                None => 0,
            };
            count += usize::from(self.spec.keep.is_none_or(|keep| keep.asks(images)));
        }
        Ok(count)
    }

    /// The folder relative image paths are read from.
    pub fn root(&self) -> &Path {
        self.repo.root()
    }

    /// The question files, in index order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The questions, in index order, built as the rows are read.
    pub fn questions(&self) -> Result<impl Iterator<Item = Result<Question, SuiteError>> + '_, SuiteError> {
        let joined = match &self.spec.images {
            Some(ImageSource::Joined(joined)) => Some(self.joined_images(&joined.files, &joined.key, &joined.image)?),
            _ => None,
        };
        let rows = hub::rows(&self.files, &self.spec.question_columns()).map_err(|source| self.data_error(source))?;
        Ok(rows.filter_map(move |row| {
            let built = row.map_err(|source| self.data_error(source)).and_then(|row| self.question(&row, joined.as_ref()));
            built.transpose()
        }))
    }

    fn data_error(&self, source: HubError) -> SuiteError {
        SuiteError::Data { preset: self.spec.name.clone(), source }
    }

    /// GQA's `{id: image}` of the image config (gqa_eval.py:73-76).
    fn joined_images(&self, patterns: &[String], key: &str, image: &str) -> Result<HashMap<String, ImageRef>, SuiteError> {
        let files = glob_all(&self.repo, patterns).map_err(|source| self.data_error(source))?;
        let mut images = HashMap::new();
        for row in hub::rows(&files, &[key, image]).map_err(|source| self.data_error(source))? {
            let row = row.map_err(|source| self.data_error(source))?;
            let found = row.images(image).map_err(|source| self.data_error(source))?;
            let id = row.str(key).map_err(|source| self.data_error(source))?.to_string();
            images.insert(id, found.into_iter().next().cloned().ok_or_else(|| self.row_error(&row, format!("no image in `{image}`")))?);
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
            (Some(ImageSource::Joined(join)), _) => {
                let key = row.str(&join.by).map_err(hub)?;
                let image = joined.and_then(|images| images.get(key));
                vec![image.cloned().ok_or_else(|| self.row_error(row, format!("no image with {} {key:?}", join.key)))?]
            }
            (Some(ImageSource::Files(files)), _) => vec![self.image_file(row, &files.path)?],
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
            category: text(&columns.category).map_err(fail)?,
            kind: text(&columns.kind).map_err(fail)?,
            source: text(&columns.source).map_err(fail)?,
        };
        let id = text(&columns.id).map_err(fail)?.unwrap_or_else(|| row.index.to_string());
        Ok(Some(Question { index: row.index, id, images, prompt, has_image, truth }))
    }

    /// MMVP's `MMVP Images/{Index}.jpg`: the template filled from the row, the file located
    /// (downloaded when missing and online).
    fn image_file(&self, row: &Row, template: &str) -> Result<ImageRef, SuiteError> {
        let mut path = template.to_string();
        for name in super::spec::placeholders(template) {
            let value = cell_text(row, name).map_err(|message| self.row_error(row, message))?.unwrap_or_default();
            path = path.replace(&format!("{{{name}}}"), &value);
        }
        let file = self.repo.file(&path).map_err(|source| self.data_error(source))?;
        Ok(ImageRef { bytes: None, path: Some(file.display().to_string()) })
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
                    Some(hint) => Some(str(&hint.column)?).filter(|text| *text != hint.absent).map(|text| (text, hint.join.as_str())),
                    None => None,
                };
                let shown = self.lettered_choices(row, lettered.absent_choice.as_deref())?;
                let letters: Vec<(char, &str)> = shown.iter().map(|(letter, text)| (*letter, text.as_str())).collect();
                let qs = prompt::lettered(hint, question, &lettered.label, &letters, &lettered.suffix);
                (qs, shown.into_iter().map(|(_, text)| text).collect())
            }
            Prompt::Mmmu(mmmu) => {
                let options = prompt::quoted(str(&mmmu.options)?);
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

    /// Each shown choice of `columns.choices` with its letter: its position among the choice
    /// columns (MMBench's columns are A–D) or in the list; a choice holding `absent` is not shown.
    fn lettered_choices(&self, row: &Row, absent: Option<&str>) -> Result<Vec<(char, String)>, SuiteError> {
        let hub = |source| self.data_error(source);
        let texts: Vec<&str> = match &self.spec.columns.choices {
            Some(ChoiceColumns::List(column)) => row.strings(column).map_err(hub)?,
            Some(ChoiceColumns::Columns(columns)) => columns.iter().map(|c| row.str(c)).collect::<Result<_, _>>().map_err(hub)?,
            None => Vec::new(),
        };
        let shown = texts.into_iter().enumerate().filter(|(_, text)| Some(*text) != absent);
        Ok(shown.map(|(i, text)| (prompt::letter(i), text.to_string())).collect())
    }
}

/// The files of every pattern, each pattern's matches in file-name order.
fn glob_all(repo: &DatasetRepo, patterns: &[String]) -> Result<Vec<PathBuf>, HubError> {
    let mut files = Vec::new();
    for pattern in patterns {
        files.extend(repo.glob(pattern)?);
    }
    Ok(files)
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
            .map(|item| item.as_str().map(str::to_string).ok_or_else(|| format!("column `{column}` should hold texts, found {}", item.kind())))
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
