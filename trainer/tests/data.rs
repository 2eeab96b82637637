//! The data path: success rows only, deterministic order and augmentation
//! whatever the thread count, corrupt images skipped.

mod common;

use std::sync::Arc;

use trainer::data::{Images, Loader, LoaderOptions, SampleStream, ShardSet};
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
        max_consecutive_failures: 50,
    }
}

#[test]
fn reads_success_rows_and_streams_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 50, 2);
    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    assert_eq!(set.files().len(), 2);
    assert_eq!(set.parquet_rows(), 100);
    let usable: usize = set
        .parts()
        .iter()
        .map(|g| set.read_part(g).unwrap().len())
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
        .parts()
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
    let good = set.read_part(&set.parts()[0]).unwrap()[0].jpg.clone();
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
    // 6 batches of 16 cover more than four epochs of 22 rows; each epoch
    // meets the two corrupt images and the missing one (a success row
    // without an image is a sample whose image does not decode).
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

/// Writes `samples` as a webdataset tar at `path`: `KEY.EXT` images and
/// either `KEY.txt` captions or `KEY.json` with a `caption` field.
fn write_tar(path: &std::path::Path, samples: &[trainer::data::Sample], ext: &str, json: bool) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: String, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    };
    for (i, s) in samples.iter().enumerate() {
        add(format!("{i:09}.{ext}"), &s.jpg);
        if json {
            let j = serde_json::json!({ "caption": s.caption, "status": "success" });
            add(format!("{i:09}.json"), j.to_string().as_bytes());
        } else {
            add(format!("{i:09}.txt"), s.caption.as_bytes());
        }
    }
    b.into_inner().unwrap();
}

#[test]
fn webdataset_tars_give_the_same_samples_as_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 30, 7);
    let set = ShardSet::open(std::slice::from_ref(&shards)).unwrap();
    let per_file: Vec<Vec<trainer::data::Sample>> = (0..2)
        .map(|f| {
            set.parts()
                .iter()
                .filter(|p| p.file == f)
                .flat_map(|p| set.read_part(p).unwrap())
                .collect()
        })
        .collect();
    // The download stage's layout (a tar with .txt, beside its metadata
    // parquet) and open_clip's (.json captions).
    let wds = dir.path().join("wds");
    std::fs::create_dir(&wds).unwrap();
    write_tar(&wds.join("00000.tar"), &per_file[0], "jpg", false);
    write_tar(&wds.join("00001.tar"), &per_file[1], "jpg", true);
    std::fs::copy(shards.join("00000.parquet"), wds.join("00000.parquet")).unwrap();
    let tars = ShardSet::open(std::slice::from_ref(&wds)).unwrap();
    assert_eq!(tars.files().len(), 2, "{:?}", tars.files());
    assert_eq!(tars.tar_files(), 2);
    let read: Vec<(String, Vec<u8>)> = tars
        .parts()
        .iter()
        .flat_map(|p| tars.read_part(p).unwrap())
        .map(|s| (s.caption, s.jpg))
        .collect();
    let want: Vec<(String, Vec<u8>)> = per_file
        .concat()
        .into_iter()
        .map(|s| (s.caption, s.jpg))
        .collect();
    // Row 16 of each shard is a failure.
    assert_eq!(want.len(), 58);
    assert_eq!(read, want);
    // A brace pattern selects the same files; the stream covers every sample
    // once per epoch.
    let brace = wds.join("{00000..00001}.tar");
    let set = Arc::new(ShardSet::open(&[brace]).unwrap());
    assert_eq!(set.files(), tars.files());
    let mut s = SampleStream::new(set, 3, 8);
    let mut seen: Vec<_> = (0..58).map(|_| s.next_sample().unwrap().1.origin).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 58);

    // Deferred: the same samples without their images, then the images of
    // those asked for (every other one here) read by their byte range.
    let tars = ShardSet::open(std::slice::from_ref(&wds)).unwrap();
    let mut later: Vec<trainer::data::Sample> = tars
        .parts()
        .iter()
        .flat_map(|p| tars.samples_with(p, Images::Defer).unwrap())
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(later.len(), 58);
    assert!(later
        .iter()
        .all(|s| s.jpg.is_empty() && s.deferred.is_some()));
    assert_eq!(tars.read_stats().image_bytes(), 0);
    let mut asked: Vec<&mut trainer::data::Sample> = later.iter_mut().step_by(2).collect();
    assert!(tars.load_images(&mut asked).iter().all(|r| r.is_ok()));
    let mut asked_bytes = 0;
    for (i, (s, (caption, jpg))) in later.iter().zip(&want).enumerate() {
        assert_eq!(&s.caption, caption);
        if i % 2 == 0 {
            assert_eq!(&s.jpg, jpg);
            asked_bytes += jpg.len() as u64;
        } else {
            assert!(s.jpg.is_empty());
        }
    }
    assert_eq!(tars.read_stats().image_bytes(), asked_bytes);
}

