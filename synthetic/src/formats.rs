//! The schemas of the files this crate writes, as `docs/formats.md` defines
//! them. The pipeline owns the formats (`pipeline::schema`); this crate does
//! not depend on it (to keep the trainer's tests from building the crawler),
//! so it spells them out again, and `pipeline`'s tests check that both agree.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// The `query_ids` field type: `list<uint32>` with non-null items.
pub fn query_ids_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::UInt32, false)))
}

fn pair_fields() -> Vec<Field> {
    vec![
        Field::new("uid", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("page_url", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
    ]
}

/// `pairs/part-NNNNN.parquet`.
pub fn pairs_schema() -> SchemaRef {
    Arc::new(Schema::new(pair_fields()))
}

/// `matched/` and `selected/` parts: the pairs columns plus `query_ids`.
pub fn matched_schema() -> SchemaRef {
    let mut fields = pair_fields();
    fields.push(Field::new("query_ids", query_ids_type(), false));
    Arc::new(Schema::new(fields))
}

/// `counts/part-NNNNN.parquet` and `counts.parquet`.
pub fn counts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt32, false),
        Field::new("count", DataType::UInt64, false),
    ]))
}

/// `shards/NNNNN.parquet`.
pub fn shard_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("uid", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, true),
        Field::new("query_ids", query_ids_type(), true),
        Field::new("status", DataType::Utf8, false),
        Field::new("error_message", DataType::Utf8, true),
        Field::new("width", DataType::Int32, true),
        Field::new("height", DataType::Int32, true),
        Field::new("original_width", DataType::Int32, true),
        Field::new("original_height", DataType::Int32, true),
        Field::new("sha256", DataType::Utf8, true),
        Field::new("phash", DataType::UInt64, true),
        Field::new("jpg", DataType::Binary, true),
    ]))
}

/// The pair identity: hex of the 128-bit xxh3 hash of `url + "\n" + text`.
pub fn uid(url: &str, text: &str) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(url.as_bytes());
    h.update(b"\n");
    h.update(text.as_bytes());
    format!("{:032x}", h.digest128())
}

/// Writes `batches` to the parquet file `path` atomically (see
/// [`atomic_output::commit_atomically`], which also creates its directory).
pub(crate) fn write_parquet(
    path: &std::path::Path,
    schema: SchemaRef,
    batches: &[arrow_array::RecordBatch],
    props: parquet::file::properties::WriterProperties,
) -> crate::Result<()> {
    use crate::{io_err, Error};
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    atomic_output::commit_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp).map_err(io_err(tmp))?;
        let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))
            .map_err(|e| perr(&e))?;
        for batch in batches {
            w.write(batch).map_err(|e| perr(&e))?;
        }
        w.close().map_err(|e| perr(&e))?;
        Ok(())
    })
}
