//! A split's parquet shards streamed as [`Row`]s: every shard's footer is checked first (the
//! requested columns exist, have cell types, use a codec this build reads), then the shards are
//! read in the order given, `BATCH_ROWS` rows at a time, only the requested columns
//! (projection), each cell converted when its row is asked for. Memory stays near one batch of
//! encoded cells whatever the row groups' size: reading a 5,000-row, 3-shard split of 131 KB
//! JPEGs (480×360 to 800×600) in row groups of 100, decoding every image once, peaks at 60 MB
//! resident for the whole process (5 MB before reading), where 2× its largest row group
//! decoded is 179 MB (`peak_memory` in tests/hub_dataset.rs).

use std::fs::File;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use serde_json::Value as Json;

use super::{HubError, Row, cells};

/// Rows decoded from parquet at a time.
const BATCH_ROWS: usize = 64;

const READABLE_CODECS: &str = "uncompressed, snappy, gzip, lz4, lz4_raw and zstd";

/// The rows of a split stored as `files` (in the order given: a split's shards sorted by file
/// name), with the cells of `columns`. Every file must have every column: otherwise, and for a
/// file that is not parquet, a type with no cell, or an unreadable codec, the error names the
/// file (and column) before any row is read.
pub fn rows(files: &[PathBuf], columns: &[&str]) -> Result<Rows, HubError> {
    let columns: Arc<[String]> = columns.iter().map(|column| column.to_string()).collect();
    let shards = files.iter().map(|path| Shard::open(path, &columns)).collect::<Result<Vec<_>, _>>()?;
    Ok(Rows { shards: shards.into_iter(), reading: None, next_index: 0, failed: false, columns })
}

/// The iterator [`rows`] returns; it ends after its first error.
pub struct Rows {
    shards: std::vec::IntoIter<Shard>,
    reading: Option<ShardReader>,
    next_index: usize,
    failed: bool,
    columns: Arc<[String]>,
}

impl Iterator for Rows {
    type Item = Result<Row, HubError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            let Some(reader) = &mut self.reading else {
                match self.shards.next()?.reader() {
                    Ok(reader) => self.reading = Some(reader),
                    Err(err) => {
                        self.failed = true;
                        return Some(Err(err));
                    }
                }
                continue;
            };
            match reader.next_row(self.next_index, &self.columns) {
                None => self.reading = None,
                Some(row) => {
                    self.failed = row.is_err();
                    self.next_index += 1;
                    return Some(row);
                }
            }
        }
        None
    }
}

/// One parquet file whose footer passed the checks.
struct Shard {
    path: Arc<Path>,
    metadata: ArrowReaderMetadata,
    projection: ProjectionMask,
    /// The `datasets` feature of each requested column, when the file has one.
    features: Arc<[Option<Json>]>,
}

impl Shard {
    fn open(path: &Path, columns: &[String]) -> Result<Shard, HubError> {
        guarded(path, || Shard::read_footer(path, columns))
    }

    fn read_footer(path: &Path, columns: &[String]) -> Result<Shard, HubError> {
        let file = File::open(path).map_err(HubError::io(path))?;
        let metadata = ArrowReaderMetadata::load(&file, Default::default())
            .map_err(|source| HubError::Parquet { path: path.to_path_buf(), source })?;
        let schema = metadata.schema();
        let features = hf_features(path, schema.metadata().get("huggingface"))?;
        let mut roots = Vec::with_capacity(columns.len());
        let mut column_features = Vec::with_capacity(columns.len());
        for column in columns {
            let root = schema.index_of(column).map_err(|_| HubError::MissingColumn {
                path: path.to_path_buf(),
                column: column.clone(),
                available: schema.fields().iter().map(|field| field.name().as_str()).collect::<Vec<_>>().join(", "),
            })?;
            let feature = features.as_ref().and_then(|features| features.get(column)).cloned();
            cells::check(schema.field(root).data_type(), feature.as_ref()).map_err(|message| HubError::Schema {
                path: path.to_path_buf(),
                column: column.clone(),
                message,
            })?;
            roots.push(root);
            column_features.push(feature);
        }
        check_codecs(path, &metadata, &roots)?;
        let projection = ProjectionMask::roots(metadata.parquet_schema(), roots);
        Ok(Shard { path: path.into(), metadata, projection, features: column_features.into() })
    }

