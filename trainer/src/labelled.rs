//! Labelled image sets, the input of zero-shot classification and of the
//! linear probe, in the three forms they come in:
//!
//! - an **ImageFolder** tree: one sub-folder per class (torchvision's
//!   layout); the sorted folder names are the class ids, in label order;
//! - a **table** of (image, label) rows: a parquet file (the images as
//!   bytes, for example a Hugging Face dataset's `image` struct column
//!   `{bytes, path}`, or as paths), or a CSV, TSV or JSON-lines file of image
//!   paths (relative to the table's directory). Integer labels are class
//!   numbers; text labels are class ids like folder names (sorted, they give
//!   the label order);
//! - a **bundled** set, named `bundled:NAME[/SPLIT]`: real images that ship
//!   inside witcurate (see [`BUNDLED`]).
//!
//! Images are read in order, a chunk at a time, so memory stays bounded by
//! the chunk whatever the size of the set.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use sha2::{Digest, Sha256};

use crate::error::io_err;
use crate::{Error, Result};

/// Column names looked for, in order, when none is given: the image column.
pub const IMAGE_COLUMNS: &[&str] = &[
    "image",
    "img",
    "jpg",
    "png",
    "webp",
    "file",
    "path",
    "filepath",
    "image_path",
];
/// ... and the label column.
pub const LABEL_COLUMNS: &[&str] = &["label", "labels", "class", "fine_label", "target", "y"];

/// The image sets bundled with witcurate (`bundled:NAME`, `bundled:NAME/train`,
/// `bundled:NAME/test`).
///
/// `digits`: the 1,797 8×8 greyscale handwritten digits of the UCI "Optical
/// Recognition of Handwritten Digits" test set (E. Alpaydin, C. Kaynak,
/// 1998; CC BY 4.0), as scikit-learn ships them; classes `0`–`9` in label
/// order (the bundled dataset `mnist` names and prompts them). Split: every
/// third image (row 0, 3, 6, ...) is `test` (599), the others `train` (1,198).
pub const BUNDLED: &[&str] = &["digits"];

const DIGITS_CSV_GZ: &[u8] = include_bytes!("../evalsets/digits.csv.gz");

/// Which columns of a table hold the image and the label (`None`: the first
/// of [`IMAGE_COLUMNS`] / [`LABEL_COLUMNS`] that the table has).
#[derive(Debug, Clone, Default)]
pub struct TableColumns {
    /// The image column.
    pub image: Option<String>,
    /// The label column.
    pub label: Option<String>,
}

impl TableColumns {
    /// The image and label columns among a table's `names`: the ones given,
    /// else the first of [`IMAGE_COLUMNS`] / [`LABEL_COLUMNS`] present; a
    /// missing one is an error naming the table and its columns.
    fn pick(&self, names: &[String], table: &Path) -> Result<(String, String)> {
        Ok((
            pick(self.image.as_deref(), IMAGE_COLUMNS, names, "image", table)?,
            pick(self.label.as_deref(), LABEL_COLUMNS, names, "label", table)?,
        ))
    }
}

/// One image of a set, read.
#[derive(Debug, Clone)]
pub struct LabelledImage {
    /// What to call it in messages: its path, or `TABLE row N`.
    pub name: String,
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its class (an index into [`LabelledImages::class_ids`]).
    pub label: usize,
}

#[derive(Debug, Clone)]
enum Source {
    /// Image files (a folder tree, or a table of paths).
    Files,
    /// A parquet table with the images in a column.
    Parquet { image: String },
    /// Encoded images in memory (a bundled set).
    Memory(std::sync::Arc<Vec<Vec<u8>>>),
}

#[derive(Debug, Clone)]
struct Item {
    /// The image file, for [`Source::Files`] (and for parquet rows whose
    /// image is a path); the row for the others.
    path: Option<PathBuf>,
    row: usize,
    label: usize,
}

/// A labelled image set (see the module docs).
#[derive(Debug, Clone)]
pub struct LabelledImages {
    location: PathBuf,
    class_ids: Vec<String>,
    items: Vec<Item>,
    source: Source,
}

