//! A generated dataset whose captions describe what the images show:
//! coloured shapes on noisy grey backgrounds, captioned with the colour and
//! shape among distractor words. Written as real shard files (the shard
//! schema, JPEG bytes, some failure rows) and as an ImageFolder tree of
//! held-out images for zero-shot evaluation. Tests, the demo and the
//! benchmark use it to show that training learns.

use std::fs::File;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, UInt32Builder};
use arrow_array::{ArrayRef, BinaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::rng::Rng;
use crate::{Error, Result};

/// The colours, with their RGB values.
pub const COLOURS: &[(&str, [u8; 3])] = &[
    ("red", [215, 35, 35]),
    ("green", [35, 170, 55]),
    ("blue", [40, 70, 220]),
    ("yellow", [235, 215, 35]),
];
/// The shapes.
pub const SHAPES: &[&str] = &["circle", "square", "triangle"];
const DISTRACTORS: &[&str] = &[
    "nice",
    "cheap",
    "vintage",
    "new",
    "free",
    "art",
    "design",
    "wallpaper",
    "sale",
    "best",
    "poster",
    "sticker",
    "hd",
    "photo",
    "image",
];

/// How much to generate.
#[derive(Debug, Clone)]
pub struct SyntheticOptions {
    /// Shard files.
    pub shards: usize,
    /// Rows per shard (about 1 in 17 is a failure row without an image).
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

impl Default for SyntheticOptions {
    fn default() -> Self {
        SyntheticOptions {
            shards: 2,
            rows_per_shard: 1000,
            min_size: 32,
            max_size: 64,
            row_group_size: 256,
            seed: 0,
        }
    }
}

/// Every class as `(folder, class name)`: `red_circle`, `red circle`, ….
pub fn classes() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (c, _) in COLOURS {
        for s in SHAPES {
            v.push((format!("{c}_{s}"), format!("{c} {s}")));
        }
    }
    v
}

/// Draws a `w × h` image of `shape` in `colour`.
pub fn draw(colour: usize, shape: usize, w: u32, h: u32, rng: &mut Rng) -> RgbImage {
    let bg = rng.range(90.0, 170.0);
    let mut img = RgbImage::from_fn(w, h, |_, _| {
        let v = (bg + rng.range(-18.0, 18.0)).clamp(0.0, 255.0) as u8;
        Rgb([v, v, v])
    });
    let m = w.min(h) as f64;
    let r = rng.range(0.22, 0.38) * m;
    let cx = rng.range(r, w as f64 - r);
    let cy = rng.range(r, h as f64 - r);
    let base = COLOURS[colour].1;
    let col: [u8; 3] =
        std::array::from_fn(|i| (base[i] as f64 + rng.range(-20.0, 20.0)).clamp(0.0, 255.0) as u8);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let inside = match shape {
                0 => dx * dx + dy * dy <= r * r,
                1 => dx.abs() <= r * 0.85 && dy.abs() <= r * 0.85,
                _ => dy >= -r && dy <= r * 0.8 && dx.abs() <= (dy + r) * 0.55,
            };
            if inside {
                img.put_pixel(x, y, Rgb(col));
            }
        }
    }
    img
}

/// A caption naming the colour and shape among distractor words.
pub fn caption(colour: usize, shape: usize, rng: &mut Rng) -> String {
    let c = COLOURS[colour].0;
    let s = SHAPES[shape];
    let mut d = || DISTRACTORS[rng.below(DISTRACTORS.len())];
    let (d1, d2) = (d(), d());
    match rng.below(6) {
        0 => format!("a {c} {s}"),
        1 => format!("photo of a {c} {s} on grey"),
        2 => format!("{d1} {c} {s} {d2}"),
        3 => format!("{c} {s}, {d1} {d2}"),
        4 => format!("the {s} is {c}"),
        _ => format!("{d1} image: {s} in {c}"),
    }
}

fn jpeg(img: RgbImage) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut Cursor::new(&mut buf), ImageFormat::Jpeg)
        .map_err(|e| Error::Image {
            path: "(generated)".into(),
            message: e.to_string(),
        })?;
    Ok(buf)
}

/// The shard schema (`docs/formats.md`, written by `crawl download`).
pub fn shard_schema() -> SchemaRef {
    let ids = DataType::List(Arc::new(Field::new("item", DataType::UInt32, false)));
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("uid", DataType::Utf8, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, true),
        Field::new("query_ids", ids, true),
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

fn uid(url: &str, text: &str) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(url.as_bytes());
    h.update(b"\n");
    h.update(text.as_bytes());
    format!("{:032x}", h.digest128())
}

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

