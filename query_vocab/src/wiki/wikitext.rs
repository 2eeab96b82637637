//! Wikitext → plain text, keeping what a reader of the article sees as prose.
//!
//! Dropped: templates (`{{…}}`, nested), tables (`{|…|}`), comments, `<ref>`
//! and other non-prose tags with their content (`math`, `syntaxhighlight`,
//! `timeline`, ...), HTML tags (their content is kept), category and
//! interlanguage links, external link URLs, bold/italic quotes, list markers,
//! magic words (`__TOC__`). Kept: link labels (`[[a|b]]` → `b`, `[[a]]` → `a`),
//! external link labels, headings (without the `=`), and image captions (the
//! last `|` part of `[[File:…|…|caption]]`, and of each `<gallery>` line).
//!
//! Structural breaks (line ends, captions, block tags) come out as `\n`, so
//! that no bigram is formed across them.

/// Tags whose whole content is not prose.
const SKIP_CONTENT_TAGS: &[&str] = &[
    "ref",
    "references",
    "math",
    "chem",
    "ce",
    "score",
    "syntaxhighlight",
    "source",
    "pre",
    "code",
    "timeline",
    "graph",
    "templatedata",
    "templatestyles",
    "mapframe",
    "maplink",
    "hiero",
    "imagemap",
    "inputbox",
    "categorytree",
    "poem",
    "style",
    "script",
];

/// Tags that separate blocks of text (turned into a line break).
const BLOCK_TAGS: &[&str] = &[
    "br",
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "dl",
    "dd",
    "dt",
    "td",
    "th",
    "tr",
    "table",
    "blockquote",
    "center",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
];

/// Link namespaces whose target is an image.
const FILE_PREFIXES: &[&str] = &["file", "image", "media"];

/// Nesting depth beyond which link captions are dropped rather than parsed.
const MAX_DEPTH: u32 = 16;

/// Converts a page's wikitext to plain text (see the module docs).
pub fn to_text(wikitext: &str) -> String {
    let mut out = String::with_capacity(wikitext.len());
    clean_into(wikitext, &mut out, 0);
    out
}

/// Bytes that may start markup; everything else is copied in runs.
fn is_special(b: u8) -> bool {
    matches!(
        b,
        b'\n' | b'<' | b'{' | b'[' | b'\'' | b'&' | b'_' | b'=' | b']' | b'}'
    )
}

fn clean_into(s: &str, out: &mut String, depth: u32) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut line_start = true;
    let mut heading = false;
    while i < b.len() {
        if line_start {
            line_start = false;
            let j = skip_while(b, i, |c| matches!(c, b'*' | b'#' | b':' | b';'));
            if j > i {
                i = j;
                continue;
            }
            if b[i] == b'=' {
                heading = true;
                i = skip_while(b, i, |c| c == b'=');
                continue;
            }
            if b[i..].starts_with(b"{|") {
                i = skip_balanced(b, i, b"{|", b"|}").unwrap_or(i + 2);
                continue;
            }
            if b[i..].starts_with(b"----") {
                i = skip_while(b, i, |c| c == b'-');
                continue;
            }
        }
        let c = b[i];
        if !is_special(c) {
            let j = skip_while(b, i, |c| !is_special(c));
            out.push_str(&s[i..j]);
            i = j;
            continue;
        }
        let rest = &b[i..];
        match c {
            b'\n' => {
                out.push('\n');
                line_start = true;
                heading = false;
                i += 1;
            }
            b'=' if heading => i += 1,
            b'<' if rest.starts_with(b"<!--") => {
                i = find(b, i + 4, b"-->").map_or(b.len(), |k| k + 3);
            }
            b'<' => i = tag(s, i, out, depth),
            b'{' if rest.starts_with(b"{{") => {
                // An unclosed `{{` is shown literally by MediaWiki; drop just the braces.
                i = skip_balanced(b, i, b"{{", b"}}").unwrap_or(i + 2);
            }
            b'{' if rest.starts_with(b"{|") => {
                i = skip_balanced(b, i, b"{|", b"|}").unwrap_or(i + 2);
            }
            b'[' if rest.starts_with(b"[[") => i = wikilink(s, i, out, depth),
            b'[' => i = external_link(s, i, out, depth),
            b'\'' if rest.starts_with(b"''") => i = skip_while(b, i, |c| c == b'\''),
            b'&' => i = entity(s, i, out),
            b'_' if rest.starts_with(b"__") => i = magic_word(b, i, out),
            _ => {
                out.push(c as char);
                i += 1;
            }
        }
    }
}

