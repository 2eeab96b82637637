//! Hand-made download shards (`shards/NNNNN.parquet` in the shard schema),
//! for the tests of the stages after download.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{ArrayRef, BinaryArray, Int32Array, RecordBatch, StringArray, UInt64Array};

/// One row of a shard. A row without a perceptual hash is a failed
/// download.
pub struct ShardRow<'a> {
    /// The row key.
    pub key: &'a str,
    /// Its sha256 (any string).
    pub sha: Option<String>,
    /// Its perceptual hash; `None`: the download failed.
    pub phash: Option<u64>,
    /// The entries its caption matched; `None`: a null `query_ids`.
    pub ids: Option<&'a [u32]>,
}

/// Writes `RUN/shards/NNNNN.parquet` with `rows` (uid `uid-KEY`, caption
/// `caption of KEY`, 64×64 images of 3 bytes).
pub fn write_shard(run: &Path, shard: usize, rows: &[ShardRow]) {
    let n = rows.len();
    let strs = |v: Vec<String>| Arc::new(StringArray::from(v)) as ArrayRef;
    let mut ids = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(
        arrow_schema::Field::new("item", arrow_schema::DataType::UInt32, false),
    ));
    for r in rows {
        match r.ids {
            Some(v) => {
                ids.values().append_slice(v);
                ids.append(true);
            }
            None => ids.append_null(),
        }
    }
    let ok = |r: &ShardRow| r.phash.is_some();
    let ints = || Arc::new(Int32Array::from(vec![Some(64); n])) as ArrayRef;
    let batch = RecordBatch::try_new(
        pipeline::schema::shard_schema(),
        vec![
            strs(rows.iter().map(|r| r.key.to_string()).collect()),
            strs(rows.iter().map(|r| format!("uid-{}", r.key)).collect()),
            strs(
                rows.iter()
                    .map(|r| format!("http://x/{}.jpg", r.key))
                    .collect(),
            ),
            strs(
                rows.iter()
                    .map(|r| format!("caption of {}", r.key))
                    .collect(),
            ),
            Arc::new(ids.finish()),
            strs(
                rows.iter()
                    .map(|r| if ok(r) { "success" } else { "http_404" }.to_string())
                    .collect(),
            ),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            ints(),
            ints(),
            ints(),
            ints(),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.sha.clone()).collect::<Vec<_>>(),
            )),
            Arc::new(UInt64Array::from(
                rows.iter().map(|r| r.phash).collect::<Vec<_>>(),
            )),
            Arc::new(BinaryArray::from(
                rows.iter()
                    .map(|r| ok(r).then_some(&b"jpg"[..]))
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    super::write_parquet(&run.join(format!("shards/{shard:05}.parquet")), &batch);
}
