//! From raw attribute values to (image URL, text) pairs: entity decoding,
//! whitespace collapsing, URL resolution and the text filters. WARC and WAT
//! inputs go through the same function, which is what makes them agree.

use std::sync::Arc;

use url::Url;

use super::entities::decode_attribute;
use crate::task::Counters;

/// Text rules (cc2dataset's options).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TextOptions {
    /// Also emit a pair with the `title` attribute as text.
    pub include_title: bool,
    /// Keep images whose alt is empty or missing (text `""`).
    pub keep_empty_alt: bool,
    /// Drop texts shorter than this many characters.
    pub min_text_len: usize,
    /// Drop texts longer than this many characters.
    pub max_text_len: usize,
    /// Drop image URLs longer than this many bytes.
    pub max_url_len: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            include_title: false,
            keep_empty_alt: false,
            min_text_len: 0,
            max_text_len: 4096,
            max_url_len: 4096,
        }
    }
}

/// One extracted pair (its uid is computed when it is written).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    /// The absolute image URL.
    pub url: String,
    /// The alt-text (or title, or caption).
    pub text: String,
    /// The page the image was found on (shared by the pairs of a page).
    pub page_url: Option<Arc<str>>,
}

/// The raw (not entity-decoded) attributes of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawImage<'a> {
    /// `src`.
    pub src: &'a str,
    /// `alt`, when present.
    pub alt: Option<&'a str>,
    /// `title`, when present.
    pub title: Option<&'a str>,
}

/// Collapses every run of whitespace to one space and trims the ends.
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The text of an attribute value: entities decoded, whitespace collapsed.
pub fn attribute_text(raw: &str) -> String {
    collapse_whitespace(&decode_attribute(raw))
}

/// Where a page's relative image URLs resolve: the page URL, or its `<base>`
/// resolved against the page URL.
pub fn document_base(page: &Url, base_href: Option<&str>) -> Url {
    base_href
        .map(|b| decode_attribute(b.trim()))
        .filter(|b| !b.is_empty())
        .and_then(|b| page.join(&b).ok())
        .filter(|u| !u.cannot_be_a_base())
        .unwrap_or_else(|| page.clone())
}

/// Turns the raw `src`/`alt`/`title` of an image into pairs, applying the
/// options; every decision is counted in `counters`.
pub struct PairMaker<'o> {
    opts: &'o TextOptions,
}

impl<'o> PairMaker<'o> {
    /// A maker with the given rules.
    pub fn new(opts: &'o TextOptions) -> Self {
        Self { opts }
    }

    /// Resolves an image `src` against the document base. `None` (counted)
    /// for empty, `data:`, non-http(s), unparsable or too long URLs.
    pub fn image_url(&self, base: &Url, src: &str, counters: &mut Counters) -> Option<String> {
        let src = decode_attribute(src);
        let src = src.trim_matches(|c: char| c.is_ascii_whitespace());
        if src.is_empty() {
            counters.incr("skip_img_no_src");
            return None;
        }
        if src.len() >= 5 && src.as_bytes()[..5].eq_ignore_ascii_case(b"data:") {
            counters.incr("skip_img_data_url");
            return None;
        }
        let url = match base.join(src) {
            Ok(u) => u,
            Err(_) => {
                counters.incr("skip_img_bad_url");
                return None;
            }
        };
        if !matches!(url.scheme(), "http" | "https") {
            counters.incr("skip_img_not_http");
            return None;
        }
        let url: String = url.into();
        if url.len() > self.opts.max_url_len {
            counters.incr("skip_img_url_too_long");
            return None;
        }
        Some(url)
    }

    /// Applies the length filters to a text; `false` (counted) when dropped.
    fn keep_text(&self, text: &str, counters: &mut Counters) -> bool {
        // Byte length bounds the char count: skip counting when clearly fine.
        let chars = if text.len() <= self.opts.max_text_len && self.opts.min_text_len == 0 {
            text.len()
        } else {
            text.chars().count()
        };
        if chars > self.opts.max_text_len {
            counters.incr("skip_text_too_long");
            return false;
        }
        if chars < self.opts.min_text_len {
            counters.incr("skip_text_too_short");
            return false;
        }
        true
    }

    /// Emits the pairs of one image into `out`.
    pub fn image(
        &self,
        base: &Url,
        page_url: &Arc<str>,
        image: RawImage<'_>,
        counters: &mut Counters,
        out: &mut Vec<Pair>,
    ) {
        let RawImage { src, alt, title } = image;
        counters.incr("images");
        let Some(url) = self.image_url(base, src, counters) else {
            return;
        };
        let alt_text = alt.map(attribute_text).unwrap_or_default();
        let mut emitted = false;
        if alt_text.is_empty() && !self.opts.keep_empty_alt {
            counters.incr(if alt.is_none() {
                "skip_img_no_alt"
            } else {
                "skip_img_empty_alt"
            });
        } else if self.keep_text(&alt_text, counters) {
            out.push(Pair {
                url: url.clone(),
                text: alt_text.clone(),
                page_url: Some(page_url.clone()),
            });
            emitted = true;
        }
        if self.opts.include_title {
            if let Some(title) = title {
                let title_text = attribute_text(title);
                if !title_text.is_empty()
                    && (title_text != alt_text || !emitted)
                    && self.keep_text(&title_text, counters)
                {
                    counters.incr("pairs_from_title");
                    out.push(Pair {
                        url,
                        text: title_text,
                        page_url: Some(page_url.clone()),
                    });
                }
            }
        }
    }