    fn reader(self) -> Result<ShardReader, HubError> {
        let file = File::open(&self.path).map_err(HubError::io(self.path.as_ref()))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata)
            .with_projection(self.projection)
            .with_batch_size(BATCH_ROWS);
        let reader = guarded(&self.path, || {
            builder.build().map_err(|source| HubError::Parquet { path: self.path.to_path_buf(), source })
        })?;
        Ok(ShardReader { path: self.path, features: self.features, reader, batch: Vec::new(), batch_rows: 0, at: 0 })
    }
}

/// A shard being read: the current batch's requested columns and the next row in it.
struct ShardReader {
    path: Arc<Path>,
    features: Arc<[Option<Json>]>,
    reader: ParquetRecordBatchReader,
    batch: Vec<ArrayRef>,
    batch_rows: usize,
    at: usize,
}

impl ShardReader {
    fn next_row(&mut self, index: usize, columns: &Arc<[String]>) -> Option<Result<Row, HubError>> {
        let path = self.path.clone();
        guarded(&path, || Ok(self.read_row(index, columns))).unwrap_or_else(|err| Some(Err(err)))
    }

    fn read_row(&mut self, index: usize, columns: &Arc<[String]>) -> Option<Result<Row, HubError>> {
        while self.at == self.batch_rows {
            let batch = match self.reader.next()? {
                Ok(batch) => batch,
                Err(err) => return Some(Err(HubError::Rows { path: self.path.to_path_buf(), message: err.to_string() })),
            };
            if let Err(err) = self.take(batch, columns) {
                return Some(Err(err));
            }
        }
        let at = self.at;
        self.at += 1;
        let values = self.batch.iter().zip(columns.iter()).zip(self.features.iter()).map(|((array, column), feature)| {
            cells::cell(array.as_ref(), at, feature.as_ref()).map_err(|message| HubError::Cell {
                path: self.path.to_path_buf(),
                row: index,
                column: column.clone(),
                message,
            })
        });
        Some(values.collect::<Result<_, _>>().map(|values| Row::new(index, self.path.clone(), columns.clone(), values)))
    }

    fn take(&mut self, batch: RecordBatch, columns: &[String]) -> Result<(), HubError> {
        let column = |name: &String| {
            batch.column_by_name(name).cloned().ok_or_else(|| HubError::Rows {
                path: self.path.to_path_buf(),
                message: format!("a batch came without column `{name}`"),
            })
        };
        self.batch = columns.iter().map(column).collect::<Result<_, _>>()?;
        self.batch_rows = batch.num_rows();
        self.at = 0;
        Ok(())
    }
}

/// Runs `step` on the file at `path`, a panic in it becoming an error naming the file: the
/// parquet crate (60.1) panics on some corrupt files (a negative column start, offsets out of
/// bounds, a division by zero, found by `no_byte_of_a_corrupt_file_makes_reading_panic` in
/// tests/hub_dataset.rs). The reader that panicked is not used again: [`Rows`] ends there.
fn guarded<T>(path: &Path, step: impl FnOnce() -> Result<T, HubError>) -> Result<T, HubError> {
    std::panic::catch_unwind(AssertUnwindSafe(step)).unwrap_or_else(|panic| {
        let message = match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
            (Some(message), _) => message.to_string(),
            (None, Some(message)) => message.clone(),
            (None, None) => "a panic without a message".to_string(),
        };
        Err(HubError::Corrupt { path: path.to_path_buf(), message })
    })
}

/// The `info.features` object of the `huggingface` metadata that `datasets` writes, if any.
fn hf_features(path: &Path, metadata: Option<&String>) -> Result<Option<serde_json::Map<String, Json>>, HubError> {
    let Some(text) = metadata else { return Ok(None) };
    let json: Json = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|err| HubError::Metadata { path: path.to_path_buf(), message: err.to_string() })?;
    Ok(json.get("info").and_then(|info| info.get("features")).and_then(Json::as_object).cloned())
}

/// Every column chunk of the requested columns uses a codec this build decompresses.
fn check_codecs(path: &Path, metadata: &ArrowReaderMetadata, roots: &[usize]) -> Result<(), HubError> {
    let schema = metadata.parquet_schema();
    for row_group in metadata.metadata().row_groups() {
        for (leaf, chunk) in row_group.columns().iter().enumerate().take(schema.num_columns()) {
            let unreadable = match chunk.compression() {
                Compression::BROTLI(_) => "brotli",
                Compression::LZO => "lzo",
                _ => continue,
            };
            if roots.contains(&schema.get_column_root_idx(leaf)) {
                return Err(HubError::Codec {
                    path: path.to_path_buf(),
                    column: chunk.column_path().string(),
                    codec: unreadable,
                    readable: READABLE_CODECS,
                });
            }
        }
    }
    Ok(())
}
