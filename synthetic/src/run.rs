//! A whole run directory with every stage's files, in the documented schemas
//! and at any size, for benchmarking `witcurate stats`: `vocab/queries.parquet`,
//! `pairs/`, `matched/`, `selected/`, `counts.parquet`, `balance.json` and
//! `shards/` (with `_stats.json` files and 3 KiB stand-in images), and the
//! stages' records (`_stages/*/`) as the stage runner writes them. Texts are
//! Zipf-distributed words `w0`, `w1`, ... (the vocabulary), image URLs spread
//! over Zipf-distributed domains; a text matches about 40% of its words.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{
    ArrayRef, BinaryArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::formats::{self, uid};
use crate::{io_err, Error, Result};

/// How much to generate.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Pairs in `pairs/`, over all files.
    pub pairs: usize,
    /// Files per stage directory (and shards).
    pub files: usize,
    /// Vocabulary entries.
    pub vocab: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            pairs: 100_000,
            files: 8,
            vocab: 50_000,
        }
    }
}

/// A small, fast generator (xorshift64) for the bulk of the rows.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Zipf-like index in `0..n` (exponent about 1).
    fn zipf(&mut self, n: usize) -> usize {
        let x = ((n as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (x as usize).min(n - 1)
    }
}

/// One pair: (image URL, text, matched entry ids).
type Row = (String, String, Vec<u32>);

fn write(path: &Path, batch: RecordBatch) -> Result<()> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    formats::write_parquet(path, batch.schema(), &[batch], props)
}

fn batch(path: &Path, schema: arrow_schema::SchemaRef, cols: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, cols).map_err(|e| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn strs(v: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

fn lists(rows: &[&Row]) -> ArrayRef {
    let mut b = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt32,
        false,
    )));
    for r in rows {
        b.values().append_slice(&r.2);
        b.append(true);
    }
    Arc::new(b.finish())
}

fn pair_cols(rows: &[&Row]) -> Vec<ArrayRef> {
    vec![
        strs(rows.iter().map(|r| uid(&r.0, &r.1)).collect()),
        strs(rows.iter().map(|r| r.0.clone()).collect()),
        strs(rows.iter().map(|r| r.1.clone()).collect()),
        Arc::new(StringArray::from(vec![
            Some("http://page.example.com/");
            rows.len()
        ])),
        strs(vec!["wat".to_string(); rows.len()]),
    ]
}

/// A stage's task record, as the stage runner writes it
/// (`_stats/STAGE/task-N.json`).
fn task_record(out: &Path, stage: &str, task: usize, counters: &[(&str, u64)]) -> Result<()> {
    let counters: serde_json::Map<String, serde_json::Value> = counters
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    let record = serde_json::json!({
        "stage": stage, "task": task, "seconds": 1.0, "upstream": null, "counters": counters,
    });
    write_text(
        &out.join(format!("_stats/{stage}/task-{task:05}.json")),
        record.to_string(),
    )
}

/// A stage's reduce and completion records.
fn stage_done(out: &Path, stage: &str, tasks: usize, counters: &[(&str, u64)]) -> Result<()> {
    let counters: serde_json::Map<String, serde_json::Value> = counters
        .iter()
        .map(|(k, v)| (k.to_string(), (*v).into()))
        .collect();
    if !counters.is_empty() {
        let record = serde_json::json!({
            "stage": stage, "seconds": 1.0, "tasks": tasks,
            "tasks_fingerprint": "synthetic", "counters": counters,
        });
        write_text(
            &out.join(format!("_stages/{stage}/reduce.json")),
            record.to_string(),
        )?;
    }
    let done = serde_json::json!({"stage": stage, "generation": "synthetic", "tasks": tasks});
    write_text(
        &out.join(format!("_stages/{stage}/complete.json")),
        done.to_string(),
    )
}

