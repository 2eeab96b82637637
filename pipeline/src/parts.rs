//! Parquet parts shared by the match and balance stages: listing
//! `part-NNNNN.parquet` inputs, opening them with a schema check, and the
//! streaming read → parallel transform → write loop of one task.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{new_null_array, Array, ArrayRef, ListArray, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

use crate::storage::files;
use crate::task::{commit_atomically, TaskError};

/// Rows per record batch read from an input part.
pub const BATCH_ROWS: usize = 8192;

/// Key of the parquet key-value metadata entry that holds a task's counters (JSON).
pub const COUNTERS_KEY: &str = "witcurate.counters";

/// Errors reading or writing parts.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// An I/O error on a named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A parquet file could not be read or written.
    #[error("{path}: {source}")]
    Parquet {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: ParquetError,
    },
    /// Arrow data could not be processed.
    #[error("{path}: {source}")]
    Arrow {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: ArrowError,
    },
    /// A file does not have the columns this stage reads.
    #[error("{path}: not a {what} file: {detail}")]
    Schema {
        /// The file involved.
        path: PathBuf,
        /// What kind of file was expected (`pairs`, `matched`, `counts`).
        what: &'static str,
        /// Which column is missing or of the wrong type, and the columns found.
        detail: String,
    },
    /// A `part-*.parquet` whose name has no task number.
    #[error("{path}: input part names must be part-NNNNN.parquet (NNNNN = task number)")]
    BadPartName {
        /// The file involved.
        path: PathBuf,
    },
    /// A required column holds a null.
    #[error("{path}: column `{column}` holds a null in row {row}")]
    Null {
        /// The file involved.
        path: PathBuf,
        /// The column.
        column: String,
        /// The row (0-based, within the file).
        row: usize,
    },
    /// The task layer failed (commit, directories).
    #[error(transparent)]
    Task(#[from] TaskError),
}