#[test]
fn shards_without_a_decodable_image_stop_the_loader() {
    use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    let jpg: Vec<&[u8]> = vec![b"garbage"; 12];
    let batch = RecordBatch::try_from_iter(vec![
        (
            "caption",
            Arc::new(StringArray::from(vec!["a red circle"; 12])) as ArrayRef,
        ),
        ("jpg", Arc::new(BinaryArray::from(jpg)) as ArrayRef),
    ])
    .unwrap();
    let f = std::fs::File::create(shards.join("00000.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    let tok = Arc::new(TextTokenizer::train(["a red circle"; 10].iter(), 280, 16).unwrap());
    let l = Loader::start(set, tok, opts(2, 0)).unwrap();
    let e = l.next_batch().unwrap_err().to_string();
    assert!(e.contains("50 samples in a row"), "{e}");
    assert!(e.contains("00000.parquet row group 0 row"), "{e}");
    assert_eq!(l.warnings().unusable_samples.count(), 50);
}

#[test]
fn an_empty_shard_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-shards");
    std::fs::create_dir(&empty).unwrap();
    let e = ShardSet::open(&[empty]).unwrap_err().to_string();
    assert!(e.contains("empty-shards: no shard files"), "{e}");
}

/// Writes a selection part: `key` (and `kept` when given).
fn write_selection(path: &std::path::Path, keys: &[String], kept: Option<&[bool]>) {
    use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
    let mut cols: Vec<(&str, ArrayRef)> = vec![("key", Arc::new(StringArray::from(keys.to_vec())))];
    if let Some(k) = kept {
        cols.push(("kept", Arc::new(BooleanArray::from(k.to_vec()))));
    }
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn selections_keep_only_the_rows_every_selection_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 20, 5);
    let key = |s: usize, r: usize| format!("{s:05}{r:04}");
    // dedup-like: every row listed, the odd rows dropped.
    for s in 0..2 {
        let keys: Vec<String> = (0..20).map(|r| key(s, r)).collect();
        let kept: Vec<bool> = (0..20).map(|r| r % 2 == 0).collect();
        write_selection(
            &dir.path().join(format!("dedup/part-{s:05}.parquet")),
            &keys,
            Some(&kept),
        );
    }
    // balanced-like: only the kept rows listed; shard 1 keeps none.
    write_selection(
        &dir.path().join("balanced/part-00000.parquet"),
        &[key(0, 0), key(0, 1), key(0, 4), key(0, 16)],
        None,
    );
    write_selection(&dir.path().join("balanced/part-00001.parquet"), &[], None);
    let set = ShardSet::open(std::slice::from_ref(&shards))
        .unwrap()
        .with_selections(&[dir.path().join("dedup"), dir.path().join("balanced")])
        .unwrap();
    let rows: Vec<(u32, u32)> = set
        .parts()
        .iter()
        .flat_map(|g| set.read_part(g).unwrap())
        .map(|s| (s.origin.0, s.origin.2))
        .collect();
    // Row 1 is odd (dropped by dedup); row 16 is a failed download.
    assert_eq!(rows, vec![(0, 0), (0, 4)]);

    // A shard without a selection part is refused, naming both.
    let refused = |shards: std::path::PathBuf| {
        ShardSet::open(&[shards])
            .unwrap()
            .with_selections(&[dir.path().join("balanced")])
            .unwrap_err()
            .to_string()
    };
    std::fs::remove_file(dir.path().join("balanced/part-00001.parquet")).unwrap();
    let err = refused(shards);
    assert!(
        err.contains("no selection for shard") && err.contains("00001.parquet"),
        "{err}"
    );

    // A parquet shard without keys cannot be selected from.
    let keyless = dir.path().join("keyless");
    std::fs::create_dir(&keyless).unwrap();
    let batch = arrow_array::RecordBatch::try_from_iter(vec![
        (
            "caption",
            Arc::new(arrow_array::StringArray::from(vec!["a red square"])) as arrow_array::ArrayRef,
        ),
        (
            "jpg",
            Arc::new(arrow_array::BinaryArray::from(vec![
                &b"not decoded here"[..],
            ])),
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(keyless.join("00000.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    write_selection(
        &dir.path().join("balanced/part-00000.parquet"),
        &["000000000".to_string()],
        None,
    );
    let err = refused(keyless);
    assert!(
        err.contains("no column `key`") && err.contains("00000.parquet"),
        "{err}"
    );
}

#[test]
fn selections_apply_to_webdataset_tars_by_sample_key() {
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 1, 10, 9);
    let set = ShardSet::open(std::slice::from_ref(&shards)).unwrap();
    let samples: Vec<trainer::data::Sample> = set
        .parts()
        .iter()
        .flat_map(|p| set.read_part(p).unwrap())
        .collect();
    let wds = dir.path().join("wds");
    std::fs::create_dir(&wds).unwrap();
    write_tar(&wds.join("00003.tar"), &samples, "jpg", false);
    // Keys are the members' names before the extension: 000000000, ...
    write_selection(
        &dir.path().join("balanced/part-00003.parquet"),
        &["000000002".to_string(), "000000005".to_string()],
        None,
    );
    let tars = ShardSet::open(&[wds])
        .unwrap()
        .with_selections(&[dir.path().join("balanced")])
        .unwrap();
    let read: Vec<String> = tars
        .parts()
        .iter()
        .flat_map(|p| tars.read_part(p).unwrap())
        .map(|s| s.caption)
        .collect();
    assert_eq!(
        read,
        vec![samples[2].caption.clone(), samples[5].caption.clone()]
    );
}

/// Every row of a batch (pixels and tokens, as bits), sorted: the batch as a
/// set of samples.
fn rows(batches: &[&trainer::data::Batch]) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    for b in batches {
        let px = b.images.len() / b.size;
        let t = b.tokens.len() / b.size;
        for i in 0..b.size {
            let mut r: Vec<u32> = b.images[i * px..(i + 1) * px]
                .iter()
                .map(|x| x.to_bits())
                .collect();
            r.extend_from_slice(&b.tokens[i * t..(i + 1) * t]);
            out.push(r);
        }
    }
    out.sort();
    out
}

#[test]
fn ranks_share_each_batch_and_refill_dropped_samples_like_one_process() {
    use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 20, 5);
    // A third file with corrupt images among good ones.
    let set = ShardSet::open(std::slice::from_ref(&shards)).unwrap();
    let good = set.read_part(&set.parts()[0]).unwrap()[0].jpg.clone();
    // Two corrupt images in three, so that several ranks drop samples in
    // one batch.
    let jpg: Vec<Option<&[u8]>> = (0..12)
        .map(|i| match i % 3 {
            0 => Some(&good[..]),
            1 => Some(&b"garbage"[..]),
            _ => Some(&b"\xff\xd8\xff"[..]),
        })
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "caption",
            Arc::new(StringArray::from(vec!["a red circle"; 12])) as ArrayRef,
        ),
        (
            "status",
            Arc::new(StringArray::from(vec!["success"; 12])) as ArrayRef,
        ),
        ("jpg", Arc::new(BinaryArray::from(jpg)) as ArrayRef),
    ])
    .unwrap();
    let f = std::fs::File::create(shards.join("00002.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let set = Arc::new(ShardSet::open(&[shards]).unwrap());
    let tok = Arc::new(TextTokenizer::train(["a red circle"; 10].iter(), 280, 16).unwrap());
    let batches = 8;
    let one_process: Vec<_> = {
        let l = Loader::start(set.clone(), tok.clone(), opts(1, 0)).unwrap();
        (0..batches).map(|_| l.next_batch().unwrap()).collect()
    };
    let dropped: u64 = one_process.iter().map(|b| b.dropped).sum();
    // 8 batches of 8 go through more than one epoch of 52 rows, 8 corrupt.
    assert!(dropped >= 8, "{dropped}");
    for ranks in [2, 4] {
        let per_rank = trainer::distributed::threads::run(ranks, |comm| {
            let l = Loader::start_on(
                set.clone(),
                tok.clone(),
                opts(1, 0),
                comm.duplicate().unwrap(),
                Some(batches as u64),
            )
            .unwrap();
            (0..batches)
                .map(|_| l.next_batch().unwrap())
                .collect::<Vec<_>>()
        });
        for (k, whole) in one_process.iter().enumerate() {
            let shares: Vec<_> = per_rank.iter().map(|r| &r[k]).collect();
            assert!(shares.iter().all(|b| b.size == 8 / ranks));
            assert!(shares.iter().all(|b| b.consumed == whole.consumed));
            assert!(
                rows(&shares) == rows(&[whole]),
                "{ranks} ranks, batch {k}: not the one-process samples"
            );
        }
        let shared_drops: u64 = per_rank.iter().flatten().map(|b| b.dropped).sum();
        assert_eq!(shared_drops, dropped);
    }
}

#[test]
fn each_rank_reads_the_images_it_decodes_only() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::serialized_reader::ReadOptionsBuilder;
    let dir = tempfile::tempdir().unwrap();
    let shards = common::shards(dir.path(), 2, 64, 9);
    // The shards hold one image per page of `jpg`, with page locations.
    let file = std::fs::File::open(shards.join("00000.parquet")).unwrap();
    let options = ReadOptionsBuilder::new().with_page_index().build();
    let reader = SerializedFileReader::new_with_options(file, options).unwrap();
    let meta = reader.metadata();
    let jpg = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "jpg")
        .unwrap();
    let pages = meta
        .page_index()
        .unwrap()
        .page_locations(0, jpg)
        .unwrap()
        .len();
    assert_eq!(pages as i64, meta.row_group(0).num_rows());

    let tok = Arc::new(TextTokenizer::train(["a red circle"; 10].iter(), 280, 16).unwrap());
    let batches = 6;
    let open = || Arc::new(ShardSet::open(std::slice::from_ref(&shards)).unwrap());
    let one = open();
    let whole: Vec<_> = {
        let l = Loader::start_on(
            one.clone(),
            tok.clone(),
            opts(1, 0),
            Box::new(trainer::distributed::Solo),
            Some(batches),
        )
        .unwrap();
        (0..batches).map(|_| l.next_batch().unwrap()).collect()
    };
    // Each rank with its own shard set, to count its reads apart.
    let sets: Vec<_> = (0..2).map(|_| open()).collect();
    let per_rank = trainer::distributed::threads::run(2, |comm| {
        let l = Loader::start_on(
            sets[comm.rank()].clone(),
            tok.clone(),
            opts(1, 0),
            comm.duplicate().unwrap(),
            Some(batches),
        )
        .unwrap();
        (0..batches)
            .map(|_| l.next_batch().unwrap())
            .collect::<Vec<_>>()
    });
    for (k, w) in whole.iter().enumerate() {
        let shares: Vec<_> = per_rank.iter().map(|r| &r[k]).collect();
        assert!(rows(&shares) == rows(&[w]), "batch {k}");
    }
    // The images of the samples decoded: the first 48 of the stream.
    let mut stream = SampleStream::new(open(), opts(1, 0).seed, opts(1, 0).shuffle_buffer);
    let decoded: u64 = (0..batches * 8)
        .map(|_| stream.next_sample().unwrap().1.jpg.len() as u64)
        .sum();
    // One process reads every image of the row groups it streams; a rank
    // the pages of the images it decodes, about half of those decoded.
    let eager = one.read_stats().image_bytes();
    assert!(eager >= decoded, "{eager} < {decoded}");
    let mut sum = 0;
    for (r, set) in sets.iter().enumerate() {
        let own = set.read_stats().image_bytes();
        println!(
            "rank {r}: {own} image bytes ({} in all); one process {eager}; \
             images decoded {decoded}",
            set.read_stats().bytes()
        );
        assert!(
            own as f64 <= 0.7 * decoded as f64,
            "rank {r}: {own} of {decoded}"
        );
        assert!(
            own as f64 >= 0.3 * decoded as f64,
            "rank {r}: {own} of {decoded}"
        );
        sum += own;
    }
    // Page headers aside, the two ranks read the decoded images once.
    assert!(
        sum >= decoded && (sum as f64) <= 1.1 * decoded as f64,
        "{sum} vs {decoded}"
    );
}