fn write_text(path: &Path, text: String) -> Result<()> {
    atomic_output::write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// Writes the run directory `out` (see the module docs).
pub fn write_run(out: &Path, opts: &RunOptions) -> Result<()> {
    let (pairs, files, vocab) = (opts.pairs, opts.files.max(1), opts.vocab.max(1));
    fs::create_dir_all(out).map_err(io_err(out))?;
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let words: Vec<String> = (0..vocab).map(|i| format!("w{i}")).collect();
    let sources = ["number", "wordnet", "unigram", "bigram", "title"];
    let path = out.join("vocab/queries.parquet");
    let queries = batch(
        &path,
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::UInt32, false),
            Field::new("query", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("score", DataType::Float64, true),
        ])),
        vec![
            Arc::new(UInt32Array::from((0..vocab as u32).collect::<Vec<_>>())),
            strs(words.clone()),
            strs(
                (0..vocab)
                    .map(|i| sources[(i * 7) % 5].to_string())
                    .collect(),
            ),
            Arc::new(Float64Array::from(vec![None; vocab])),
        ],
    )?;
    write(&path, queries)?;
    let t = 100u64.max(pairs as u64 / 2000);
    let per_file = pairs.div_ceil(files);
    let rows_of = |f: usize| -> Vec<Row> {
        let n = per_file.min(pairs - (f * per_file).min(pairs));
        let mut rng =
            Rng(0x9E37_79B9_7F4A_7C15 ^ (f as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut rows = Vec::with_capacity(n);
        for _ in 0..n {
            let len = 1 + rng.zipf(12);
            let text: Vec<&str> = (0..len).map(|_| words[rng.zipf(vocab)].as_str()).collect();
            let text = text.join(" ");
            let url = format!(
                "http://img{}.example{}.com/{}.jpg",
                rng.zipf(50),
                rng.zipf(20_000),
                rng.next() % 1_000_000_000
            );
            let mut ids: Vec<u32> = text
                .split(' ')
                .filter(|_| rng.unit() < 0.4)
                .map(|w| w[1..].parse::<u32>().expect("words are w<number>"))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            rows.push((url, text, ids));
        }
        rows
    };
    // Pass 1: matches per entry over the whole pool.
    let mut counts = vec![0u64; vocab];
    for f in 0..files {
        for r in rows_of(f) {
            for id in &r.2 {
                counts[*id as usize] += 1;
            }
        }
    }
    for f in 0..files {
        let rows = rows_of(f);
        let all: Vec<&Row> = rows.iter().collect();
        let path = out.join(format!("pairs/part-{f:05}.parquet"));
        write(
            &path,
            batch(&path, formats::pairs_schema(), pair_cols(&all))?,
        )?;
        let matched: Vec<&Row> = rows.iter().filter(|r| !r.2.is_empty()).collect();
        let mut cols = pair_cols(&matched);
        cols.push(lists(&matched));
        let path = out.join(format!("matched/part-{f:05}.parquet"));
        write(&path, batch(&path, formats::matched_schema(), cols)?)?;
        // MetaCLIP's balancing: keep a text if any of its entries wins a draw
        // with probability t / max(count, t).
        let selected: Vec<&Row> = matched
            .iter()
            .copied()
            .filter(|r| {
                r.2.iter()
                    .any(|id| rng.unit() < t as f64 / counts[*id as usize].max(t) as f64)
            })
            .collect();
        let mut cols = pair_cols(&selected);
        cols.push(lists(&selected));
        let path = out.join(format!("selected/part-{f:05}.parquet"));
        write(&path, batch(&path, formats::matched_schema(), cols)?)?;
        let (samples, images) = write_shard(out, f, &selected, &mut rng)?;
        let n = rows.len() as u64;
        task_record(
            out,
            "extract",
            f,
            &[
                ("inputs_wat", 1),
                ("records", n),
                ("pairs_extracted", n),
                ("pairs", n),
            ],
        )?;
        task_record(
            out,
            "match",
            f,
            &[("pairs_in", n), ("pairs_matched", matched.len() as u64)],
        )?;
        let kept = selected.len() as u64;
        task_record(
            out,
            "balance",
            f,
            &[("pairs_in", matched.len() as u64), ("pairs_kept", kept)],
        )?;
        task_record(
            out,
            "download",
            f,
            &[
                ("samples", samples),
                ("images", images),
                ("fault_http_404", samples - images),
            ],
        )?;
    }
    let ids: Vec<u32> = (0..vocab as u32)
        .filter(|i| counts[*i as usize] > 0)
        .collect();
    let c: Vec<u64> = ids.iter().map(|i| counts[*i as usize]).collect();
    let path = out.join("counts.parquet");
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from(ids)),
        Arc::new(UInt64Array::from(c)),
    ];
    write(&path, batch(&path, formats::counts_schema(), cols)?)?;
    let matched_entries = counts.iter().filter(|c| **c > 0).count() as u64;
    stage_done(
        out,
        "extract",
        files,
        &[("unique_pairs", pairs as u64), ("rows_in", pairs as u64)],
    )?;
    stage_done(
        out,
        "match",
        files,
        &[
            ("entries_matched", matched_entries),
            ("entries_unmatched", vocab as u64 - matched_entries),
        ],
    )?;
    stage_done(out, "balance", files, &[("t", t)])?;
    stage_done(out, "download", files, &[])?;
    write_text(
        &out.join("balance.json"),
        format!(r#"{{"t": {t}, "seed": 0}}"#),
    )
}

