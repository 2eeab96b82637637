//! Opening a dump file as a stream of UTF-8 XML bytes: bzip2 (its blocks
//! decoded in parallel), gzip or plain, UTF-8 or UTF-16 (by BOM).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Result, VocabError};

/// A reader that counts the bytes it reads into a shared counter (progress).
pub struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens `path` and returns a reader of its decoded UTF-8 bytes.
///
/// `read_bytes` is increased by the compressed bytes consumed (for progress);
/// bzip2 blocks are decoded on `threads` threads.
pub fn open(
    path: &Path,
    threads: usize,
    read_bytes: Arc<AtomicU64>,
) -> Result<Box<dyn Read + Send>> {
    let mut file = File::open(path).map_err(|e| VocabError::io(path, e))?;
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut file, &mut magic).map_err(|e| VocabError::io(path, e))?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let raw = Counting {
        inner: head.chain(file),
        count: read_bytes,
    };
    let decoded: Box<dyn Read + Send> = if magic[..n].starts_with(b"BZh") {
        let reader = bzip2_decoder::ParallelReader::new(raw, threads)
            .map_err(|e| VocabError::io(path, e))?;
        Box::new(NamedBz2Faults {
            inner: reader,
            path: path.to_path_buf(),
        })
    } else if magic[..n].starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    Ok(Box::new(Utf8Stream::new(decoded)))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Names the file in the faults of a bzip2 reader.
struct NamedBz2Faults<R> {
    inner: R,
    path: PathBuf,
}

impl<R: Read> Read for NamedBz2Faults<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.inner.read(out).map_err(|e| {
            let Some(fault) = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<bzip2_decoder::PositionedError>())
            else {
                return e;
            };
            let reason = match fault.error {
                bzip2_decoder::DecodeError::Truncated => {
                    "the file ends inside this stream (truncated download?)".to_string()
                }
                ref other => other.to_string(),
            };
            io::Error::other(VocabError::Bzip2 {
                path: self.path.clone(),
                offset: fault.offset,
                reason,
            })
        })
    }
}

/// Turns a UTF-16 stream (detected by its byte-order mark, or by the `<\0`
/// pattern of a BOM-less UTF-16LE XML file) into UTF-8; UTF-8 passes through
/// (minus its BOM).
pub struct Utf8Stream<R> {
    inner: R,
    decoder: Option<encoding_rs::Decoder>,
    started: bool,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_eof: bool,
    done: bool,
    out: Vec<u8>,
    out_pos: usize,
}

impl<R: Read> Utf8Stream<R> {
    /// Wraps a byte stream.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: None,
            started: false,
            raw: Vec::new(),
            raw_pos: 0,
            raw_eof: false,
            done: false,
            out: Vec::new(),
            out_pos: 0,
        }
    }

    fn fill_raw(&mut self) -> io::Result<()> {
        if self.raw_pos > 0 {
            self.raw.drain(..self.raw_pos);
            self.raw_pos = 0;
        }
        let old = self.raw.len();
        self.raw.resize(old + (1 << 16), 0);
        let n = read_up_to(&mut self.inner, &mut self.raw[old..])?;
        self.raw.truncate(old + n);
        if n == 0 {
            self.raw_eof = true;
        }
        Ok(())
    }

    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        while self.raw.len() < 4 && !self.raw_eof {
            self.fill_raw()?;
        }
        let head = &self.raw[..self.raw.len().min(4)];
        let encoding = if head.starts_with(&[0xff, 0xfe]) || head.starts_with(b"<\0") {
            Some(encoding_rs::UTF_16LE)
        } else if head.starts_with(&[0xfe, 0xff]) || head.starts_with(b"\0<") {
            Some(encoding_rs::UTF_16BE)
        } else {
            if head.starts_with(&[0xef, 0xbb, 0xbf]) {
                self.raw_pos = 3;
            }
            None
        };
        self.decoder = encoding.map(|e| e.new_decoder_with_bom_removal());
        Ok(())
    }
}