/// The label values of a table, before they become class numbers.
enum Labels {
    Numbers(Vec<u64>),
    Texts(Vec<String>),
}

impl LabelledImages {
    /// Opens the set at `location`: `bundled:NAME[/SPLIT]`, a table file
    /// (`.parquet`, `.csv`, `.tsv`, `.jsonl`), or else an ImageFolder tree.
    ///
    /// With `numbered_classes = Some(k)` (a bundled dataset's class count),
    /// integer labels name classes `0..k` (all of them classes, present in
    /// the set or not), and a label outside is an error naming the row;
    /// otherwise the classes are the labels present.
    pub fn open(
        location: &Path,
        columns: &TableColumns,
        numbered_classes: Option<usize>,
    ) -> Result<Self> {
        let text = location.to_string_lossy();
        if let Some(name) = text.strip_prefix("bundled:") {
            return bundled(name, location, numbered_classes);
        }
        match table_kind(location) {
            Some(kind) => open_table(location, kind, columns, numbered_classes),
            None => open_folder(location),
        }
    }

    /// Where the set was read from.
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// The class ids in label order (folder names, or label values).
    pub fn class_ids(&self) -> &[String] {
        &self.class_ids
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the set has no image.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Images per class, in class order.
    pub fn class_sizes(&self) -> Vec<usize> {
        let mut n = vec![0; self.class_ids.len()];
        for it in &self.items {
            n[it.label] += 1;
        }
        n
    }

    /// Renumbers the labels into `class_ids` (for example a test set's
    /// classes into its training set's); a class missing there is an error.
    pub fn relabel(&mut self, class_ids: &[String], against: &Path) -> Result<()> {
        let mut map = Vec::with_capacity(self.class_ids.len());
        for c in &self.class_ids {
            match class_ids.iter().position(|x| x == c) {
                Some(i) => map.push(i),
                None => {
                    return Err(Error::Config(format!(
                        "{}: class {c:?} is not among the classes of {}",
                        self.location.display(),
                        against.display()
                    )))
                }
            }
        }
        for it in &mut self.items {
            it.label = map[it.label];
        }
        self.class_ids = class_ids.to_vec();
        Ok(())
    }

    /// A digest of the set: its location, every image's name and label,
    /// and for local files their size and modification time (objects and
    /// bundled sets are named once and never change).
    pub fn fingerprint(&self) -> Result<String> {
        let mut h = Sha256::new();
        h.update(self.location.to_string_lossy().as_bytes());
        if !matches!(self.source, Source::Files) && !is_remote_or_bundled(&self.location) {
            h.update(file_stamp(&self.location)?.as_bytes());
        }
        for it in &self.items {
            h.update([0]);
            match &it.path {
                Some(p) => {
                    h.update(p.to_string_lossy().as_bytes());
                    if !storage::files::is_object(p) {
                        h.update(file_stamp(p)?.as_bytes());
                    }
                }
                None => h.update(it.row.to_le_bytes()),
            }
            h.update(format!("\t{}", self.class_ids[it.label]).as_bytes());
        }
        Ok(hex::encode(&h.finalize()[..12]))
    }

    /// Calls `f` with the images in order, `chunk` at a time.
    pub fn for_each_chunk(
        &self,
        chunk: usize,
        mut f: impl FnMut(Vec<LabelledImage>) -> Result<()>,
    ) -> Result<()> {
        let chunk = chunk.max(1);
        match &self.source {
            Source::Files => {
                for items in self.items.chunks(chunk) {
                    f(items
                        .iter()
                        .map(|it| self.read_file(it))
                        .collect::<Result<_>>()?)?;
                }
                Ok(())
            }
            Source::Memory(images) => {
                for items in self.items.chunks(chunk) {
                    f(items
                        .iter()
                        .map(|it| LabelledImage {
                            name: self.row_name(it.row),
                            bytes: images[it.row].clone(),
                            label: it.label,
                        })
                        .collect())?;
                }
                Ok(())
            }
            Source::Parquet { image } => self.parquet_chunks(image, chunk, f),
        }
    }

    fn row_name(&self, row: usize) -> String {
        format!("{} row {}", self.location.display(), row + 1)
    }

    fn read_file(&self, it: &Item) -> Result<LabelledImage> {
        let p = it.path.as_ref().expect("file items have a path");
        Ok(LabelledImage {
            name: p.display().to_string(),
            bytes: storage::files::read(p).map_err(io_err(p))?,
            label: it.label,
        })
    }

    /// Streams the image column of a parquet table.
    fn parquet_chunks(
        &self,
        column: &str,
        chunk: usize,
        mut f: impl FnMut(Vec<LabelledImage>) -> Result<()>,
    ) -> Result<()> {
        let reader = parquet_reader(&self.location, &[column], chunk)?;
        let mut row = 0;
        let mut pending = Vec::with_capacity(chunk);
        for batch in reader {
            let batch = batch.map_err(|e| parquet_err(&self.location, e))?;
            let images = image_cells(&batch, column, &self.location)?;
            for cell in images {
                let it = &self.items[row];
                let bytes = match (cell, &it.path) {
                    (Cell::Bytes(b), _) => b,
                    (_, Some(p)) => storage::files::read(p).map_err(io_err(p))?,
                    (_, None) => {
                        return Err(Error::Config(format!(
                            "{}: no image (neither bytes nor a path)",
                            self.row_name(row)
                        )))
                    }
                };
                pending.push(LabelledImage {
                    name: self.row_name(row),
                    bytes,
                    label: it.label,
                });
                row += 1;
                if pending.len() == chunk {
                    f(std::mem::take(&mut pending))?;
                }
            }
        }
        if !pending.is_empty() {
            f(pending)?;
        }
        Ok(())
    }
}

fn is_remote_or_bundled(p: &Path) -> bool {
    storage::files::is_object(p) || p.to_string_lossy().starts_with("bundled:")
}

/// `\tSIZE\tMTIME` of a local file.
fn file_stamp(p: &Path) -> Result<String> {
    let m = std::fs::metadata(p).map_err(io_err(p))?;
    Ok(format!("\t{}\t{}", m.len(), modified_nanos(&m)))
}

/// A file's modification time in nanoseconds since the Unix epoch (0 where
/// the file system does not keep one): part of the cache keys that must
/// change when a file is rewritten.
pub(crate) fn modified_nanos(m: &std::fs::Metadata) -> u128 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TableKind {
    Parquet,
    Csv(u8),
    JsonLines,
}

fn table_kind(p: &Path) -> Option<TableKind> {
    let name = p.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".parquet") {
        Some(TableKind::Parquet)
    } else if name.ends_with(".csv") {
        Some(TableKind::Csv(b','))
    } else if name.ends_with(".tsv") {
        Some(TableKind::Csv(b'\t'))
    } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") {
        Some(TableKind::JsonLines)
    } else {
        None
    }
}