/// Shard `shard_no`: a quarter of the selected pairs, 70% successes with a
/// 3 KiB stand-in image, and its `_stats.json`; returns (samples, images).
fn write_shard(
    out: &Path,
    shard_no: usize,
    selected: &[&Row],
    rng: &mut Rng,
) -> Result<(u64, u64)> {
    let shard: Vec<&Row> = selected.iter().copied().step_by(4).collect();
    let m = shard.len();
    let ok: Vec<bool> = (0..m).map(|_| rng.unit() < 0.7).collect();
    let jpeg: Vec<u8> = [&[0xFF, 0xD8, 0xFF, 0xE0][..], &[7u8; 3068][..]].concat();
    let dims: Vec<(i32, i32)> = (0..m)
        .map(|_| {
            (
                100 + (rng.next() % 1900) as i32,
                100 + (rng.next() % 1500) as i32,
            )
        })
        .collect();
    // Perceptual hash and sha256 stand-in per row: 3% exact copies and 5%
    // near copies (2 to 4 bits off) of an earlier image of the shard, the
    // rest distinct images.
    let mut images: Vec<(u64, u64)> = Vec::with_capacity(m);
    for i in 0..m {
        let r = rng.unit();
        let image = if i > 0 && r < 0.03 {
            images[(rng.next() % i as u64) as usize]
        } else if i > 0 && r < 0.08 {
            let (h, _) = images[(rng.next() % i as u64) as usize];
            let mut h = h;
            for _ in 0..2 + rng.next() % 3 {
                h ^= 1 << (rng.next() % 64);
            }
            (h, rng.next())
        } else {
            (rng.next(), rng.next())
        };
        images.push(image);
    }
    let int = |f: &dyn Fn(usize) -> Option<i32>| -> ArrayRef {
        Arc::new(Int32Array::from((0..m).map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<ArrayRef> = vec![
        strs((0..m).map(|i| format!("{shard_no:05}{i:04}")).collect()),
        strs(shard.iter().map(|r| uid(&r.0, &r.1)).collect()),
        strs(shard.iter().map(|r| r.0.clone()).collect()),
        Arc::new(StringArray::from(
            shard.iter().map(|r| Some(r.1.clone())).collect::<Vec<_>>(),
        )),
        lists(&shard),
        strs(
            (0..m)
                .map(|i| {
                    if ok[i] {
                        "success".into()
                    } else {
                        ["http_404", "timeout", "decode_error"][i % 3].into()
                    }
                })
                .collect(),
        ),
        Arc::new(StringArray::from(
            (0..m)
                .map(|i| (!ok[i]).then_some("failed"))
                .collect::<Vec<_>>(),
        )),
        int(&|i| ok[i].then_some(256)),
        int(&|i| ok[i].then_some(256)),
        int(&|i| ok[i].then_some(dims[i].0)),
        int(&|i| ok[i].then_some(dims[i].1)),
        Arc::new(StringArray::from(
            (0..m)
                .map(|i| ok[i].then(|| format!("{:064x}", images[i].1)))
                .collect::<Vec<_>>(),
        )),
        Arc::new(arrow_array::UInt64Array::from(
            (0..m)
                .map(|i| ok[i].then_some(images[i].0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(BinaryArray::from(
            (0..m)
                .map(|i| ok[i].then_some(jpeg.as_slice()))
                .collect::<Vec<_>>(),
        )),
    ];
    let path = out.join(format!("shards/{shard_no:05}.parquet"));
    write(&path, batch(&path, formats::shard_schema(), cols)?)?;
    let images = ok.iter().filter(|b| **b).count();
    write_text(
        &out.join(format!("shards/{shard_no:05}_stats.json")),
        format!(r#"{{"count": {m}, "successes": {images}, "duration": 1.5}}"#),
    )?;
    Ok((m as u64, images as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_has_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let opts = RunOptions {
            pairs: 2000,
            files: 2,
            vocab: 300,
        };
        write_run(dir.path(), &opts).unwrap();
        for f in [
            "vocab/queries.parquet",
            "pairs/part-00001.parquet",
            "matched/part-00001.parquet",
            "selected/part-00001.parquet",
            "shards/00001.parquet",
            "shards/00001_stats.json",
            "counts.parquet",
            "balance.json",
        ] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
    }
}
