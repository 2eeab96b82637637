//! A single-pass scanner that finds the `<img>` and `<base>` elements of an
//! HTML document and reads their attributes.
//!
//! It follows the WHATWG tokenizer where that matters for finding tags:
//! comments (`<!-- ... -->`), doctype and processing instructions, the raw-text
//! elements whose content is never markup (`script`, `style`, `textarea`,
//! `title`, `xmp`, `noembed`, `noframes`, `iframe`), quoted and unquoted
//! attribute values (a `>` inside quotes does not end a tag), and the first of
//! duplicated attributes winning. It builds no tree: a page is scanned once,
//! with `memchr` jumping between `<` characters, and allocation only for the
//! attributes of the elements it reports. `<img>` inside `<noscript>` is
//! reported, as a parser without scripting sees it (lazy-loading pages put
//! their real images there).

/// An `<img>` element: raw (not entity-decoded) attribute values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImgTag<'a> {
    /// The `src` attribute.
    pub src: Option<&'a str>,
    /// The `alt` attribute (`Some("")` for `alt=""` or a bare `alt`).
    pub alt: Option<&'a str>,
    /// The `title` attribute.
    pub title: Option<&'a str>,
}

/// What the scanner found in a document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan<'a> {
    /// The `href` of the first `<base>` element that has one (raw value).
    pub base_href: Option<&'a str>,
    /// Every `<img>` element in document order.
    pub images: Vec<ImgTag<'a>>,
}

/// Elements whose content is text, not markup.
const RAW_TEXT: [&str; 8] = [
    "script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe",
];

/// Scans a whole document.
pub fn scan(html: &str) -> Scan<'_> {
    let mut out = Scan::default();
    let mut tags = Tags::new(html);
    while let Some(tag) = tags.next_tag() {
        if tag.name.eq_ignore_ascii_case("img") {
            let mut img = ImgTag::default();
            for (name, value) in tag.attrs() {
                let slot = if name.eq_ignore_ascii_case("src") {
                    &mut img.src
                } else if name.eq_ignore_ascii_case("alt") {
                    &mut img.alt
                } else if name.eq_ignore_ascii_case("title") {
                    &mut img.title
                } else {
                    continue;
                };
                if slot.is_none() {
                    *slot = Some(value);
                }
            }
            out.images.push(img);
        } else if out.base_href.is_none() && tag.name.eq_ignore_ascii_case("base") {
            out.base_href = tag
                .attrs()
                .find(|(n, _)| n.eq_ignore_ascii_case("href"))
                .map(|(_, v)| v);
        }
    }
    out
}

/// The `<meta>` charset declarations of a document's first bytes (the
/// encoding-sniffing prescan): `<meta charset=X>` or
/// `<meta http-equiv=content-type content="...; charset=X">`.
pub fn meta_charset(head: &str) -> Option<&str> {
    let mut tags = Tags::new(head);
    while let Some(tag) = tags.next_tag() {
        if !tag.name.eq_ignore_ascii_case("meta") {
            continue;
        }
        let mut content = None;
        for (name, value) in tag.attrs() {
            if name.eq_ignore_ascii_case("charset") {
                let v = value.trim();
                if !v.is_empty() {
                    return Some(v);
                }
            } else if name.eq_ignore_ascii_case("content") && content.is_none() {
                content = Some(value);
            }
        }
        if let Some(c) = content.and_then(charset_param) {
            return Some(c);
        }
    }
    None
}

/// The `charset=` parameter of a Content-Type value.
pub fn charset_param(content_type: &str) -> Option<&str> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("charset")?;
    let rest = content_type[at + "charset".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.trim_start_matches(['"', '\'']);
    let end = rest
        .find(|c: char| c == ';' || c == '"' || c == '\'' || c.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let v = &rest[..end];
    (!v.is_empty()).then_some(v)
}

/// A start tag: its name and the source text of its attributes.
struct StartTag<'a> {
    name: &'a str,
    attrs: &'a str,
}

impl<'a> StartTag<'a> {
    fn attrs(&self) -> Attrs<'a> {
        Attrs { rest: self.attrs }
    }
}

/// Iterates the start tags of a document.
struct Tags<'a> {
    doc: &'a str,
    pos: usize,
}

impl<'a> Tags<'a> {
    fn new(doc: &'a str) -> Self {
        Self { doc, pos: 0 }
    }

