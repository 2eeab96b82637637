//! Splits plain text into the tokens that are counted as unigrams and bigrams.
//!
//! The rule is chosen so that every token (and every bigram "a b") can match an
//! alt-text under MetaCLIP's matching rule, which pads `, . ; : ? ! \`` with
//! spaces and looks for `" " + entry + " "`:
//!
//! - Tokens are split at whitespace, at control characters and at the seven
//!   punctuation marks the matcher pads; an entry containing one of them
//!   could never match.
//! - Quotes and brackets at either end of a token (`"`, `'`, `(`, `)`, `[`, `]`,
//!   `{`, `}`, `<`, `>`, `«`, `»`, `“`, `”`, `‘`, `’`, `„`, `*`, `|`, `=`, `~`)
//!   are trimmed, so `(Paris)` counts as `Paris`.
//! - A token must hold at least one letter or digit and be at most
//!   [`MAX_TOKEN_BYTES`] long; others are dropped.
//! - Case is preserved; nothing else is normalised.
//! - A bigram is two consecutive tokens separated only by spaces (or tabs) in
//!   the text: the pair is broken by a line break, a padded punctuation mark,
//!   a trimmed quote or bracket, a dropped token, or any other separator, since
//!   `" a b "` could not match across those.

use super::segment::{is_unspaced_char, Segmenter};

/// The punctuation MetaCLIP's matcher surrounds with spaces.
pub const MATCH_PUNCTUATION: [char; 7] = [',', '.', ';', ':', '?', '!', '`'];

/// Longest token kept, in bytes.
pub const MAX_TOKEN_BYTES: usize = 64;

fn is_trimmed(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '«'
            | '»'
            | '“'
            | '”'
            | '‘'
            | '’'
            | '„'
            | '*'
            | '|'
            | '='
            | '~'
    )
}

/// How a character separates tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// Part of a token.
    None,
    /// Ends a token; the next one may form a bigram with it.
    Space,
    /// Ends a token and any bigram across it.
    Break,
}

fn classify(c: char) -> Sep {
    match c {
        ' ' | '\t' => Sep::Space,
        '\n' | '\r' => Sep::Break,
        c if MATCH_PUNCTUATION.contains(&c) => Sep::Break,
        c if c.is_whitespace() || c.is_control() => Sep::Break,
        _ => Sep::None,
    }
}

/// Calls `emit(token, joined)` for each token of `text` in order; `joined` is
/// true when the token forms a bigram with the previous emitted token.
pub fn tokenize<'a>(text: &'a str, emit: impl FnMut(&'a str, bool)) {
    tokenize_segmented(text, None, emit)
}

/// [`tokenize`], and with a segmenter, each token that holds characters of a
/// script written without spaces ([`is_unspaced_char`]) is cut further into
/// its words (each at most [`MAX_TOKEN_BYTES`]); consecutive words with
/// nothing between them form bigrams, punctuation (`、`, `。`) breaks them.
pub fn tokenize_segmented<'a>(
    text: &'a str,
    seg: Option<&Segmenter>,
    mut emit: impl FnMut(&'a str, bool),
) {
    let mut joined = false;
    let mut start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        let sep = classify(c);
        if sep == Sep::None {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(s) = start.take() {
            joined = raw_token(&text[s..i], joined, seg, &mut emit);
        }
        if sep == Sep::Break {
            joined = false;
        }
    }
    if let Some(s) = start {
        raw_token(&text[s..], joined, seg, &mut emit);
    }
}

/// Handles one whitespace-delimited piece; returns whether the next token may
/// join it.
fn raw_token<'a>(
    raw: &'a str,
    joined: bool,
    seg: Option<&Segmenter>,
    emit: &mut impl FnMut(&'a str, bool),
) -> bool {
    let t = raw.trim_start_matches(is_trimmed);
    let lead_trimmed = t.len() != raw.len();
    let core = t.trim_end_matches(is_trimmed);
    let tail_trimmed = core.len() != t.len();
    if let Some(seg) = seg.filter(|_| core.chars().any(is_unspaced_char)) {
        let mut first = true;
        let mut last_end = 0;
        let mut next_joins = false;
        let base = core.as_ptr() as usize;
        seg.words(core, |w, adjacent| {
            let start = w.as_ptr() as usize - base;
            let joins = if first {
                joined && !lead_trimmed && start == 0
            } else {
                adjacent && next_joins
            };
            first = false;
            last_end = start + w.len();
            next_joins = w.len() <= MAX_TOKEN_BYTES;
            if next_joins {
                emit(w, joins);
            }
        });
        return !first && next_joins && last_end == core.len() && !tail_trimmed;
    }
    if core.is_empty() || core.len() > MAX_TOKEN_BYTES || !core.chars().any(char::is_alphanumeric) {
        return false;
    }
    emit(core, joined && !lead_trimmed);
    !tail_trimmed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(String, bool)> {
        let mut v = Vec::new();
        tokenize(s, |t, j| v.push((t.to_string(), j)));
        v
    }

    #[test]
    fn splits_like_the_matcher() {
        assert_eq!(
            toks("New York, U.S.A. (city) is big"),
            [
                ("New".into(), false),
                ("York".into(), true),
                ("U".into(), false),
                ("S".into(), false),
                ("A".into(), false),
                ("city".into(), false),
                ("is".into(), false),
                ("big".into(), true),
            ]
        );
    }

    #[test]
    fn drops_non_words_and_breaks_pairs() {
        assert_eq!(
            toks("a -- b\nc “d” e"),
            [
                ("a".into(), false),
                ("b".into(), false),
                ("c".into(), false),
                ("d".into(), false),
                ("e".into(), false),
            ]
        );
        assert_eq!(
            toks("don't x's 3.5"),
            [
                ("don't".into(), false),
                ("x's".into(), true),
                ("3".into(), true),
                ("5".into(), false)
            ]
        );
        let long = "x".repeat(MAX_TOKEN_BYTES + 1);
        assert!(toks(&long).is_empty());
    }

    #[test]
    fn tokens_match_under_metaclip_rule() {
        // Every token, padded, occurs in the matcher's view of the same text.
        let text = "The Eiffel Tower (Paris), built 1889; see \"Gustave Eiffel\"!";
        let mut view = format!(" {text} ");
        for p in MATCH_PUNCTUATION {
            view = view.replace(p, &format!(" {p} "));
        }
        let mut prev: Option<String> = None;
        tokenize(text, |t, joined| {
            let _ = joined;
            prev = Some(t.to_string());
        });
        assert!(prev.is_some());
        tokenize(text, |t, _| {
            if !matches!(t, "Paris" | "Gustave" | "Eiffel") {
                assert!(view.contains(&format!(" {t} ")), "{t}");
            }
        });
    }
}