fn open_folder(root: &Path) -> Result<LabelledImages> {
    let mut class_ids = class_folders(root)?;
    class_ids.sort();
    if class_ids.is_empty() {
        return Err(Error::Config(format!(
            "{}: no class sub-folders (expected an ImageFolder tree, or a table: \
             .parquet, .csv, .tsv, .jsonl)",
            root.display()
        )));
    }
    let mut items = Vec::new();
    for (label, c) in class_ids.iter().enumerate() {
        for path in crate::eval::image_files(&root.join(c))? {
            items.push(Item {
                path: Some(path),
                row: 0,
                label,
            });
        }
    }
    Ok(LabelledImages {
        location: root.to_path_buf(),
        class_ids,
        items,
        source: Source::Files,
    })
}

/// The names of the sub-folders of `images` (on disk: directories, symbolic
/// links to them included; on object storage: the prefixes below it).
pub(crate) fn class_folders(images: &Path) -> Result<Vec<String>> {
    if storage::files::is_object(images) {
        let dirs = storage::files::list_dirs(images).map_err(io_err(images))?;
        return Ok(dirs
            .iter()
            .filter_map(|d| d.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .collect());
    }
    Ok(std::fs::read_dir(images)
        .map_err(io_err(images))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect())
}

fn pick<'a>(
    given: Option<&'a str>,
    defaults: &'a [&'a str],
    have: &[String],
    what: &str,
    table: &Path,
) -> Result<String> {
    if let Some(g) = given {
        return if have.iter().any(|h| h == g) {
            Ok(g.to_string())
        } else {
            Err(Error::Config(format!(
                "{}: no {what} column {g:?} (columns: {})",
                table.display(),
                have.join(", ")
            )))
        };
    }
    defaults
        .iter()
        .find(|d| have.iter().any(|h| h == *d))
        .map(|d| d.to_string())
        .ok_or_else(|| {
            Error::Config(format!(
                "{}: no {what} column (looked for {}; columns: {}); name it with \
                 --{what}-col",
                table.display(),
                defaults.join(", "),
                have.join(", ")
            ))
        })
}

