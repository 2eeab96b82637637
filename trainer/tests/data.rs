//! The data path: success rows only, deterministic order and augmentation
//! whatever the thread count, corrupt images skipped.

mod common;

use std::sync::Arc;

use trainer::data::{Loader, LoaderOptions, SampleStream, ShardSet};
use trainer::tokenizer::TextTokenizer;

fn opts(workers: usize, skip: u64) -> LoaderOptions {
    LoaderOptions {
        batch_size: 8,
        image_size: 32,
        crop_scale_min: 0.5,
        seed: 4,
        shuffle_buffer: 20,
        workers,
        prefetch: 2,
        skip,
    }
}

#[test]
fn reads_success_rows_and_streams_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 50, 2);
    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    assert_eq!(set.files().len(), 2);
    assert_eq!(set.total_rows(), 100);
    let usable: usize = set
        .groups()
        .iter()
        .map(|g| set.read_group(g).unwrap().len())
        .sum();
    // Rows 16 and 33 of each shard are failures.
    assert_eq!(usable, 100 - 2 * 2);

    let take = |n: usize| {
        let mut s = SampleStream::new(set.clone(), 1, 16);
        (0..n)
            .map(|_| s.next_sample().unwrap().1.origin)
            .collect::<Vec<_>>()
    };
    let a = take(250);
    assert_eq!(a, take(250));
    // Each epoch yields every usable sample once.
    let mut e0 = a[..96].to_vec();
    e0.sort();
    e0.dedup();
    assert_eq!(e0.len(), 96);
    // The second epoch is in another order.
    assert_ne!(a[..96], a[96..192]);
}

#[test]
fn batches_do_not_depend_on_threads_and_skip_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 1, 60, 3);
    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    let caps: Vec<String> = set
        .groups()
        .iter()
        .flat_map(|g| set.read_captions(g).unwrap())
        .collect();
    let tok = Arc::new(TextTokenizer::train(caps.iter(), 300, 16).unwrap());
    let run = |workers, skip, n| {
        let l = Loader::start(set.clone(), tok.clone(), opts(workers, skip)).unwrap();
        (0..n).map(|_| l.next_batch().unwrap()).collect::<Vec<_>>()
    };
    let one = run(1, 0, 3);
    let three = run(3, 0, 3);
    for (x, y) in one.iter().zip(&three) {
        assert_eq!(x.images, y.images);
        assert_eq!(x.tokens, y.tokens);
        assert_eq!(x.eot, y.eot);
    }
    assert_eq!(one[0].images.len(), 8 * 3 * 32 * 32);
    let resumed = run(2, one[0].consumed, 2);
    assert_eq!(resumed[0].images, one[1].images);
    assert_eq!(resumed[1].tokens, one[2].tokens);
}

#[test]
fn corrupt_images_are_skipped_and_counted() {
    use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 1, 20, 5);
    // A second file: one good image (copied) and corrupt ones.
    let set = ShardSet::open(std::slice::from_ref(&shards)).unwrap();
    let good = set.read_group(&set.groups()[0]).unwrap()[0].jpg.clone();
    let jpg: Vec<Option<&[u8]>> = vec![Some(b"garbage"), Some(&good), Some(b"\xff\xd8\xff"), None];
    let batch = RecordBatch::try_from_iter(vec![
        (
            "caption",
            std::sync::Arc::new(StringArray::from(vec!["a red circle"; 4])) as ArrayRef,
        ),
        (
            "status",
            std::sync::Arc::new(StringArray::from(vec!["success"; 4])) as ArrayRef,
        ),
        (
            "jpg",
            std::sync::Arc::new(BinaryArray::from(jpg)) as ArrayRef,
        ),
    ])
    .unwrap();
    let f = std::fs::File::create(shards.join("00001.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    let tok = Arc::new(TextTokenizer::train(["a red circle"; 10].iter(), 280, 16).unwrap());
    let mut o = opts(2, 0);
    o.batch_size = 16;
    let l = Loader::start(set, tok, o).unwrap();
    let mut dropped = 0;
    for _ in 0..6 {
        let b = l.next_batch().unwrap();
        assert_eq!(b.eot.len(), 16);
        dropped += b.dropped;
    }
    // 6 batches of 16 cover more than four epochs of 21 usable rows; each
    // epoch meets the two corrupt images.
    assert!(dropped >= 8, "{dropped}");

    // A shard without a jpg column is rejected with its name.
    let bad = dir.path().join("bad.parquet");
    let b2 = RecordBatch::try_from_iter(vec![(
        "caption",
        std::sync::Arc::new(StringArray::from(vec!["x"])) as ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&bad).unwrap(),
        b2.schema(),
        None,
    )
    .unwrap();
    w.write(&b2).unwrap();
    w.close().unwrap();
    let e = ShardSet::open(&[bad]).unwrap_err().to_string();
    assert!(e.contains("bad.parquet") && e.contains("jpg"), "{e}");
}
