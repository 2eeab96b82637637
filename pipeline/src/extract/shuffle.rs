//! Exact de-duplication at any scale: a hash-partitioned shuffle through
//! parquet files.
//!
//! Map side: each extract task writes one file, `pairs/_map/task-TTTTT.parquet`,
//! with its pairs de-duplicated, sorted by (partition, uid), one row group per
//! partition (partition = the uid's first 64 bits modulo the partition count),
//! and the partition of every row group in the file's key-value metadata.
//!
//! Reduce side: partition `p` reads row groups `p` of every map file (only
//! those: the footer says where they are), sorts by uid, keeps the first row
//! of each uid (in task order, then input order), and writes
//! `pairs/part-PPPPP.parquet`. A uid always lands in the same partition, so
//! partitions are de-duplicated independently: memory is one partition, and
//! partitions run in parallel or on different machines.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::pairs::Pair;
use super::ExtractError;
use crate::schema::{self, col};
use crate::task::commit_atomically;

/// Key-value metadata: the partition count a map file was written for.
pub const META_PARTITIONS: &str = "witcurate.partitions";
/// Key-value metadata: the partition of each row group, comma-separated.
pub const META_ROW_GROUP_PARTITIONS: &str = "witcurate.row_group_partitions";

/// Rows per row group of the final parts.
const PART_ROW_GROUP: usize = 128 * 1024;

/// The partition of a uid (32 hex digits): its first 64 bits modulo `partitions`.
pub fn partition_of(uid: &str, partitions: usize) -> usize {
    let high = u64::from_str_radix(&uid[..16], 16).unwrap_or(0);
    (high % partitions as u64) as usize
}

/// A pair with its identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `schema::uid(url, text)`.
    pub uid: String,
    /// Image URL.
    pub url: String,
    /// Text.
    pub text: String,
    /// Page URL.
    pub page_url: Option<Arc<str>>,
    /// Source kind (`wat`, `warc`, `table`).
    pub source: Arc<str>,
}

/// Writer settings: zstd, and at most `max_rows` rows per row group (`None`:
/// row groups end only when flushed).
fn writer_props(max_rows: Option<usize>) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(max_rows)
        .set_max_row_group_bytes(None)
        .build()
}

fn batch_of<'r>(
    rows: impl Iterator<Item = &'r Row> + Clone,
) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let uid: StringArray = rows.clone().map(|r| Some(r.uid.as_str())).collect();
    let url: StringArray = rows.clone().map(|r| Some(r.url.as_str())).collect();
    let text: StringArray = rows.clone().map(|r| Some(r.text.as_str())).collect();
    let page: StringArray = rows.clone().map(|r| r.page_url.as_deref()).collect();
    let source: StringArray = rows.map(|r| Some(&*r.source)).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(uid),
        Arc::new(url),
        Arc::new(text),
        Arc::new(page),
        Arc::new(source),
    ];
    RecordBatch::try_new(schema::pairs_schema(), columns)
}

/// What a map task wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapWritten {
    /// Rows written (after the task's own de-duplication).
    pub rows: u64,
    /// Duplicates dropped inside the task.
    pub duplicates: u64,
}

