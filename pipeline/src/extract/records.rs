//! Pairs from one WARC response record (HTML) or one WAT metadata record.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use encoding_rs::{Encoding, UTF_8};
use url::Url;

use super::html;
use super::pairs::{document_base, Pair, PairMaker, RawImage};
use crate::sources::{warc, wat};
use crate::task::Counters;

/// How many leading bytes the `<meta charset>` prescan looks at (as browsers).
const PRESCAN_BYTES: usize = 1024;

/// The page URL of a record, parsed. Counted when missing or bad.
fn page_url(record: &warc::Record, counters: &mut Counters) -> Option<Url> {
    let Some(uri) = record.target_uri() else {
        counters.incr("skip_record_no_target_uri");
        return None;
    };
    match Url::parse(uri) {
        Ok(u) if !u.cannot_be_a_base() => Some(u),
        _ => {
            counters.incr("skip_record_bad_target_uri");
            None
        }
    }
}

/// Pairs from a WAT `metadata` record. Returns `Err(message)` for a record
/// whose JSON does not parse (the caller counts and logs it).
pub fn from_wat_record(
    record: &warc::Record,
    maker: &PairMaker<'_>,
    counters: &mut Counters,
    out: &mut Vec<Pair>,
) -> Result<(), String> {
    if record.warc_type() != "metadata" {
        counters.incr("records_not_metadata");
        return Ok(());
    }
    let is_json = record
        .header("Content-Type")
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if !is_json {
        counters.incr("records_not_json");
        return Ok(());
    }
    let page = wat::parse(&record.block).map_err(|e| format!("invalid WAT JSON: {e}"))?;
    if !page.is_html {
        counters.incr("records_not_html");
        return Ok(());
    }
    counters.incr("pages");
    if page.images.is_empty() {
        return Ok(());
    }
    let Some(page_url) = page_url(record, counters) else {
        return Ok(());
    };
    let base = document_base(&page_url, page.base.as_deref());
    let page_str: Arc<str> = page_url.as_str().into();
    for img in &page.images {
        let image = RawImage {
            src: &img.url,
            alt: img.alt.as_deref(),
            title: img.title.as_deref(),
        };
        maker.image(&base, &page_str, image, counters, out);
    }
    Ok(())
}

/// The parts of an HTTP response message that matter here.
struct HttpResponse<'a> {
    headers: Vec<(&'a str, &'a str)>,
    body: &'a [u8],
}

impl HttpResponse<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Splits an HTTP response into headers and body; `None` when it has no
/// status line or no end of headers.
fn parse_http(block: &[u8]) -> Option<HttpResponse<'_>> {
    if !block.starts_with(b"HTTP/") {
        return None;
    }
    let (head_end, body_start) = end_of_headers(block)?;
    let head = std::str::from_utf8(&block[..head_end]).ok().or_else(|| {
        // Non-UTF-8 header bytes: keep the ASCII prefix that parses.
        let valid = std::str::from_utf8(&block[..head_end])
            .err()
            .map_or(0, |e| e.valid_up_to());
        std::str::from_utf8(&block[..valid]).ok()
    })?;
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim(), v.trim()))
        })
        .collect();
    Some(HttpResponse {
        headers,
        body: &block[body_start..],
    })
}

/// Where an HTTP header block ends: at its first empty line, whether lines
/// end with CRLF or a bare LF (old crawls, ClueWeb09 among them, store bare
/// LFs), as warcio and browsers read it. Returns the end of the last header
/// line (before its line end) and the start of the body. Taking the first
/// `\r\n\r\n` instead would, for LF headers, take the top of the HTML up to
/// its first blank CRLF line for headers and lose the images there.
fn end_of_headers(block: &[u8]) -> Option<(usize, usize)> {
    memchr::memchr_iter(b'\n', block).find_map(|i| {
        let rest = &block[i + 1..];
        let empty_line = if rest.starts_with(b"\n") {
            1
        } else if rest.starts_with(b"\r\n") {
            2
        } else {
            return None;
        };
        let head_end = if i > 0 && block[i - 1] == b'\r' {
            i - 1
        } else {
            i
        };
        Some((head_end, i + 1 + empty_line))
    })
}

/// Undoes `Transfer-Encoding: chunked`; `None` when the framing is broken.
fn dechunk(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let eol = memchr::memchr(b'\n', rest)?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?.trim();
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        rest = &rest[eol + 1..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() < size {
            // Truncated (Common Crawl cuts payloads at a size limit): keep what is there.
            out.extend_from_slice(rest);
            return Some(out);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size..];
        rest = rest
            .strip_prefix(b"\r\n")
            .or(rest.strip_prefix(b"\n"))
            .unwrap_or(rest);
    }
}