impl<R: Read> Read for Utf8Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        if self.decoder.is_none() {
            if self.raw_pos < self.raw.len() {
                let n = buf.len().min(self.raw.len() - self.raw_pos);
                buf[..n].copy_from_slice(&self.raw[self.raw_pos..self.raw_pos + n]);
                self.raw_pos += n;
                return Ok(n);
            }
            return self.inner.read(buf);
        }
        loop {
            if self.out_pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.out_pos);
                buf[..n].copy_from_slice(&self.out[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.raw_pos >= self.raw.len() && !self.raw_eof {
                self.fill_raw()?;
            }
            let last = self.raw_eof;
            let decoder = self.decoder.as_mut().expect("decoder set for UTF-16");
            self.out.resize(1 << 17, 0);
            self.out_pos = 0;
            let (result, read, written, _) =
                decoder.decode_to_utf8(&self.raw[self.raw_pos..], &mut self.out, last);
            self.raw_pos += read;
            self.out.truncate(written);
            if last && matches!(result, encoding_rs::CoderResult::InputEmpty) {
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn bz2(data: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read_all(path: &Path, threads: usize) -> io::Result<Vec<u8>> {
        let mut r = open(path, threads, Arc::new(AtomicU64::new(0))).unwrap();
        let mut v = Vec::new();
        r.read_to_end(&mut v)?;
        Ok(v)
    }

    #[test]
    fn multistream_decodes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = Vec::new();
        let mut expect: Vec<u8> = Vec::new();
        for i in 0..50 {
            let chunk = format!("<page>{i} {}</page>\n", "x".repeat(i * 37));
            file.extend(bz2(chunk.as_bytes()));
            expect.extend(chunk.as_bytes());
        }
        let path = dir.path().join("multi.xml.bz2");
        std::fs::write(&path, &file).unwrap();
        for threads in [1, 3] {
            assert_eq!(read_all(&path, threads).unwrap(), expect);
        }
    }

    #[test]
    fn truncated_bz2_names_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = bz2(b"first stream");
        let second = bz2("second stream ".repeat(1000).as_bytes());
        file.extend(&second[..second.len() / 2]);
        let path = dir.path().join("cut.xml.bz2");
        std::fs::write(&path, &file).unwrap();
        let err = read_all(&path, 2).unwrap_err().to_string();
        assert!(err.contains("cut.xml.bz2"), "{err}");
        assert!(err.contains("truncated"), "{err}");
    }

    #[test]
    fn corrupt_and_randomised_streams_name_file_offset_and_fault() {
        let dir = tempfile::tempdir().unwrap();
        let first = bz2(b"first stream");
        let second = bz2("second stream ".repeat(1000).as_bytes());
        for (byte, mask, fault) in [
            // The randomised bit follows the magic and the block CRC.
            (14, 0x80, "randomised block"),
            // A byte of the block's Huffman-coded data.
            (second.len() / 2, 0x10, "corrupt bzip2 data"),
        ] {
            let mut damaged = second.clone();
            damaged[byte] ^= mask;
            let path = dir.path().join("bad.xml.bz2");
            std::fs::write(&path, [&first[..], &damaged[..]].concat()).unwrap();
            let err = read_all(&path, 2).unwrap_err().to_string();
            assert!(err.contains("bad.xml.bz2"), "{err}");
            assert!(
                err.contains(&format!("compressed byte {}", first.len())),
                "{err}"
            );
            assert!(err.contains(fault), "{err}");
        }
    }

    #[test]
    fn utf16_is_transcoded() {
        let dir = tempfile::tempdir().unwrap();
        let text = "<mediawiki>Живот ünïcode</mediawiki>";
        let mut le = vec![0xff, 0xfe];
        for u in text.encode_utf16() {
            le.extend(u.to_le_bytes());
        }
        let path = dir.path().join("u16.xml");
        std::fs::write(&path, &le).unwrap();
        assert_eq!(read_all(&path, 1).unwrap(), text.as_bytes());
        let mut be = vec![0xfe, 0xff];
        for u in text.encode_utf16() {
            be.extend(u.to_be_bytes());
        }
        std::fs::write(&path, bz2(&be)).unwrap();
        assert_eq!(read_all(&path, 1).unwrap(), text.as_bytes());
    }
}