impl PartsError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PartsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn parquet(path: &Path, source: ParquetError) -> Self {
        PartsError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn arrow(path: &Path, source: ArrowError) -> Self {
        PartsError::Arrow {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One input part: its task number (from the name) and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The task number NNNNN of `part-NNNNN.parquet`.
    pub task: usize,
    /// The file.
    pub path: PathBuf,
}

/// Lists `dir/part-*.parquet`, sorted by task number. A missing directory is
/// an empty list; hidden files (temporaries) are ignored.
pub fn list_parts(dir: &Path) -> Result<Vec<Part>, PartsError> {
    let paths = files::list_files(dir).map_err(|e| PartsError::io(dir, e))?;
    let mut parts = Vec::new();
    for path in paths {
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let Some(stem) = name
            .strip_prefix("part-")
            .and_then(|n| n.strip_suffix(".parquet"))
        else {
            continue;
        };
        let task = stem
            .parse::<usize>()
            .ok()
            .filter(|_| stem.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| PartsError::BadPartName { path: path.clone() })?;
        parts.push(Part { task, path });
    }
    parts.sort_by_key(|p| p.task);
    Ok(parts)
}

fn describe(schema: &Schema) -> String {
    let cols: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    format!("[{}]", cols.join(", "))
}

/// Whether a column of type `actual` can be read as field `expected`. Lists
/// compare their item types only (writers differ on the item field's name and
/// nullability); an all-null column (type `Null`, as pyarrow writes a column
/// of Nones) fits any nullable field.
fn compatible(actual: &DataType, expected: &Field) -> bool {
    match (actual, expected.data_type()) {
        (DataType::Null, _) => expected.is_nullable(),
        (DataType::List(a), DataType::List(e)) => a.data_type() == e.data_type(),
        (a, e) => a == e,
    }
}

/// Opens a parquet part and checks that it has every column of `expected`
/// with a compatible type (extra columns are ignored). Returns the reader of
/// just those columns and the file's row count.
pub fn open_checked(
    path: &Path,
    expected: &Schema,
    what: &'static str,
) -> Result<(ParquetRecordBatchReader, usize), PartsError> {
    let file = files::open(path).map_err(|e| PartsError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| PartsError::parquet(path, e))?;
    let actual = builder.schema().clone();
    let mut indices = Vec::new();
    for field in expected.fields() {
        let Some((i, found)) = actual.column_with_name(field.name()) else {
            return Err(PartsError::Schema {
                path: path.to_path_buf(),
                what,
                detail: format!(
                    "missing column `{}`; it has {}",
                    field.name(),
                    describe(&actual)
                ),
            });
        };
        if !compatible(found.data_type(), field) {
            return Err(PartsError::Schema {
                path: path.to_path_buf(),
                what,
                detail: format!(
                    "column `{}` is {}, expected {}",
                    field.name(),
                    found.data_type(),
                    field.data_type()
                ),
            });
        }
        indices.push(i);
    }
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| PartsError::parquet(path, e))?;
    Ok((reader, rows))
}

/// `schema` followed by the columns of the parquet file at `path` that it
/// does not name (in file order): what a stage that filters rows reads and
/// writes, so columns added upstream (a match stage's `lang`) pass through.
pub fn with_extra_columns(path: &Path, schema: &SchemaRef) -> Result<SchemaRef, PartsError> {
    let file = files::open(path).map_err(|e| PartsError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| PartsError::parquet(path, e))?;
    let extra: Vec<_> = builder
        .schema()
        .fields()
        .iter()
        .filter(|f| schema.field_with_name(f.name()).is_err())
        .cloned()
        .collect();
    if extra.is_empty() {
        return Ok(schema.clone());
    }
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.extend(extra);
    Ok(Arc::new(Schema::new(fields)))
}

/// Reorders (and retypes list item fields of) the columns of a batch read by
/// [`open_checked`] into the order and types of `schema`. Nulls are left for
/// the caller to judge (see [`required_nulls`]).
pub fn conform_columns(
    path: &Path,
    batch: &RecordBatch,
    schema: &SchemaRef,
) -> Result<Vec<ArrayRef>, PartsError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let col = batch
            .column_by_name(field.name())
            .expect("open_checked projected every expected column")
            .clone();
        let col = match (col.data_type(), field.data_type()) {
            (DataType::Null, t) if t != &DataType::Null => new_null_array(t, col.len()),
            (DataType::List(a), DataType::List(e)) if a != e => {
                let list = col
                    .as_any()
                    .downcast_ref::<ListArray>()
                    .expect("List type is a ListArray");
                let (_, offsets, values, nulls) = list.clone().into_parts();
                Arc::new(
                    ListArray::try_new(e.clone(), offsets, values, nulls)
                        .map_err(|err| PartsError::arrow(path, err))?,
                ) as ArrayRef
            }
            _ => col,
        };
        columns.push(col);
    }
    Ok(columns)
}

/// For each row, whether some column that `schema` declares non-nullable holds
/// a null there. `None` when no row has one (the common case).
pub fn required_nulls(columns: &[ArrayRef], schema: &SchemaRef) -> Option<Vec<bool>> {
    let mut bad: Option<Vec<bool>> = None;
    for (col, field) in columns.iter().zip(schema.fields()) {
        if field.is_nullable() || col.null_count() == 0 {
            continue;
        }
        let bad = bad.get_or_insert_with(|| vec![false; col.len()]);
        for (i, b) in bad.iter_mut().enumerate() {
            *b |= col.is_null(i);
        }
    }
    bad
}

/// Rows skipped because a required column is null, in one task: the first
/// few are logged with their row number, all are counted.
#[derive(Debug)]
pub struct NullRows<'a> {
    input: &'a Path,
    count: std::sync::atomic::AtomicU64,
}

impl<'a> NullRows<'a> {
    /// How many such rows are logged per task.
    pub const LOGGED: u64 = 5;

