//! The reader: streams samples (uid, url, caption, query ids) in input order
//! from `selected/part-*.parquet` or from url+caption tables, and cuts them
//! into shards of a fixed size.
//!
//! Parquet is read here, with only the wanted columns, so that `uid` and
//! `query_ids` pass through; csv, tsv and jsonl tables (gzipped or not) are
//! read by [`crate::sources::table`], on a thread of their own that hands
//! rows over in batches. A row that table reader cannot parse becomes a
//! sample with no URL (an `invalid_url` row), so that every input row keeps
//! its place.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::error::DownloadError;
use crate::parts::matched_nothing;
use crate::schema::{self, col};
use crate::sources::table::{self, RowError, TableFormat, TableOptions, TableRow};
use crate::storage::files as run_files;

/// One pair to download.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    /// Pair identity (from the input, or computed from url and caption).
    pub uid: String,
    /// Image URL (null in the input becomes an `invalid_url` row).
    pub url: Option<String>,
    /// Caption.
    pub caption: Option<String>,
    /// Matched vocabulary entries, when the input has them.
    pub query_ids: Option<Vec<u32>>,
    /// The cells of the input's extra columns (`InputSpec::Tables::extra_cols`), as text.
    pub extra: Vec<Option<String>>,
}

/// Where samples come from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum InputSpec {
    /// `RUN/selected/part-*.parquet` (the balance stage's output).
    Selected(PathBuf),
    /// `RUN/matched/part-*.parquet` (the match stage's output, every matched
    /// pair: for balancing after download and dedup).
    Matched(PathBuf),
    /// url+caption tables: files, or directories of them, in any format of
    /// [`crate::sources::table`] (parquet, csv, tsv, jsonl; each optionally
    /// gzipped), told apart by file name.
    Tables {
        /// Files or directories.
        paths: Vec<PathBuf>,
        /// Name of the URL column.
        url_col: String,
        /// Name of the caption column (default: `caption`, else `text`, else none).
        caption_col: Option<String>,
        /// Further columns carried into the shards (as text), e.g.
        /// `--save-additional-columns` and the `--verify-hash` column.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        extra_cols: Vec<String>,
        /// The format of every table (img2dataset's `input_format`);
        /// `None`: from each file's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<TableFormat>,
    },
}

impl InputSpec {
    /// The extra columns read from the input.
    pub fn extra_cols(&self) -> &[String] {
        match self {
            InputSpec::Selected(_) | InputSpec::Matched(_) => &[],
            InputSpec::Tables { extra_cols, .. } => extra_cols,
        }
    }

    /// The table reader's options for text tables.
    fn table_options(&self) -> TableOptions {
        match self {
            InputSpec::Selected(_) | InputSpec::Matched(_) => TableOptions {
                url_col: col::URL.into(),
                caption_col: col::TEXT.into(),
                caption_fallback: None,
                extra_cols: Vec::new(),
            },
            InputSpec::Tables {
                url_col,
                caption_col,
                extra_cols,
                ..
            } => match caption_col {
                Some(c) => TableOptions {
                    url_col: url_col.clone(),
                    caption_col: c.clone(),
                    caption_fallback: None,
                    extra_cols: extra_cols.clone(),
                },
                None => TableOptions {
                    url_col: url_col.clone(),
                    caption_col: col::CAPTION.into(),
                    caption_fallback: Some(col::TEXT.into()),
                    extra_cols: extra_cols.clone(),
                },
            },
        }
    }
}

/// One input file and its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The file.
    pub path: PathBuf,
    /// Its format (from its name).
    pub format: TableFormat,
}

/// The input files, in the order their rows are numbered.
pub fn list_inputs(spec: &InputSpec) -> Result<Vec<InputFile>, DownloadError> {
    let mut files = Vec::new();
    match spec {
        InputSpec::Selected(run) | InputSpec::Matched(run) => {
            let (dir, stage) = match spec {
                InputSpec::Selected(_) => (run.join("selected"), "balance"),
                _ => (run.join("matched"), "match"),
            };
            files = tables_in(&dir, None)?;
            files.retain(|f| {
                f.format == TableFormat::Parquet
                    && f.path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("part-"))
            });
            if files.is_empty() {
                return Err(DownloadError::NoInput(format!(
                    "no part-*.parquet in {} (run `crawl {stage}` first, or pass --input TABLE)",
                    dir.display()
                )));
            }
        }
        InputSpec::Tables { paths, format, .. } => {
            for p in paths {
                let kind = run_files::kind(p).map_err(|e| DownloadError::bad_input(p, e))?;
                if kind == Some(run_files::Kind::Dir) {
                    let mut found = tables_in(p, *format)?;
                    files.append(&mut found);
                } else if kind == Some(run_files::Kind::File) {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    let format = format.or_else(|| format_from_name(&name)).ok_or_else(|| {
                        DownloadError::bad_input(
                            p,
                            "unknown table format: expected a name ending in .parquet, .csv, \
                             .tsv, .jsonl, .json or .txt (optionally followed by .gz), or \
                             --input-format",
                        )
                    })?;
                    files.push(InputFile {
                        path: p.clone(),
                        format,
                    });
                } else {
                    return Err(DownloadError::bad_input(p, "no such file or directory"));
                }
            }
            if files.is_empty() {
                return Err(DownloadError::NoInput("no table given".into()));
            }
        }
    }
    Ok(files)
}