fn open_table(
    table: &Path,
    kind: TableKind,
    columns: &TableColumns,
    numbered: Option<usize>,
) -> Result<LabelledImages> {
    let base = table.parent().map(Path::to_path_buf).unwrap_or_default();
    let resolve = |p: &str| -> PathBuf {
        if p.contains("://") || Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        }
    };
    let (labels, paths, source) = match kind {
        TableKind::Parquet => {
            let schema = parquet_builder(table)?.schema().clone();
            let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let (image, label) = columns.pick(&names, table)?;
            let image_type = schema
                .field_with_name(&image)
                .map_err(|e| parquet_err(table, e))?
                .data_type()
                .clone();
            let (labels, paths) = parquet_labels_and_paths(table, &label, &image, &image_type)?;
            let paths = paths
                .into_iter()
                .map(|p| p.map(|p| resolve(&p)))
                .collect::<Vec<_>>();
            (labels, paths, Source::Parquet { image })
        }
        TableKind::Csv(delimiter) => {
            let rows = read_csv(table, delimiter)?;
            text_table(table, rows, columns, &resolve)?
        }
        TableKind::JsonLines => {
            let rows = read_jsonl(table)?;
            text_table(table, rows, columns, &resolve)?
        }
    };
    let (class_ids, numbers) = number_labels(table, labels, numbered)?;
    let items = numbers
        .into_iter()
        .zip(paths)
        .enumerate()
        .map(|(row, (label, path))| Item { path, row, label })
        .collect();
    Ok(LabelledImages {
        location: table.to_path_buf(),
        class_ids,
        items,
        source,
    })
}

/// Class ids and each row's class number.
fn number_labels(
    table: &Path,
    labels: Labels,
    numbered: Option<usize>,
) -> Result<(Vec<String>, Vec<usize>)> {
    match labels {
        Labels::Numbers(values) => {
            let ids: Vec<u64> = match numbered {
                Some(k) => {
                    if let Some((row, v)) = values.iter().enumerate().find(|(_, &v)| v >= k as u64)
                    {
                        return Err(Error::Config(format!(
                            "{} row {}: label {v} is not a class of the dataset \
                             (it has {k}: 0 to {})",
                            table.display(),
                            row + 1,
                            k - 1
                        )));
                    }
                    (0..k as u64).collect()
                }
                None => {
                    let mut ids: Vec<u64> = values.clone();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                }
            };
            let index: BTreeMap<u64, usize> =
                ids.iter().enumerate().map(|(i, &v)| (v, i)).collect();
            Ok((
                ids.iter().map(u64::to_string).collect(),
                values.iter().map(|v| index[v]).collect(),
            ))
        }
        Labels::Texts(values) => {
            let mut ids = values.clone();
            ids.sort();
            ids.dedup();
            let index: BTreeMap<&str, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, v)| (v.as_str(), i))
                .collect();
            let numbers = values.iter().map(|v| index[v.as_str()]).collect();
            Ok((ids, numbers))
        }
    }
}

/// Rows of a text table: each a map of column → value.
type TextRows = (Vec<String>, Vec<BTreeMap<String, String>>);