    /// A counter for the task reading `input`.
    pub fn new(input: &'a Path) -> Self {
        Self {
            input,
            count: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether row `i` of a batch (row `first_row + i` of the part) has a
    /// null in a required column (`bad` from [`required_nulls`]); logs and
    /// counts it if so.
    pub fn skip(&self, bad: &Option<Vec<bool>>, i: usize, first_row: usize) -> bool {
        if !bad.as_ref().is_some_and(|b| b[i]) {
            return false;
        }
        let n = self
            .count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n < Self::LOGGED {
            log::warn!(
                "{}: row {}: a required column is null; row skipped",
                self.input.display(),
                first_row + i
            );
        }
        true
    }

    /// How many rows were skipped.
    pub fn count(self) -> u64 {
        self.count.into_inner()
    }
}

/// The rows of `columns` where `keep` is true (errors name `input`).
pub fn filter_rows(
    input: &Path,
    columns: &[ArrayRef],
    keep: Vec<bool>,
) -> Result<Vec<ArrayRef>, PartsError> {
    let mask = arrow_array::BooleanArray::from(keep);
    columns
        .iter()
        .map(|c| arrow_select::filter::filter(c.as_ref(), &mask))
        .collect::<Result<_, _>>()
        .map_err(|e| PartsError::arrow(input, e))
}

/// Total rows of the readable parts among `paths` (for progress bars).
pub fn total_rows(
    paths: impl IntoIterator<Item = PathBuf>,
    schema: &Schema,
    what: &'static str,
) -> u64 {
    paths
        .into_iter()
        .map(|p| open_checked(&p, schema, what).map_or(0, |(_, r)| r as u64))
        .sum()
}

/// [`conform_columns`] into a batch of exactly `schema`; a null in a required
/// column is an error naming the row (`first_row` = the batch's first row).
pub fn conform(
    path: &Path,
    batch: &RecordBatch,
    schema: &SchemaRef,
    first_row: usize,
) -> Result<RecordBatch, PartsError> {
    let columns = conform_columns(path, batch, schema)?;
    for (col, field) in columns.iter().zip(schema.fields()) {
        if !field.is_nullable() && col.null_count() > 0 {
            let row = (0..col.len()).find(|&i| col.is_null(i)).unwrap_or(0);
            return Err(PartsError::Null {
                path: path.to_path_buf(),
                column: field.name().clone(),
                row: first_row + row,
            });
        }
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| PartsError::arrow(path, e))
}

/// How a part is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartLayout {
    /// Parts kept for a while (`selected/`, counts): zstd level 1, small
    /// and still cheap to write.
    Compact,
    /// What the match stage writes of `matched/`, the largest part written
    /// on the hot path of a run and read once, by balance: LZ4 (raw blocks)
    /// for the columns it shrinks (`url`, `query_ids`), none for `uid` and
    /// `text`, in row groups of 32 Ki rows. Writing it costs a tenth of what
    /// zstd costs, for about 1.8× zstd's size. When the pair columns are
    /// copied from `pairs/` (`crate::splice`), only the computed columns
    /// (`query_ids`, `lang`) are written this way, in `pairs/`'s row groups.
    Fast,
}

/// Writer properties of every part: compressed as `layout` says, optional
/// key-value metadata, and neither a dictionary nor min/max statistics for
/// the columns whose values are (nearly) all distinct (`uid`, `url`,
/// `text`, and a counts table's entry `id`: a dictionary would only cost
/// time before the writer falls back to plain encoding, and their
/// statistics prune nothing).
pub fn writer_properties(metadata: Option<Vec<KeyValue>>, layout: PartLayout) -> WriterProperties {
    let mut builder = WriterProperties::builder();
    for distinct in [
        crate::schema::col::UID,
        crate::schema::col::URL,
        crate::schema::col::TEXT,
        crate::schema::col::ID,
    ] {
        builder = builder
            .set_column_statistics_enabled(ColumnPath::from(distinct), EnabledStatistics::None)
            .set_column_dictionary_enabled(ColumnPath::from(distinct), false);
    }
    builder = match layout {
        PartLayout::Compact => builder.set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        )),
        PartLayout::Fast => {
            // Row groups of 32 Ki rows: the writer buffers a whole row group,
            // and small buffers are reused instead of growing into fresh
            // memory.
            builder = builder
                .set_compression(Compression::LZ4_RAW)
                .set_max_row_group_row_count(Some(32 * 1024));
            // LZ4 gains almost nothing on hex ids and prose-like alt-texts (a
            // few percent) but costs as much time on them as on the rest.
            for incompressible in [crate::schema::col::UID, crate::schema::col::TEXT] {
                builder = builder.set_column_compression(
                    ColumnPath::from(incompressible),
                    Compression::UNCOMPRESSED,
                );
            }
            builder
        }
    };
    builder
        .set_column_dictionary_enabled(
            ColumnPath::from(vec![
                crate::schema::col::QUERY_IDS.to_string(),
                "list".to_string(),
                "item".to_string(),
            ]),
            false,
        )
        .set_key_value_metadata(metadata)
        .build()
}