/// The format of a table named `name`: the table reader's inference, and
/// `.txt` (optionally `.gz`) as a URL list.
fn format_from_name(name: &str) -> Option<TableFormat> {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    if stem.ends_with(".txt") {
        return Some(TableFormat::Txt);
    }
    TableFormat::from_name(name)
}

/// The tables in a directory, by name: `*.parquet`, `*.csv`, `*.tsv`,
/// `*.jsonl` (optionally `.gz`), not hidden files, and not `*.json` (a
/// directory's json files are more often metadata than jsonl tables).
/// With `format` given, every file but hidden ones, in that format.
fn tables_in(dir: &Path, format: Option<TableFormat>) -> Result<Vec<InputFile>, DownloadError> {
    if run_files::kind(dir)
        .map_err(|e| DownloadError::bad_input(dir, e))?
        .is_none()
    {
        return Err(DownloadError::bad_input(dir, "no such file or directory"));
    }
    let entries = run_files::list_files(dir).map_err(|e| DownloadError::bad_input(dir, e))?;
    let mut files: Vec<InputFile> = entries
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
            if name.starts_with('.') {
                return None;
            }
            if let Some(format) = format {
                return Some(InputFile { path, format });
            }
            if name.ends_with(".json") || name.ends_with(".json.gz") {
                return None;
            }
            let format = TableFormat::from_name(&name)?;
            Some(InputFile { path, format })
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Total rows of the inputs: from the footers for parquet (no data read;
/// for `matched/`, the rows with a match, from its `query_ids` column), by
/// a reading pass for text tables (which also finds a missing url column
/// before any download starts).
pub fn count_rows(spec: &InputSpec, files: &[InputFile]) -> Result<u64, DownloadError> {
    let opts = spec.table_options();
    let mut total = 0u64;
    for f in files {
        let path = &f.path;
        if f.format == TableFormat::Parquet {
            let file = run_files::open(path).map_err(|e| DownloadError::bad_input(path, e))?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| DownloadError::bad_input(path, e))?;
            if matches!(spec, InputSpec::Matched(_)) {
                total += count_matched(path, builder)?;
            } else {
                total += builder.metadata().file_metadata().num_rows() as u64;
            }
        } else {
            let location = crate::storage::location(path);
            table::read(&location, f.format, &opts, &mut |_| total += 1)
                .map_err(|e| text_error(path, e))?;
        }
    }
    Ok(total)
}

/// The rows of a `matched/` part but those that matched nothing.
fn count_matched(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<run_files::RunFile>,
) -> Result<u64, DownloadError> {
    let Some((i, _)) = builder.schema().column_with_name(col::QUERY_IDS) else {
        return Err(DownloadError::bad_input(
            path,
            format!("no column {:?}", col::QUERY_IDS),
        ));
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [i]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| DownloadError::bad_input(path, e))?;
    let mut n = 0u64;
    for batch in reader {
        let batch = batch.map_err(|e| DownloadError::bad_input(path, e))?;
        let ids = id_lists(path, batch.column(0))?;
        n += (0..ids.len()).filter(|&i| !matched_nothing(ids, i)).count() as u64;
    }
    Ok(n)
}

/// A table reader error as a bad-input error on `path` (without naming the
/// path twice).
fn text_error(path: &Path, e: crate::sources::SourceError) -> DownloadError {
    use crate::sources::SourceError;
    let message = match e {
        SourceError::Table { message, .. } => message,
        SourceError::Read { source, .. } | SourceError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    DownloadError::bad_input(path, message)
}

/// Rows handed over from a text-table thread at a time.
const TEXT_BATCH: usize = 4096;

/// What a text-table thread hands over.
enum TextMsg {
    /// The next rows.
    Rows(Vec<Sample>),
    /// The table is read to its end.
    End,
    /// The table cannot be read on.
    Failed(DownloadError),
}

/// A text table being read on its own thread.
struct TextTable {
    rows: mpsc::Receiver<TextMsg>,
}

impl TextTable {
    /// Starts reading `path`.
    fn start(
        path: PathBuf,
        format: TableFormat,
        opts: TableOptions,
    ) -> Result<Self, DownloadError> {
        let (tx, rx) = mpsc::sync_channel(2);
        std::thread::Builder::new()
            .name("download-table".into())
            .spawn(move || {
                let location = crate::storage::location(&path);
                let mut batch = Vec::with_capacity(TEXT_BATCH);
                let mut open = true;
                let result = table::read(&location, format, &opts, &mut |row| {
                    if !open {
                        return;
                    }
                    batch.push(text_sample(&path, row));
                    if batch.len() == TEXT_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(TEXT_BATCH));
                        open = tx.send(TextMsg::Rows(full)).is_ok();
                    }
                });
                if open {
                    let last = match result {
                        Ok(()) => [TextMsg::Rows(batch), TextMsg::End],
                        Err(e) => [TextMsg::Rows(batch), TextMsg::Failed(text_error(&path, e))],
                    };
                    for msg in last {
                        if tx.send(msg).is_err() {
                            break;
                        }
                    }
                }
            })
            .map_err(|e| DownloadError::Config(format!("cannot start a table reader: {e}")))?;
        Ok(Self { rows: rx })
    }
}