/// Writes a map task's pairs to `path` atomically (see the module docs).
/// `before_commit` runs once the file is complete, just before it is renamed
/// into place (to commit the task's statistics first).
pub fn write_map_output(
    path: &Path,
    pairs: Vec<Pair>,
    source: &str,
    partitions: usize,
    before_commit: impl FnOnce(MapWritten) -> Result<(), ExtractError>,
) -> Result<MapWritten, ExtractError> {
    let source: Arc<str> = source.into();
    let mut keyed: Vec<(usize, Row)> = pairs
        .into_iter()
        .map(|p| {
            let uid = schema::uid(&p.url, &p.text);
            let part = partition_of(&uid, partitions);
            (
                part,
                Row {
                    uid,
                    url: p.url,
                    text: p.text,
                    page_url: p.page_url,
                    source: source.clone(),
                },
            )
        })
        .collect();
    // Stable: among equal uids the first in input order stays first.
    keyed.sort_by(|a, b| (a.0, &a.1.uid).cmp(&(b.0, &b.1.uid)));
    let before = keyed.len();
    keyed.dedup_by(|b, a| a.1.uid == b.1.uid);
    let written = MapWritten {
        rows: keyed.len() as u64,
        duplicates: (before - keyed.len()) as u64,
    };
    commit_atomically(path, |tmp| -> Result<(), ExtractError> {
        let file = File::create(tmp).map_err(|e| ExtractError::io(tmp, e))?;
        let props = writer_props(None);
        let mut writer = ArrowWriter::try_new(file, schema::pairs_schema(), Some(props))
            .map_err(|e| ExtractError::parquet(tmp, e))?;
        let mut row_group_parts: Vec<String> = Vec::new();
        let mut start = 0;
        while start < keyed.len() {
            let part = keyed[start].0;
            let end = start + keyed[start..].partition_point(|(p, _)| *p == part);
            let batch = batch_of(keyed[start..end].iter().map(|(_, r)| r))
                .map_err(|e| ExtractError::arrow(tmp, e))?;
            let groups_before = writer.flushed_row_groups().len();
            writer
                .write(&batch)
                .and_then(|_| writer.flush())
                .map_err(|e| ExtractError::parquet(tmp, e))?;
            let new_groups = writer.flushed_row_groups().len() - groups_before;
            row_group_parts.extend(std::iter::repeat_n(part.to_string(), new_groups));
            start = end;
        }
        writer.append_key_value_metadata(KeyValue::new(
            META_PARTITIONS.to_string(),
            partitions.to_string(),
        ));
        writer.append_key_value_metadata(KeyValue::new(
            META_ROW_GROUP_PARTITIONS.to_string(),
            row_group_parts.join(","),
        ));
        writer.close().map_err(|e| ExtractError::parquet(tmp, e))?;
        before_commit(written)
    })?;
    Ok(written)
}

/// Reads the rows of partition `part` from one map file, in file order.
pub fn read_map_partition(
    path: &Path,
    part: usize,
    partitions: usize,
    out: &mut Vec<Row>,
) -> Result<(), ExtractError> {
    let file = crate::storage::files::open(path).map_err(|e| ExtractError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ExtractError::parquet(path, e))?;
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default();
    let get = |key: &str| {
        kv.iter()
            .find(|k| k.key == key)
            .and_then(|k| k.value.clone())
    };
    let written_for: usize = get(META_PARTITIONS)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ExtractError::Corrupt {
            path: path.to_path_buf(),
            message: format!("no {META_PARTITIONS} metadata"),
        })?;
    if written_for != partitions {
        return Err(ExtractError::Config(format!(
            "{} was written for {written_for} partitions, not {partitions}: rerun with \
             --partitions {written_for}, or use a new output directory",
            path.display()
        )));
    }
    let layout = get(META_ROW_GROUP_PARTITIONS).unwrap_or_default();
    let groups: Vec<usize> = layout
        .split(',')
        .filter(|s| !s.is_empty())
        .enumerate()
        .filter(|(_, p)| p.parse::<usize>().ok() == Some(part))
        .map(|(i, _)| i)
        .collect();
    if groups.is_empty() {
        return Ok(());
    }
    drop(builder);
    read_row_groups(path, Some(groups), out)
}

/// Reads the given row groups (all when `None`) of a pairs file into `out`.
fn read_row_groups(
    path: &Path,
    groups: Option<Vec<usize>>,
    out: &mut Vec<Row>,
) -> Result<(), ExtractError> {
    let file = crate::storage::files::open(path).map_err(|e| ExtractError::io(path, e))?;
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ExtractError::parquet(path, e))?;
    if let Some(groups) = groups {
        builder = builder.with_row_groups(groups);
    }
    let reader = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| ExtractError::parquet(path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| ExtractError::arrow(path, e))?;
        let column = |name: &str| -> Result<&StringArray, ExtractError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| ExtractError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("missing string column {name}"),
                })
        };
        let (uid, url, text, page, source) = (
            column(col::UID)?,
            column(col::URL)?,
            column(col::TEXT)?,
            column(col::PAGE_URL)?,
            column(col::SOURCE)?,
        );
        for i in 0..batch.num_rows() {
            out.push(Row {
                uid: uid.value(i).to_string(),
                url: url.value(i).to_string(),
                text: text.value(i).to_string(),
                page_url: (!arrow_array::Array::is_null(page, i)).then(|| page.value(i).into()),
                source: source.value(i).into(),
            });
        }
    }
    Ok(())
}

