//! A streaming WARC record reader (WARC 1.0/1.1, also the container of WAT
//! files) that keeps going through damage.
//!
//! Each record is a `WARC/x.y` version line, header lines, an empty line,
//! `Content-Length` bytes of block, and an empty line. The reader checks that
//! a record ends where its `Content-Length` says (the next bytes must be blank
//! lines and then `WARC/` or the end). When they are not, the length lied:
//! the record is reported as a [`Fault`], and the reader resynchronises on the
//! next line starting with `WARC/1.` or `WARC/0.`, looking inside the
//! misread block first, so that a record whose length is too long does not
//! swallow the records after it. Records larger than the configured maximum
//! are skipped without being held in memory.

use std::collections::VecDeque;
use std::io::{self, BufRead};

/// Longest header line accepted.
const MAX_LINE: usize = 64 << 10;
/// Most header lines in one record.
const MAX_HEADERS: usize = 1024;

/// One WARC record: its headers (in order) and block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Header fields as `(name, value)`, in file order.
    pub headers: Vec<(String, String)>,
    /// The record block (`Content-Length` bytes).
    pub block: Vec<u8>,
    /// Offset of the record's version line in the decoded stream.
    pub offset: u64,
}

impl Record {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, lowercased (empty when missing).
    pub fn warc_type(&self) -> String {
        self.header("WARC-Type")
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// `WARC-Target-URI`, without the `<...>` some writers put around it.
    pub fn target_uri(&self) -> Option<&str> {
        self.header("WARC-Target-URI")
            .map(|u| u.trim().trim_start_matches('<').trim_end_matches('>'))
    }

    /// A short name for log messages: record id or offset.
    pub fn describe(&self) -> String {
        match self.header("WARC-Record-ID") {
            Some(id) => format!("record {id} at offset {}", self.offset),
            None => format!("record at offset {}", self.offset),
        }
    }
}

/// A damaged record, skipped; the reader goes on after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The class, used as the counter name: `warc_malformed_header`,
    /// `warc_bad_content_length`, `warc_record_too_large`,
    /// `warc_truncated_record`, `warc_garbage`.
    pub class: &'static str,
    /// Offset in the decoded stream where the damage was found.
    pub offset: u64,
    /// What is wrong.
    pub message: String,
}

/// What [`Reader::next_item`] yields.
#[derive(Debug)]
pub enum Item {
    /// A good record.
    Record(Record),
    /// A skipped, damaged record.
    Fault(Fault),
}

/// Reads WARC records from a decoded stream.
pub struct Reader<R> {
    inner: R,
    pending: VecDeque<u8>,
    offset: u64,
    max_block: usize,
    eof: bool,
    spare: Vec<u8>,
}

impl<R: BufRead> Reader<R> {
    /// A reader that skips (and reports) records with a block over `max_block` bytes.
    pub fn new(inner: R, max_block: usize) -> Self {
        Self {
            inner,
            pending: VecDeque::new(),
            offset: 0,
            max_block,
            eof: false,
            spare: Vec::new(),
        }
    }

    /// Gives a record's block buffer back for reuse by the next record
    /// (saves an allocation, and the page faults of a fresh one, per record).
    pub fn recycle(&mut self, record: Record) {
        if record.block.capacity() > self.spare.capacity() {
            self.spare = record.block;
        }
    }

    /// Bytes consumed so far (decoded).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn fill(&mut self) -> io::Result<&[u8]> {
        if !self.pending.is_empty() {
            let (a, _) = self.pending.as_slices();
            return Ok(a);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.offset += n as u64;
        if !self.pending.is_empty() {
            self.pending.drain(..n);
        } else {
            self.inner.consume(n);
        }
    }

    fn unread(&mut self, bytes: &[u8]) {
        self.offset -= bytes.len() as u64;
        for &b in bytes.iter().rev() {
            self.pending.push_front(b);
        }
    }