fn text_table(
    table: &Path,
    (names, rows): TextRows,
    columns: &TableColumns,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<(Labels, Vec<Option<PathBuf>>, Source)> {
    let (image, label) = columns.pick(&names, table)?;
    let mut paths = Vec::with_capacity(rows.len());
    let mut texts = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let bad = |what: &str| Error::Config(format!("{} row {}: {what}", table.display(), i + 1));
        let p = r.get(&image).map(|s| s.trim()).unwrap_or("");
        if p.is_empty() {
            return Err(bad(&format!("empty {image:?} (an image path)")));
        }
        let l = r.get(&label).map(|s| s.trim()).unwrap_or("");
        if l.is_empty() {
            return Err(bad(&format!("empty label {label:?}")));
        }
        paths.push(Some(resolve(p)));
        texts.push(l.to_string());
    }
    // Every label an integer: class numbers; otherwise class ids.
    let numbers: Option<Vec<u64>> = texts.iter().map(|t| t.parse::<u64>().ok()).collect();
    let labels = match numbers {
        Some(n) => Labels::Numbers(n),
        None => Labels::Texts(texts),
    };
    Ok((labels, paths, Source::Files))
}

fn read_table_bytes(table: &Path) -> Result<Vec<u8>> {
    storage::files::read(table).map_err(io_err(table))
}

fn read_csv(table: &Path, delimiter: u8) -> Result<TextRows> {
    let bytes = read_table_bytes(table)?;
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(bytes.as_slice());
    let names: Vec<String> = r
        .headers()
        .map_err(|e| Error::Config(format!("{}: {e}", table.display())))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec =
            rec.map_err(|e| Error::Config(format!("{} row {}: {e}", table.display(), i + 1)))?;
        rows.push(
            names
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok((names, rows))
}

fn read_jsonl(table: &Path) -> Result<TextRows> {
    let bytes = read_table_bytes(table)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Config(format!("{}: not UTF-8 text", table.display())))?;
    let mut names: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| Error::Config(format!("{}:{}: {what}", table.display(), i + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let mut row = BTreeMap::new();
        for (k, v) in obj {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if !names.contains(k) {
                names.push(k.clone());
            }
            row.insert(k.clone(), s);
        }
        rows.push(row);
    }
    Ok((names, rows))
}

fn parquet_err(table: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {e}", table.display()))
}

fn parquet_builder(
    table: &Path,
) -> Result<ParquetRecordBatchReaderBuilder<storage::files::RunFile>> {
    let file = storage::files::open(table).map_err(io_err(table))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(table, e))
}

fn parquet_reader(
    table: &Path,
    columns: &[&str],
    batch: usize,
) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
    let b = parquet_builder(table)?;
    let roots: Vec<usize> = columns
        .iter()
        .filter_map(|c| b.schema().fields().iter().position(|f| f.name() == c))
        .collect();
    let mask = ProjectionMask::roots(b.parquet_schema(), roots);
    b.with_projection(mask)
        .with_batch_size(batch.clamp(1, 1024))
        .build()
        .map_err(|e| parquet_err(table, e))
}

