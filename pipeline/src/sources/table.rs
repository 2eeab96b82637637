//! url+caption tables: parquet, csv, tsv and jsonl (each optionally gzipped),
//! the way lists such as CC3M, CC12M or LAION's metadata are handed to a
//! downloader. The column names are configurable (default `url` and
//! `caption`, as img2dataset).
//!
//! [`read`] streams rows to a callback: csv/tsv/jsonl row by row, parquet one
//! record batch at a time reading only the two columns. A bad row (a csv
//! record that does not parse, a jsonl line that is not an object) is handed
//! to the callback as a [`RowError`] and reading goes on.
//!
//! ```no_run
//! use pipeline::sources::input::Location;
//! use pipeline::sources::table::{read, TableFormat, TableOptions};
//! let loc = Location::Path("cc3m.tsv".into());
//! let opts = TableOptions::default();
//! read(&loc, TableFormat::Tsv, &opts, &mut |row| {
//!     if let Ok(row) = row {
//!         println!("{} {:?}", row.url, row.caption);
//!     }
//! })
//! .unwrap();
//! ```

use std::fs::File;
use std::io::Read;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::input::{open, Location};
use super::SourceError;

/// The table formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line; a file whose first character is `[` is
    /// read as one JSON array of objects instead (img2dataset's `json`).
    Jsonl,
    /// One URL per line, no header and no caption (img2dataset's `txt`).
    /// Never inferred by [`TableFormat::from_name`] (a `.txt` file is as
    /// often a list of input paths); named explicitly.
    Txt,
}

impl std::str::FromStr for TableFormat {
    type Err = String;

    /// img2dataset's `input_format` names: `txt`, `csv`, `tsv`, `json`,
    /// `jsonl`, `parquet` (gzip is told by the file name).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "parquet" => TableFormat::Parquet,
            "csv" => TableFormat::Csv,
            "tsv" => TableFormat::Tsv,
            "json" | "jsonl" | "ndjson" => TableFormat::Jsonl,
            "txt" => TableFormat::Txt,
            other => {
                return Err(format!(
                "unknown input format {other:?} (expected txt, csv, tsv, json, jsonl or parquet)"
            ))
            }
        })
    }
}

impl TableFormat {
    /// The format a file name implies (`.gz` ignored), if any.
    pub fn from_name(name: &str) -> Option<TableFormat> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        let ext = name.rsplit('.').next()?;
        Some(match ext {
            "parquet" | "pq" => TableFormat::Parquet,
            "csv" => TableFormat::Csv,
            "tsv" | "tab" => TableFormat::Tsv,
            "jsonl" | "ndjson" | "json" => TableFormat::Jsonl,
            _ => return None,
        })
    }
}

/// Which columns hold the url and the caption.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableOptions {
    /// The url column (default `url`).
    pub url_col: String,
    /// The caption column (default `caption`); a table without it yields
    /// rows with no caption.
    pub caption_col: String,
    /// A column to take the caption from when the table has no
    /// `caption_col` (for jsonl: when a line has no such field), e.g. `text`.
    pub caption_fallback: Option<String>,
    /// Further columns to read as text ([`TableRow::extra`]), e.g. a
    /// downloader's additional columns; a csv/tsv/parquet table without one
    /// is an error, a jsonl line without one has a null there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_cols: Vec<String>,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            url_col: "url".into(),
            caption_col: "caption".into(),
            caption_fallback: None,
            extra_cols: Vec::new(),
        }
    }
}