    fn next_tag(&mut self) -> Option<StartTag<'a>> {
        let bytes = self.doc.as_bytes();
        loop {
            let lt = self.pos + memchr::memchr(b'<', &bytes[self.pos..])?;
            let next = bytes.get(lt + 1).copied();
            match next {
                Some(b'!') => {
                    self.pos = if bytes[lt..].starts_with(b"<!--") {
                        // `<!-->` and `<!--->` close at once, as in browsers.
                        let body = lt + 4;
                        if bytes[body..].starts_with(b">") {
                            body + 1
                        } else if bytes[body..].starts_with(b"->") {
                            body + 2
                        } else {
                            find(bytes, body, b"-->").map_or(bytes.len(), |i| i + 3)
                        }
                    } else {
                        find_byte(bytes, lt + 2, b'>').map_or(bytes.len(), |i| i + 1)
                    };
                }
                Some(b'?') => {
                    self.pos = find_byte(bytes, lt + 2, b'>').map_or(bytes.len(), |i| i + 1);
                }
                Some(b'/') => {
                    // An end tag: skip it (its attributes, if any, are ignored).
                    self.pos = match bytes.get(lt + 2) {
                        Some(c) if c.is_ascii_alphabetic() => {
                            skip_attrs(bytes, lt + 2).map_or(bytes.len(), |(end, _)| end)
                        }
                        _ => find_byte(bytes, lt + 2, b'>').map_or(bytes.len(), |i| i + 1),
                    };
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let name_start = lt + 1;
                    let name_end = bytes[name_start..]
                        .iter()
                        .position(|&b| is_space(b) || b == b'/' || b == b'>')
                        .map_or(bytes.len(), |i| name_start + i);
                    // A tag cut by the end of the document is dropped, as by browsers.
                    let (end, attrs_end) = skip_attrs(bytes, name_end)?;
                    let name = &self.doc[name_start..name_end];
                    let attrs = &self.doc[name_end..attrs_end];
                    self.pos = end;
                    if let Some(raw) = RAW_TEXT.iter().find(|t| t.eq_ignore_ascii_case(name)) {
                        self.pos = skip_raw_text(bytes, end, raw.as_bytes());
                    }
                    return Some(StartTag { name, attrs });
                }
                _ => self.pos = lt + 1,
            }
        }
    }
}

