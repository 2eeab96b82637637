//! Reading shard files (`shards/NNNNN.parquet`).

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::io_err;
use crate::{Error, Result};

/// One training pair.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The caption.
    pub caption: String,
    /// The encoded image.
    pub jpg: Vec<u8>,
    /// Shard file index, row group and row within it (for messages).
    pub origin: (u32, u32, u32),
}

/// A row group of a shard file.
#[derive(Debug, Clone, Copy)]
pub struct RowGroupRef {
    /// Index into [`ShardSet::files`].
    pub file: usize,
    /// Row group within the file.
    pub group: usize,
    /// Rows (all statuses).
    pub rows: usize,
}

/// The shard files of a run and their row groups.
#[derive(Debug, Clone)]
pub struct ShardSet {
    files: Vec<PathBuf>,
    groups: Vec<RowGroupRef>,
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn str_at(col: &ArrayRef, i: usize) -> Option<&str> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i)),
        DataType::Utf8View => Some(col.as_string_view().value(i)),
        _ => None,
    }
}

fn bytes_at(col: &ArrayRef, i: usize) -> Option<&[u8]> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Binary => Some(col.as_binary::<i32>().value(i)),
        DataType::LargeBinary => Some(col.as_binary::<i64>().value(i)),
        DataType::BinaryView => Some(col.as_binary_view().value(i)),
        _ => None,
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

impl ShardSet {
    /// The `*.parquet` files of each directory (sorted by name; hidden and
    /// temporary files skipped), or the given files themselves. Fails on a
    /// file that is not parquet or lacks a `caption` or `jpg` column.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        for p in paths {
            if p.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                    .map_err(io_err(p))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| {
                        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        name.ends_with(".parquet") && !name.starts_with('.') && f.is_file()
                    })
                    .collect();
                found.sort();
                files.extend(found);
            } else if p.is_file() {
                files.push(p.clone());
            } else {
                return Err(Error::Io {
                    path: p.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no such file or directory",
                    ),
                });
            }
        }
        let mut groups = Vec::new();
        for (fi, f) in files.iter().enumerate() {
            let file = File::open(f).map_err(io_err(f))?;
            let b =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(f, e))?;
            let schema = b.schema();
            match schema.field_with_name("caption") {
                Ok(c) if is_string(c.data_type()) => {}
                _ => return Err(parquet_err(f, "no string column `caption`")),
            }
            match schema.field_with_name("jpg") {
                Ok(c) if is_binary(c.data_type()) => {}
                _ => return Err(parquet_err(f, "no binary column `jpg`")),
            }
            for (gi, g) in b.metadata().row_groups().iter().enumerate() {
                groups.push(RowGroupRef {
                    file: fi,
                    group: gi,
                    rows: g.num_rows() as usize,
                });
            }
        }
        Ok(ShardSet { files, groups })
    }

    /// The shard files.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every row group, in file order.
    pub fn groups(&self) -> &[RowGroupRef] {
        &self.groups
    }

    /// Rows in all files (all statuses).
    pub fn total_rows(&self) -> usize {
        self.groups.iter().map(|g| g.rows).sum()
    }

    /// The usable samples of one row group: `status == "success"` (when the
    /// column exists), non-empty caption and image.
    pub fn read_group(&self, g: &RowGroupRef) -> Result<Vec<Sample>> {
        self.read(g, true)
    }

    /// The captions of the usable samples of one row group (no image bytes read).
    pub fn read_captions(&self, g: &RowGroupRef) -> Result<Vec<String>> {
        Ok(self
            .read(g, false)?
            .into_iter()
            .map(|s| s.caption)
            .collect())
    }

    fn read(&self, g: &RowGroupRef, images: bool) -> Result<Vec<Sample>> {
        let path = &self.files[g.file];
        let file = File::open(path).map_err(io_err(path))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(path, e))?;
        let has_status = b.schema().field_with_name("status").is_ok();
        let mut cols = vec!["caption", "jpg"];
        if has_status {
            cols.push("status");
        }
        let mask = ProjectionMask::columns(b.parquet_schema(), cols);
        let reader = b
            .with_projection(mask)
            .with_row_groups(vec![g.group])
            .with_batch_size(1024)
            .build()
            .map_err(|e| parquet_err(path, e))?;
        let mut out = Vec::new();
        let mut row = 0u32;
        for batch in reader {
            let batch =
                batch.map_err(|e| parquet_err(path, format!("row group {}: {e}", g.group)))?;
            let cap = batch.column_by_name("caption").expect("projected");
            let jpg = batch.column_by_name("jpg").expect("projected");
            let status = batch.column_by_name("status");
            for i in 0..batch.num_rows() {
                let r = row;
                row += 1;
                if let Some(s) = status {
                    if str_at(s, i) != Some("success") {
                        continue;
                    }
                }
                let (Some(c), Some(j)) = (str_at(cap, i), bytes_at(jpg, i)) else {
                    continue;
                };
                if c.trim().is_empty() || j.is_empty() {
                    continue;
                }
                out.push(Sample {
                    caption: c.to_string(),
                    jpg: if images { j.to_vec() } else { Vec::new() },
                    origin: (g.file as u32, g.group as u32, r),
                });
            }
        }
        Ok(out)
    }

    /// Describes where a sample came from, for messages.
    pub fn describe(&self, origin: (u32, u32, u32)) -> String {
        format!(
            "{} row group {} row {}",
            self.files[origin.0 as usize].display(),
            origin.1,
            origin.2
        )
    }
}
