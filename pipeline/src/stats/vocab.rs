//! Reading the vocabulary (`queries.parquet`, or `queries.txt`) for the
//! statistics: the source of every entry id, and the text of a few ids; and
//! its build report (`vocab.json`) for the run facts.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::UInt32Type;
use arrow_array::Array;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::model::VocabBuild;
use super::StatsError;
use crate::schema::col;
use crate::storage::files;

/// The entry text column of `queries.parquet` (`docs/formats.md`).
const QUERY: &str = "query";

/// The entries of a vocabulary: their number and the source of each id.
#[derive(Debug, Clone)]
pub struct Vocab {
    /// The file read.
    pub file: PathBuf,
    /// Number of entries.
    pub entries: u64,
    /// Source names, indexed by the values of `source_of`.
    pub sources: Vec<String>,
    /// Source index per entry id (`u16::MAX` = unknown).
    pub source_of: Vec<u16>,
}

impl Vocab {
    /// The source of entry `id`, if known.
    pub fn source(&self, id: usize) -> Option<&str> {
        match self.source_of.get(id) {
            Some(&s) if s != u16::MAX => Some(self.sources[s as usize].as_str()),
            _ => None,
        }
    }
}

/// The vocabulary file of `dir`: `queries.parquet`, else `queries.txt`.
pub fn vocab_file(dir: &Path) -> Option<PathBuf> {
    ["queries.parquet", "queries.txt"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| files::exists(p))
}

