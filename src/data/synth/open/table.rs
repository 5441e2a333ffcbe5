//! A parquet file as `datasets` writes one (`Dataset.to_parquet`, datasets 5.2 with pyarrow):
//! snappy, row groups of 100 rows (its size for tables with images), images as
//! struct{bytes: binary, path: string}, lists with `element` items, and the features JSON under
//! the `huggingface` schema metadata key, so that `datasets` and our reader (src/data/hub)
//! see an `Image` feature and string lists.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, Int32Builder, ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::data::DataError;

/// The schema metadata key of the features.
const HF_KEY: &str = "huggingface";
/// Rows per row group: `datasets`' writer batch size for tables with an `Image` feature.
const ROW_GROUP_ROWS: usize = 100;

/// A column's `datasets` feature, which fixes its arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    String,
    Int32,
    /// `List(Value("string"))`.
    Strings,
    Image,
}

impl Feature {
    fn data_type(self) -> DataType {
        match self {
            Feature::String => DataType::Utf8,
            Feature::Int32 => DataType::Int32,
            Feature::Strings => DataType::List(Arc::new(list_item())),
            Feature::Image => DataType::Struct(image_fields()),
        }
    }

    /// The feature as `datasets` 5.2 serializes it (older versions wrote `Sequence` for `List`).
    fn json(self) -> &'static str {
        match self {
            Feature::String => r#"{"dtype": "string", "_type": "Value"}"#,
            Feature::Int32 => r#"{"dtype": "int32", "_type": "Value"}"#,
            Feature::Strings => r#"{"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"}"#,
            Feature::Image => r#"{"_type": "Image"}"#,
        }
    }
}

fn list_item() -> Field {
    Field::new("element", DataType::Utf8, true)
}

fn image_fields() -> Fields {
    Fields::from(vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)])
}

/// One cell; its kind must be its column's feature.
#[derive(Debug, Clone)]
pub enum Cell {
    Str(String),
    Int(i32),
    Strings(Vec<String>),
    /// An encoded image file (its `path` is null, as for images given as bytes).
    Image(Arc<[u8]>),
}

/// `{"info": {"features": {...}}}` with the columns in their order, as `datasets` writes it.
fn hf_metadata(columns: &[(&str, Feature)]) -> String {
    let features: Vec<String> =
        columns.iter().map(|(name, feature)| format!("{}: {}", serde_json::Value::from(*name), feature.json())).collect();
    format!(r#"{{"info": {{"features": {{{}}}}}}}"#, features.join(", "))
}

/// Rows in, a parquet file out, one row group at a time.
pub struct TableWriter {
    path: PathBuf,
    columns: &'static [(&'static str, Feature)],
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    rows: Vec<Vec<Cell>>,
}

impl TableWriter {
    pub fn create(path: &Path, columns: &'static [(&'static str, Feature)]) -> Result<Self, DataError> {
        let fields: Vec<Field> = columns.iter().map(|(name, feature)| Field::new(*name, feature.data_type(), true)).collect();
        let features = hf_metadata(columns);
        let schema = Arc::new(Schema::new(fields).with_metadata(HashMap::from([(HF_KEY.to_string(), features.clone())])));
        // pyarrow keeps the key both in the arrow schema and among the file's own key-values.
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(vec![KeyValue::new(HF_KEY.to_string(), features)]))
            .build();
        let file = File::create(path).map_err(DataError::io(path))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(parquet_error(path))?;
        Ok(Self { path: path.to_path_buf(), columns, schema, writer, rows: Vec::new() })
    }

    pub fn push(&mut self, row: Vec<Cell>) -> Result<(), DataError> {
        self.rows.push(row);
        if self.rows.len() == ROW_GROUP_ROWS { self.flush() } else { Ok(()) }
    }

    /// Writes the last row group and the footer.
    pub fn finish(mut self) -> Result<(), DataError> {
        self.flush()?;
        self.writer.close().map_err(parquet_error(&self.path))?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DataError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let arrays = (0..self.columns.len()).map(|j| self.array(&rows, j)).collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|err| self.invalid(err.to_string()))?;
        self.writer.write(&batch).map_err(parquet_error(&self.path))
    }

    /// Column `j` of `rows`.
    fn array(&self, rows: &[Vec<Cell>], j: usize) -> Result<ArrayRef, DataError> {
        let (name, feature) = self.columns[j];
        let wrong = |cell: Option<&Cell>| {
            let given = match cell {
                Some(Cell::Str(_)) => "a string",
                Some(Cell::Int(_)) => "an integer",
                Some(Cell::Strings(_)) => "a list of strings",
                Some(Cell::Image(_)) => "an image",
                None => "no cell",
            };
            self.invalid(format!("column `{name}` ({feature:?}) given {given}"))
        };
        let cells = rows.iter().map(|row| row.get(j));
        Ok(match feature {
            Feature::String => {
                let mut builder = StringBuilder::new();
                for cell in cells {
                    let Some(Cell::Str(text)) = cell else { return Err(wrong(cell)) };
                    builder.append_value(text);
                }
                Arc::new(builder.finish())
            }
            Feature::Int32 => {
                let mut builder = Int32Builder::new();
                for cell in cells {
                    let Some(Cell::Int(value)) = cell else { return Err(wrong(cell)) };
                    builder.append_value(*value);
                }
                Arc::new(builder.finish())
            }
            Feature::Strings => {
                let mut builder = ListBuilder::new(StringBuilder::new()).with_field(list_item());
                for cell in cells {
                    let Some(Cell::Strings(texts)) = cell else { return Err(wrong(cell)) };
                    builder.append_value(texts.iter().map(Some));
                }
                Arc::new(builder.finish())
            }
            Feature::Image => {
                let mut bytes = BinaryBuilder::new();
                for cell in cells {
                    let Some(Cell::Image(png)) = cell else { return Err(wrong(cell)) };
                    bytes.append_value(png);
                }
                let paths: ArrayRef = Arc::new(StringArray::new_null(rows.len()));
                Arc::new(StructArray::new(image_fields(), vec![Arc::new(bytes.finish()), paths], None))
            }
        })
    }

    fn invalid(&self, message: String) -> DataError {
        DataError::invalid(&self.path, message)
    }
}

fn parquet_error(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DataError + '_ {
    move |err| DataError::Io { path: path.to_path_buf(), source: std::io::Error::other(err) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metadata string `datasets` 5.2.0 writes for these features (`Dataset.to_parquet`).
    #[test]
    fn metadata_is_the_json_datasets_writes() {
        let columns = [
            ("question_id", Feature::Int32),
            ("question", Feature::String),
            ("image", Feature::Image),
            ("answers", Feature::Strings),
        ];
        let datasets = r#"{"info": {"features": {"question_id": {"dtype": "int32", "_type": "Value"}, "question": {"dtype": "string", "_type": "Value"}, "image": {"_type": "Image"}, "answers": {"feature": {"dtype": "string", "_type": "Value"}, "_type": "List"}}}}"#;
        assert_eq!(hf_metadata(&columns), datasets);
    }
}