fn skip_while(b: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < b.len() && f(b[i]) {
        i += 1;
    }
    i
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(&b[from.min(b.len())..], needle).map(|k| k + from)
}

/// The index just past the `close` that balances the `open` at `i`, or `None`
/// when it is never closed.
fn skip_balanced(b: &[u8], mut i: usize, open: &[u8; 2], close: &[u8; 2]) -> Option<usize> {
    let mut depth = 0usize;
    while i + 1 < b.len() {
        if b[i] == open[0] && b[i + 1] == open[1] {
            depth += 1;
            i += 2;
        } else if b[i] == close[0] && b[i + 1] == close[1] {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Some(i);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Splits `s` at the `|` that are not inside nested `[[…]]` or `{{…}}`.
fn split_top_level_pipes(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let (mut depth, mut start, mut i) = (0i32, 0usize, 0usize);
    while i < b.len() {
        let two = &b[i..b.len().min(i + 2)];
        if two == b"[[" || two == b"{{" {
            depth += 1;
            i += 2;
        } else if two == b"]]" || two == b"}}" {
            depth -= 1;
            i += 2;
        } else {
            if b[i] == b'|' && depth <= 0 {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            i += 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Whether a `[[File:…|part]]` parameter is a layout option, not a caption.
fn is_image_option(part: &str) -> bool {
    let p = part.trim().to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "thumb",
        "thumbnail",
        "frame",
        "framed",
        "frameless",
        "border",
        "left",
        "right",
        "center",
        "centre",
        "none",
        "upright",
        "baseline",
        "middle",
        "sub",
        "super",
        "text-top",
        "text-bottom",
        "top",
        "bottom",
    ];
    if p.is_empty() || WORDS.contains(&p.as_str()) {
        return true;
    }
    if let Some((key, _)) = p.split_once('=') {
        return matches!(
            key.trim(),
            "upright" | "alt" | "link" | "page" | "class" | "lang" | "thumb" | "thumbnail"
        );
    }
    if let Some(size) = p.strip_suffix("px") {
        return size.trim().bytes().all(|c| c.is_ascii_digit() || c == b'x');
    }
    false
}

/// `[[target|label]]` at `i`; returns the index after it.
fn wikilink(s: &str, i: usize, out: &mut String, depth: u32) -> usize {
    let b = s.as_bytes();
    let Some(end) = skip_balanced(b, i, b"[[", b"]]") else {
        return i + 2;
    };
    let inner = &s[i + 2..end - 2];
    if depth >= MAX_DEPTH {
        return end;
    }
    let parts = split_top_level_pipes(inner);
    let target = parts[0].trim();
    let (prefix, literal) = match target.strip_prefix(':') {
        Some(t) => (t.split_once(':').map(|(p, _)| p), true),
        None => (target.split_once(':').map(|(p, _)| p), false),
    };
    let prefix = prefix.map(|p| p.trim().to_ascii_lowercase());
    match prefix.as_deref() {
        Some(p) if !literal && FILE_PREFIXES.contains(&p) => {
            if parts.len() > 1 {
                let caption = parts[parts.len() - 1];
                if !is_image_option(caption) {
                    out.push('\n');
                    clean_into(caption, out, depth + 1);
                    out.push('\n');
                }
            }
        }
        Some("category") if !literal => {}
        Some(_) => {
            // Interlanguage and interwiki links are invisible without a label.
            if parts.len() > 1 {
                clean_into(parts[parts.len() - 1], out, depth + 1);
            }
        }
        None => {
            if parts.len() > 1 && !parts[parts.len() - 1].trim().is_empty() {
                clean_into(parts[parts.len() - 1], out, depth + 1);
            } else {
                clean_into(target, out, depth + 1);
            }
        }
    }
    end
}

/// `[http://… label]` at `i`: keeps the label, drops the URL.
fn external_link(s: &str, i: usize, out: &mut String, depth: u32) -> usize {
    let b = s.as_bytes();
    let rest = &b[i + 1..];
    let is_url = [
        "http://", "https://", "//", "ftp://", "mailto:", "news:", "irc://",
    ]
    .iter()
    .any(|p| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p.as_bytes()));
    if !is_url {
        out.push('[');
        return i + 1;
    }
    let line_end = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |k| k + i);
    let Some(close) = memchr::memchr(b']', &b[i..line_end]).map(|k| k + i) else {
        // No closing bracket: a bare URL; skip it to the next space.
        return skip_while(b, i + 1, |c| !c.is_ascii_whitespace());
    };
    let inner = &s[i + 1..close];
    if let Some((_, label)) = inner.split_once(' ') {
        clean_into(label, out, depth + 1);
    }
    close + 1
}

/// An HTML-like tag at `i`; returns the index after what it consumes.
fn tag(s: &str, i: usize, out: &mut String, depth: u32) -> usize {
    let b = s.as_bytes();
    let mut j = i + 1;
    let closing = b.get(j) == Some(&b'/');
    if closing {
        j += 1;
    }
    let name_start = j;
    j = skip_while(b, j, |c| c.is_ascii_alphanumeric());
    if j == name_start || !b[name_start].is_ascii_alphabetic() {
        out.push('<');
        return i + 1;
    }
    let name = s[name_start..j].to_ascii_lowercase();
    let Some(gt) = memchr::memchr(b'>', &b[j..]).map(|k| k + j) else {
        out.push('<');
        return i + 1;
    };
    // Reject things like `a <b c` spanning lines: a tag ends on its line.
    if b[j..gt].contains(&b'\n') && !SKIP_CONTENT_TAGS.contains(&name.as_str()) {
        out.push('<');
        return i + 1;
    }
    let self_closing = b[gt - 1] == b'/';
    let after = gt + 1;
    if BLOCK_TAGS.contains(&name.as_str()) {
        out.push('\n');
    }
    if closing || self_closing {
        return after;
    }
    if SKIP_CONTENT_TAGS.contains(&name.as_str()) || name == "gallery" {
        let close = find_closing_tag(b, after, &name);
        let (content_end, next) = close.unwrap_or((after, after));
        if name == "gallery" {
            gallery(&s[after..content_end], out, depth);
        }
        return next;
    }
    after
}

/// Finds `</name>` (ASCII case-insensitive) from `from`: (start, index after).
fn find_closing_tag(b: &[u8], from: usize, name: &str) -> Option<(usize, usize)> {
    let mut k = from;
    while let Some(p) = memchr::memmem::find(&b[k..], b"</").map(|p| p + k) {
        let n = p + 2;
        let end = n + name.len();
        if end <= b.len() && b[n..end].eq_ignore_ascii_case(name.as_bytes()) {
            let gt = memchr::memchr(b'>', &b[end..]).map_or(b.len(), |g| g + end + 1);
            return Some((p, gt));
        }
        k = n;
    }
    None
}

/// `<gallery>` content: one `File:…|caption` per line.
fn gallery(content: &str, out: &mut String, depth: u32) {
    for line in content.lines() {
        let parts = split_top_level_pipes(line);
        if parts.len() > 1 {
            let caption = parts[parts.len() - 1];
            if !is_image_option(caption) {
                out.push('\n');
                clean_into(caption, out, depth + 1);
                out.push('\n');
            }
        }
    }
}

/// An HTML entity at `i` (`&nbsp;`, `&#8211;`, ...).
fn entity(s: &str, i: usize, out: &mut String) -> usize {
    let b = s.as_bytes();
    let end = b[i + 1..]
        .iter()
        .take(12)
        .position(|&c| c == b';')
        .map(|k| k + i + 1);
    let Some(end) = end else {
        out.push('&');
        return i + 1;
    };
    let name = &s[i + 1..end];
    let decoded = match name {
        "nbsp" | "ensp" | "emsp" | "thinsp" => Some(' '),
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "ndash" => Some('–'),
        "mdash" => Some('—'),
        "minus" => Some('−'),
        "times" => Some('×'),
        "hellip" => Some('…'),
        _ => {
            if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
            } else if let Some(dec) = name.strip_prefix('#') {
                dec.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                None
            }
        }
    };
    match decoded {
        Some(c) => {
            out.push(c);
            end + 1
        }
        None => {
            out.push('&');
            i + 1
        }
    }
}

/// `__TOC__`-style magic words are dropped.
fn magic_word(b: &[u8], i: usize, out: &mut String) -> usize {
    let j = skip_while(b, i + 2, |c| c.is_ascii_uppercase());
    if j > i + 2 && b[j..].starts_with(b"__") {
        return j + 2;
    }
    out.push_str("__");
    i + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        to_text(s).split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn links_keep_labels() {
        assert_eq!(
            words("a [[Paris|the capital]] b"),
            ["a", "the", "capital", "b"]
        );
        assert_eq!(words("[[Paris]]ian [[cat]]s"), ["Parisian", "cats"]);
        assert_eq!(words("[[Category:Cities]] x [[de:Paris]]"), ["x"]);
        assert_eq!(words("[[:Category:Cities|cities]]"), ["cities"]);
    }

    #[test]
    fn images_keep_captions() {
        let t = "before [[File:A.jpg|thumb|200px|A [[red]] ''fox'' {{x}}]] after";
        assert_eq!(words(t), ["before", "A", "red", "fox", "after"]);
        assert_eq!(words("[[Image:B.png|thumb|left]] z"), ["z"]);
        assert!(to_text("x [[File:A.jpg|thumb|cap]] y").contains("\ncap\n"));
        let g = "<gallery>\nFile:A.jpg|First cap\nFile:B.jpg\n</gallery>";
        assert_eq!(words(g), ["First", "cap"]);
    }

    #[test]
    fn templates_tables_refs_comments_go() {
        let t = "a {{cite|x={{nested|y}}}} b<ref name=\"r\">ref text</ref> c<ref name=r/> \
                 d <!-- hidden --> e\n{|\n| cell || {{x}}\n|-\n{|\n|inner\n|}\n|}\nf";
        assert_eq!(words(t), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(
            words("x <math>a^2</math> <small>small</small>"),
            ["x", "small"]
        );
    }

    #[test]
    fn headings_formatting_entities() {
        let t = "== History ==\n'''Bold''' and ''it''&nbsp;x &amp; y&#44; __TOC__\n* item\n# n";
        assert_eq!(
            words(t),
            ["History", "Bold", "and", "it", "x", "&", "y,", "item", "n"]
        );
    }

    #[test]
    fn external_links_keep_labels() {
        assert_eq!(
            words("see [http://x.org/a The site] now"),
            ["see", "The", "site", "now"]
        );
        assert_eq!(words("see [https://x.org/a] now"), ["see", "now"]);
        assert_eq!(words("a [b] c"), ["a", "[b]", "c"]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_keeps_structure(s in "([\\[\\]{}|<>/=!'&;#*:_\n a-zɛԱ€-]|http://|\\[\\[File:|<ref>|</ref>|<!--|-->|\\{\\||\\|\\}){0,60}") {
            let text = to_text(&s);
            crate::wiki::tokenize::tokenize(&text, |t, _| {
                assert!(!t.is_empty() && !t.contains(char::is_whitespace));
            });
        }
    }

    #[test]
    fn multibyte_text_around_brackets() {
        assert_eq!(words("[ɑjbubɛn] x"), ["[ɑjbubɛn]", "x"]);
        assert_eq!(words("[ɛ"), ["[ɛ"]);
    }

    #[test]
    fn unbalanced_markup_does_not_eat_the_page() {
        assert_eq!(words("a {{ b [[c d <e"), ["a", "b", "c", "d", "<e"]);
        assert_eq!(words("x < y > z"), ["x", "<", "y", ">", "z"]);
    }
}
