//! The counts table: `id: uint32, count: uint64` parquet files (entry ids
//! ascending, zero counts left out), as the match stage writes per task and
//! per run (`counts/part-N.parquet`, `counts.parquet`) and balance per task.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch, UInt32Array, UInt64Array};

use crate::parts::{read_all, write_parquet_atomically, PartsError};
use crate::schema::counts_schema;

/// Largest entry id accepted in a counts file (guards the dense count arrays).
const MAX_ENTRY_ID: u32 = 1 << 28;

/// Writes dense `counts` (index = entry id) as a counts table.
pub fn write_counts(path: &Path, counts: &[u64]) -> Result<(), PartsError> {
    let (ids, values): (Vec<u32>, Vec<u64>) = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| (i as u32, c))
        .unzip();
    let schema = counts_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(UInt32Array::from(ids)) as ArrayRef,
            Arc::new(UInt64Array::from(values)) as ArrayRef,
        ],
    )
    .map_err(|e| PartsError::arrow(path, e))?;
    write_parquet_atomically(path, &schema, &[batch], None)
}

/// Reads a counts table into a dense array (index = entry id).
pub fn read_counts(path: &Path) -> Result<Vec<u64>, PartsError> {
    let schema = counts_schema();
    let mut dense: Vec<u64> = Vec::new();
    for b in read_all(path, &schema, "counts")? {
        let ids = b.column(0).as_primitive::<UInt32Type>();
        let counts = b.column(1).as_primitive::<UInt64Type>();
        for (id, c) in ids.values().iter().zip(counts.values()) {
            if *id > MAX_ENTRY_ID {
                return Err(PartsError::Schema {
                    path: path.to_path_buf(),
                    what: "counts",
                    detail: format!("entry id {id} is implausibly large"),
                });
            }
            let i = *id as usize;
            if dense.len() <= i {
                dense.resize(i + 1, 0);
            }
            dense[i] += c;
        }
    }
    Ok(dense)
}

/// Adds the counts of `path` into `total`; an entry id beyond `total`'s
/// length is an error naming the file.
pub fn add_counts(path: &Path, total: &mut [u64]) -> Result<(), PartsError> {
    let dense = read_counts(path)?;
    if dense.len() > total.len() {
        return Err(PartsError::Schema {
            path: path.to_path_buf(),
            what: "counts",
            detail: format!(
                "entry id {} is beyond the vocabulary's {} entries",
                dense.len() - 1,
                total.len()
            ),
        });
    }
    for (t, d) in total.iter_mut().zip(&dense) {
        *t += d;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.parquet");
        write_counts(&p, &[0, 3, 0, 5]).unwrap();
        assert_eq!(read_counts(&p).unwrap(), vec![0, 3, 0, 5]);
        let mut total = vec![1; 4];
        add_counts(&p, &mut total).unwrap();
        assert_eq!(total, vec![1, 4, 1, 6]);
        let mut short = vec![0; 2];
        assert!(add_counts(&p, &mut short).is_err());
    }
}