fn err(path: &Path, message: impl std::fmt::Display) -> StatsError {
    StatsError::Vocab {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Reads the entry count and sources of the vocabulary in `dir`.
pub fn load(dir: &Path) -> Result<Option<Vocab>, StatsError> {
    let Some(file) = vocab_file(dir) else {
        return Ok(None);
    };
    if file.extension().is_some_and(|e| e == "txt") {
        let f = files::open(&file)
            .and_then(|f| f.reader())
            .map_err(|e| err(&file, e))?;
        let mut entries = 0u64;
        for line in BufReader::new(f).split(b'\n') {
            line.map_err(|e| err(&file, e))?;
            entries += 1;
        }
        return Ok(Some(Vocab {
            file,
            entries,
            sources: Vec::new(),
            source_of: Vec::new(),
        }));
    }
    let mut vocab = Vocab {
        file: file.clone(),
        entries: 0,
        sources: Vec::new(),
        source_of: Vec::new(),
    };
    let mut names: BTreeMap<String, u16> = BTreeMap::new();
    for_each_batch(&file, &[col::ID, col::SOURCE], |batch| {
        let ids = batch
            .column_by_name(col::ID)
            .and_then(|a| a.as_primitive_opt::<UInt32Type>())
            .ok_or_else(|| err(&file, "column id (uint32) is missing"))?;
        let sources = batch
            .column_by_name(col::SOURCE)
            .and_then(|a| a.as_string_opt::<i32>());
        vocab.entries += batch.num_rows() as u64;
        for i in 0..batch.num_rows() {
            if ids.is_null(i) {
                continue;
            }
            let id = ids.value(i) as usize;
            if id >= vocab.source_of.len() {
                vocab.source_of.resize(id + 1, u16::MAX);
            }
            if let Some(s) = sources.filter(|s| s.is_valid(i)).map(|s| s.value(i)) {
                let next = names.len() as u16;
                let idx = match names.get(s) {
                    Some(i) => *i,
                    None if next < u16::MAX => {
                        names.insert(s.to_string(), next);
                        vocab.sources.push(s.to_string());
                        next
                    }
                    None => u16::MAX,
                };
                vocab.source_of[id] = idx;
            }
        }
        Ok(())
    })?;
    Ok(Some(vocab))
}

/// The texts of the entries `ids` in the vocabulary of `dir`.
pub fn lookup(dir: &Path, ids: &BTreeSet<u32>) -> Result<BTreeMap<u32, String>, StatsError> {
    let mut out = BTreeMap::new();
    let Some(file) = vocab_file(dir) else {
        return Ok(out);
    };
    if ids.is_empty() {
        return Ok(out);
    }
    if file.extension().is_some_and(|e| e == "txt") {
        return lookup_txt(&file, ids, 0);
    }
    for_each_batch(&file, &[col::ID, QUERY], |batch| {
        let (Some(idc), Some(qc)) = (
            batch
                .column_by_name(col::ID)
                .and_then(|a| a.as_primitive_opt::<UInt32Type>()),
            batch
                .column_by_name(QUERY)
                .and_then(|a| a.as_string_opt::<i32>()),
        ) else {
            return Err(err(
                &file,
                "columns id (uint32) and query (utf8) are needed",
            ));
        };
        for i in 0..batch.num_rows() {
            if idc.is_valid(i) && qc.is_valid(i) && ids.contains(&idc.value(i)) {
                out.insert(idc.value(i), qc.value(i).to_string());
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// The texts of the entries `ids` of a `queries.txt` whose first line has id
/// `first_id` (ids outside the file are left out).
pub fn lookup_txt(
    file: &Path,
    ids: &BTreeSet<u32>,
    first_id: u32,
) -> Result<BTreeMap<u32, String>, StatsError> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let f = files::open(file)
        .and_then(|f| f.reader())
        .map_err(|e| err(file, e))?;
    for (n, line) in BufReader::new(f).split(b'\n').enumerate() {
        let line = line.map_err(|e| err(file, e))?;
        let id = first_id + n as u32;
        if ids.contains(&id) {
            let text = String::from_utf8_lossy(&line);
            out.insert(id, text.trim_end_matches('\r').to_string());
        }
    }
    Ok(out)
}

fn for_each_batch(
    file: &Path,
    columns: &[&str],
    mut f: impl FnMut(&arrow_array::RecordBatch) -> Result<(), StatsError>,
) -> Result<(), StatsError> {
    let reader = files::open(file).map_err(|e| err(file, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(reader).map_err(|e| err(file, e))?;
    let indices: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| columns.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(65_536)
        .build()
        .map_err(|e| err(file, e))?;
    for batch in reader {
        f(&batch.map_err(|e| err(file, e))?)?;
    }
    Ok(())
}

/// The build report of the vocabulary (`vocab.json`, written by `witcurate
/// vocab build`), flattened to dotted keys; `None` when there is none. An
/// unreadable file is logged and reported under the key `error`.
pub fn build_report(dir: &Path) -> Option<VocabBuild> {
    let file = dir.join("vocab.json");
    let bytes = match files::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(unreadable(&file, e)),
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return Some(unreadable(&file, e)),
    };
    let mut out = VocabBuild {
        file: file.display().to_string(),
        values: BTreeMap::new(),
    };
    flatten("", &value, &mut out.values);
    Some(out)
}

fn unreadable(file: &Path, e: impl std::fmt::Display) -> VocabBuild {
    log::warn!("{}: not a readable JSON file: {e}", file.display());
    VocabBuild {
        file: file.display().to_string(),
        values: BTreeMap::from([("error".to_string(), e.to_string())]),
    }
}

/// `value` as `key: text` pairs: objects give dotted keys, short arrays of
/// plain values one comma-separated text, other arrays their length.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let text = match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
            return;
        }
        Value::Null => return,
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        Value::Array(items) if items.len() <= 16 && items.iter().all(|v| !v.is_object()) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(items) => format!("[{} items]", items.len()),
    };
    if !prefix.is_empty() {
        out.insert(prefix.to_string(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_txt_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("queries.txt"), "0\ndog\nred car\r\n").unwrap();
        let v = load(dir.path()).unwrap().unwrap();
        assert_eq!(v.entries, 3);
        assert_eq!(v.source(1), None);
        let found = lookup(dir.path(), &BTreeSet::from([1, 2, 9])).unwrap();
        assert_eq!(
            found,
            BTreeMap::from([(1, "dog".to_string()), (2, "red car".to_string())])
        );
    }

    #[test]
    fn a_corrupt_vocabulary_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("queries.parquet"), b"not parquet").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("queries.parquet") && e.contains("cannot read the vocabulary"),
            "{e}"
        );
    }

    #[test]
    fn the_build_report_is_flattened() {
        let dir = tempfile::tempdir().unwrap();
        assert!(build_report(dir.path()).is_none());
        std::fs::write(
            dir.path().join("vocab.json"),
            r#"{"version": "0.1.0", "sources": {"wordnet": {"kept": 2}}, "inputs": ["a", 3], "x": null}"#,
        )
        .unwrap();
        let b = build_report(dir.path()).unwrap();
        assert_eq!(
            b.values,
            BTreeMap::from([
                ("inputs".to_string(), "a, 3".to_string()),
                ("sources.wordnet.kept".into(), "2".into()),
                ("version".into(), "0.1.0".into()),
            ])
        );
        std::fs::write(dir.path().join("vocab.json"), "{").unwrap();
        assert!(build_report(dir.path())
            .unwrap()
            .values
            .contains_key("error"));
    }
}