/// A text table's row as a sample (a bad row: a sample with no URL).
fn text_sample(path: &Path, row: Result<TableRow, RowError>) -> Sample {
    match row {
        Ok(TableRow {
            url,
            caption,
            extra,
        }) => Sample {
            uid: schema::uid(&url, caption.as_deref().unwrap_or("")),
            url: Some(url),
            caption,
            query_ids: None,
            extra,
        },
        Err(e) => {
            log::warn!("{}: row {}: {}", path.display(), e.row, e.message);
            Sample {
                uid: schema::uid("", ""),
                ..Sample::default()
            }
        }
    }
}

/// The file being read.
enum Current {
    Parquet(PathBuf, Columns, Box<ParquetRecordBatchReader>),
    Text(PathBuf, TextTable),
}

/// Which columns to read, resolved against one file's schema.
struct Columns {
    url: String,
    caption: Option<String>,
    uid: Option<String>,
    query_ids: Option<String>,
    extra: Vec<String>,
    /// Rows that matched nothing (an empty `query_ids`) are skipped
    /// (`matched/`, which holds every pair of `pairs/`; see
    /// [`matched_nothing`]).
    matched_only: bool,
}

/// Streams samples from the input files, in order.
pub struct SampleReader {
    spec: InputSpec,
    files: VecDeque<InputFile>,
    current: Option<Current>,
    pending: VecDeque<Sample>,
}

impl SampleReader {
    /// A reader over `files` (from [`list_inputs`]).
    pub fn new(spec: InputSpec, files: Vec<InputFile>) -> Self {
        Self {
            spec,
            files: files.into(),
            current: None,
            pending: VecDeque::new(),
        }
    }

