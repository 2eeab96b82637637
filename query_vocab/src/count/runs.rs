//! Sorted run files and their k-way merge: the external sort under the
//! counting and the bigram join.
//!
//! A run is a file of records `(key, a, b)` in ascending key order, written as
//! LEB128 lengths and values. Merging sums `a` and `b` of equal keys.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Result, VocabError};

/// One record: a byte key and two counters.
pub type Record = (Vec<u8>, u64, u64);

/// Estimated memory of one buffered record (key bytes plus overheads).
pub fn record_cost(key_len: usize) -> usize {
    key_len + 56
}

fn write_varint(w: &mut impl Write, mut v: u64) -> io::Result<()> {
    let mut buf = [0u8; 10];
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[n] = byte;
            n += 1;
            break;
        }
        buf[n] = byte | 0x80;
        n += 1;
    }
    w.write_all(&buf[..n])
}

/// Reads a varint; `Ok(None)` at a clean end of file.
fn read_varint(r: &mut impl Read) -> io::Result<Option<u64>> {
    let mut v = 0u64;
    let mut shift = 0;
    let mut byte = [0u8; 1];
    loop {
        if r.read(&mut byte)? == 0 {
            if shift == 0 {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "record cut short",
            ));
        }
        v |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(Some(v));
        }
        shift += 7;
        if shift > 63 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "varint too long",
            ));
        }
    }
}

/// Writes sorted records to a run file.
pub struct RunWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RunWriter {
    /// Creates the run file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| VocabError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, file),
        })
    }

    /// Appends one record (keys must come in ascending order).
    pub fn push(&mut self, key: &[u8], a: u64, b: u64) -> Result<()> {
        let w = &mut self.out;
        (|| {
            write_varint(w, key.len() as u64)?;
            w.write_all(key)?;
            write_varint(w, a)?;
            write_varint(w, b)
        })()
        .map_err(|e| VocabError::io(&self.path, e))
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.out
            .flush()
            .map_err(|e| VocabError::io(&self.path, e))?;
        Ok(self.path)
    }
}

/// Reads a run file record by record.
pub struct RunReader {
    path: PathBuf,
    input: BufReader<File>,
}

impl RunReader {
    /// Opens a run file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| VocabError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            input: BufReader::with_capacity(1 << 18, file),
        })
    }

    /// The next record, or `None` at the end.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let spill = |e: io::Error, path: &Path| VocabError::Spill {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let Some(len) = read_varint(&mut self.input).map_err(|e| spill(e, &self.path))? else {
            return Ok(None);
        };
        let mut key = vec![0u8; len as usize];
        self.input
            .read_exact(&mut key)
            .map_err(|e| spill(e, &self.path))?;
        let cut = || io::Error::new(io::ErrorKind::UnexpectedEof, "record cut short");
        let a = read_varint(&mut self.input)
            .and_then(|v| v.ok_or_else(cut))
            .map_err(|e| spill(e, &self.path))?;
        let b = read_varint(&mut self.input)
            .and_then(|v| v.ok_or_else(cut))
            .map_err(|e| spill(e, &self.path))?;
        Ok(Some((key, a, b)))
    }
}

/// A heap item of the merge: key, run index, counters.
type HeapItem = Reverse<(Vec<u8>, usize, u64, u64)>;

/// Merges sorted runs into one ascending stream, summing equal keys.
pub struct Merger {
    readers: Vec<RunReader>,
    heap: BinaryHeap<HeapItem>,
}

impl Merger {
    /// Opens all runs.
    pub fn open(paths: &[PathBuf]) -> Result<Self> {
        let mut readers = Vec::with_capacity(paths.len());
        let mut heap = BinaryHeap::new();
        for (i, p) in paths.iter().enumerate() {
            let mut r = RunReader::open(p)?;
            if let Some((k, a, b)) = r.next_record()? {
                heap.push(Reverse((k, i, a, b)));
            }
            readers.push(r);
        }
        Ok(Self { readers, heap })
    }

    /// The next merged record.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        let Some(Reverse((key, i, mut a, mut b))) = self.heap.pop() else {
            return Ok(None);
        };
        self.advance(i)?;
        while let Some(Reverse((k, _, _, _))) = self.heap.peek() {
            if *k != key {
                break;
            }
            let Reverse((_, j, a2, b2)) = self.heap.pop().expect("peeked");
            a += a2;
            b += b2;
            self.advance(j)?;
        }
        Ok(Some((key, a, b)))
    }

    fn advance(&mut self, i: usize) -> Result<()> {
        if let Some((k, a, b)) = self.readers[i].next_record()? {
            self.heap.push(Reverse((k, i, a, b)));
        }
        Ok(())
    }
}

