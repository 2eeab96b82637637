//! The reader: streams samples (uid, url, caption, query ids) in input order
//! from `selected/part-*.parquet` or from url+caption parquet tables, and cuts
//! them into shards of a fixed size.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::error::DownloadError;
use crate::schema::{self, col};

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
}

/// Where samples come from.
#[derive(Debug, Clone)]
pub enum InputSpec {
    /// `RUN/selected/part-*.parquet` (the balance stage's output).
    Selected(PathBuf),
    /// Parquet tables (files or directories of `*.parquet`) with url and caption columns.
    Tables {
        /// Files or directories.
        paths: Vec<PathBuf>,
        /// Name of the URL column.
        url_col: String,
        /// Name of the caption column (default: `caption`, else `text`, else none).
        caption_col: Option<String>,
    },
}

/// The input files, in the order their rows are numbered.
pub fn list_inputs(spec: &InputSpec) -> Result<Vec<PathBuf>, DownloadError> {
    let mut files = Vec::new();
    match spec {
        InputSpec::Selected(run) => {
            let dir = run.join("selected");
            files = parquet_files_in(&dir)?;
            files.retain(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("part-"))
            });
            if files.is_empty() {
                return Err(DownloadError::NoInput(format!(
                    "no part-*.parquet in {} (run `crawl balance` first, or pass --input TABLE)",
                    dir.display()
                )));
            }
        }
        InputSpec::Tables { paths, .. } => {
            for p in paths {
                if p.is_dir() {
                    files.extend(parquet_files_in(p)?);
                } else if p.is_file() {
                    files.push(p.clone());
                } else {
                    return Err(DownloadError::bad_input(p, "no such file or directory"));
                }
            }
            if files.is_empty() {
                return Err(DownloadError::NoInput("no parquet table given".into()));
            }
        }
    }
    Ok(files)
}

fn parquet_files_in(dir: &Path) -> Result<Vec<PathBuf>, DownloadError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DownloadError::bad_input(dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "parquet")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Total rows of the inputs, from the parquet footers (no data read).
pub fn count_rows(files: &[PathBuf]) -> Result<u64, DownloadError> {
    let mut total = 0u64;
    for path in files {
        let file = File::open(path).map_err(|e| DownloadError::bad_input(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| DownloadError::bad_input(path, e))?;
        total += builder.metadata().file_metadata().num_rows() as u64;
    }
    Ok(total)
}

/// Which columns to read, resolved against one file's schema.
struct Columns {
    url: String,
    caption: Option<String>,
    uid: Option<String>,
    query_ids: Option<String>,
}

/// Streams samples from the input files, in order.
pub struct SampleReader {
    spec: InputSpec,
    files: VecDeque<PathBuf>,
    current: Option<(PathBuf, Columns, ParquetRecordBatchReader)>,
    pending: VecDeque<Sample>,
}

impl SampleReader {
    /// A reader over `files` (from [`list_inputs`]).
    pub fn new(spec: InputSpec, files: Vec<PathBuf>) -> Self {
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
            if let Some((path, cols, reader)) = &mut self.current {
                match reader.next() {
                    Some(Ok(batch)) => {
                        self.pending = batch_samples(path, cols, &batch)?.into();
                        continue;
                    }
                    Some(Err(e)) => return Err(DownloadError::bad_input(path.clone(), e)),
                    None => self.current = None,
                }
            }
            let Some(path) = self.files.pop_front() else {
                return Ok(None);
            };
            self.current = Some(self.open(path)?);
        }
    }

    fn open(
        &self,
        path: PathBuf,
    ) -> Result<(PathBuf, Columns, ParquetRecordBatchReader), DownloadError> {
        let file = File::open(&path).map_err(|e| DownloadError::bad_input(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| DownloadError::bad_input(&path, e))?;
        let schema = builder.schema().clone();
        let has = |name: &str| schema.field_with_name(name).is_ok();
        let cols = match &self.spec {
            InputSpec::Selected(_) => Columns {
                url: col::URL.into(),
                caption: Some(col::TEXT.into()),
                uid: Some(col::UID.into()),
                query_ids: Some(col::QUERY_IDS.into()),
            },
            InputSpec::Tables {
                url_col,
                caption_col,
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

fn query_ids(path: &Path, array: &ArrayRef) -> Result<Vec<Option<Vec<u32>>>, DownloadError> {
    let list = match array.data_type() {
        DataType::List(f) if f.data_type() == &DataType::UInt32 => array.as_list::<i32>(),
        other => {
            return Err(DownloadError::bad_input(
                path,
                format!(
                    "column {:?} is {other}, expected list<uint32>",
                    col::QUERY_IDS
                ),
            ))
        }
    };
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
    Ok(urls
        .into_iter()
        .zip(captions)
        .zip(uids)
        .zip(qids)
        .map(|(((url, caption), uid), query_ids)| {
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
            }
        })
        .collect())
}
