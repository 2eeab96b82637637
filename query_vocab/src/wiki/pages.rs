//! Splitting a decoded MediaWiki export into `<page>` records, and parsing one
//! page's XML into its title, namespace, redirect flag and wikitext.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use quick_xml::events::Event;

use crate::error::{Result, VocabError};

/// Decoded bytes read from the stream at a time.
const READ_BYTES: usize = 4 << 20;
/// How far into the file the `<mediawiki` root element must appear.
const HEADER_LIMIT: usize = 1 << 20;

/// Raw page records cut from one dump, handed to a worker together.
#[derive(Debug)]
pub struct PageBatch {
    /// The dump the pages come from.
    pub file: Arc<PathBuf>,
    /// The pages' XML, back to back.
    pub data: Vec<u8>,
    /// Each page: its decoded byte offset in the dump and its range in `data`.
    pub pages: Vec<(u64, Range<usize>)>,
}

/// Faults and totals of splitting one dump.
#[derive(Debug, Clone, Default)]
pub struct SplitStats {
    /// `<page>` records found.
    pub pages: u64,
    /// Decoded bytes read.
    pub decoded_bytes: u64,
    /// `<page>` records that never close (skipped).
    pub unclosed_pages: u64,
    /// Whether the dump ends without `</mediawiki>`.
    pub truncated: bool,
}

/// Reads `reader` (the decoded dump at `path`) and calls `send` with batches
/// of about `batch_bytes` of page XML. Stops early when `send` returns false.
pub fn split_pages(
    path: &Path,
    mut reader: impl Read,
    batch_bytes: usize,
    mut send: impl FnMut(PageBatch) -> bool,
) -> Result<SplitStats> {
    let file = Arc::new(path.to_path_buf());
    let new_batch = || PageBatch {
        file: file.clone(),
        data: Vec::with_capacity(batch_bytes + (1 << 16)),
        pages: Vec::new(),
    };
    let mut stats = SplitStats::default();
    let mut batch = new_batch();
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_offset = 0u64; // decoded offset of buf[0]
    let mut scan = 0usize;
    let mut eof = false;
    let mut header_checked = false;
    let mut seen_end = false;
    let page_open = memchr::memmem::Finder::new(b"<page>");
    let page_close = memchr::memmem::Finder::new(b"</page>");
    loop {
        if !header_checked && (eof || buf.len() >= HEADER_LIMIT || page_open.find(&buf).is_some()) {
            let first_page = page_open.find(&buf).unwrap_or(buf.len());
            if memchr::memmem::find(&buf[..first_page], b"<mediawiki").is_none() {
                return Err(VocabError::NotMediaWiki {
                    path: path.to_path_buf(),
                    offset: 0,
                    reason: "no <mediawiki> root element before the first page".into(),
                });
            }
            header_checked = true;
        }
        let found = page_open.find(&buf[scan..]).map(|p| p + scan);
        match found {
            Some(start) if header_checked => {
                let close = page_close.find(&buf[start..]).map(|p| p + start);
                match close {
                    Some(close) => {
                        let end = close + b"</page>".len();
                        // A `<page>` opened again before this one closes: the
                        // first is broken; skip it.
                        if let Some(again) = page_open.find(&buf[start + 6..close]) {
                            stats.unclosed_pages += 1;
                            log::warn!(
                                "{}: page at decoded byte {} is not closed before the next page; skipped",
                                path.display(),
                                buf_offset + start as u64
                            );
                            scan = start + 6 + again;
                            continue;
                        }
                        stats.pages += 1;
                        let at = batch.data.len();
                        batch.data.extend_from_slice(&buf[start..end]);
                        batch
                            .pages
                            .push((buf_offset + start as u64, at..batch.data.len()));
                        scan = end;
                        if batch.data.len() >= batch_bytes
                            && !send(std::mem::replace(&mut batch, new_batch()))
                        {
                            return Ok(stats);
                        }
                        continue;
                    }
                    None if eof => {
                        stats.unclosed_pages += 1;
                        log::warn!(
                            "{}: page at decoded byte {} is not closed: the dump ends early; skipped",
                            path.display(),
                            buf_offset + start as u64
                        );
                        scan = buf.len();
                        continue;
                    }
                    None => {
                        // Keep the open page; drop what is before it.
                        seen_end |=
                            memchr::memmem::find(&buf[scan..start], b"</mediawiki>").is_some();
                        buf.drain(..start);
                        buf_offset += start as u64;
                        scan = 0;
                    }
                }
            }
            _ => {
                if eof {
                    seen_end |= memchr::memmem::find(&buf[scan..], b"</mediawiki>").is_some();
                    break;
                }
                if header_checked {
                    // No page start in sight: keep only a possible partial tag.
                    let keep_from = buf.len().saturating_sub(16).max(scan);
                    seen_end |= memchr::memmem::find(&buf[scan..], b"</mediawiki>").is_some();
                    buf.drain(..keep_from);
                    buf_offset += keep_from as u64;
                    scan = 0;
                }
            }
        }
        // Need more data.
        let old = buf.len();
        buf.resize(old + READ_BYTES, 0);
        let mut n = 0;
        while n == 0 {
            match reader.read(&mut buf[old..]) {
                Ok(k) => {
                    n = k;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(path, e)),
            }
        }
        buf.truncate(old + n);
        stats.decoded_bytes += n as u64;
        if n == 0 {
            eof = true;
        }
    }
    if !batch.pages.is_empty() {
        send(batch);
    }
    if !seen_end {
        stats.truncated = true;
        log::warn!(
            "{}: no </mediawiki> at decoded byte {}: the dump is truncated",
            path.display(),
            stats.decoded_bytes
        );
    }
    Ok(stats)
}