    /// The next `n` samples (fewer at the end of the input; empty when done).
    pub fn next_shard(&mut self, n: usize) -> Result<Vec<Sample>, DownloadError> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.next_sample()? {
                Some(s) => out.push(s),
                None => break,
            }
        }
        Ok(out)
    }

    fn next_sample(&mut self) -> Result<Option<Sample>, DownloadError> {
        loop {
            if let Some(s) = self.pending.pop_front() {
                return Ok(Some(s));
            }
            match &mut self.current {
                Some(Current::Parquet(path, cols, reader)) => match reader.next() {
                    Some(Ok(batch)) => {
                        self.pending = batch_samples(path, cols, &batch)?.into();
                        continue;
                    }
                    Some(Err(e)) => return Err(DownloadError::bad_input(path.clone(), e)),
                    None => self.current = None,
                },
                Some(Current::Text(path, table)) => match table.rows.recv() {
                    Ok(TextMsg::Rows(batch)) => {
                        self.pending = batch.into();
                        continue;
                    }
                    Ok(TextMsg::End) => self.current = None,
                    Ok(TextMsg::Failed(e)) => return Err(e),
                    Err(_) => {
                        return Err(DownloadError::bad_input(
                            path.clone(),
                            "the table reader stopped",
                        ))
                    }
                },
                None => {}
            }
            let Some(file) = self.files.pop_front() else {
                return Ok(None);
            };
            self.current = Some(match file.format {
                TableFormat::Parquet => {
                    let (path, cols, reader) = self.open(file.path)?;
                    Current::Parquet(path, cols, Box::new(reader))
                }
                format => {
                    let table =
                        TextTable::start(file.path.clone(), format, self.spec.table_options())?;
                    Current::Text(file.path, table)
                }
            });
        }
    }

    fn open(
        &self,
        path: PathBuf,
    ) -> Result<(PathBuf, Columns, ParquetRecordBatchReader), DownloadError> {
        let file = run_files::open(&path).map_err(|e| DownloadError::bad_input(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| DownloadError::bad_input(&path, e))?;
        let schema = builder.schema().clone();
        let has = |name: &str| schema.field_with_name(name).is_ok();
        let cols = match &self.spec {
            InputSpec::Selected(_) | InputSpec::Matched(_) => Columns {
                url: col::URL.into(),
                caption: Some(col::TEXT.into()),
                uid: Some(col::UID.into()),
                query_ids: Some(col::QUERY_IDS.into()),
                extra: Vec::new(),
                matched_only: matches!(self.spec, InputSpec::Matched(_)),
            },
            InputSpec::Tables {
                url_col,
                caption_col,
                extra_cols,
                ..
            } => Columns {
                url: url_col.clone(),
                caption: match caption_col {
                    Some(c) => Some(c.clone()),
                    None => [col::CAPTION, col::TEXT]
                        .into_iter()
                        .find(|c| has(c))
                        .map(String::from),
                },
                uid: has(col::UID).then(|| col::UID.into()),
                query_ids: has(col::QUERY_IDS).then(|| col::QUERY_IDS.into()),
                extra: extra_cols.clone(),
                matched_only: false,
            },
        };
        let wanted: Vec<&String> = [
            Some(&cols.url),
            cols.caption.as_ref(),
            cols.uid.as_ref(),
            cols.query_ids.as_ref(),
        ]
        .into_iter()
        .flatten()
        .chain(&cols.extra)
        .collect();
        let mut indices = Vec::new();
        for name in wanted {
            let (i, _) = schema.column_with_name(name).ok_or_else(|| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                DownloadError::bad_input(
                    &path,
                    format!("no column {name:?} (columns: {})", names.join(", ")),
                )
            })?;
            indices.push(i);
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(4096)
            .build()
            .map_err(|e| DownloadError::bad_input(&path, e))?;
        Ok((path, cols, reader))
    }
}

fn strings(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
) -> Result<Vec<Option<String>>, DownloadError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| DownloadError::bad_input(path, format!("no column {name:?}")))?;
    let out = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(String::from))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(String::from))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(String::from))
            .collect(),
        other => {
            return Err(DownloadError::bad_input(
                path,
                format!("column {name:?} is {other}, expected a string column"),
            ))
        }
    };
    Ok(out)
}

/// A `query_ids` column as the list of entry ids it must be.
fn id_lists<'a>(path: &Path, array: &'a ArrayRef) -> Result<&'a ListArray, DownloadError> {
    match array.data_type() {
        DataType::List(f) if f.data_type() == &DataType::UInt32 => Ok(array.as_list::<i32>()),
        other => Err(DownloadError::bad_input(
            path,
            format!(
                "column {:?} is {other}, expected list<uint32>",
                col::QUERY_IDS
            ),
        )),
    }
}

fn query_ids(path: &Path, array: &ArrayRef) -> Result<Vec<Option<Vec<u32>>>, DownloadError> {
    let list = id_lists(path, array)?;
    let values = list.values().as_primitive::<UInt32Type>();
    let offsets = list.value_offsets();
    Ok((0..list.len())
        .map(|i| {
            list.is_valid(i).then(|| {
                let (a, b) = (offsets[i] as usize, offsets[i + 1] as usize);
                values.values()[a..b].to_vec()
            })
        })
        .collect())
}

