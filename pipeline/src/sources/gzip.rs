//! Gzip detection and a multi-member gzip decoder that survives damage.
//!
//! Common Crawl's WARC and WAT files are gzip with one member per record, so
//! that any record can be read alone. [`MemberDecoder`] streams the members
//! one after another (like `flate2::bufread::MultiGzDecoder`), and when a
//! member is corrupt or truncated it counts the fault, goes back to the
//! member's first byte and scans for the next gzip header from there, so that
//! the records after a bad one are all kept. Only the compressed bytes of the
//! current member are retained for that rewind (up to [`MAX_REWIND`]).

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::bufread::GzDecoder;

/// The gzip magic plus the deflate method byte.
const MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// The most compressed bytes of one member kept for rewinding after damage.
/// Longer members (single-member `.gz` files) are scanned forward from the
/// point of damage instead.
pub const MAX_REWIND: usize = 64 << 20;

/// Whether a buffer starts with the gzip magic bytes.
pub fn is_gzip(head: &[u8]) -> bool {
    head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
}

/// Damage seen while decoding, shared with whoever reports the task's stats.
#[derive(Debug, Default)]
pub struct GzFaults {
    /// Members that failed to decode (corrupt data, bad CRC, truncation).
    pub corrupt_members: AtomicU64,
    /// Bytes skipped while looking for the next member header.
    pub skipped_bytes: AtomicU64,
    /// Members decoded.
    pub members: AtomicU64,
}

impl GzFaults {
    /// A snapshot of `(members, corrupt_members, skipped_bytes)`.
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.members.load(Ordering::Relaxed),
            self.corrupt_members.load(Ordering::Relaxed),
            self.skipped_bytes.load(Ordering::Relaxed),
        )
    }
}

/// A buffered reader that can push bytes back in front of the stream and
/// record the bytes consumed since a mark.
pub struct Rewind<R> {
    inner: R,
    front: Vec<u8>,
    front_pos: usize,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    recording: Option<Vec<u8>>,
    io_failed: bool,
}

impl<R: Read> Rewind<R> {
    /// Wraps a reader with a 256 KiB buffer.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            front: Vec::new(),
            front_pos: 0,
            buf: vec![0; 256 << 10].into_boxed_slice(),
            pos: 0,
            end: 0,
            recording: None,
            io_failed: false,
        }
    }

    /// Puts bytes back in front of what is still unread.
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut front = Vec::with_capacity(bytes.len() + self.front.len() - self.front_pos);
        front.extend_from_slice(bytes);
        front.extend_from_slice(&self.front[self.front_pos..]);
        self.front = front;
        self.front_pos = 0;
    }

    /// Starts recording consumed bytes (dropping any earlier recording).
    fn start_recording(&mut self) {
        let mut rec = self.recording.take().unwrap_or_default();
        rec.clear();
        self.recording = Some(rec);
    }

    /// Stops recording and returns what was recorded, if the recording stayed
    /// within [`MAX_REWIND`].
    fn take_recording(&mut self) -> Option<Vec<u8>> {
        self.recording.take()
    }

    /// Returns at least `n` bytes of lookahead if the stream has them (fewer
    /// only at the end).
    pub fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let avail = self.fill_buf_inner()?;
            if avail.is_empty() {
                break;
            }
            let take = avail.len().min(n - got.len());
            got.extend_from_slice(&avail[..take]);
            self.consume_inner(take);
        }
        self.unread(&got);
        Ok(got)
    }

    fn fill_buf_inner(&mut self) -> io::Result<&[u8]> {
        if self.front_pos < self.front.len() {
            return Ok(&self.front[self.front_pos..]);
        }
        if self.pos >= self.end {
            self.pos = 0;
            self.end = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.io_failed = true;
                        return Err(e);
                    }
                }
            };
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume_inner(&mut self, n: usize) {
        if self.front_pos < self.front.len() {
            self.front_pos += n;
            if self.front_pos >= self.front.len() {
                self.front.clear();
                self.front_pos = 0;
            }
        } else {
            self.pos += n;
        }
    }
}

impl<R: Read> Read for Rewind<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Rewind<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill_buf_inner()
    }

    fn consume(&mut self, n: usize) {
        if let Some(rec) = &mut self.recording {
            let src = if self.front_pos < self.front.len() {
                &self.front[self.front_pos..self.front_pos + n]
            } else {
                &self.buf[self.pos..self.pos + n]
            };
            if rec.len() + n <= MAX_REWIND {
                rec.extend_from_slice(src);
            } else {
                self.recording = None;
            }
        }
        self.consume_inner(n);
    }
}

/// Decodes a stream of gzip members, resynchronising after damaged ones.
pub struct MemberDecoder<R: Read> {
    decoder: Option<GzDecoder<Rewind<R>>>,
    faults: Arc<GzFaults>,
    name: String,
}

impl<R: Read> MemberDecoder<R> {
    /// Starts decoding; `name` is used in log messages.
    pub fn new(inner: Rewind<R>, name: impl Into<String>, faults: Arc<GzFaults>) -> Self {
        let mut inner = inner;
        inner.start_recording();
        Self {
            decoder: Some(GzDecoder::new(inner)),
            faults,
            name: name.into(),
        }
    }

    /// The shared fault counters.
    pub fn faults(&self) -> &Arc<GzFaults> {
        &self.faults
    }