    /// Reads a line (with its terminator) of at most `MAX_LINE` bytes. Returns
    /// `Ok(None)` at the end; a longer line is returned cut at the limit.
    fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<bool> {
        line.clear();
        loop {
            let avail = self.fill()?;
            if avail.is_empty() {
                return Ok(!line.is_empty());
            }
            let room = MAX_LINE.saturating_sub(line.len());
            let window = &avail[..avail.len().min(room)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    line.extend_from_slice(&window[..=i]);
                    self.consume(i + 1);
                    return Ok(true);
                }
                None => {
                    let n = window.len();
                    line.extend_from_slice(window);
                    self.consume(n);
                    if line.len() >= MAX_LINE {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Reads exactly `n` bytes into `out` (fewer only at the end of the stream).
    fn read_block(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        out.reserve(n.min(self.max_block));
        while out.len() < n {
            let avail = self.fill()?;
            if avail.is_empty() {
                break;
            }
            let take = avail.len().min(n - out.len());
            out.extend_from_slice(&avail[..take]);
            self.consume(take);
        }
        Ok(())
    }

    /// Skips `n` bytes; returns how many were skipped.
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let mut left = n;
        while left > 0 {
            let avail = self.fill()?;
            if avail.is_empty() {
                break;
            }
            let take = (avail.len() as u64).min(left) as usize;
            self.consume(take);
            left -= take as u64;
        }
        Ok(n - left)
    }

    /// Consumes blank lines; then reports whether the stream is at a record
    /// start (`WARC/`) or at its end.
    fn at_boundary(&mut self) -> io::Result<bool> {
        loop {
            let avail = self.fill()?;
            if avail.is_empty() {
                return Ok(true);
            }
            let blanks = avail
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if blanks == avail.len() {
                self.consume(blanks);
                continue;
            }
            self.consume(blanks);
            let head = self.peek(5)?;
            return Ok(head.len() < 5 && b"WARC/".starts_with(&head) || head == b"WARC/");
        }
    }

    fn peek(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let avail = self.fill()?;
            if avail.is_empty() {
                break;
            }
            let take = avail.len().min(n - got.len());
            got.extend_from_slice(&avail[..take]);
            self.consume(take);
        }
        self.unread(&got);
        Ok(got)
    }

    /// Skips to the next line that starts a record. Returns the bytes skipped.
    fn resync(&mut self) -> io::Result<u64> {
        let start = self.offset;
        let mut line = Vec::new();
        loop {
            let line_start = self.offset;
            if !self.read_line(&mut line)? {
                return Ok(self.offset - start);
            }
            if is_version_line(&line) {
                self.unread(&line);
                return Ok(line_start - start);
            }
        }
    }

    /// The next record or fault; `Ok(None)` at the end of the stream. I/O
    /// errors of the underlying stream are returned as errors.
    pub fn next_item(&mut self) -> io::Result<Option<Item>> {
        if self.eof {
            return Ok(None);
        }
        let mut line = Vec::new();
        // Skip blank lines before the version line.
        let version_offset = loop {
            let at = self.offset;
            if !self.read_line(&mut line)? {
                self.eof = true;
                return Ok(None);
            }
            if line.iter().all(|&b| b == b'\r' || b == b'\n') {
                continue;
            }
            break at;
        };
        if !is_version_line(&line) {
            let skipped = self.resync()? + line.len() as u64;
            return Ok(Some(Item::Fault(Fault {
                class: "warc_garbage",
                offset: version_offset,
                message: format!("{skipped} bytes that are not a WARC record skipped"),
            })));
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            if !self.read_line(&mut line)? {
                self.eof = true;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_truncated_record",
                    offset: version_offset,
                    message: "stream ends inside the record header".into(),
                })));
            }
            let text = trim_eol(&line);
            if text.is_empty() {
                break;
            }
            if is_version_line(&line) {
                // A new record starts before this one's header ended.
                self.unread(&line);
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_malformed_header",
                    offset: version_offset,
                    message: "record header is not terminated by an empty line".into(),
                })));
            }
            if (text[0] == b' ' || text[0] == b'\t') && !headers.is_empty() {
                let last = headers.last_mut().expect("non-empty");
                last.1.push(' ');
                last.1.push_str(String::from_utf8_lossy(text).trim());
                continue;
            }
            let Some(colon) = memchr::memchr(b':', text) else {
                self.resync()?;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_malformed_header",
                    offset: version_offset,
                    message: format!(
                        "header line without ':': {:?}",
                        String::from_utf8_lossy(&text[..text.len().min(80)])
                    ),
                })));
            };
            let name = String::from_utf8_lossy(&text[..colon]).trim().to_string();
            let value = String::from_utf8_lossy(&text[colon + 1..])
                .trim()
                .to_string();
            headers.push((name, value));
            if headers.len() > MAX_HEADERS {
                self.resync()?;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_malformed_header",
                    offset: version_offset,
                    message: format!("more than {MAX_HEADERS} header lines"),
                })));
            }
        }
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.parse::<u64>());
        let length = match length {
            Some(Ok(n)) => n,
            Some(Err(_)) | None => {
                self.resync()?;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_malformed_header",
                    offset: version_offset,
                    message: "missing or invalid Content-Length".into(),
                })));
            }
        };
        if length > self.max_block as u64 {
            let skipped = self.skip(length)?;
            if skipped < length {
                self.eof = true;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_truncated_record",
                    offset: version_offset,
                    message: format!("stream ends after {skipped} of {length} block bytes"),
                })));
            }
            if !self.at_boundary()? {
                self.resync()?;
                return Ok(Some(Item::Fault(Fault {
                    class: "warc_bad_content_length",
                    offset: version_offset,
                    message: format!("Content-Length {length} does not end the (oversized) record"),
                })));
            }
            return Ok(Some(Item::Fault(Fault {
                class: "warc_record_too_large",
                offset: version_offset,
                message: format!(
                    "block of {length} bytes is over the {} byte limit",
                    self.max_block
                ),
            })));
        }
        let mut block = std::mem::take(&mut self.spare);
        self.read_block(length as usize, &mut block)?;
        if (block.len() as u64) < length {
            self.eof = true;
            return Ok(Some(Item::Fault(Fault {
                class: "warc_truncated_record",
                offset: version_offset,
                message: format!("stream ends after {} of {length} block bytes", block.len()),
            })));
        }
        if !self.at_boundary()? {
            // The length lied. If it was too long, the next record's start is
            // inside the block: give those bytes back and resume there.
            if let Some(at) = find_version_line(&block) {
                let tail = block[at..].to_vec();
                self.unread(&tail);
            } else {
                self.resync()?;
            }
            return Ok(Some(Item::Fault(Fault {
                class: "warc_bad_content_length",
                offset: version_offset,
                message: format!("Content-Length {length} does not end the record"),
            })));
        }
        Ok(Some(Item::Record(Record {
            headers,
            block,
            offset: version_offset,
        })))
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