fn write_shard(path: &Path, cols: Columns, row_group_size: usize) -> Result<()> {
    let n = cols.key.len();
    let mut ids = ListBuilder::new(UInt32Builder::new()).with_field(Arc::new(Field::new(
        "item",
        DataType::UInt32,
        false,
    )));
    for _ in 0..n {
        ids.append_null();
    }
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(cols.key)),
        Arc::new(StringArray::from(cols.uid)),
        Arc::new(StringArray::from(cols.url)),
        Arc::new(StringArray::from(cols.caption)),
        Arc::new(ids.finish()),
        Arc::new(StringArray::from(cols.status)),
        Arc::new(StringArray::from(cols.error)),
        Arc::new(Int32Array::from(cols.w.clone())),
        Arc::new(Int32Array::from(cols.h.clone())),
        Arc::new(Int32Array::from(cols.w)),
        Arc::new(Int32Array::from(cols.h)),
        Arc::new(StringArray::from(cols.sha)),
        Arc::new(arrow_array::UInt64Array::from(vec![None::<u64>; n])),
        Arc::new(BinaryArray::from_iter(cols.jpg)),
    ];
    let perr = |e: &dyn std::fmt::Display| Error::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let batch = RecordBatch::try_new(shard_schema(), arrays).map_err(|e| perr(&e))?;
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_size.max(1)))
        .build();
    atomic_output::commit_atomically(path, |tmp| {
        let file = File::create(tmp).map_err(io_err(tmp))?;
        let mut w =
            ArrowWriter::try_new(file, shard_schema(), Some(props)).map_err(|e| perr(&e))?;
        w.write(&batch).map_err(|e| perr(&e))?;
        w.close().map_err(|e| perr(&e))?;
        Ok(())
    })
}

/// Writes `dir/NNNNN.parquet` shard files and returns their paths.
pub fn write_shards(dir: &Path, opts: &SyntheticOptions) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut paths = Vec::new();
    for shard in 0..opts.shards {
        let mut cols = Columns::default();
        for row in 0..opts.rows_per_shard {
            let mut rng = Rng::derive(opts.seed, &[0x5359, shard as u64, row as u64]);
            let (ci, si) = (rng.below(COLOURS.len()), rng.below(SHAPES.len()));
            let text = caption(ci, si, &mut rng);
            let url = format!("http://synthetic.invalid/{shard}/{row}.jpg");
            cols.key.push(format!("{shard:05}{row:04}"));
            cols.uid.push(uid(&url, &text));
            cols.url.push(url);
            cols.caption.push(Some(text));
            if row % 17 == 16 {
                cols.status.push("failed_to_download".into());
                cols.error.push(Some("connection refused".into()));
                cols.w.push(None);
                cols.h.push(None);
                cols.sha.push(None);
                cols.jpg.push(None);
                continue;
            }
            let w = opts.min_size + rng.below((opts.max_size - opts.min_size + 1) as usize) as u32;
            let h = opts.min_size + rng.below((opts.max_size - opts.min_size + 1) as usize) as u32;
            let bytes = jpeg(draw(ci, si, w, h, &mut rng))?;
            cols.status.push("success".into());
            cols.error.push(None);
            cols.w.push(Some(w as i32));
            cols.h.push(Some(h as i32));
            cols.sha.push(Some(hex::encode(Sha256::digest(&bytes))));
            cols.jpg.push(Some(bytes));
        }
        let path = dir.join(format!("{shard:05}.parquet"));
        write_shard(&path, cols, opts.row_group_size)?;
        paths.push(path);
    }
    Ok(paths)
}

/// Writes an ImageFolder tree of held-out images (`dir/red_circle/0000.jpg`,
/// …, `per_class` per class) and `dir/classes.tsv`; returns the classes file.
pub fn write_image_folder(dir: &Path, per_class: usize, size: u32, seed: u64) -> Result<PathBuf> {
    let mut tsv = String::new();
    for (ci, _) in COLOURS.iter().enumerate() {
        for (si, _) in SHAPES.iter().enumerate() {
            let folder = format!("{}_{}", COLOURS[ci].0, SHAPES[si]);
            let sub = dir.join(&folder);
            std::fs::create_dir_all(&sub).map_err(io_err(&sub))?;
            for i in 0..per_class {
                let mut rng = Rng::derive(seed, &[0x484f, ci as u64, si as u64, i as u64]);
                let bytes = jpeg(draw(ci, si, size, size, &mut rng))?;
                let p = sub.join(format!("{i:04}.jpg"));
                std::fs::write(&p, bytes).map_err(io_err(&p))?;
            }
            tsv.push_str(&format!("{folder}\t{} {}\n", COLOURS[ci].0, SHAPES[si]));
        }
    }
    let p = dir.join("classes.tsv");
    std::fs::write(&p, tsv).map_err(io_err(&p))?;
    Ok(p)
}