/// From just after a tag name, finds the tag's end. Returns the index after the
/// closing `>` and the end of the attribute text, or `None` when the document
/// ends first.
fn skip_attrs(bytes: &[u8], mut i: usize) -> Option<(usize, usize)> {
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return Some((i + 1, i)),
            q @ (b'"' | b'\'') => {
                // Only a quote right after `=` (and spaces) opens a value;
                // anywhere else it is part of a name and is skipped.
                if prev_non_space(bytes, i) == Some(b'=') {
                    i = find_byte(bytes, i + 1, q).map_or(bytes.len(), |j| j + 1);
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn prev_non_space(bytes: &[u8], i: usize) -> Option<u8> {
    bytes[..i].iter().rev().copied().find(|&b| !is_space(b))
}

/// Skips the content of a raw-text element up to and past its end tag.
fn skip_raw_text(bytes: &[u8], mut i: usize, name: &[u8]) -> usize {
    while let Some(lt) = find(bytes, i, b"</") {
        let after = lt + 2;
        let candidate = &bytes[after..(after + name.len()).min(bytes.len())];
        if candidate.eq_ignore_ascii_case(name) {
            let b = bytes.get(after + name.len()).copied();
            if matches!(b, None | Some(b'>') | Some(b'/')) || b.is_some_and(is_space) {
                return find_byte(bytes, after, b'>').map_or(bytes.len(), |j| j + 1);
            }
        }
        i = after;
    }
    bytes.len()
}

/// Iterates `(name, raw value)` over attribute source text.
struct Attrs<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest;
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && (is_space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            self.rest = "";
            return None;
        }
        // Name: up to space, '/', '>' or '=' (a leading '=' is part of it).
        let name_start = i;
        i += 1;
        while i < b.len() && !is_space(b[i]) && b[i] != b'/' && b[i] != b'=' && b[i] != b'>' {
            i += 1;
        }
        let name = &s[name_start..i];
        let mut j = i;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' {
            self.rest = &s[i..];
            return Some((name, ""));
        }
        j += 1;
        while j < b.len() && is_space(b[j]) {
            j += 1;
        }
        let value;
        match b.get(j) {
            Some(&q) if q == b'"' || q == b'\'' => {
                let end = find_byte(b, j + 1, q).unwrap_or(b.len());
                value = &s[j + 1..end];
                self.rest = &s[(end + 1).min(b.len())..];
            }
            _ => {
                let end = b[j..]
                    .iter()
                    .position(|&c| is_space(c) || c == b'>')
                    .map_or(b.len(), |k| j + k);
                value = &s[j..end];
                self.rest = &s[end..];
            }
        }
        Some((name, value))
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

fn find_byte(bytes: &[u8], from: usize, b: u8) -> Option<usize> {
    memchr::memchr(b, bytes.get(from..)?).map(|i| from + i)
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(bytes.get(from..)?, needle).map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imgs(html: &str) -> Vec<(Option<&str>, Option<&str>)> {
        scan(html).images.iter().map(|i| (i.src, i.alt)).collect()
    }

    #[test]
    fn finds_images_with_all_quoting_styles() {
        let html = r#"<p><IMG SRC="a.jpg" ALT="A"><img src='b.jpg' alt='B &amp; C'>
            <img src=c.jpg alt=C/><img
              alt = "D"  src = "d.jpg" ></p>"#;
        assert_eq!(
            imgs(html),
            vec![
                (Some("a.jpg"), Some("A")),
                (Some("b.jpg"), Some("B &amp; C")),
                (Some("c.jpg"), Some("C/")),
                (Some("d.jpg"), Some("D")),
            ]
        );
    }

    #[test]
    fn quotes_hide_gt_and_first_duplicate_wins() {
        let html = r#"<img alt="a > b" src="x.png" src="y.png" title=t><img alt src=z>"#;
        let s = scan(html);
        assert_eq!(s.images[0].alt, Some("a > b"));
        assert_eq!(s.images[0].src, Some("x.png"));
        assert_eq!(s.images[0].title, Some("t"));
        assert_eq!(s.images[1].alt, Some(""));
        assert_eq!(s.images[1].src, Some("z"));
    }

    #[test]
    fn skips_comments_scripts_and_raw_text() {
        let html = r#"<!-- <img src="c1"> --><!--><img src="real1">
            <script>var s = "<img src='js'>"; if (a<b) {}</script >
            <style>/* <img src=css> */</style><textarea><img src=ta></textarea>
            <title><img src=t></title><noscript><img src="real2" alt="n"></noscript>
            <!DOCTYPE html><?xml x?><a href=x>text</a><img src=real3>"#;
        let srcs: Vec<_> = scan(html).images.iter().map(|i| i.src.unwrap()).collect();
        assert_eq!(srcs, vec!["real1", "real2", "real3"]);
    }

    #[test]
    fn script_end_tag_needs_name_boundary() {
        let html = "<script>a = '</scripty>'; </script><img src=ok>";
        assert_eq!(imgs(html), vec![(Some("ok"), None)]);
    }

    #[test]
    fn base_is_first_with_href() {
        let html = r#"<base target=_blank><base href="/x/"><base href="/y/"><img src=a>"#;
        assert_eq!(scan(html).base_href, Some("/x/"));
    }

    #[test]
    fn unterminated_input_is_safe() {
        for html in [
            "<img src=\"a",
            "<img",
            "<",
            "<!--",
            "<script>",
            "<img src='a' alt",
            "<a",
        ] {
            let _ = scan(html);
        }
        assert_eq!(imgs("<img src=a alt=b"), vec![]);
    }

    #[test]
    fn meta_charset_prescan() {
        assert_eq!(
            meta_charset(r#"<meta charset="iso-8859-1">"#),
            Some("iso-8859-1")
        );
        assert_eq!(
            meta_charset(
                r#"<META http-equiv="Content-Type" content="text/html; charset=windows-1251">"#
            ),
            Some("windows-1251")
        );
        assert_eq!(meta_charset("<meta name=x content=y>"), None);
        assert_eq!(charset_param("text/html;charset=\"UTF-8\""), Some("UTF-8"));
        assert_eq!(charset_param("text/html"), None);
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

            /// Any text scans without panicking, and images written plainly
            /// after it (outside raw text) are found.
            #[test]
            fn any_text_then_an_image(prefix in "(<|>|\"|'|=|/|!|-|a|i|m|g|s|c|r|t| |é|\\?)*") {
                let _ = scan(&prefix);
                let doc = format!("{prefix}\"'\">--></script></style></title></textarea></xmp></iframe></noembed></noframes><img src=found alt=yes>");
                let s = scan(&doc);
                prop_assert_eq!(s.images.last().map(|i| (i.src, i.alt)), Some((Some("found"), Some("yes"))));
            }
        }
    }
}