/// Writes `batches` to `path` atomically as one parquet file of `schema`.
pub fn write_parquet_atomically(
    path: &Path,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    metadata: Option<Vec<KeyValue>>,
) -> Result<(), PartsError> {
    commit_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(|e| PartsError::io(tmp, e))?;
        let mut w = ArrowWriter::try_new(
            file,
            schema.clone(),
            Some(writer_properties(metadata, PartLayout::Compact)),
        )
        .map_err(|e| PartsError::parquet(path, e))?;
        for b in batches {
            w.write(b).map_err(|e| PartsError::parquet(path, e))?;
        }
        w.close().map_err(|e| PartsError::parquet(path, e))?;
        Ok(())
    })
}

/// Reads a key-value metadata entry of a parquet file.
pub fn read_metadata_value(path: &Path, key: &str) -> Result<Option<String>, PartsError> {
    let file = files::open(path).map_err(|e| PartsError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| PartsError::parquet(path, e))?;
    Ok(builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == key))
        .and_then(|k| k.value.clone()))
}

/// Reads every batch of a part with the columns of `schema`, conformed to it.
pub fn read_all(
    path: &Path,
    schema: &SchemaRef,
    what: &'static str,
) -> Result<Vec<RecordBatch>, PartsError> {
    let (reader, _) = open_checked(path, schema, what)?;
    let mut out = Vec::new();
    let mut row = 0;
    for b in reader {
        let b = b.map_err(|e| PartsError::arrow(path, e))?;
        out.push(conform(path, &b, schema, row)?);
        row += b.num_rows();
    }
    Ok(out)
}

