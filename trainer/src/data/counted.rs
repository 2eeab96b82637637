//! Shard files read through a counter of the bytes asked for, split into
//! image bytes and the rest (captions, statuses, keys, footers, tar headers).

use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};
use storage::files::{RunFile, RunRead};

/// Bytes read from the shard files by one process's readers, counted where
/// the readers ask for them (on object storage, read-ahead may fetch more).
#[derive(Debug, Default)]
pub struct ReadStats {
    bytes: AtomicU64,
    image_bytes: AtomicU64,
}

impl ReadStats {
    /// Every byte read from shard files.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// The part of [`ReadStats::bytes`] read for images (parquet `jpg` pages,
    /// tar image members).
    pub fn image_bytes(&self) -> u64 {
        self.image_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: u64, image: bool) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
        if image {
            self.image_bytes.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Marks `n` bytes already counted (by a sequential reader) as image bytes.
    pub(crate) fn add_image_share(&self, n: u64) {
        self.image_bytes.fetch_add(n, Ordering::Relaxed);
    }
}

/// An open shard file whose reads are counted; a read that starts inside one
/// of `images` counts as image bytes.
#[derive(Debug, Clone)]
pub(crate) struct Counted {
    file: Arc<RunFile>,
    images: Arc<[Range<u64>]>,
    stats: Arc<ReadStats>,
}

impl Counted {
    pub(crate) fn new(
        file: Arc<RunFile>,
        images: Arc<[Range<u64>]>,
        stats: Arc<ReadStats>,
    ) -> Self {
        Counted {
            file,
            images,
            stats,
        }
    }

    fn is_image(&self, at: u64) -> bool {
        self.images.iter().any(|r| r.contains(&at))
    }

    /// A sequential reader from the start of the file (counted as other
    /// bytes; see [`CountedRead::count_images`]).
    pub(crate) fn reader(&self) -> io::Result<CountedRead> {
        Ok(CountedRead {
            inner: self.file.reader()?,
            image: false,
            stats: self.stats.clone(),
        })
    }

    /// `len` bytes at `offset`, counted as image bytes.
    pub(crate) fn read_image(&self, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        let b = self.file.get_bytes(offset, len).map_err(io::Error::other)?;
        self.stats.add(b.len() as u64, true);
        Ok(b.to_vec())
    }
}

impl Length for Counted {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl ChunkReader for Counted {
    type T = CountedRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<CountedRead> {
        Ok(CountedRead {
            inner: self.file.get_read(start)?,
            image: self.is_image(start),
            stats: self.stats.clone(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let b = self.file.get_bytes(start, length)?;
        self.stats.add(b.len() as u64, self.is_image(start));
        Ok(b)
    }
}

/// A counted sequential reader of a shard file.
pub struct CountedRead {
    inner: RunRead,
    image: bool,
    stats: Arc<ReadStats>,
}

impl Read for CountedRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.stats.add(n as u64, self.image);
        Ok(n)
    }
}

impl Seek for CountedRead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}