/// The label of every row, and the path of its image where the image
/// column gives one (a path column, or a `{bytes, path}` struct's path).
fn parquet_labels_and_paths(
    table: &Path,
    label: &str,
    image: &str,
    image_type: &DataType,
) -> Result<(Labels, Vec<Option<String>>)> {
    // Labels first (one small column).
    let mut numbers = Vec::new();
    let mut texts = Vec::new();
    let mut row = 0usize;
    for batch in parquet_reader(table, &[label], 1024)? {
        let batch = batch.map_err(|e| parquet_err(table, e))?;
        let col = batch
            .column_by_name(label)
            .expect("projected column")
            .clone();
        for i in 0..col.len() {
            row += 1;
            if col.is_null(i) {
                return Err(Error::Config(format!(
                    "{} row {row}: no label",
                    table.display()
                )));
            }
            match label_value(&col, i) {
                Some(LabelValue::Number(v)) => numbers.push(v),
                Some(LabelValue::Text(t)) => texts.push(t),
                None => {
                    return Err(Error::Config(format!(
                        "{}: label column {label:?} is {}, not integers or text",
                        table.display(),
                        col.data_type()
                    )))
                }
            }
        }
    }
    let labels = if texts.is_empty() {
        Labels::Numbers(numbers)
    } else if numbers.is_empty() {
        Labels::Texts(texts)
    } else {
        return Err(Error::Config(format!(
            "{}: label column {label:?} mixes numbers and text",
            table.display()
        )));
    };
    // Then the image paths, when the images are not in the table; a
    // column of bytes is only read when the images are.
    let n = match &labels {
        Labels::Numbers(v) => v.len(),
        Labels::Texts(v) => v.len(),
    };
    let paths = match image_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let mut paths = Vec::with_capacity(n);
            for batch in parquet_reader(table, &[image], 1024)? {
                let batch = batch.map_err(|e| parquet_err(table, e))?;
                for c in image_cells(&batch, image, table)? {
                    paths.push(match c {
                        Cell::Path(p) => Some(p),
                        _ => None,
                    });
                }
            }
            paths
        }
        DataType::Struct(fields) if fields.iter().any(|f| f.name() == "path") => {
            let mut paths = Vec::with_capacity(n);
            for batch in parquet_reader(table, &[image], 1024)? {
                let batch = batch.map_err(|e| parquet_err(table, e))?;
                let s = batch
                    .column_by_name(image)
                    .expect("projected")
                    .as_any()
                    .downcast_ref::<arrow_array::StructArray>()
                    .expect("struct column");
                let bytes = s.column_by_name("bytes");
                let path = s.column_by_name("path").expect("has path");
                for i in 0..s.len() {
                    let has_bytes = bytes.is_some_and(|b| !b.is_null(i));
                    paths.push(if has_bytes { None } else { string_at(path, i) });
                }
            }
            paths
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Struct(_) => {
            vec![None; n]
        }
        other => {
            return Err(Error::Config(format!(
                "{}: image column {image:?} is {other}: expected bytes, a path, or a \
                 {{bytes, path}} struct",
                table.display()
            )))
        }
    };
    Ok((labels, paths))
}

enum LabelValue {
    Number(u64),
    Text(String),
}

fn label_value(col: &ArrayRef, i: usize) -> Option<LabelValue> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    macro_rules! int {
        ($t:ty) => {
            col.as_primitive_opt::<$t>()
                .and_then(|a| u64::try_from(a.value(i)).ok())
                .map(LabelValue::Number)
        };
    }
    match col.data_type() {
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            string_at(col, i).map(LabelValue::Text)
        }
        _ => None,
    }
}

fn string_at(col: &ArrayRef, i: usize) -> Option<String> {
    use arrow_array::cast::AsArray;
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8 => Some(col.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Some(col.as_string_view().value(i).to_string()),
        _ => None,
    }
}

fn bytes_at(col: &ArrayRef, i: usize) -> Option<Vec<u8>> {
    use arrow_array::cast::AsArray;
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Binary => Some(col.as_binary::<i32>().value(i).to_vec()),
        DataType::LargeBinary => Some(col.as_binary::<i64>().value(i).to_vec()),
        DataType::BinaryView => Some(col.as_binary_view().value(i).to_vec()),
        _ => None,
    }
}

/// One cell of an image column.
enum Cell {
    Bytes(Vec<u8>),
    Path(String),
    Missing,
}

fn image_cells(batch: &RecordBatch, column: &str, table: &Path) -> Result<Vec<Cell>> {
    let col = batch
        .column_by_name(column)
        .ok_or_else(|| parquet_err(table, format!("no column {column:?}")))?;
    let mut out = Vec::with_capacity(col.len());
    match col.data_type() {
        DataType::Struct(_) => {
            let s = col
                .as_any()
                .downcast_ref::<arrow_array::StructArray>()
                .expect("struct column");
            let bytes = s.column_by_name("bytes");
            let path = s.column_by_name("path");
            for i in 0..s.len() {
                out.push(
                    match (
                        bytes.and_then(|b| bytes_at(b, i)),
                        path.and_then(|p| string_at(p, i)),
                    ) {
                        (Some(b), _) => Cell::Bytes(b),
                        (None, Some(p)) => Cell::Path(p),
                        _ => Cell::Missing,
                    },
                );
            }
        }
        _ => {
            for i in 0..col.len() {
                out.push(match (bytes_at(col, i), string_at(col, i)) {
                    (Some(b), _) => Cell::Bytes(b),
                    (None, Some(p)) => Cell::Path(p),
                    _ => Cell::Missing,
                });
            }
        }
    }
    Ok(out)
}