/// Undoes `Content-Encoding: gzip|deflate`, keeping what decodes from a
/// truncated stream. `None` when nothing decodes.
fn decompress(body: &[u8], encoding: &str, limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let result = match encoding {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(body)
            .take(limit as u64)
            .read_to_end(&mut out),
        "deflate" => flate2::read::ZlibDecoder::new(body)
            .take(limit as u64)
            .read_to_end(&mut out),
        _ => return None,
    };
    (result.is_ok() || !out.is_empty()).then_some(out)
}

/// The encoding of an HTML body: BOM, then the HTTP charset, then the
/// `<meta>` prescan, then UTF-8.
fn sniff_encoding(body: &[u8], http_charset: Option<&str>) -> &'static Encoding {
    if let Some((enc, _)) = Encoding::for_bom(body) {
        return enc;
    }
    if let Some(enc) = http_charset.and_then(|c| Encoding::for_label(c.as_bytes())) {
        return enc;
    }
    let head = &body[..body.len().min(PRESCAN_BYTES)];
    let head = String::from_utf8_lossy(head);
    if let Some(enc) = html::meta_charset(&head).and_then(|c| Encoding::for_label(c.as_bytes())) {
        // A meta declaration of UTF-16 means UTF-8 (the page is ASCII-compatible).
        if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
            return UTF_8;
        }
        return enc;
    }
    UTF_8
}