    /// Consumes bytes until the next gzip header (or the end). Returns whether
    /// a header was found.
    fn seek_member(&self, rw: &mut Rewind<R>) -> io::Result<bool> {
        let mut skipped = 0u64;
        let found = loop {
            let avail = rw.fill_buf()?;
            if avail.is_empty() {
                break false;
            }
            match memchr::memchr(MAGIC[0], avail) {
                Some(i) => {
                    rw.consume_inner(i);
                    skipped += i as u64;
                    let head = rw.peek(MAGIC.len())?;
                    if head.len() < MAGIC.len() {
                        skipped += head.len() as u64;
                        rw.consume_inner(head.len());
                        break false;
                    }
                    if head == MAGIC {
                        break true;
                    }
                    rw.consume_inner(1);
                    skipped += 1;
                }
                None => {
                    let n = avail.len();
                    rw.consume_inner(n);
                    skipped += n as u64;
                }
            }
        };
        if skipped > 0 {
            self.faults
                .skipped_bytes
                .fetch_add(skipped, Ordering::Relaxed);
        }
        Ok(found)
    }
}

impl<R: Read> Read for MemberDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            match decoder.read(out) {
                Ok(0) => {
                    self.faults.members.fetch_add(1, Ordering::Relaxed);
                    let mut rw = self.decoder.take().expect("decoder present").into_inner();
                    // Trailing zero padding or junk after the last member is
                    // skipped (and counted) on the way to the next header.
                    if !self.seek_member(&mut rw)? {
                        return Ok(0);
                    }
                    rw.start_recording();
                    self.decoder = Some(GzDecoder::new(rw));
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let mut rw = self.decoder.take().expect("decoder present").into_inner();
                    if rw.io_failed {
                        // The source failed (a lost connection), not the data.
                        return Err(e);
                    }
                    let seen = self.faults.corrupt_members.fetch_add(1, Ordering::Relaxed) + 1;
                    // The first ones are logged; all are counted.
                    if seen <= 20 {
                        log::warn!("{}: damaged gzip member skipped: {e}", self.name);
                    }
                    let recorded = rw.take_recording();
                    let consumed = recorded.as_ref().map(Vec::len);
                    if let Some(rec) = recorded.filter(|r| r.len() > 1) {
                        // Go back to just after the damaged member's first
                        // byte: the next header may be inside what the
                        // decoder already swallowed.
                        rw.unread(&rec[1..]);
                    } else if consumed == Some(0) && !rw.fill_buf()?.is_empty() {
                        // Nothing consumed: step over one byte so the scan
                        // cannot find the same header again.
                        rw.consume_inner(1);
                    }
                    if !self.seek_member(&mut rw)? {
                        return Ok(0);
                    }
                    rw.start_recording();
                    self.decoder = Some(GzDecoder::new(rw));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    fn member(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn decode(bytes: Vec<u8>) -> (Vec<u8>, (u64, u64, u64)) {
        let faults = Arc::new(GzFaults::default());
        let mut d = MemberDecoder::new(Rewind::new(&bytes[..]), "test", faults.clone());
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        (out, faults.snapshot())
    }

    #[test]
    fn concatenated_members_decode_in_order() {
        let mut bytes = member(b"one ");
        bytes.extend(member(b"two "));
        bytes.extend(member(b"three"));
        let (out, (members, bad, _)) = decode(bytes);
        assert_eq!(out, b"one two three");
        assert_eq!((members, bad), (3, 0));
    }

    #[test]
    fn truncated_member_is_skipped_and_the_rest_kept() {
        let first = member(b"first record");
        let second = member(&b"second record ".repeat(200));
        let third = member(b"third record");
        let mut bytes = first.clone();
        bytes.extend_from_slice(&second[..second.len() / 2]);
        bytes.extend(third);
        let (out, (_, bad, _)) = decode(bytes);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("first record"), "{text}");
        assert!(text.ends_with("third record"), "{text}");
        assert_eq!(bad, 1);
    }

    #[test]
    fn truncated_last_member_ends_cleanly() {
        let mut bytes = member(b"kept");
        let second = member(&b"lost ".repeat(100));
        bytes.extend_from_slice(&second[..20]);
        let (out, (_, bad, _)) = decode(bytes);
        assert!(out.starts_with(b"kept"));
        assert_eq!(bad, 1);
    }

    #[test]
    fn garbage_between_members_is_skipped() {
        let mut bytes = member(b"a");
        bytes.extend_from_slice(b"\0\0\0 junk \x1f\x8b no");
        bytes.extend(member(b"b"));
        let (out, (members, _, skipped)) = decode(bytes);
        assert_eq!(out, b"ab");
        assert_eq!(members, 2);
        assert!(skipped > 0);
    }

    #[test]
    fn rewind_peek_and_unread() {
        let data = b"hello world".to_vec();
        let mut rw = Rewind::new(&data[..]);
        assert_eq!(rw.peek(5).unwrap(), b"hello");
        let mut s = String::new();
        rw.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello world");
        rw.unread(b"again");
        assert_eq!(rw.peek(100).unwrap(), b"again");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            /// Cutting and flipping bytes anywhere never panics or hangs, and
            /// a member after the damage is still decoded.
            #[test]
            fn damaged_streams_terminate(
                texts in proptest::collection::vec("[a-z ]{1,200}", 1..6),
                cut in any::<proptest::sample::Index>(),
                flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..4),
            ) {
                let mut damaged = Vec::new();
                for t in &texts {
                    damaged.extend(member(t.as_bytes()));
                }
                let len = damaged.len();
                damaged.truncate(cut.index(len) + 1);
                for (at, b) in flips {
                    let i = at.index(damaged.len());
                    damaged[i] ^= b;
                }
                let tail = "TAIL-MEMBER";
                damaged.extend(member(tail.as_bytes()));
                let (out, _) = decode(damaged);
                prop_assert!(String::from_utf8_lossy(&out).contains(tail));
            }
        }
    }
}