/// A bundled set (see [`BUNDLED`]).
fn bundled(name: &str, location: &Path, numbered: Option<usize>) -> Result<LabelledImages> {
    let (set, split) = match name.split_once('/') {
        Some((s, p)) => (s, Some(p)),
        None => (name, None),
    };
    if set != "digits" {
        return Err(Error::Config(format!(
            "{}: no bundled image set {set:?} (bundled: {})",
            location.display(),
            BUNDLED.join(", ")
        )));
    }
    let keep = |row: usize| match split {
        None => Ok(true),
        Some("test") => Ok(row.is_multiple_of(3)),
        Some("train") => Ok(!row.is_multiple_of(3)),
        Some(other) => Err(Error::Config(format!(
            "{}: no split {other:?} (splits: train, test)",
            location.display()
        ))),
    };
    let (images, labels) = digits()?;
    if let Some(k) = numbered.filter(|&k| k != 10) {
        return Err(Error::Config(format!(
            "{}: the digits have 10 classes, the dataset named {k}",
            location.display()
        )));
    }
    let mut items = Vec::new();
    for (row, &label) in labels.iter().enumerate() {
        if keep(row)? {
            items.push(Item {
                path: None,
                row,
                label,
            });
        }
    }
    Ok(LabelledImages {
        location: location.to_path_buf(),
        class_ids: (0..10).map(|d| d.to_string()).collect(),
        items,
        source: Source::Memory(std::sync::Arc::new(images)),
    })
}

