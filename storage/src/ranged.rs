//! Reading a run file: a local file, or an object read by ranged GETs
//! through a few read-ahead windows, pinned to the ETag seen when it was
//! opened (see [`crate::files`]).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore};
use parquet::file::reader::{ChunkReader, Length};

use super::files::{head, io_err, object_url, store_of};
use super::runtime::block_on;
use super::url::ObjectUrl;

/// Bytes fetched past a read that misses the read-ahead windows.
const READ_AHEAD: u64 = 4 << 20;

/// Read-ahead windows kept per open object.
const WINDOWS: usize = 8;

/// Opens the file at `path` for reading (parquet readers take it as a
/// [`ChunkReader`]).
pub fn open(path: &Path) -> io::Result<RunFile> {
    let Some(url) = object_url(path) else {
        return File::open(path).map(RunFile::Local);
    };
    let (store, key) = store_of(&url)?;
    let Some((size, etag)) = head(&url)? else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{url}: no such object"),
        ));
    };
    Ok(RunFile::Object(ObjectFile {
        inner: Arc::new(ObjectInner {
            url,
            store,
            key,
            size,
            etag,
            windows: Mutex::new(Vec::new()),
        }),
        read_ahead: true,
    }))
}

/// An open run file: local, or an object read by ranged GETs.
#[derive(Debug)]
pub enum RunFile {
    /// A local file.
    Local(File),
    /// An object.
    Object(ObjectFile),
}

impl RunFile {
    /// A reader of the whole file from its start.
    pub fn reader(&self) -> io::Result<RunRead> {
        self.read_from(0)
    }

    /// The same file, whose ranged reads ([`ChunkReader::get_bytes`]) fetch
    /// exactly the bytes asked for: an object is then read without the
    /// read-ahead past each range that misses the windows (which suits
    /// reading scattered pages of a parquet file, not a scan; sequential
    /// readers from [`RunFile::reader`] still read ahead).
    pub fn exact(&self) -> io::Result<RunFile> {
        Ok(match self {
            RunFile::Local(f) => RunFile::Local(f.try_clone()?),
            RunFile::Object(o) => RunFile::Object(ObjectFile {
                inner: o.inner.clone(),
                read_ahead: false,
            }),
        })
    }

    fn read_from(&self, start: u64) -> io::Result<RunRead> {
        Ok(match self {
            RunFile::Local(f) => {
                let mut f = f.try_clone()?;
                f.seek(SeekFrom::Start(start))?;
                RunRead::Local(BufReader::new(f))
            }
            RunFile::Object(o) => RunRead::Object(ObjectRead {
                file: o.clone(),
                pos: start,
            }),
        })
    }
}

impl Length for RunFile {
    fn len(&self) -> u64 {
        match self {
            RunFile::Local(f) => f.len(),
            RunFile::Object(o) => o.inner.size,
        }
    }
}

impl ChunkReader for RunFile {
    type T = RunRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RunRead> {
        Ok(self.read_from(start)?)
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            RunFile::Local(f) => f.get_bytes(start, length),
            RunFile::Object(o) => Ok(o.bytes(start, length, o.read_ahead)?),
        }
    }
}

/// A reader of a [`RunFile`] from some offset.
pub enum RunRead {
    /// Of a local file.
    Local(BufReader<File>),
    /// Of an object.
    Object(ObjectRead),
}

impl Read for RunRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            RunRead::Local(r) => r.read(buf),
            RunRead::Object(r) => r.read(buf),
        }
    }
}

impl Seek for RunRead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match self {
            RunRead::Local(r) => r.seek(to),
            RunRead::Object(r) => r.seek(to),
        }
    }
}

/// An object opened for ranged reads.
#[derive(Debug, Clone)]
pub struct ObjectFile {
    inner: Arc<ObjectInner>,
    /// Whether a ranged read that misses the windows fetches
    /// [`READ_AHEAD`] bytes past its start.
    read_ahead: bool,
}

#[derive(Debug)]
struct ObjectInner {
    url: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    key: ObjectPath,
    size: u64,
    etag: Option<String>,
    /// Read-ahead windows (start, bytes), most recently used last.
    windows: Mutex<Vec<(u64, Bytes)>>,
}

impl ObjectFile {
    /// `length` bytes from `start` (a read past the end is an error), with
    /// or without read-ahead.
    fn bytes(&self, start: u64, length: usize, read_ahead: bool) -> io::Result<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let end = start + length as u64;
        if end > self.inner.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{}: read of bytes {start}..{end} past its end ({})",
                    self.inner.url, self.inner.size
                ),
            ));
        }
        {
            let mut windows = self.inner.windows.lock().expect("windows lock");
            if let Some(i) = windows
                .iter()
                .position(|(s, b)| *s <= start && end <= *s + b.len() as u64)
            {
                let w = windows.remove(i);
                let out = w.1.slice((start - w.0) as usize..(end - w.0) as usize);
                windows.push(w);
                return Ok(out);
            }
        }
        if !read_ahead {
            return self.fetch(start, end);
        }
        let fetch_end = end.max((start + READ_AHEAD).min(self.inner.size));
        let got = self.fetch(start, fetch_end)?;
        let out = got.slice(..length);
        let mut windows = self.inner.windows.lock().expect("windows lock");
        if windows.len() >= WINDOWS {
            windows.remove(0);
        }
        windows.push((start, got));
        Ok(out)
    }

    /// One ranged GET of `start..end`, pinned to the ETag seen at open.
    fn fetch(&self, start: u64, end: u64) -> io::Result<Bytes> {
        let inner = self.inner.clone();
        block_on(async move {
            let options = GetOptions {
                if_match: inner.etag.clone(),
                range: Some(GetRange::Bounded(start..end)),
                ..Default::default()
            };
            let got = inner.store.get_opts(&inner.key, options).await?;
            got.bytes().await
        })
        .map_err(|e| io_err(&self.inner.url, e))
        .and_then(|b| {
            if b.len() as u64 == end - start {
                Ok(b)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "{}: asked for {} bytes at {start}, got {}",
                        self.inner.url,
                        end - start,
                        b.len()
                    ),
                ))
            }
        })
    }
}

/// A sequential reader of an object from some offset (served from the
/// object's read-ahead windows).
pub struct ObjectRead {
    file: ObjectFile,
    pos: u64,
}

impl Seek for ObjectRead {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.file.inner.size as i128;
        let pos = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
            SeekFrom::End(d) => size + d as i128,
        };
        if pos < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start",
            ));
        }
        self.pos = pos as u64;
        Ok(self.pos)
    }
}

impl Read for ObjectRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.file.inner.size.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left).min(READ_AHEAD) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.bytes(self.pos, n, true)?;
        buf[..n].copy_from_slice(&got);
        self.pos += n as u64;
        Ok(n)
    }
}
