//! The metadata JSON of WAT records.
//!
//! A WAT file is a WARC file whose `metadata` records hold one JSON document
//! each, describing one record of the original WARC. For an HTML response the
//! links are under
//! `Envelope → Payload-Metadata → HTTP-Response-Metadata → HTML-Metadata → Links`,
//! and the `<base>` under `... → HTML-Metadata → Head → Base`. Images are the
//! links whose `path` is `IMG@/src`, with the element's `alt` (and `title`)
//! next to the `url`. Values are the raw attribute text of the page: entity
//! references are not decoded and URLs are not resolved.
//!
//! Only the fields used are deserialised, borrowing from the record's bytes
//! when they need no unescaping.

use std::borrow::Cow;

use serde::Deserialize;

/// An image link of a WAT record (raw attribute values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLink<'a> {
    /// The `src` attribute.
    pub url: Cow<'a, str>,
    /// The `alt` attribute, when present.
    pub alt: Option<Cow<'a, str>>,
    /// The `title` attribute, when present.
    pub title: Option<Cow<'a, str>>,
}

/// What a WAT record says about one HTML page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageLinks<'a> {
    /// The `href` of the page's `<base>`, when it has one.
    pub base: Option<Cow<'a, str>>,
    /// The page's images, in document order.
    pub images: Vec<ImageLink<'a>>,
    /// `Envelope → WARC-Header-Metadata → WARC-Target-URI`, when present.
    pub target_uri: Option<Cow<'a, str>>,
    /// Whether the record describes an HTML page at all.
    pub is_html: bool,
}

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(rename = "Envelope", borrow)]
    envelope: Envelope<'a>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "WARC-Header-Metadata", borrow, default)]
    warc: Option<WarcHeader<'a>>,
    #[serde(rename = "Payload-Metadata", borrow, default)]
    payload: Option<Payload<'a>>,
}

#[derive(Deserialize)]
struct WarcHeader<'a> {
    #[serde(rename = "WARC-Target-URI", borrow, default)]
    target_uri: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "HTTP-Response-Metadata", borrow, default)]
    response: Option<Response<'a>>,
}

#[derive(Deserialize)]
struct Response<'a> {
    #[serde(rename = "HTML-Metadata", borrow, default)]
    html: Option<Html<'a>>,
}

#[derive(Deserialize)]
struct Html<'a> {
    #[serde(rename = "Head", borrow, default)]
    head: Option<Head<'a>>,
    #[serde(rename = "Links", borrow, default)]
    links: Option<Vec<Link<'a>>>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "Base", borrow, default)]
    base: Option<Base<'a>>,
}

/// `Base` is a string; tolerate an object with an `href`/`url` too.
#[derive(Deserialize)]
#[serde(untagged)]
enum Base<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Obj {
        #[serde(borrow, alias = "url", default)]
        href: Option<Cow<'a, str>>,
    },
}

#[derive(Deserialize)]
struct Link<'a> {
    #[serde(borrow, default)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    alt: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    title: Option<Cow<'a, str>>,
}

/// Parses the JSON of one WAT metadata record.
pub fn parse(json: &[u8]) -> Result<PageLinks<'_>, serde_json::Error> {
    let doc: Doc<'_> = serde_json::from_slice(json)?;
    let target_uri = doc.envelope.warc.and_then(|w| w.target_uri);
    let Some(html) = doc
        .envelope
        .payload
        .and_then(|p| p.response)
        .and_then(|r| r.html)
    else {
        return Ok(PageLinks {
            target_uri,
            ..PageLinks::default()
        });
    };
    let base = html.head.and_then(|h| h.base).and_then(|b| match b {
        Base::Str(s) => Some(s),
        Base::Obj { href } => href,
    });
    let images = html
        .links
        .unwrap_or_default()
        .into_iter()
        .filter(|l| l.path.as_deref() == Some("IMG@/src"))
        .filter_map(|l| {
            Some(ImageLink {
                url: l.url?,
                alt: l.alt,
                title: l.title,
            })
        })
        .collect();
    Ok(PageLinks {
        base,
        images,
        target_uri,
        is_html: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_image_links_and_base() {
        let json = br#"{"Envelope":{"WARC-Header-Metadata":{"WARC-Target-URI":"http://p/x"},
          "Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":{
            "Head":{"Base":"http://b/","Title":"t"},
            "Links":[{"path":"A@/href","url":"/a","text":"x"},
                     {"alt":"A \"dog\"","path":"IMG@/src","url":"d.jpg"},
                     {"path":"IMG@/src","url":"e.jpg","title":"T"},
                     {"path":"IMG@/src"}]}}}}}"#;
        let page = parse(json).unwrap();
        assert!(page.is_html);
        assert_eq!(page.base.as_deref(), Some("http://b/"));
        assert_eq!(page.target_uri.as_deref(), Some("http://p/x"));
        assert_eq!(page.images.len(), 2);
        assert_eq!(page.images[0].alt.as_deref(), Some("A \"dog\""));
        assert_eq!(page.images[1].title.as_deref(), Some("T"));
        assert_eq!(page.images[1].alt, None);
    }

    #[test]
    fn non_html_and_invalid_records() {
        let page = parse(br#"{"Envelope":{"Payload-Metadata":{}}}"#).unwrap();
        assert!(!page.is_html);
        assert!(parse(b"{\"Envelope\": [").is_err());
        assert!(parse(b"not json").is_err());
    }
}