/// Reads every row of a pairs file (a `pairs/part-NNNNN.parquet` or a map
/// file), in file order.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, ExtractError> {
    let mut out = Vec::new();
    read_row_groups(path, None, &mut out)?;
    Ok(out)
}

/// What a reduce wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReduceWritten {
    /// Rows read from the map files.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
}

/// De-duplicates partition `part` of `map_files` (in task order) into `out`.
/// `before_commit` runs once the file is complete, just before it is renamed
/// into place (to commit the partition's statistics first: a kill between
/// the two must not leave a committed part without them).
pub fn reduce_partition(
    map_files: &[impl AsRef<Path>],
    part: usize,
    partitions: usize,
    out: &Path,
    before_commit: impl FnOnce(ReduceWritten) -> Result<(), ExtractError>,
) -> Result<ReduceWritten, ExtractError> {
    let mut rows = Vec::new();
    for path in map_files {
        read_map_partition(path.as_ref(), part, partitions, &mut rows)?;
    }
    let rows_in = rows.len() as u64;
    rows.sort_by(|a, b| a.uid.cmp(&b.uid)); // stable: task order among equals
    rows.dedup_by(|b, a| a.uid == b.uid);
    let rows_out = rows.len() as u64;
    let written = ReduceWritten { rows_in, rows_out };
    commit_atomically(out, |tmp| -> Result<(), ExtractError> {
        let file = File::create(tmp).map_err(|e| ExtractError::io(tmp, e))?;
        let props = writer_props(Some(PART_ROW_GROUP));
        let mut writer = ArrowWriter::try_new(file, schema::pairs_schema(), Some(props))
            .map_err(|e| ExtractError::parquet(tmp, e))?;
        for chunk in rows.chunks(PART_ROW_GROUP) {
            let batch = batch_of(chunk.iter()).map_err(|e| ExtractError::arrow(tmp, e))?;
            writer
                .write(&batch)
                .map_err(|e| ExtractError::parquet(tmp, e))?;
        }
        writer.close().map_err(|e| ExtractError::parquet(tmp, e))?;
        before_commit(written)
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(url: &str, text: &str) -> Pair {
        Pair {
            url: url.into(),
            text: text.into(),
            page_url: None,
        }
    }

    #[test]
    fn map_then_reduce_deduplicates_across_tasks() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.parquet");
        let b = dir.path().join("b.parquet");
        let mut first: Vec<Pair> = (0..50)
            .map(|i| pair(&format!("http://x/{i}"), "t"))
            .collect();
        first.push(pair("http://x/0", "t"));
        let w = write_map_output(&a, first, "wat", 4, |_| Ok(())).unwrap();
        assert_eq!(
            w,
            MapWritten {
                rows: 50,
                duplicates: 1
            }
        );
        let second: Vec<Pair> = (25..75)
            .map(|i| pair(&format!("http://x/{i}"), "t"))
            .collect();
        write_map_output(&b, second, "warc", 4, |_| Ok(())).unwrap();
        let mut total = 0;
        let mut all = Vec::new();
        for part in 0..4 {
            let out = dir.path().join(format!("part-{part}.parquet"));
            let r = reduce_partition(&[&a, &b], part, 4, &out, |_| Ok(())).unwrap();
            total += r.rows_out;
            let mut rows = Vec::new();
            read_all(&out, &mut rows);
            assert!(rows.windows(2).all(|w| w[0].uid < w[1].uid));
            assert!(rows.iter().all(|r| partition_of(&r.uid, 4) == part));
            all.extend(rows);
        }
        assert_eq!(total, 75);
        // Overlapping pairs come from the first task.
        let x30 = all.iter().find(|r| r.url == "http://x/30").unwrap();
        assert_eq!(&*x30.source, "wat");
        // A different partition count is refused.
        let err =
            reduce_partition(&[&a], 0, 8, &dir.path().join("x.parquet"), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("4 partitions"), "{err}");
    }

    fn read_all(path: &Path, out: &mut Vec<Row>) {
        out.extend(read_rows(path).unwrap());
    }
}