impl TableOptions {
    /// The caption column among `names`: `caption_col`, else `caption_fallback`.
    fn pick_caption<'a, I: IntoIterator<Item = &'a str> + Clone>(&self, names: I) -> Option<&str> {
        std::iter::once(Some(self.caption_col.as_str()))
            .chain(std::iter::once(self.caption_fallback.as_deref()))
            .flatten()
            .find(|c| names.clone().into_iter().any(|n| n == *c))
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// The url cell.
    pub url: String,
    /// The caption cell (`None` when null or when the table has no caption column).
    pub caption: Option<String>,
    /// The cells of [`TableOptions::extra_cols`], as text (numbers and
    /// booleans written out, JSON values other than strings as JSON).
    pub extra: Vec<Option<String>>,
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The row's position (1-based line for text formats, 0-based row for parquet).
    pub row: u64,
    /// What is wrong.
    pub message: String,
}

/// Reads a table, calling `sink` with every row (or row error) in order.
pub fn read(
    location: &Location,
    format: TableFormat,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    match format {
        TableFormat::Parquet => read_parquet(location, opts, sink),
        TableFormat::Csv => read_delimited(location, b',', opts, sink),
        TableFormat::Tsv => read_delimited(location, b'\t', opts, sink),
        TableFormat::Jsonl => read_jsonl(location, opts, sink),
        TableFormat::Txt => read_txt(location, opts, sink),
    }
}

fn read_txt(
    location: &Location,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    use std::io::BufRead;
    if let Some(c) = opts.extra_cols.first() {
        return Err(table_error(
            location,
            format!("a txt list has no columns, so no column {c:?}"),
        ));
    }
    let opened = open(location)?;
    for line in opened.reader.lines() {
        let line = line.map_err(|e| SourceError::Read {
            input: location.to_string(),
            source: e,
        })?;
        let url = line.trim();
        if url.is_empty() {
            continue;
        }
        sink(Ok(TableRow {
            url: url.to_string(),
            caption: None,
            extra: Vec::new(),
        }));
    }
    Ok(())
}

/// A JSON object as a row.
fn object_row(
    obj: &serde_json::Map<String, serde_json::Value>,
    opts: &TableOptions,
) -> Result<TableRow, String> {
    let url = match obj.get(&opts.url_col) {
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => return Err(format!("no string field {:?}", opts.url_col)),
    };
    let text = |v: Option<&serde_json::Value>| match v {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    let field = obj.get(&opts.caption_col).or_else(|| {
        opts.caption_fallback
            .as_ref()
            .and_then(|c| obj.get(c.as_str()))
    });
    Ok(TableRow {
        url,
        caption: text(field),
        extra: opts.extra_cols.iter().map(|c| text(obj.get(c))).collect(),
    })
}

fn table_error(location: &Location, message: impl Into<String>) -> SourceError {
    SourceError::Table {
        input: location.to_string(),
        message: message.into(),
    }
}

fn read_delimited(
    location: &Location,
    delimiter: u8,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    let opened = open(location)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .quoting(delimiter == b',')
        .from_reader(opened.reader);
    let headers = reader
        .headers()
        .map_err(|e| table_error(location, format!("cannot read the header row: {e}")))?
        .clone();
    let find = |name: &str| headers.iter().position(|h| h.trim() == name);
    let url_idx = find(&opts.url_col).ok_or_else(|| {
        table_error(
            location,
            format!(
                "no column {:?} in the header (columns: {})",
                opts.url_col,
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let caption_idx = opts
        .pick_caption(headers.iter().map(str::trim))
        .and_then(find);
    let extra_idx = opts
        .extra_cols
        .iter()
        .map(|c| {
            find(c).ok_or_else(|| {
                table_error(
                    location,
                    format!(
                        "no column {c:?} in the header (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut record = csv::StringRecord::new();
    let mut row = 1u64;
    loop {
        row += 1;
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => match record.get(url_idx) {
                Some(url) => sink(Ok(TableRow {
                    url: url.to_string(),
                    caption: caption_idx.and_then(|i| record.get(i)).map(str::to_string),
                    extra: extra_idx
                        .iter()
                        .map(|&i| record.get(i).map(str::to_string))
                        .collect(),
                })),
                None => sink(Err(RowError {
                    row,
                    message: format!("row has {} fields, no url field", record.len()),
                })),
            },
            Err(e) if e.is_io_error() => {
                return Err(SourceError::Read {
                    input: location.to_string(),
                    source: match e.into_kind() {
                        csv::ErrorKind::Io(io) => io,
                        other => std::io::Error::other(format!("{other:?}")),
                    },
                })
            }
            Err(e) => sink(Err(RowError {
                row,
                message: e.to_string(),
            })),
        }
    }
}

fn read_jsonl(
    location: &Location,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    use std::io::BufRead;
    let read_error = |e| SourceError::Read {
        input: location.to_string(),
        source: e,
    };
    let mut opened = open(location)?;
    // A JSON array (img2dataset's `json`) rather than JSON lines?
    let first = loop {
        let buf = opened.reader.fill_buf().map_err(read_error)?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                opened.reader.consume(n);
            }
        }
    };
    if first == Some(b'[') {
        let values: Vec<serde_json::Value> = serde_json::from_reader(opened.reader)
            .map_err(|e| table_error(location, format!("invalid JSON array: {e}")))?;
        for (i, value) in values.iter().enumerate() {
            let row = i as u64 + 1;
            sink(match value.as_object() {
                Some(obj) => object_row(obj, opts).map_err(|message| RowError { row, message }),
                None => Err(RowError {
                    row,
                    message: "array element is not a JSON object".into(),
                }),
            });
        }
        return Ok(());
    }
    let mut line = Vec::new();
    let mut row = 0u64;
    loop {
        line.clear();
        let n = opened
            .reader
            .read_until(b'\n', &mut line)
            .map_err(read_error)?;
        if n == 0 {
            return Ok(());
        }
        row += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                sink(Err(RowError {
                    row,
                    message: format!("invalid JSON: {e}"),
                }));
                continue;
            }
        };
        let Some(obj) = value.as_object() else {
            sink(Err(RowError {
                row,
                message: "line is not a JSON object".into(),
            }));
            continue;
        };
        sink(object_row(obj, opts).map_err(|message| RowError { row, message }));
    }
}

fn read_parquet(
    location: &Location,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    match location {
        Location::Path(p) => {
            let file = File::open(p).map_err(|e| SourceError::Io {
                path: p.clone(),
                source: e,
            })?;
            read_parquet_from(location, file, opts, sink)
        }
        Location::Url(_) | Location::Object(_) => {
            // Parquet keeps its index at the end of the file: a remote table
            // is read into memory (never to disk) before decoding.
            let mut opened = open(location)?;
            let mut bytes = Vec::new();
            opened
                .reader
                .read_to_end(&mut bytes)
                .map_err(|e| SourceError::Read {
                    input: location.to_string(),
                    source: e,
                })?;
            read_parquet_from(location, bytes::Bytes::from(bytes), opts, sink)
        }
    }
}

fn read_parquet_from<T: parquet::file::reader::ChunkReader + 'static>(
    location: &Location,
    data: T,
    opts: &TableOptions,
    sink: &mut dyn FnMut(Result<TableRow, RowError>),
) -> Result<(), SourceError> {
    let err = |e: parquet::errors::ParquetError| table_error(location, e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(err)?;
    let schema = builder.schema().clone();
    let url_idx = schema.index_of(&opts.url_col).map_err(|_| {
        table_error(
            location,
            format!(
                "no column {:?} (columns: {})",
                opts.url_col,
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let caption_name = opts
        .pick_caption(schema.fields().iter().map(|f| f.name().as_str()))
        .map(str::to_string);
    let caption_idx = caption_name.as_ref().and_then(|c| schema.index_of(c).ok());
    let mut roots = vec![url_idx];
    roots.extend(caption_idx);
    for c in &opts.extra_cols {
        roots.push(schema.index_of(c).map_err(|_| {
            table_error(location, format!("no column {c:?} for the extra columns"))
        })?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(err)?;
    let mut row = 0u64;
    for batch in reader {
        let batch: RecordBatch = batch.map_err(|e| table_error(location, e.to_string()))?;
        let urls = string_column(location, &batch, &opts.url_col)?;
        let captions = match &caption_name {
            Some(c) => Some(string_column(location, &batch, c)?),
            None => None,
        };
        let extras = opts
            .extra_cols
            .iter()
            .map(|c| {
                let array = batch
                    .column_by_name(c)
                    .ok_or_else(|| table_error(location, format!("no column {c:?}")))?;
                cells_as_text(array.as_ref())
                    .map_err(|m| table_error(location, format!("column {c:?}: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for i in 0..batch.num_rows() {
            match &urls[i] {
                Some(url) => sink(Ok(TableRow {
                    url: url.clone(),
                    caption: captions.as_ref().and_then(|c| c[i].clone()),
                    extra: extras.iter().map(|e| e[i].clone()).collect(),
                })),
                None => sink(Err(RowError {
                    row: row + i as u64,
                    message: "null url".into(),
                })),
            }
        }
        row += batch.num_rows() as u64;
    }
    Ok(())
}

/// The cells of a column as text: strings as they are, integers, floats and
/// booleans written out; an error names any other type.
pub fn cells_as_text(array: &dyn Array) -> Result<Vec<Option<String>>, String> {
    use arrow_array::types::*;
    fn show<T: arrow_array::ArrowPrimitiveType>(a: &dyn Array) -> Vec<Option<String>>
    where
        T::Native: ToString,
    {
        a.as_primitive::<T>()
            .iter()
            .map(|v| v.map(|v| v.to_string()))
            .collect()
    }
    Ok(match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => array
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Utf8View => array
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Boolean => array
            .as_boolean()
            .iter()
            .map(|v| v.map(|b| b.to_string()))
            .collect(),
        DataType::Int8 => show::<Int8Type>(array),
        DataType::Int16 => show::<Int16Type>(array),
        DataType::Int32 => show::<Int32Type>(array),
        DataType::Int64 => show::<Int64Type>(array),
        DataType::UInt8 => show::<UInt8Type>(array),
        DataType::UInt16 => show::<UInt16Type>(array),
        DataType::UInt32 => show::<UInt32Type>(array),
        DataType::UInt64 => show::<UInt64Type>(array),
        DataType::Float32 => show::<Float32Type>(array),
        DataType::Float64 => show::<Float64Type>(array),
        other => {
            return Err(format!(
                "type {other} (strings, numbers and booleans can be read as text)"
            ))
        }
    })
}

/// A string column of a batch as owned cells (Utf8, LargeUtf8 or Utf8View).
fn string_column(
    location: &Location,
    batch: &RecordBatch,
    name: &str,
) -> Result<Vec<Option<String>>, SourceError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| table_error(location, format!("no column {name:?}")))?;
    let cells = match col.data_type() {
        DataType::Utf8 => col
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::LargeUtf8 => col
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Utf8View => col
            .as_string_view()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        other => {
            return Err(table_error(
                location,
                format!("column {name:?} has type {other}, expected a string type"),
            ))
        }
    };
    debug_assert_eq!(col.len(), batch.num_rows());
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn rows(loc: &Location, format: TableFormat, opts: &TableOptions) -> (Vec<TableRow>, usize) {
        let (mut ok, mut bad) = (Vec::new(), 0);
        read(loc, format, opts, &mut |r| match r {
            Ok(r) => ok.push(r),
            Err(_) => bad += 1,
        })
        .unwrap();
        (ok, bad)
    }

    #[test]
    fn csv_tsv_and_gzipped_jsonl() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("t.csv");
        std::fs::write(
            &csv_path,
            "caption,url\n\"a, b\",http://x/1.jpg\nc,http://x/2.jpg\n",
        )
        .unwrap();
        let (ok, _) = rows(
            &Location::Path(csv_path),
            TableFormat::Csv,
            &TableOptions::default(),
        );
        assert_eq!(ok[0].caption.as_deref(), Some("a, b"));
        assert_eq!(ok[1].url, "http://x/2.jpg");

        let tsv_path = dir.path().join("t.tsv");
        std::fs::write(&tsv_path, "u\tt\nhttp://x/1.jpg\tsay \"hi\"\n").unwrap();
        let opts = TableOptions {
            url_col: "u".into(),
            caption_col: "t".into(),
            caption_fallback: None,
            extra_cols: Vec::new(),
        };
        let (ok, _) = rows(&Location::Path(tsv_path), TableFormat::Tsv, &opts);
        assert_eq!(ok[0].caption.as_deref(), Some("say \"hi\""));

        let gz_path = dir.path().join("t.jsonl.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"url\":\"http://x/1.jpg\",\"caption\":\"one\"}\nnot json\n{\"url\":\"http://x/2.jpg\",\"caption\":null}\n").unwrap();
        std::fs::write(&gz_path, enc.finish().unwrap()).unwrap();
        let (ok, bad) = rows(
            &Location::Path(gz_path),
            TableFormat::Jsonl,
            &TableOptions::default(),
        );
        assert_eq!(ok.len(), 2);
        assert_eq!(bad, 1);
        assert_eq!(ok[1].caption, None);
    }

    #[test]
    fn missing_url_column_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "link,caption\nx,y\n").unwrap();
        let err = read(
            &Location::Path(p),
            TableFormat::Csv,
            &TableOptions::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("no column \"url\""), "{err}");
    }

    #[test]
    fn caption_fallback_applies_only_without_the_caption_column() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TableOptions {
            caption_fallback: Some("text".into()),
            ..TableOptions::default()
        };
        let csv_path = dir.path().join("t.csv");
        std::fs::write(&csv_path, "text,url\nalt,http://x/1.jpg\n").unwrap();
        let (ok, _) = rows(&Location::Path(csv_path.clone()), TableFormat::Csv, &opts);
        assert_eq!(ok[0].caption.as_deref(), Some("alt"));
        let (ok, _) = rows(
            &Location::Path(csv_path),
            TableFormat::Csv,
            &TableOptions::default(),
        );
        assert_eq!(ok[0].caption, None);

        let both = dir.path().join("both.tsv");
        std::fs::write(&both, "text\tcaption\turl\nno\tyes\thttp://x/1.jpg\n").unwrap();
        let (ok, _) = rows(&Location::Path(both), TableFormat::Tsv, &opts);
        assert_eq!(ok[0].caption.as_deref(), Some("yes"));

        let jsonl = dir.path().join("t.jsonl");
        std::fs::write(
            &jsonl,
            "{\"url\":\"http://x/1\",\"text\":\"a\"}\n{\"url\":\"http://x/2\",\"caption\":\"b\",\"text\":\"c\"}\n",
        )
        .unwrap();
        let (ok, _) = rows(&Location::Path(jsonl), TableFormat::Jsonl, &opts);
        let captions: Vec<_> = ok.iter().map(|r| r.caption.as_deref()).collect();
        assert_eq!(captions, [Some("a"), Some("b")]);
    }

    #[test]
    fn txt_lists_json_arrays_and_extra_columns() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("urls.txt");
        std::fs::write(&txt, "http://x/1.jpg\n\n  http://x/2.jpg \n").unwrap();
        let (ok, bad) = rows(
            &Location::Path(txt),
            TableFormat::Txt,
            &TableOptions::default(),
        );
        assert_eq!(bad, 0);
        let urls: Vec<&str> = ok.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(urls, ["http://x/1.jpg", "http://x/2.jpg"]);
        assert!(ok.iter().all(|r| r.caption.is_none()));

        let opts = TableOptions {
            extra_cols: vec!["license".into(), "n".into()],
            ..TableOptions::default()
        };
        let json = dir.path().join("t.json");
        std::fs::write(
            &json,
            r#" [{"url": "http://x/1.jpg", "caption": "a", "license": "cc0", "n": 3},
                 {"url": "http://x/2.jpg", "license": null}, 7]"#,
        )
        .unwrap();
        let (ok, bad) = rows(&Location::Path(json), TableFormat::Jsonl, &opts);
        assert_eq!(bad, 1);
        assert_eq!(
            ok[0].extra,
            [Some("cc0".to_string()), Some("3".to_string())]
        );
        assert_eq!(ok[1].extra, [None, None]);

        let csv_path = dir.path().join("t.csv");
        std::fs::write(&csv_path, "url,license,n\nhttp://x/1.jpg,by,1\n").unwrap();
        let (ok, _) = rows(&Location::Path(csv_path.clone()), TableFormat::Csv, &opts);
        assert_eq!(ok[0].extra, [Some("by".to_string()), Some("1".to_string())]);
        let missing = TableOptions {
            extra_cols: vec!["nope".into()],
            ..TableOptions::default()
        };
        let err = read(
            &Location::Path(csv_path),
            TableFormat::Csv,
            &missing,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("nope"), "{err}");
        assert_eq!("json".parse(), Ok(TableFormat::Jsonl));
        assert_eq!("txt".parse(), Ok(TableFormat::Txt));
        assert_eq!(TableFormat::from_name("paths.txt"), None);
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(TableFormat::from_name("a.tsv.gz"), Some(TableFormat::Tsv));
        assert_eq!(
            TableFormat::from_name("A.PARQUET"),
            Some(TableFormat::Parquet)
        );
        assert_eq!(TableFormat::from_name("a.warc.gz"), None);
    }
}