    /// Emits the pair of one table row into `out`.
    pub fn table_row(
        &self,
        url: &str,
        caption: Option<&str>,
        counters: &mut Counters,
        out: &mut Vec<Pair>,
    ) {
        let url = url.trim();
        let parsed = match Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(_) => {
                counters.incr("skip_img_not_http");
                return;
            }
            Err(_) => {
                counters.incr("skip_img_bad_url");
                return;
            }
        };
        let url: String = parsed.into();
        if url.len() > self.opts.max_url_len {
            counters.incr("skip_img_url_too_long");
            return;
        }
        let text = caption.map(collapse_whitespace).unwrap_or_default();
        if text.is_empty() && !self.opts.keep_empty_alt {
            counters.incr("skip_empty_caption");
            return;
        }
        if !self.keep_text(&text, counters) {
            return;
        }
        out.push(Pair {
            url,
            text,
            page_url: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(opts: &TextOptions, src: &str, alt: Option<&str>, title: Option<&str>) -> Vec<Pair> {
        let page = Url::parse("http://example.com/dir/page.html?q=1").unwrap();
        let mut out = Vec::new();
        let mut c = Counters::default();
        let image = RawImage { src, alt, title };
        let page_str: Arc<str> = page.as_str().into();
        PairMaker::new(opts).image(&page, &page_str, image, &mut c, &mut out);
        out
    }

    #[test]
    fn resolves_decodes_and_collapses() {
        let o = TextOptions::default();
        let p = run(
            &o,
            " ../img/a b.jpg?x=1&amp;y=2 ",
            Some("  A &amp;\n\t B  "),
            None,
        );
        assert_eq!(p[0].url, "http://example.com/img/a%20b.jpg?x=1&y=2");
        assert_eq!(p[0].text, "A & B");
        assert_eq!(
            p[0].page_url.as_deref(),
            Some("http://example.com/dir/page.html?q=1")
        );
        assert_eq!(
            run(&o, "//cdn.x/a.png", Some("a"), None)[0].url,
            "http://cdn.x/a.png"
        );
    }

    #[test]
    fn skips_data_and_non_http_urls() {
        let o = TextOptions::default();
        assert!(run(&o, "data:image/png;base64,AAAA", Some("a"), None).is_empty());
        assert!(run(&o, "javascript:void(0)", Some("a"), None).is_empty());
        assert!(run(&o, "ftp://x/a.png", Some("a"), None).is_empty());
        assert!(run(&o, "   ", Some("a"), None).is_empty());
        assert_eq!(
            run(&o, "ééé.png", Some("a"), None)[0].url,
            "http://example.com/dir/%C3%A9%C3%A9%C3%A9.png"
        );
    }

    #[test]
    fn empty_alt_title_and_lengths() {
        let o = TextOptions::default();
        assert!(run(&o, "a.jpg", Some("  "), None).is_empty());
        assert!(run(&o, "a.jpg", None, Some("t")).is_empty());
        let keep = TextOptions {
            keep_empty_alt: true,
            ..TextOptions::default()
        };
        assert_eq!(run(&keep, "a.jpg", None, None)[0].text, "");
        let title = TextOptions {
            include_title: true,
            ..TextOptions::default()
        };
        let texts: Vec<_> = run(&title, "a.jpg", Some("alt"), Some("title"))
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(texts, vec!["alt", "title"]);
        assert_eq!(run(&title, "a.jpg", Some("same"), Some("same")).len(), 1);
        assert_eq!(
            run(&title, "a.jpg", None, Some("only title"))[0].text,
            "only title"
        );
        let bounds = TextOptions {
            min_text_len: 3,
            max_text_len: 5,
            ..TextOptions::default()
        };
        assert!(run(&bounds, "a.jpg", Some("ab"), None).is_empty());
        assert!(run(&bounds, "a.jpg", Some("abcdef"), None).is_empty());
        assert_eq!(run(&bounds, "a.jpg", Some("ééé"), None).len(), 1);
    }

    #[test]
    fn base_resolution() {
        let page = Url::parse("http://example.com/a/b.html").unwrap();
        assert_eq!(
            document_base(&page, Some("/x/")).as_str(),
            "http://example.com/x/"
        );
        assert_eq!(
            document_base(&page, Some("https://cdn.example.org/y/")).as_str(),
            "https://cdn.example.org/y/"
        );
        assert_eq!(document_base(&page, Some("")).as_str(), page.as_str());
        assert_eq!(document_base(&page, None).as_str(), page.as_str());
    }
}