/// Unwraps our own errors carried through `io::Error`, or names the file.
fn read_error(path: &Path, e: std::io::Error) -> VocabError {
    if e.get_ref().is_some_and(|inner| inner.is::<VocabError>()) {
        let inner = e.into_inner().expect("checked");
        return *inner.downcast::<VocabError>().expect("checked");
    }
    VocabError::io(path, e)
}

/// One parsed page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// `<title>`.
    pub title: String,
    /// `<ns>` (0 = article); 0 when absent, as in old exports.
    pub ns: i64,
    /// Whether the page has a `<redirect>` element.
    pub redirect: bool,
    /// The (last) revision's wikitext.
    pub text: String,
}

#[derive(PartialEq)]
enum Field {
    None,
    Title,
    Ns,
    Text,
}

/// Parses one `<page>…</page>` record. The error says what is wrong and at
/// which byte of the record.
pub fn parse_page(xml: &[u8]) -> std::result::Result<Page, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut page = Page::default();
    let mut ns = String::new();
    let mut field = Field::None;
    let at = |r: &quick_xml::Reader<&[u8]>| r.buffer_position();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("{e} (at byte {} of the page)", at(&reader)))?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                field = match (stack.len(), name.as_slice()) {
                    (1, b"title") => Field::Title,
                    (1, b"ns") => Field::Ns,
                    (2, b"text") if stack[1] == b"revision" => {
                        page.text.clear();
                        Field::Text
                    }
                    _ => Field::None,
                };
                if stack.len() == 1 && name == b"redirect" {
                    page.redirect = true;
                }
                stack.push(name);
            }
            Event::Empty(e) if stack.len() == 1 && e.local_name().as_ref() == b"redirect" => {
                page.redirect = true;
            }
            Event::End(_) => {
                stack.pop();
                field = Field::None;
            }
            Event::Text(e) if field != Field::None => {
                let s = e
                    .decode()
                    .map_err(|e| format!("{e} (at byte {} of the page)", at(&reader)))?;
                push_field(&mut page, &mut ns, &field, &s);
            }
            Event::CData(e) if field != Field::None => {
                let s = e
                    .decode()
                    .map_err(|e| format!("{e} (at byte {} of the page)", at(&reader)))?;
                push_field(&mut page, &mut ns, &field, &s);
            }
            Event::GeneralRef(e) if field != Field::None => {
                let resolved = match e.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    _ => {
                        let name = e.decode().map_err(|e| e.to_string())?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                format!(
                                    "unknown entity &{name}; (at byte {} of the page)",
                                    at(&reader)
                                )
                            })?
                            .to_string()
                    }
                };
                push_field(&mut page, &mut ns, &field, &resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "element <{}> is not closed",
            String::from_utf8_lossy(stack.last().expect("non-empty"))
        ));
    }
    if page.title.is_empty() {
        return Err("page without a <title>".into());
    }
    let ns = ns.trim();
    page.ns = if ns.is_empty() {
        0
    } else {
        ns.parse()
            .map_err(|_| format!("<ns> is not a number: {ns:?}"))?
    };
    Ok(page)
}

fn push_field(page: &mut Page, ns: &mut String, field: &Field, s: &str) {
    match field {
        Field::Title => page.title.push_str(s),
        Field::Ns => ns.push_str(s),
        Field::Text => page.text.push_str(s),
        Field::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_page() {
        let xml = b"<page><title>A &amp; B</title><ns>0</ns><id>1</id>\
            <revision><id>2</id><text bytes=\"5\" xml:space=\"preserve\">x &lt;ref&gt; &#233;</text></revision></page>";
        let p = parse_page(xml).unwrap();
        assert_eq!(p.title, "A & B");
        assert_eq!(p.ns, 0);
        assert!(!p.redirect);
        assert_eq!(p.text, "x <ref> é");
        let r = parse_page(b"<page><title>R</title><ns>0</ns><redirect title=\"X\" /><revision><text>#REDIRECT [[X]]</text></revision></page>").unwrap();
        assert!(r.redirect);
    }

    #[test]
    fn malformed_page_is_an_error() {
        let err = parse_page(b"<page><title>A</titel><ns>0</ns></page>").unwrap_err();
        assert!(err.contains("at byte"), "{err}");
        assert!(parse_page(b"<page><title>A</title><ns>x</ns></page>").is_err());
        assert!(parse_page(b"<page><ns>0</ns></page>").is_err());
    }

    #[test]
    fn splits_pages_and_reports_truncation() {
        let xml = b"<mediawiki><siteinfo/>\n<page><title>A</title></page>\n<page><title>B</title>\n<page><title>C</title></page>\n<page><title>D";
        let mut got = Vec::new();
        let stats = split_pages(Path::new("t.xml"), &xml[..], 10, |b| {
            for (_, r) in &b.pages {
                got.push(String::from_utf8(b.data[r.clone()].to_vec()).unwrap());
            }
            true
        })
        .unwrap();
        assert_eq!(got.len(), 2);
        assert!(got[1].contains("<title>C"));
        assert_eq!(stats.unclosed_pages, 2);
        assert!(stats.truncated);
        let err = split_pages(Path::new("t.xml"), &b"<html><page></page>"[..], 10, |_| {
            true
        })
        .unwrap_err();
        assert!(err.to_string().contains("t.xml"));
    }
}
