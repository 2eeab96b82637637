//! Reference hashes to decontaminate against: an image folder (an
//! ImageNet-style evaluation set, hashed here) or a table of hashes written
//! by `witcurate hash-images` (parquet with a `phash: uint64` column, or a
//! text file of 16-hex-digit hashes, one per line).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::UInt64Type;
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use rayon::prelude::*;

use crate::parts::{read_all, write_parquet_atomically, PartsError};
use crate::phash::phash_rgb;

/// File extensions read as images in a folder.
const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "JPEG"];

/// The table `hash-images` writes: `path: utf8, phash: uint64`.
pub fn hashes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("phash", DataType::UInt64, false),
    ]))
}

/// Why reference hashes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A line of a text table is not a hash.
    #[error("{path}:{line}: `{text}` is not a 64-bit hash in hex")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is there.
        text: String,
    },
    /// A parquet table could not be read.
    #[error(transparent)]
    Parts(#[from] PartsError),
}

fn images_in(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReferenceError> {
    let io = |e| ReferenceError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            images_in(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            IMAGE_EXTENSIONS.contains(&e)
                || IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
        }) {
            out.push(path);
        }
    }
    Ok(())
}

/// Hashes every image under `dir` (recursively, in path order, on all cores).
/// Files that do not decode are logged and left out; returns (path, hash).
pub fn hash_folder(dir: &Path) -> Result<Vec<(PathBuf, u64)>, ReferenceError> {
    let mut files = Vec::new();
    images_in(dir, &mut files)?;
    files.sort();
    let hashed: Vec<Option<(PathBuf, u64)>> = files
        .into_par_iter()
        .map(|path| match image::open(&path) {
            Ok(img) => {
                let rgb = img.into_rgb8();
                let (w, h) = rgb.dimensions();
                Some((path, phash_rgb(rgb.as_raw(), w, h)))
            }
            Err(e) => {
                log::warn!("{}: not hashed: {e}", path.display());
                None
            }
        })
        .collect();
    Ok(hashed.into_iter().flatten().collect())
}

/// Writes `(path, hash)` rows as a hashes table (parquet, atomically).
pub fn write_hashes(out: &Path, rows: &[(PathBuf, u64)]) -> Result<(), ReferenceError> {
    let schema = hashes_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|(p, _)| p.to_string_lossy().into_owned())
                    .collect::<Vec<_>>(),
            )) as ArrayRef,
            Arc::new(UInt64Array::from(
                rows.iter().map(|(_, h)| *h).collect::<Vec<_>>(),
            )),
        ],
    )
    .map_err(|e| PartsError::arrow(out, e))?;
    Ok(write_parquet_atomically(out, &schema, &[batch], None)?)
}

/// Reads reference hashes from a folder of images, a parquet hashes table or
/// a text file of hex hashes.
pub fn load(path: &Path) -> Result<Vec<u64>, ReferenceError> {
    if path.is_dir() {
        return Ok(hash_folder(path)?.into_iter().map(|(_, h)| h).collect());
    }
    if path.extension().is_some_and(|e| e == "parquet") {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "phash",
            DataType::UInt64,
            false,
        )]));
        let mut out = Vec::new();
        for b in read_all(path, &schema, "hashes")? {
            out.extend(b.column(0).as_primitive::<UInt64Type>().values().iter());
        }
        return Ok(out);
    }
    let text = std::fs::read_to_string(path).map_err(|e| ReferenceError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            u64::from_str_radix(l.trim(), 16).map_err(|_| ReferenceError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                text: l.trim().chars().take(40).collect(),
            })
        })
        .collect()
}