/// One task's streaming loop: reads `input` (checked against `in_schema`) on
/// a reader thread, transforms chunks of batches in parallel on the rayon pool
/// with `transform(batch, first_row)`, and writes the results in input order
/// on a writer thread to `output` (atomically, `out_schema`, as `layout`
/// says). Every written batch is shown to `observe` (on the writer thread),
/// and `progress` gets the number of input rows done. Memory stays bounded
/// by a few chunks.
#[allow(clippy::too_many_arguments)]
pub fn transform_part<T, O, P>(
    input: &Path,
    in_schema: &SchemaRef,
    what: &'static str,
    output: &Path,
    out_schema: &SchemaRef,
    layout: PartLayout,
    transform: T,
    mut observe: O,
    progress: P,
) -> Result<(), PartsError>
where
    T: Fn(&RecordBatch, usize) -> Result<RecordBatch, PartsError> + Sync,
    O: FnMut(&RecordBatch) + Send,
    P: Fn(u64) + Sync,
{
    let (reader, _rows) = open_checked(input, in_schema, what)?;
    let _active = ActiveTask::enter();
    let chunk = ActiveTask::batches_per_chunk();
    commit_atomically(output, |tmp| {
        let file = File::create(tmp).map_err(|e| PartsError::io(tmp, e))?;
        let mut writer = ArrowWriter::try_new(
            file,
            out_schema.clone(),
            Some(writer_properties(None, layout)),
        )
        .map_err(|e| PartsError::parquet(output, e))?;
        std::thread::scope(|s| -> Result<(), PartsError> {
            let batch_rx = read_ahead(s, reader, chunk);
            let (out_tx, out_rx) = crossbeam_channel::bounded::<Vec<RecordBatch>>(2);
            let observe = &mut observe;
            let writer_ref = &mut writer;
            let write_job = s.spawn(move || -> Result<(), PartsError> {
                for batches in out_rx {
                    for b in batches {
                        if b.num_rows() == 0 {
                            continue;
                        }
                        observe(&b);
                        writer_ref
                            .write(&b)
                            .map_err(|e| PartsError::parquet(output, e))?;
                    }
                }
                Ok(())
            });
            let result = (|| -> Result<(), PartsError> {
                loop {
                    let mut inputs = Vec::with_capacity(chunk);
                    for (b, first) in batch_rx.iter().take(chunk) {
                        inputs.push((b.map_err(|e| PartsError::arrow(input, e))?, first));
                    }
                    if inputs.is_empty() {
                        return Ok(());
                    }
                    let outs = inputs
                        .par_iter()
                        .map(|(b, first)| {
                            let out = transform(b, *first)?;
                            progress(b.num_rows() as u64);
                            Ok(out)
                        })
                        .collect::<Result<Vec<_>, PartsError>>()?;
                    if out_tx.send(outs).is_err() {
                        return Ok(()); // the writer failed; its error is reported below
                    }
                }
            })();
            drop(batch_rx);
            drop(out_tx);
            let written = write_job.join().expect("writer thread panicked");
            result.and(written)
        })?;
        writer.close().map_err(|e| PartsError::parquet(output, e))?;
        Ok(())
    })
}

/// The number of [`transform_part`] loops running in this process; one is
/// counted while an `ActiveTask` lives.
pub(crate) struct ActiveTask;

static ACTIVE_TASKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl ActiveTask {
    pub(crate) fn enter() -> Self {
        ACTIVE_TASKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ActiveTask
    }

    fn count() -> usize {
        ACTIVE_TASKS
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1)
    }

    /// Batches a task transforms at once. The tasks running at once share
    /// the cores: each takes about two batches per core it has, so that
    /// memory stays that of one task with every core.
    pub(crate) fn batches_per_chunk() -> usize {
        2 * (rayon::current_num_threads() / Self::count()).max(1)
    }
}

/// Reads `reader` on a thread of `scope`, handing over each batch (or its
/// error) with the input row number of its first row, at most `capacity`
/// batches ahead. The thread stops when the receiver is dropped.
pub(crate) fn read_ahead<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    reader: ParquetRecordBatchReader,
    capacity: usize,
) -> crossbeam_channel::Receiver<(Result<RecordBatch, ArrowError>, usize)> {
    let (tx, rx) = crossbeam_channel::bounded(capacity);
    scope.spawn(move || {
        let mut row = 0usize;
        for b in reader {
            let first = row;
            if let Ok(b) = &b {
                row += b.num_rows();
            }
            if tx.send((b, first)).is_err() {
                break;
            }
        }
    });
    rx
}

impl Drop for ActiveTask {
    fn drop(&mut self) {
        ACTIVE_TASKS.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether row `i` of a `query_ids` column is a pair that matched no entry:
/// an empty list (`matched/` holds every pair of `pairs/`, those without a
/// match with no ids). A null is not one: readers treat it as any other
/// null.
pub fn matched_nothing(ids: &ListArray, i: usize) -> bool {
    ids.is_valid(i) && ids.value_length(i) == 0
}

/// The `query_ids` field of `matched_schema()`, for building list arrays.
pub fn query_ids_field() -> Arc<Field> {
    match crate::schema::query_ids_type() {
        DataType::List(f) => f,
        _ => unreachable!("query_ids is a list"),
    }
}