fn is_version_line(line: &[u8]) -> bool {
    line.starts_with(b"WARC/1.") || line.starts_with(b"WARC/0.")
}

/// The offset of the first line inside `block` that starts a WARC record.
fn find_version_line(block: &[u8]) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(b"\nWARC/");
    for i in finder.find_iter(block) {
        if is_version_line(&block[i + 1..]) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, uri: &str, block: &[u8]) -> Vec<u8> {
        use synthetic::warc;
        warc::record_bytes(&warc::Record {
            warc_type: kind,
            record_id: warc::record_id(1),
            date: warc::DATE,
            target_uri: Some(uri),
            content_type: warc::HTTP_RESPONSE,
            block,
        })
    }

    fn read_all(bytes: &[u8], max: usize) -> (Vec<Record>, Vec<Fault>) {
        let mut reader = Reader::new(bytes, max);
        let (mut recs, mut faults) = (Vec::new(), Vec::new());
        while let Some(item) = reader.next_item().unwrap() {
            match item {
                Item::Record(r) => recs.push(r),
                Item::Fault(f) => faults.push(f),
            }
        }
        (recs, faults)
    }

    fn uris(recs: &[Record]) -> Vec<&str> {
        recs.iter().map(|r| r.target_uri().unwrap()).collect()
    }

    #[test]
    fn reads_records_and_headers() {
        let mut data = record("response", "http://a/", b"hello");
        data.extend(record("metadata", "<http://b/>", b""));
        let (recs, faults) = read_all(&data, 1 << 20);
        assert!(faults.is_empty(), "{faults:?}");
        assert_eq!(uris(&recs), vec!["http://a/", "http://b/"]);
        assert_eq!(recs[0].block, b"hello");
        assert_eq!(recs[0].warc_type(), "response");
        assert_eq!(
            recs[1].offset,
            record("response", "http://a/", b"hello").len() as u64
        );
    }

    #[test]
    fn too_long_content_length_keeps_the_next_record() {
        let mut bad = record("response", "http://bad/", b"short");
        let text = String::from_utf8(bad.clone()).unwrap();
        bad = text
            .replace("Content-Length: 5", "Content-Length: 60")
            .into_bytes();
        let mut data = record("response", "http://a/", b"x");
        data.extend(bad);
        data.extend(record("response", "http://b/", &b"y".repeat(100)));
        data.extend(record("response", "http://c/", b"z"));
        let (recs, faults) = read_all(&data, 1 << 20);
        assert_eq!(uris(&recs), vec!["http://a/", "http://b/", "http://c/"]);
        assert_eq!(faults.len(), 1);
        assert_eq!(faults[0].class, "warc_bad_content_length");
    }

    #[test]
    fn too_short_content_length_keeps_the_next_record() {
        let text = String::from_utf8(record("response", "http://bad/", &b"q".repeat(50)))
            .unwrap()
            .replace("Content-Length: 50", "Content-Length: 10");
        let mut data = text.into_bytes();
        data.extend(record("response", "http://b/", b"y"));
        let (recs, faults) = read_all(&data, 1 << 20);
        assert_eq!(uris(&recs), vec!["http://b/"]);
        assert_eq!(faults[0].class, "warc_bad_content_length");
    }

    #[test]
    fn malformed_headers_and_garbage_are_skipped() {
        let mut data = b"garbage line\r\nmore\r\n".to_vec();
        data.extend(record("response", "http://a/", b"x"));
        data.extend(b"WARC/1.0\r\nno colon here\r\n\r\nblock\r\n\r\n");
        data.extend(b"WARC/1.0\r\nWARC-Type: response\r\nContent-Length: nope\r\n\r\nzz\r\n\r\n");
        data.extend(record("response", "http://b/", b"y"));
        let (recs, faults) = read_all(&data, 1 << 20);
        assert_eq!(uris(&recs), vec!["http://a/", "http://b/"]);
        let classes: Vec<_> = faults.iter().map(|f| f.class).collect();
        assert_eq!(
            classes,
            vec![
                "warc_garbage",
                "warc_malformed_header",
                "warc_malformed_header"
            ]
        );
    }

    #[test]
    fn oversized_records_are_skipped_without_buffering() {
        let mut data = record("response", "http://big/", &vec![b'a'; 5000]);
        data.extend(record("response", "http://b/", b"y"));
        let (recs, faults) = read_all(&data, 1000);
        assert_eq!(uris(&recs), vec!["http://b/"]);
        assert_eq!(faults[0].class, "warc_record_too_large");
    }

    #[test]
    fn truncated_stream_reports_and_ends() {
        let mut data = record("response", "http://a/", b"x");
        let second = record("response", "http://b/", &b"y".repeat(100));
        data.extend_from_slice(&second[..second.len() - 50]);
        let (recs, faults) = read_all(&data, 1 << 20);
        assert_eq!(uris(&recs), vec!["http://a/"]);
        assert_eq!(faults[0].class, "warc_truncated_record");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

            /// Arbitrary bytes never panic or loop, and every record is
            /// reported once at most.
            #[test]
            fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let (recs, faults) = read_all(&data, 512);
                prop_assert!(recs.len() + faults.len() <= data.len() + 1);
            }

            /// Damage between good records never loses a good record that
            /// follows the damage after a clean boundary.
            #[test]
            fn garbage_between_records(
                junk in proptest::collection::vec(any::<u8>(), 0..300),
                n in 1usize..5,
            ) {
                let mut data = Vec::new();
                for i in 0..n {
                    data.extend(record("response", &format!("http://r{i}/"), b"body"));
                }
                // Junk that cannot form a version line on its own line.
                let junk: Vec<u8> = junk.into_iter().map(|b| if b == b'W' { b'w' } else { b }).collect();
                data.extend(&junk);
                data.extend(b"\r\n");
                data.extend(record("response", "http://last/", b"tail"));
                let (recs, _) = read_all(&data, 1 << 20);
                let got = uris(&recs);
                prop_assert_eq!(got.last().copied(), Some("http://last/"));
                prop_assert!(got.len() >= n.min(got.len()));
            }
        }
    }
}