/// The bundled digits: 8×8 greyscale PNGs (pixel values 0–16 scaled to
/// 0–255) and their labels.
fn digits() -> Result<(Vec<Vec<u8>>, Vec<usize>)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .map_err(|e| Error::Config(format!("bundled digits: {e}")))?;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: Vec<u8> = line
            .split(',')
            .map(|x| x.trim().parse::<f32>().map(|f| f as u8))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Config(format!("bundled digits: {e}")))?;
        let (pixels, label) = v.split_at(64);
        let grey: Vec<u8> = pixels
            .iter()
            .map(|&p| ((p.min(16) as u32 * 255 + 8) / 16) as u8)
            .collect();
        let img = image::GrayImage::from_raw(8, 8, grey).expect("64 pixels");
        let mut png = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Error::Config(format!("bundled digits: {e}")))?;
        images.push(png);
        labels.push(label[0] as usize);
    }
    Ok((images, labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_digits_are_real_split_and_labelled_in_order() {
        let all =
            LabelledImages::open(Path::new("bundled:digits"), &Default::default(), None).unwrap();
        assert_eq!(all.len(), 1797);
        assert_eq!(
            all.class_ids(),
            (0..10).map(|d| d.to_string()).collect::<Vec<_>>()
        );
        // The counts scikit-learn documents for the set (178 zeros, ...).
        assert_eq!(
            all.class_sizes(),
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        let test =
            LabelledImages::open(Path::new("bundled:digits/test"), &Default::default(), None)
                .unwrap();
        let train =
            LabelledImages::open(Path::new("bundled:digits/train"), &Default::default(), None)
                .unwrap();
        assert_eq!((test.len(), train.len()), (599, 1198));
        let mut seen = 0;
        test.for_each_chunk(100, |chunk| {
            for img in chunk {
                let d = image::load_from_memory(&img.bytes).unwrap();
                assert_eq!((d.width(), d.height()), (8, 8));
                seen += 1;
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, 599);
        assert!(
            LabelledImages::open(Path::new("bundled:digits/val"), &Default::default(), None)
                .is_err()
        );
    }

    fn png() -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn tables_of_paths_number_their_labels_like_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("img")).unwrap();
        for n in ["a.png", "b.png", "c.png"] {
            std::fs::write(dir.path().join("img").join(n), png()).unwrap();
        }
        let csv = dir.path().join("set.csv");
        std::fs::write(
            &csv,
            "path,label\nimg/a.png,dog\nimg/b.png,cat\nimg/c.png,dog\n",
        )
        .unwrap();
        let set = LabelledImages::open(&csv, &Default::default(), None).unwrap();
        assert_eq!(set.class_ids(), ["cat", "dog"]);
        let mut labels = Vec::new();
        set.for_each_chunk(2, |c| {
            labels.extend(c.iter().map(|i| i.label));
            Ok(())
        })
        .unwrap();
        assert_eq!(labels, [1, 0, 1]);

        // Integer labels are class numbers; with a dataset's class count,
        // every class exists and a label outside is an error naming the row.
        let jsonl = dir.path().join("set.jsonl");
        std::fs::write(
            &jsonl,
            "{\"image\": \"img/a.png\", \"label\": 3}\n{\"image\": \"img/b.png\", \"label\": 1}\n",
        )
        .unwrap();
        let set = LabelledImages::open(&jsonl, &Default::default(), None).unwrap();
        assert_eq!(set.class_ids(), ["1", "3"]);
        let set = LabelledImages::open(&jsonl, &Default::default(), Some(5)).unwrap();
        assert_eq!(set.class_ids().len(), 5);
        assert_eq!(set.class_sizes(), [0, 1, 0, 1, 0]);
        let err = LabelledImages::open(&jsonl, &Default::default(), Some(3))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("set.jsonl row 1") && err.contains("label 3"),
            "{err}"
        );

        // Missing columns and empty cells are named.
        let tsv = dir.path().join("bad.tsv");
        std::fs::write(&tsv, "file\tname\nimg/a.png\tx\n").unwrap();
        let err = LabelledImages::open(&tsv, &Default::default(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no label column"), "{err}");
        let cols = TableColumns {
            image: Some("file".into()),
            label: Some("name".into()),
        };
        assert_eq!(LabelledImages::open(&tsv, &cols, None).unwrap().len(), 1);
        std::fs::write(&tsv, "file\tname\n\tx\n").unwrap();
        let err = LabelledImages::open(&tsv, &cols, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.tsv row 1"), "{err}");
    }

    #[test]
    fn parquet_tables_with_image_bytes_or_structs_are_read_in_order() {
        use arrow_array::{BinaryArray, Int64Array, StringArray, StructArray};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let img = png();
        std::fs::write(dir.path().join("x.png"), &img).unwrap();
        // A Hugging Face `Image` column: {bytes, path}, bytes null for a
        // row kept as a path.
        let bytes = BinaryArray::from(vec![Some(img.as_slice()), None, Some(img.as_slice())]);
        let paths = StringArray::from(vec![None, Some("x.png"), None]);
        let image = StructArray::from(vec![
            (
                Arc::new(arrow_schema::Field::new("bytes", DataType::Binary, true)),
                Arc::new(bytes) as ArrayRef,
            ),
            (
                Arc::new(arrow_schema::Field::new("path", DataType::Utf8, true)),
                Arc::new(paths) as ArrayRef,
            ),
        ]);
        let label = Int64Array::from(vec![2, 0, 2]);
        let batch = RecordBatch::try_from_iter(vec![
            ("image", Arc::new(image) as ArrayRef),
            ("label", Arc::new(label) as ArrayRef),
        ])
        .unwrap();
        let table = dir.path().join("test.parquet");
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&table).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let set = LabelledImages::open(&table, &Default::default(), Some(3)).unwrap();
        let mut got = Vec::new();
        set.for_each_chunk(2, |c| {
            got.extend(c.into_iter().map(|i| (i.name, i.bytes == img, i.label)));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(_, same, _)| *same));
        assert_eq!(got.iter().map(|g| g.2).collect::<Vec<_>>(), [2, 0, 2]);
        assert!(got[1].0.ends_with("test.parquet row 2"), "{}", got[1].0);
        assert_ne!(set.fingerprint().unwrap(), "");
    }
}