/// Pairs from a WARC `response` record holding an HTML page.
pub fn from_warc_record(
    record: &warc::Record,
    maker: &PairMaker<'_>,
    max_body: usize,
    counters: &mut Counters,
    out: &mut Vec<Pair>,
) {
    if record.warc_type() != "response" {
        counters.incr("records_not_response");
        return;
    }
    let Some(http) = parse_http(&record.block) else {
        counters.incr("fault_http_malformed");
        return;
    };
    let content_type = http
        .header("Content-Type")
        .or_else(|| record.header("WARC-Identified-Payload-Type"))
        .unwrap_or_default();
    let lower_type = content_type.to_ascii_lowercase();
    if !lower_type.contains("html") {
        counters.incr("records_not_html");
        return;
    }
    let mut body: Cow<'_, [u8]> = Cow::Borrowed(http.body);
    if http
        .header("Transfer-Encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        match dechunk(&body) {
            Some(b) => body = Cow::Owned(b),
            None => counters.incr("fault_http_bad_chunking"),
        }
    }
    if let Some(enc) = http.header("Content-Encoding") {
        let enc = enc.trim().to_ascii_lowercase();
        // Crawlers often store the payload already decoded but keep the
        // header (Common Crawl's 2014 crawls do): decode only what is encoded.
        let encoded = match enc.as_str() {
            "gzip" | "x-gzip" => body.starts_with(&[0x1f, 0x8b]),
            "deflate" => body.first().is_some_and(|&b| b & 0x0f == 8),
            _ => false,
        };
        if encoded {
            match decompress(&body, &enc, max_body) {
                Some(b) => body = Cow::Owned(b),
                None => {
                    counters.incr("fault_http_bad_content_encoding");
                    return;
                }
            }
        } else if enc != "identity" && !enc.is_empty() {
            counters.incr("http_content_encoding_already_decoded");
        }
    }
    counters.incr("pages");
    let Some(page_url) = page_url(record, counters) else {
        return;
    };
    let encoding = sniff_encoding(&body, html::charset_param(content_type));
    let (text, _, had_errors) = encoding.decode(&body);
    if had_errors {
        counters.incr("html_invalid_bytes");
    }
    if encoding != UTF_8 {
        counters.incr("html_non_utf8");
    }
    let scan = html::scan(&text);
    if scan.images.is_empty() {
        return;
    }
    let base = document_base(&page_url, scan.base_href);
    let page_str: Arc<str> = page_url.as_str().into();
    for img in &scan.images {
        let Some(src) = img.src else {
            counters.incr("images");
            counters.incr("skip_img_no_src");
            continue;
        };
        let image = RawImage {
            src,
            alt: img.alt,
            title: img.title,
        };
        maker.image(&base, &page_str, image, counters, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::pairs::TextOptions;

    fn response(uri: &str, http: &[u8]) -> warc::Record {
        warc::Record {
            headers: vec![
                ("WARC-Type".into(), "response".into()),
                ("WARC-Target-URI".into(), uri.into()),
            ],
            block: http.to_vec(),
            offset: 0,
        }
    }

    fn pairs(record: &warc::Record) -> (Vec<Pair>, Counters) {
        let opts = TextOptions::default();
        let mut c = Counters::default();
        let mut out = Vec::new();
        from_warc_record(record, &PairMaker::new(&opts), 1 << 20, &mut c, &mut out);
        (out, c)
    }

    #[test]
    fn decodes_declared_charsets() {
        // "café" in windows-1252, declared in the HTTP header.
        let mut http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n<img src=a.jpg alt=\"caf".to_vec();
        http.extend_from_slice(&[0xe9, b'"', b'>']);
        let (p, c) = pairs(&response("http://x/", &http));
        assert_eq!(p[0].text, "café");
        assert_eq!(c.get("html_non_utf8"), 1);
        // Shift_JIS declared in a <meta>, none in the header.
        let (bytes, _, _) = encoding_rs::SHIFT_JIS
            .encode("<meta charset=\"shift_jis\"><img src=b.png alt=\"日本語\">");
        let mut http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n".to_vec();
        http.extend_from_slice(&bytes);
        let (p, _) = pairs(&response("http://x/", &http));
        assert_eq!(p[0].text, "日本語");
    }

    #[test]
    fn chunked_gzip_and_non_html() {
        let body = b"<base href=\"http://cdn/\"><img src=a.jpg alt=x>";
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, body).unwrap();
        let gz = enc.finish().unwrap();
        let mut http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        http.extend_from_slice(format!("{:x}\r\n", gz.len()).as_bytes());
        http.extend_from_slice(&gz);
        http.extend_from_slice(b"\r\n0\r\n\r\n");
        let (p, _) = pairs(&response("http://x/", &http));
        assert_eq!(p[0].url, "http://cdn/a.jpg");
        let (p, c) = pairs(&response(
            "http://x/",
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n<img src=a alt=b>",
        ));
        assert!(p.is_empty());
        assert_eq!(c.get("records_not_html"), 1);
        let (_, c) = pairs(&response("http://x/", b"garbage"));
        assert_eq!(c.get("fault_http_malformed"), 1);
    }

    /// A page of an old crawl: HTTP headers ending with bare LFs, an HTML body
    /// with CRLF lines and blank lines. The first `\r\n\r\n` is in the
    /// body; the headers end at the earlier `\n\n`.
    #[test]
    fn lf_only_http_headers_keep_every_image() {
        let body = "<html><head><title>Gallery</title></head>\r\n<body>\r\n\
                    <img src=\"/a.jpg\" alt=\"first photo\">\r\n\r\n\
                    <p>More below.</p>\r\n\r\n\
                    <img src=\"/b.jpg\" alt=\"second photo\">\r\n\
                    <img src=\"/c.jpg\" alt=\"third photo\">\r\n</body></html>\r\n";
        let http = format!(
            "HTTP/1.1 200 OK\nDate: Tue, 13 Jan 2009 18:05:10 GMT\nServer: Apache/2.2.3\n\
             Content-Type: text/html\nContent-Length: {}\n\n{body}",
            body.len()
        );
        let uri = "http://www.example.com/gallery.html";
        let mut bytes = Vec::new();
        let mut w = synthetic::warc::Writer::new(&mut bytes, false);
        w.write(&synthetic::warc::Record::response(
            1,
            "2009-01-13T18:05:10Z",
            uri,
            http.as_bytes(),
        ))
        .unwrap();
        let mut reader = warc::Reader::new(&bytes[..], 1 << 20);
        let Some(warc::Item::Record(record)) = reader.next_item().unwrap() else {
            panic!("the record does not read back");
        };
        let (p, c) = pairs(&record);
        let texts: Vec<&str> = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["first photo", "second photo", "third photo"]);
        assert_eq!(p[0].url, "http://www.example.com/a.jpg");
        assert_eq!(c.get("fault_http_malformed"), 0);
        // Every spelling of the empty line ends the headers at the first one.
        for (raw, head, body) in [
            (&b"HTTP/1.1 200 OK\r\nA: 1\r\n\r\nx\n\ny"[..], 21, 25),
            (b"HTTP/1.1 200 OK\nA: 1\n\nx\r\n\r\ny", 20, 22),
            (b"HTTP/1.1 200 OK\nA: 1\n\r\nx", 20, 23),
            (b"HTTP/1.1 200 OK\r\nA: 1\r\n\nx", 21, 24),
        ] {
            assert_eq!(end_of_headers(raw), Some((head, body)), "{raw:?}");
        }
        assert_eq!(end_of_headers(b"HTTP/1.1 200 OK\r\nA: 1\r\n"), None);
    }
}