/// Most runs merged at once; more are first merged in groups.
pub const MAX_FAN_IN: usize = 128;

/// Merges any number of runs (in rounds of [`MAX_FAN_IN`], removing the
/// intermediate inputs) and returns the final merge.
pub fn merge_all(spill: &SpillDir, prefix: &str, mut paths: Vec<PathBuf>) -> Result<Merger> {
    while paths.len() > MAX_FAN_IN {
        let mut next = Vec::new();
        for group in paths.chunks(MAX_FAN_IN) {
            let mut m = Merger::open(group)?;
            let mut w = RunWriter::create(&spill.next_path(prefix))?;
            while let Some((k, a, b)) = m.next_record()? {
                w.push(&k, a, b)?;
            }
            next.push(w.finish()?);
            for p in group {
                let _ = std::fs::remove_file(p);
            }
        }
        paths = next;
    }
    Merger::open(&paths)
}

/// A directory of run files with unique names.
#[derive(Debug)]
pub struct SpillDir {
    dir: PathBuf,
    next: AtomicUsize,
    /// Bytes written to runs so far.
    pub spilled: Mutex<u64>,
}

impl SpillDir {
    /// Uses (and creates) `dir`.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| VocabError::io(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            next: AtomicUsize::new(0),
            spilled: Mutex::new(0),
        })
    }

    /// A fresh run path with the given prefix.
    pub fn next_path(&self, prefix: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir.join(format!("{prefix}-{n:06}.run"))
    }

    /// Sorts `records` and writes them as a new run; returns its path.
    pub fn write_run(&self, prefix: &str, mut records: Vec<Record>) -> Result<PathBuf> {
        records.sort_unstable_by(|x, y| x.0.cmp(&y.0));
        let path = self.next_path(prefix);
        let mut w = RunWriter::create(&path)?;
        for (k, a, b) in &records {
            w.push(k, *a, *b)?;
        }
        let path = w.finish()?;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        *self.spilled.lock().expect("not poisoned") += size;
        Ok(path)
    }
}

/// An external sorter: buffers records up to a memory budget, spills sorted
/// runs, and merges them at the end.
pub struct Sorter<'a> {
    spill: &'a SpillDir,
    prefix: String,
    budget: usize,
    used: usize,
    buffer: Vec<Record>,
    runs: Vec<PathBuf>,
}

impl<'a> Sorter<'a> {
    /// A sorter writing runs named `prefix-N.run` in `spill`.
    pub fn new(spill: &'a SpillDir, prefix: &str, budget: usize) -> Self {
        Self {
            spill,
            prefix: prefix.to_string(),
            budget,
            used: 0,
            buffer: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds a record.
    pub fn push(&mut self, key: Vec<u8>, a: u64, b: u64) -> Result<()> {
        self.used += record_cost(key.len());
        self.buffer.push((key, a, b));
        if self.used >= self.budget {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            let records = std::mem::take(&mut self.buffer);
            self.runs.push(self.spill.write_run(&self.prefix, records)?);
        }
        self.used = 0;
        Ok(())
    }

    /// Spills what is buffered and returns the merge of all runs.
    pub fn finish(mut self) -> Result<Merger> {
        self.flush()?;
        merge_all(self.spill, &self.prefix, self.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorter_merges_and_sums() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path()).unwrap();
        let mut s = Sorter::new(&spill, "t", 200);
        let keys = ["b", "a", "c", "a", "bb", "b", "", "a"];
        for (i, k) in keys.iter().enumerate() {
            s.push(k.as_bytes().to_vec(), 1, i as u64).unwrap();
        }
        let mut m = s.finish().unwrap();
        let mut got = Vec::new();
        while let Some((k, a, b)) = m.next_record().unwrap() {
            got.push((String::from_utf8(k).unwrap(), a, b));
        }
        let want = vec![
            ("".to_string(), 1, 6),
            ("a".to_string(), 3, 1 + 3 + 7),
            ("b".to_string(), 2, 5),
            ("bb".to_string(), 1, 4),
            ("c".to_string(), 1, 2),
        ];
        assert_eq!(got, want);
        assert!(std::fs::read_dir(dir.path()).unwrap().count() > 1);
    }

    #[test]
    fn cut_run_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path()).unwrap();
        let path = spill
            .write_run("x", vec![(b"key".to_vec(), 300, 5)])
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 2]).unwrap();
        let err = Merger::open(&[path]).err().unwrap().to_string();
        assert!(err.contains("corrupt spill file"), "{err}");
    }
}
