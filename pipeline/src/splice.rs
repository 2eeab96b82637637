//! Writing a part that keeps an input part's columns as they are and adds
//! columns computed from some of them: the kept columns' chunks are copied
//! byte for byte (compressed pages and all) into the output, row group by
//! row group, and only the columns the computation needs are decoded. This
//! is how `matched/` is written from `pairs/`: the text is decoded and
//! matched, `query_ids` (and `lang`) are encoded, and `uid`, `url`, `text`,
//! `page_url` and `source` go through untouched.
//!
//! A column can be copied only when the input stores it exactly as the
//! output schema would (same physical and logical type, same repetition);
//! [`splice_part`] checks that first and writes nothing otherwise, so the
//! caller can fall back to decoding and re-encoding.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter, ProjectionMask};
use parquet::column::writer::ColumnCloseResult;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::parts::{read_ahead, writer_properties, ActiveTask, PartLayout, PartsError, BATCH_ROWS};
use crate::storage::files;
use crate::task::commit_atomically;

/// What [`splice_part`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spliced {
    /// The output was written.
    Written,
    /// Nothing was written: the input does not store a kept column as the
    /// output would (the reason), or lacks it.
    Incompatible(String),
}

/// Writes `output` with the columns of `out_schema`: its first `kept`
/// fields are the input's columns of those names, copied chunk by chunk;
/// the rest are computed. `compute` receives batches of the input's
/// `decoded` columns (in that order, as the output schema types them,
/// except that strings come as views, `Utf8View`) and
/// the input row number of each batch's first row, and returns the
/// computed columns for those rows; `observe` sees them, in row order,
/// before they are written; `progress` is told how many rows were done.
/// The output has the input's row groups, so every row of the input is a
/// row of the output. The computed columns of a row group are held encoded
/// in memory until it is written, so an input with a row group of more than
/// `max_group_rows` rows is refused ([`Spliced::Incompatible`]), which
/// bounds that memory whatever the input.
#[allow(clippy::too_many_arguments)]
pub fn splice_part<C, O, P>(
    input: &Path,
    output: &Path,
    out_schema: &SchemaRef,
    kept: usize,
    decoded: &[&str],
    max_group_rows: usize,
    layout: PartLayout,
    compute: C,
    mut observe: O,
    progress: P,
) -> Result<Spliced, PartsError>
where
    C: Fn(&RecordBatch, usize) -> Result<Vec<ArrayRef>, PartsError> + Sync,
    O: FnMut(&[ArrayRef]),
    P: Fn(u64) + Sync,
{
    let open = || files::open(input).map_err(|e| PartsError::io(input, e));
    let source = open()?;
    // The columns are read as the parquet schema types them (not as an
    // embedded Arrow schema might): the same types the output declares.
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let meta = ArrowReaderMetadata::load(&source, options.clone())
        .map_err(|e| PartsError::parquet(input, e))?;
    // Decoded strings are views into the decompressed pages, not copies.
    let as_views: Vec<Arc<Field>> = meta
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 if decoded.contains(&f.name().as_str()) => {
                Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
            }
            _ => f.clone(),
        })
        .collect();
    let read_meta = ArrowReaderMetadata::try_new(
        meta.metadata().clone(),
        options.with_schema(Arc::new(Schema::new(as_views))),
    )
    .map_err(|e| PartsError::parquet(input, e))?;
    let mut props = writer_properties(None, layout);
    add_encoded_arrow_schema_to_metadata(out_schema, &mut props);
    let props = Arc::new(props);
    let out_parquet = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(out_schema)
        .map_err(|e| PartsError::parquet(output, e))?;

    if let Some(big) = meta
        .metadata()
        .row_groups()
        .iter()
        .find(|rg| rg.num_rows().max(0) as usize > max_group_rows)
    {
        return Ok(Spliced::Incompatible(format!(
            "a row group of {} rows (more than {max_group_rows})",
            big.num_rows()
        )));
    }
    // Where each kept column is in the input, if it is stored as the output
    // stores it.
    let in_parquet = meta.metadata().file_metadata().schema_descr();
    let mut sources = Vec::with_capacity(kept);
    for field in out_schema.fields().iter().take(kept) {
        let want = out_parquet
            .columns()
            .iter()
            .find(|c| c.path().parts() == [field.name().as_str()]);
        let have = in_parquet
            .columns()
            .iter()
            .position(|c| c.path().parts() == [field.name().as_str()]);
        match (want, have) {
            (Some(want), Some(i)) if **want == *in_parquet.column(i) => sources.push(i),
            (Some(want), Some(i)) => {
                return Ok(Spliced::Incompatible(format!(
                    "column `{}` is stored as {:?}, not as {:?}",
                    field.name(),
                    in_parquet.column(i).self_type(),
                    want.self_type()
                )))
            }
            _ => {
                return Ok(Spliced::Incompatible(format!(
                    "no top-level column `{}`",
                    field.name()
                )))
            }
        }
    }
    let mut decode = Vec::with_capacity(decoded.len());
    for name in decoded {
        match out_schema
            .fields()
            .iter()
            .take(kept)
            .position(|f| f.name() == name)
        {
            Some(i) => decode.push(sources[i]),
            None => {
                return Ok(Spliced::Incompatible(format!(
                    "`{name}` is not a kept column"
                )))
            }
        }
    }
    // The projection yields columns in file order; `order` puts them in
    // `decoded` order.
    let mut sorted = decode.clone();
    sorted.sort_unstable();
    let order: Vec<usize> = decode
        .iter()
        .map(|c| sorted.binary_search(c).expect("present"))
        .collect();

    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(open()?, read_meta)
        .with_projection(ProjectionMask::leaves(in_parquet, sorted))
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| PartsError::parquet(input, e))?;
    let row_groups: Vec<usize> = meta
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.num_rows().max(0) as usize)
        .collect();

    let _active = ActiveTask::enter();
    let chunk = ActiveTask::batches_per_chunk();
    commit_atomically(output, |tmp| {
        let file = File::create(tmp).map_err(|e| PartsError::io(tmp, e))?;
        let mut writer = SerializedFileWriter::new(file, out_parquet.root_schema_ptr(), props)
            .map_err(|e| PartsError::parquet(output, e))?;
        let factory = ArrowRowGroupWriterFactory::new(&writer, out_schema.clone());
        let computed_fields: Vec<_> = out_schema.fields().iter().skip(kept).cloned().collect();
        let new_writers = |rg: usize| -> Result<Vec<ArrowColumnWriter>, PartsError> {
            let mut w = factory
                .create_column_writers(rg)
                .map_err(|e| PartsError::parquet(output, e))?;
            let computed = w.split_off(kept);
            if computed.len() != computed_fields.len() {
                return Err(PartsError::Schema {
                    path: output.to_path_buf(),
                    what: "computed columns",
                    detail: "each computed column must be a single parquet column".into(),
                });
            }
            Ok(computed)
        };
        let mut rg = 0usize;
        let mut rg_left = row_groups.first().copied().unwrap_or(0);
        let mut writers = if row_groups.is_empty() {
            Vec::new()
        } else {
            new_writers(0)?
        };
        // Ends row group `rg`: its kept chunks are copied, then the computed
        // ones appended.
        let finish = |rg: usize,
                      writers: Vec<ArrowColumnWriter>,
                      writer: &mut SerializedFileWriter<File>|
         -> Result<(), PartsError> {
            let mut group = writer
                .next_row_group()
                .map_err(|e| PartsError::parquet(output, e))?;
            let in_rg = meta.metadata().row_group(rg);
            for &i in &sources {
                let metadata = in_rg.column(i).clone();
                let close = ColumnCloseResult {
                    bytes_written: metadata.compressed_size() as u64,
                    rows_written: in_rg.num_rows() as u64,
                    metadata,
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                };
                group
                    .append_column(&source, close)
                    .map_err(|e| PartsError::parquet(input, e))?;
            }
            for w in writers {
                let chunk = w.close().map_err(|e| PartsError::parquet(output, e))?;
                chunk
                    .append_to_row_group(&mut group)
                    .map_err(|e| PartsError::parquet(output, e))?;
            }
            group.close().map_err(|e| PartsError::parquet(output, e))?;
            Ok(())
        };
        // Empty row groups at the start (and after each full one) are
        // finished as they come.
        let skip_empty = |rg: &mut usize,
                          rg_left: &mut usize,
                          writers: &mut Vec<ArrowColumnWriter>,
                          writer: &mut SerializedFileWriter<File>|
         -> Result<(), PartsError> {
            while *rg_left == 0 && *rg < row_groups.len() {
                finish(*rg, std::mem::take(writers), writer)?;
                *rg += 1;
                if *rg < row_groups.len() {
                    *rg_left = row_groups[*rg];
                    *writers = new_writers(*rg)?;
                }
            }
            Ok(())
        };
        skip_empty(&mut rg, &mut rg_left, &mut writers, &mut writer)?;

        std::thread::scope(|s| -> Result<(), PartsError> {
            let batch_rx = read_ahead(s, reader, chunk);
            loop {
                let mut inputs = Vec::with_capacity(chunk);
                for (b, first) in batch_rx.iter().take(chunk) {
                    let b = b
                        .and_then(|b| b.project(&order))
                        .map_err(|e| PartsError::arrow(input, e))?;
                    inputs.push((b, first));
                }
                if inputs.is_empty() {
                    break;
                }
                let outs = inputs
                    .par_iter()
                    .map(|(b, first)| {
                        let out = compute(b, *first)?;
                        progress(b.num_rows() as u64);
                        Ok((b.num_rows(), out))
                    })
                    .collect::<Result<Vec<_>, PartsError>>()?;
                for (n, columns) in outs {
                    if columns.len() != computed_fields.len() {
                        return Err(PartsError::Schema {
                            path: output.to_path_buf(),
                            what: "computed columns",
                            detail: format!(
                                "{} computed, {} expected",
                                columns.len(),
                                computed_fields.len()
                            ),
                        });
                    }
                    observe(&columns);
                    // Rows go to the row group they came from; a batch may
                    // span several.
                    let mut at = 0usize;
                    while at < n {
                        if rg >= row_groups.len() {
                            return Err(PartsError::Schema {
                                path: input.to_path_buf(),
                                what: "row groups",
                                detail: "more rows than its row groups hold".into(),
                            });
                        }
                        let take = rg_left.min(n - at);
                        for (w, (field, array)) in
                            writers.iter_mut().zip(computed_fields.iter().zip(&columns))
                        {
                            let part = array.slice(at, take);
                            for leaf in compute_leaves(field, &part)
                                .map_err(|e| PartsError::parquet(output, e))?
                            {
                                w.write(&leaf).map_err(|e| PartsError::parquet(output, e))?;
                            }
                        }
                        at += take;
                        rg_left -= take;
                        skip_empty(&mut rg, &mut rg_left, &mut writers, &mut writer)?;
                    }
                }
            }
            Ok(())
        })?;
        if rg < row_groups.len() {
            return Err(PartsError::Schema {
                path: input.to_path_buf(),
                what: "row groups",
                detail: "fewer rows than its row groups hold".into(),
            });
        }
        writer.close().map_err(|e| PartsError::parquet(output, e))?;
        Ok(())
    })?;
    Ok(Spliced::Written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt32Type;
    use arrow_array::{Array, StringArray, UInt32Array};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn schema(extra: bool) -> SchemaRef {
        let mut fields = vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, false),
        ];
        if extra {
            fields.push(Field::new("len", DataType::UInt32, false));
        }
        Arc::new(Schema::new(fields))
    }

    /// `rows` rows in row groups of `group` rows.
    fn write_input(path: &Path, rows: usize, group: usize) {
        let names: StringArray = (0..rows).map(|i| Some(format!("n{i}"))).collect();
        let texts: StringArray = (0..rows).map(|i| Some("x".repeat(i % 7))).collect();
        let batch =
            RecordBatch::try_new(schema(false), vec![Arc::new(names), Arc::new(texts)]).unwrap();
        write(path, &batch, group);
    }

    /// `batch` as a parquet file in row groups of `group` rows.
    fn write(path: &Path, batch: &RecordBatch, group: usize) {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .build();
        let mut w =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn splice(input: &Path, output: &Path, max_group_rows: usize) -> Spliced {
        splice_part(
            input,
            output,
            &schema(true),
            2,
            &["text"],
            max_group_rows,
            PartLayout::Fast,
            |b, _| {
                let t = b.column(0).as_string_view();
                let lens: UInt32Array = (0..t.len())
                    .map(|i| Some(t.value(i).len() as u32))
                    .collect();
                Ok(vec![Arc::new(lens) as ArrayRef])
            },
            |_| {},
            |_| {},
        )
        .unwrap()
    }

    #[test]
    fn kept_chunks_are_copied_and_computed_columns_added() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (
            dir.path().join("in.parquet"),
            dir.path().join("out.parquet"),
        );
        // Row groups of 3,000 rows, read in batches of BATCH_ROWS that
        // cross them.
        write_input(&input, 20_000, 3_000);
        assert_eq!(splice(&input, &output, 3_000), Spliced::Written);
        let a = std::fs::read(&input).unwrap();
        let b = std::fs::read(&output).unwrap();
        let ra = SerializedFileReader::new(File::open(&input).unwrap()).unwrap();
        let rb = SerializedFileReader::new(File::open(&output).unwrap()).unwrap();
        assert_eq!(rb.metadata().num_row_groups(), 7);
        for (ga, gb) in ra
            .metadata()
            .row_groups()
            .iter()
            .zip(rb.metadata().row_groups())
        {
            assert_eq!(ga.num_rows(), gb.num_rows());
            for c in 0..2 {
                let (sa, la) = ga.column(c).byte_range();
                let (sb, lb) = gb.column(c).byte_range();
                assert_eq!(
                    a[sa as usize..(sa + la) as usize],
                    b[sb as usize..(sb + lb) as usize]
                );
            }
        }
        let mut row = 0usize;
        for batch in ParquetRecordBatchReaderBuilder::try_new(File::open(&output).unwrap())
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            assert_eq!(batch.schema(), schema(true));
            let names = batch.column(0).as_string::<i32>();
            let lens = batch.column(2).as_primitive::<UInt32Type>();
            for i in 0..batch.num_rows() {
                assert_eq!(names.value(i), format!("n{}", row + i));
                assert_eq!(lens.value(i) as usize, (row + i) % 7);
            }
            row += batch.num_rows();
        }
        assert_eq!(row, 20_000);
    }

    #[test]
    fn row_groups_over_the_limit_and_other_storage_are_refused_without_output() {
        let dir = tempfile::tempdir().unwrap();
        let (input, output) = (
            dir.path().join("in.parquet"),
            dir.path().join("out.parquet"),
        );
        write_input(&input, 100, 100);
        assert!(
            matches!(splice(&input, &output, 99), Spliced::Incompatible(m) if m.contains("100 rows"))
        );
        assert!(!output.exists());
        // A nullable `text` is stored otherwise than the output's.
        let texts: StringArray = vec![Some("a"), None].into_iter().collect();
        let names: StringArray = vec![Some("n0"), Some("n1")].into_iter().collect();
        let nullable = Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("text", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(nullable, vec![Arc::new(names), Arc::new(texts)]).unwrap();
        write(&input, &batch, 100);
        assert!(
            matches!(splice(&input, &output, 100), Spliced::Incompatible(m) if m.contains("`text`"))
        );
        assert!(!output.exists());
    }
}
