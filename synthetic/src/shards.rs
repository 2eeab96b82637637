//! Training shards: `DIR/NNNNN.parquet` in the shard format
//! ([`formats::shard_schema`]), holding generated images (JPEG) captioned with
//! the alt-texts of [`crate::shapes`], plus some failure rows without an
//! image, as `crawl download` writes them. `witcurate train` reads them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{ArrayRef, BinaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field};
use image::ImageFormat;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::formats::{self, shard_schema};
use crate::shapes::{self, COLOURS, SHAPES};
use crate::{Error, Result};

/// How much to generate.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// Shard files.
    pub shards: usize,
    /// Rows per shard (1 in [`FAILURE_EVERY`] is a failure row without an
    /// image).
    pub rows_per_shard: usize,
    /// Smallest image side.
    pub min_size: u32,
    /// Largest image side (images are not square in general).
    pub max_size: u32,
    /// Rows per parquet row group.
    pub row_group_size: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            shards: 2,
            rows_per_shard: 1000,
            min_size: 32,
            max_size: 64,
            row_group_size: 256,
            seed: 0,
        }
    }
}

/// Every this many rows, one is a failure (`failed_to_download`, no image).
pub const FAILURE_EVERY: usize = 17;

/// The stream of the shard rows in [`shapes::rng_for`].
const STREAM: u64 = 0x5359;

#[derive(Default)]
struct Columns {
    key: Vec<String>,
    uid: Vec<String>,
    url: Vec<String>,
    caption: Vec<Option<String>>,
    status: Vec<String>,
    error: Vec<Option<String>>,
    w: Vec<Option<i32>>,
    h: Vec<Option<i32>>,
    sha: Vec<Option<String>>,
    jpg: Vec<Option<Vec<u8>>>,
}

impl Columns {
    fn into_batch(self) -> Result<RecordBatch> {
        let n = self.key.len();
        let mut ids = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
            "item",
            DataType::UInt32,
            false,
        )));
        for _ in 0..n {
            ids.append_null();
        }
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(self.key)),
            Arc::new(StringArray::from(self.uid)),
            Arc::new(StringArray::from(self.url)),
            Arc::new(StringArray::from(self.caption)),
            Arc::new(ids.finish()),
            Arc::new(StringArray::from(self.status)),
            Arc::new(StringArray::from(self.error)),
            Arc::new(Int32Array::from(self.w.clone())),
            Arc::new(Int32Array::from(self.h.clone())),
            Arc::new(Int32Array::from(self.w)),
            Arc::new(Int32Array::from(self.h)),
            Arc::new(StringArray::from(self.sha)),
            // No perceptual hashes: the trainer does not read them.
            Arc::new(arrow_array::UInt64Array::from(vec![None::<u64>; n])),
            Arc::new(BinaryArray::from_iter(self.jpg)),
        ];
        RecordBatch::try_new(shard_schema(), arrays).map_err(|e| Error::Parquet {
            path: PathBuf::from("(generated shard)"),
            message: e.to_string(),
        })
    }
}

/// Writes `dir/NNNNN.parquet` shard files and returns their paths. Row `r` of
/// shard `s` depends only on `(seed, s, r)`.
pub fn write_shards(dir: &Path, opts: &ShardOptions) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for shard in 0..opts.shards {
        let mut cols = Columns::default();
        for row in 0..opts.rows_per_shard {
            let mut rng = shapes::rng_for(opts.seed, &[STREAM, shard as u64, row as u64]);
            let colour = rng.random_range(0..COLOURS.len());
            let shape = rng.random_range(0..SHAPES.len());
            let text = shapes::alt_text(&mut rng, colour, shape);
            let url = format!("http://synthetic.invalid/{shard}/{row}.jpg");
            cols.key.push(format!("{shard:05}{row:04}"));
            cols.uid.push(formats::uid(&url, &text));
            cols.url.push(url);
            cols.caption.push(Some(text));
            if row % FAILURE_EVERY == FAILURE_EVERY - 1 {
                cols.status.push("failed_to_download".into());
                cols.error.push(Some("connection refused".into()));
                cols.w.push(None);
                cols.h.push(None);
                cols.sha.push(None);
                cols.jpg.push(None);
                continue;
            }
            let w = rng.random_range(opts.min_size..=opts.max_size.max(opts.min_size));
            let h = rng.random_range(opts.min_size..=opts.max_size.max(opts.min_size));
            let d = shapes::draw(&mut rng, colour, shape, w, h);
            let bytes = shapes::encode(&d.image, ImageFormat::Jpeg)?;
            cols.status.push("success".into());
            cols.error.push(None);
            cols.w.push(Some(w as i32));
            cols.h.push(Some(h as i32));
            cols.sha.push(Some(hex::encode(Sha256::digest(&bytes))));
            cols.jpg.push(Some(bytes));
        }
        let path = dir.join(format!("{shard:05}.parquet"));
        // `jpg` as the download stage writes it (docs/formats.md): plain
        // (no dictionary), one image per data page.
        let jpg = ColumnPath::from("jpg");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(opts.row_group_size.max(1)))
            .set_column_dictionary_enabled(jpg.clone(), false)
            .set_column_statistics_enabled(jpg.clone(), EnabledStatistics::None)
            .set_column_data_page_row_count_limit(jpg, 1)
            .set_write_batch_size(1)
            .build();
        formats::write_parquet(&path, shard_schema(), &[cols.into_batch()?], props)?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    #[test]
    fn shards_hold_rows_in_the_shard_format() {
        let dir = tempfile::tempdir().unwrap();
        let opts = ShardOptions {
            shards: 2,
            rows_per_shard: 40,
            min_size: 16,
            max_size: 24,
            row_group_size: 16,
            seed: 3,
        };
        let paths = write_shards(dir.path(), &opts).unwrap();
        assert_eq!(paths.len(), 2);
        let reader = SerializedFileReader::new(std::fs::File::open(&paths[1]).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), 40);
        assert_eq!(meta.num_row_groups(), 3);
        // Same options, same bytes.
        let again = tempfile::tempdir().unwrap();
        write_shards(again.path(), &opts).unwrap();
        assert_eq!(
            std::fs::read(&paths[0]).unwrap(),
            std::fs::read(again.path().join("00000.parquet")).unwrap()
        );
    }
}
