//! A WARC/1.0 writer (ISO 28500): records with `WARC-Type`, `WARC-Date`,
//! `WARC-Record-ID`, `WARC-Target-URI` (when given), `Content-Type` and
//! `Content-Length`, each followed by the two CRLFs that end a record; either
//! each record in a gzip member of its own (`.warc.gz`, as crawlers write
//! them, so readers can seek to any record) or all uncompressed (`.warc`).
//!
//! The writer takes the record ids and dates from the caller, so its output is
//! reproducible; [`record_id`] and [`DATE`] give fixed ones.

use std::fmt::Write as _;
use std::io::{self, Write};

use flate2::write::GzEncoder;

/// The date [`crate::web`] stamps its records with (fixed, so that the same
/// options give the same bytes).
pub const DATE: &str = "2026-01-01T00:00:00Z";

/// The content type of a `response` record holding an HTTP response.
pub const HTTP_RESPONSE: &str = "application/http; msgtype=response";

/// A reproducible record id: `<urn:uuid:00000000-0000-4000-8000-NNNNNNNNNNNN>`
/// with `n` in hexadecimal (a well-formed version 4 UUID URN).
pub fn record_id(n: u64) -> String {
    format!("<urn:uuid:00000000-0000-4000-8000-{n:012x}>")
}

/// An HTTP/1.1 response as a crawler stores it in a `response` record: the
/// status line, the headers (each `Name: value` and CRLF), an empty line,
/// and the body.
pub fn http_response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// One record to write.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// `WARC-Type`: `warcinfo`, `response`, `request`, `metadata`, ...
    pub warc_type: &'a str,
    /// `WARC-Record-ID`, angle brackets included (see [`record_id`]).
    pub record_id: String,
    /// `WARC-Date`: UTC, ISO 8601 (`2026-01-01T00:00:00Z`).
    pub date: &'a str,
    /// `WARC-Target-URI`, for records about a URL.
    pub target_uri: Option<&'a str>,
    /// `Content-Type` of the block.
    pub content_type: &'a str,
    /// The record's content block (`Content-Length` is its length).
    pub block: &'a [u8],
}

impl<'a> Record<'a> {
    /// A `warcinfo` record of `application/warc-fields` (`name: value` lines).
    pub fn warcinfo(id: u64, date: &'a str, fields: &'a [u8]) -> Self {
        Record {
            warc_type: "warcinfo",
            record_id: record_id(id),
            date,
            target_uri: None,
            content_type: "application/warc-fields",
            block: fields,
        }
    }

    /// A `response` record holding the HTTP response `http` (see
    /// [`http_response`]) fetched from `uri`.
    pub fn response(id: u64, date: &'a str, uri: &'a str, http: &'a [u8]) -> Self {
        Record {
            warc_type: "response",
            record_id: record_id(id),
            date,
            target_uri: Some(uri),
            content_type: HTTP_RESPONSE,
            block: http,
        }
    }

    /// The record's header block, the empty line included.
    pub fn header(&self) -> String {
        let mut h = String::from("WARC/1.0\r\n");
        let _ = write!(h, "WARC-Type: {}\r\n", self.warc_type);
        let _ = write!(h, "WARC-Date: {}\r\n", self.date);
        let _ = write!(h, "WARC-Record-ID: {}\r\n", self.record_id);
        if let Some(uri) = self.target_uri {
            let _ = write!(h, "WARC-Target-URI: {uri}\r\n");
        }
        let _ = write!(h, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(h, "Content-Length: {}\r\n\r\n", self.block.len());
        h
    }
}

/// Writes records to `W`, gzipped one member per record or uncompressed.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    gzip: bool,
}

impl<W: Write> Writer<W> {
    /// A writer of `.warc.gz` (`gzip`: one gzip member per record) or of
    /// plain `.warc`.
    pub fn new(out: W, gzip: bool) -> Self {
        Writer { out, gzip }
    }

    /// Appends one record.
    pub fn write(&mut self, record: &Record<'_>) -> io::Result<()> {
        let header = record.header();
        if self.gzip {
            let mut gz = GzEncoder::new(&mut self.out, flate2::Compression::default());
            gz.write_all(header.as_bytes())?;
            gz.write_all(record.block)?;
            gz.write_all(b"\r\n\r\n")?;
            gz.finish()?;
        } else {
            self.out.write_all(header.as_bytes())?;
            self.out.write_all(record.block)?;
            self.out.write_all(b"\r\n\r\n")?;
        }
        Ok(())
    }

    /// The underlying output.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One record, uncompressed, as bytes (for tests that cut or corrupt records).
pub fn record_bytes(record: &Record<'_>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), false);
    w.write(record).expect("writing to a Vec cannot fail");
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn records_are_framed_and_gzipped_one_member_each() {
        let http = http_response("200 OK", &[("Content-Type", "text/html")], b"<p>hi</p>");
        assert_eq!(
            http,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hi</p>"
        );
        let info = Record::warcinfo(0, DATE, b"software: x\r\n");
        let resp = Record::response(1, DATE, "http://a.example/", &http);
        let mut plain = Writer::new(Vec::new(), false);
        let mut gz = Writer::new(Vec::new(), true);
        for r in [&info, &resp] {
            plain.write(r).unwrap();
            gz.write(r).unwrap();
        }
        let plain = plain.into_inner();
        let text = String::from_utf8(plain.clone()).unwrap();
        assert!(text.starts_with(
            "WARC/1.0\r\nWARC-Type: warcinfo\r\nWARC-Date: 2026-01-01T00:00:00Z\r\n\
             WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n\
             Content-Type: application/warc-fields\r\nContent-Length: 13\r\n\r\nsoftware: x\r\n\r\n\r\n"
        ));
        assert!(text.contains(
            "WARC-Target-URI: http://a.example/\r\n\
             Content-Type: application/http; msgtype=response\r\nContent-Length: 53\r\n\r\nHTTP/1.1"
        ));
        assert!(text.ends_with("<p>hi</p>\r\n\r\n"));
        assert_eq!(record_bytes(&info), plain[..record_bytes(&info).len()]);
        // Two gzip members that decompress to the plain bytes.
        let gz = gz.into_inner();
        let mut first = flate2::read::GzDecoder::new(&gz[..]);
        let mut one = Vec::new();
        first.read_to_end(&mut one).unwrap();
        assert_eq!(one, record_bytes(&info));
        let mut all = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all, plain);
    }
}