fn batch_samples(
    path: &Path,
    cols: &Columns,
    batch: &RecordBatch,
) -> Result<Vec<Sample>, DownloadError> {
    let urls = strings(path, batch, &cols.url)?;
    let captions = match &cols.caption {
        Some(c) => strings(path, batch, c)?,
        None => vec![None; batch.num_rows()],
    };
    let uids = match &cols.uid {
        Some(c) => strings(path, batch, c)?,
        None => vec![None; batch.num_rows()],
    };
    let qids = match cols
        .query_ids
        .as_ref()
        .and_then(|c| batch.column_by_name(c))
    {
        Some(a) => query_ids(path, a)?,
        None => vec![None; batch.num_rows()],
    };
    let mut extras = Vec::with_capacity(cols.extra.len());
    for name in &cols.extra {
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| DownloadError::bad_input(path, format!("no column {name:?}")))?;
        extras.push(
            table::cells_as_text(array.as_ref())
                .map_err(|m| DownloadError::bad_input(path, format!("column {name:?}: {m}")))?,
        );
    }
    Ok(urls
        .into_iter()
        .zip(captions)
        .zip(uids)
        .zip(qids)
        .enumerate()
        .filter(|(_, (_, ids))| !(cols.matched_only && ids.as_ref().is_some_and(Vec::is_empty)))
        .map(|(i, (((url, caption), uid), query_ids))| {
            let uid = uid.unwrap_or_else(|| {
                schema::uid(
                    url.as_deref().unwrap_or(""),
                    caption.as_deref().unwrap_or(""),
                )
            });
            Sample {
                uid,
                url,
                caption,
                query_ids,
                extra: extras.iter().map(|e| e[i].clone()).collect(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    fn tables(paths: Vec<PathBuf>) -> InputSpec {
        InputSpec::Tables {
            paths,
            url_col: "url".into(),
            caption_col: None,
            extra_cols: Vec::new(),
            format: None,
        }
    }

    #[test]
    fn directories_list_tables_by_name_and_leave_json_out() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "b.tsv",
            "a.csv.gz",
            "meta.json",
            ".hidden.csv",
            "c.parquet",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let files = list_inputs(&tables(vec![dir.path().to_path_buf()])).unwrap();
        let got: Vec<(String, TableFormat)> = files
            .iter()
            .map(|f| {
                let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, f.format)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.csv.gz".to_string(), TableFormat::Csv),
                ("b.tsv".to_string(), TableFormat::Tsv),
                ("c.parquet".to_string(), TableFormat::Parquet),
            ]
        );
    }

    #[test]
    fn parquet_extra_columns_are_read_as_text() {
        use arrow_array::{Int64Array, StringArray};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let batch = RecordBatch::try_from_iter(vec![
            (
                "url",
                Arc::new(StringArray::from(vec!["http://x/1", "http://x/2"])) as ArrayRef,
            ),
            (
                "license",
                Arc::new(StringArray::from(vec![Some("cc0"), None])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![7, -1])) as ArrayRef),
        ])
        .unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(
            File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let spec = InputSpec::Tables {
            paths: vec![path],
            url_col: "url".into(),
            caption_col: None,
            extra_cols: vec!["n".into(), "license".into()],
            format: None,
        };
        let files = list_inputs(&spec).unwrap();
        let samples = SampleReader::new(spec, files).next_shard(10).unwrap();
        assert_eq!(
            samples[0].extra,
            [Some("7".to_string()), Some("cc0".to_string())]
        );
        assert_eq!(samples[1].extra, [Some("-1".to_string()), None]);
    }

    #[test]
    fn text_rows_keep_their_places_across_batches_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let mut text = String::new();
        for i in 0..(TEXT_BATCH + 3) {
            if i == 5 {
                text.push_str("[1, 2]\n");
            } else {
                text.push_str(&format!("{{\"url\":\"http://x/{i}\",\"text\":\"t{i}\"}}\n"));
            }
        }
        std::fs::write(&a, text).unwrap();
        let b = dir.path().join("b.tsv");
        std::fs::write(&b, "url\tcaption\nhttp://y/0\tlast\n").unwrap();
        let spec = tables(vec![a, b]);
        let files = list_inputs(&spec).unwrap();
        assert_eq!(count_rows(&spec, &files).unwrap(), TEXT_BATCH as u64 + 4);
        let mut reader = SampleReader::new(spec, files);
        let mut all = Vec::new();
        loop {
            let shard = reader.next_shard(1000).unwrap();
            if shard.is_empty() {
                break;
            }
            all.extend(shard);
        }
        assert_eq!(all.len(), TEXT_BATCH + 4);
        assert_eq!(all[4].url.as_deref(), Some("http://x/4"));
        assert_eq!(all[4].caption.as_deref(), Some("t4"));
        assert_eq!(all[4].uid, schema::uid("http://x/4", "t4"));
        assert_eq!(all[5].url, None);
        assert_eq!(all[6].url.as_deref(), Some("http://x/6"));
        let last = all.last().unwrap();
        assert_eq!(last.url.as_deref(), Some("http://y/0"));
        assert_eq!(last.caption.as_deref(), Some("last"));
    }
}
