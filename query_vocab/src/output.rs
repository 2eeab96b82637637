//! Writing `queries.txt`, `queries.parquet` and `vocab.json`, each atomically
//! (a hidden `.NAME.tmp-HOST-PID` sibling, fsynced, then renamed into place,
//! the convention of `docs/formats.md`).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Result, VocabError};
use crate::merge::Entry;

/// File names in the output directory.
pub const QUERIES_TXT: &str = "queries.txt";
/// See [`QUERIES_TXT`].
pub const QUERIES_PARQUET: &str = "queries.parquet";
/// See [`QUERIES_TXT`]; written last, so its presence means the build is done.
pub const VOCAB_JSON: &str = "vocab.json";

/// The schema of `queries.parquet`.
pub fn queries_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
    ]))
}

/// `queries.txt`: one entry per line; line number = id.
pub fn write_txt(path: &Path, entries: &[Entry]) -> Result<()> {
    atomic_output::commit_atomically(path, |tmp| {
        let f = File::create(tmp).map_err(|e| VocabError::io(tmp, e))?;
        let mut w = BufWriter::new(f);
        for e in entries {
            w.write_all(e.query.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|err| VocabError::io(tmp, err))?;
        }
        w.flush().map_err(|e| VocabError::io(tmp, e))
    })
}

/// `queries.parquet`: `id, query, source, score`.
pub fn write_parquet(path: &Path, entries: &[Entry]) -> Result<()> {
    let schema = queries_schema();
    atomic_output::commit_atomically(path, |tmp| {
        let pq = |source| VocabError::Parquet {
            path: path.to_path_buf(),
            source,
        };
        let file = File::create(tmp).map_err(|e| VocabError::io(tmp, e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(pq)?;
        for (chunk_no, chunk) in entries.chunks(65536).enumerate() {
            let base = (chunk_no * 65536) as u32;
            let ids = UInt32Array::from_iter_values((0..chunk.len() as u32).map(|i| base + i));
            let queries = StringArray::from_iter_values(chunk.iter().map(|e| e.query.as_str()));
            let sources = StringArray::from_iter_values(chunk.iter().map(|e| e.source.as_str()));
            let scores = Float64Array::from_iter(chunk.iter().map(|e| e.score));
            let columns: Vec<ArrayRef> = vec![
                Arc::new(ids),
                Arc::new(queries),
                Arc::new(sources),
                Arc::new(scores),
            ];
            let batch = RecordBatch::try_new(schema.clone(), columns)
                .map_err(|e| pq(parquet::errors::ParquetError::External(Box::new(e))))?;
            w.write(&batch).map_err(pq)?;
        }
        w.close().map_err(pq)?;
        Ok(())
    })
}

/// `vocab.json`, pretty-printed.
pub fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON value serialises");
    bytes.push(b'\n');
    atomic_output::commit_atomically(path, |tmp| {
        fs::write(tmp, &bytes).map_err(|e| VocabError::io(tmp, e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::Source;
    use arrow_array::Array;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn parquet_and_txt_agree() {
        let dir = tempfile::tempdir().unwrap();
        let entries = vec![
            Entry {
                query: "0".into(),
                source: Source::Number,
                score: None,
            },
            Entry {
                query: "hot dog".into(),
                source: Source::Bigram,
                score: Some(31.5),
            },
            Entry {
                query: "Zürich".into(),
                source: Source::Title,
                score: Some(70.0),
            },
        ];
        let txt = dir.path().join(QUERIES_TXT);
        let pq = dir.path().join(QUERIES_PARQUET);
        write_txt(&txt, &entries).unwrap();
        write_parquet(&pq, &entries).unwrap();
        assert_eq!(fs::read_to_string(&txt).unwrap(), "0\nhot dog\nZürich\n");
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&pq).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        let b = &batches[0];
        assert_eq!(b.schema(), queries_schema());
        let ids = b.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(ids.values(), &[0, 1, 2]);
        let q = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(q.value(2), "Zürich");
        let s = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!((s.value(0), s.value(1)), ("number", "bigram"));
        let sc = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        assert!(sc.is_null(0));
        assert_eq!(sc.value(1), 31.5);
        // Nothing temporary is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
