//! The matcher. For the rules on MetaCLIP's spaced text, entries padded
//! with a space on both sides are found whole-token by a [`TokenIndex`] (one
//! table lookup per field of the text), and only the others (entries left
//! unpadded on a side by the multilingual rules) by an Aho-Corasick automaton
//! over the spaced text. [`Rule::WordBoundary`] runs one automaton over every
//! entry, with overlapping search, and checks the boundaries of each hit.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;

use super::rule::{is_word_char, metaclip_spacing_into, on_word_boundaries, Rule};
use super::tokens::{FindScratch, TokenIndex};
use super::MatchError;

/// Bytes of peak memory per byte of pattern text while the automaton is
/// built (measured on a 500k-entry vocabulary, rounded up; see
/// `docs/matching.md`).
const BYTES_PER_PATTERN_BYTE: u64 = 40;
/// Fixed bytes per distinct pattern (match lists, id maps, the pattern copy).
const BYTES_PER_PATTERN: u64 = 48;

/// Estimated peak memory, in bytes, of building a [`Matcher`] over `entries`
/// with `rule`. Used to refuse a vocabulary that would not fit before trying.
/// An upper bound: it prices every entry as an automaton pattern, though
/// space-padded entries go to the smaller token table.
pub fn estimate_memory(entries: &[String], rule: Rule) -> u64 {
    let pad = match rule {
        Rule::WordBoundary => 0,
        _ => 2,
    };
    entries
        .iter()
        .map(|e| (e.len() as u64 + pad) * BYTES_PER_PATTERN_BYTE + BYTES_PER_PATTERN)
        .sum()
}

/// Reusable per-thread buffers for [`Matcher::find_into`].
#[derive(Debug, Default)]
pub struct Scratch {
    spaced: Vec<u8>,
    tokens: FindScratch,
}

/// Finds which vocabulary entries occur in a text under a [`Rule`].
#[derive(Debug, Clone)]
pub struct Matcher {
    rule: Rule,
    /// Space-padded entries (all of them under [`Rule::MetaClip`]).
    tokens: TokenIndex,
    /// The other entries, as patterns over the spaced text (or, for
    /// [`Rule::WordBoundary`], every entry over the plain text).
    ac: Option<AhoCorasick>,
    /// Entry id of each automaton pattern (the first entry with its text).
    ac_pattern: Vec<u32>,
    /// First entry id → the further ids of an entry that occurs more than
    /// once in the vocabulary.
    more_ids: HashMap<u32, Vec<u32>>,
    /// Per automaton pattern: bit 0 = entry starts with a word character,
    /// bit 1 = ends with one (only for [`Rule::WordBoundary`]).
    word_edges: Vec<u8>,
    entries: usize,
}

impl Matcher {
    /// Builds the matcher for `entries` (entry id = index). Fails with
    /// [`MatchError::VocabTooLarge`] when [`estimate_memory`] exceeds
    /// `max_memory` bytes, before allocating anything large.
    pub fn new(entries: &[String], rule: Rule, max_memory: u64) -> Result<Self, MatchError> {
        if entries.is_empty() {
            return Err(MatchError::EmptyVocab {
                path: "<vocabulary>".into(),
            });
        }
        if entries.len() > u32::MAX as usize {
            return Err(MatchError::VocabTooLarge {
                entries: entries.len(),
                estimated: u64::MAX,
                limit: max_memory,
            });
        }
        let estimated = estimate_memory(entries, rule);
        if estimated > max_memory {
            return Err(MatchError::VocabTooLarge {
                entries: entries.len(),
                estimated,
                limit: max_memory,
            });
        }
        // Distinct entries (patterns), and the ids of repeated ones.
        let mut distinct: Vec<&str> = Vec::with_capacity(entries.len());
        let mut first_id = Vec::with_capacity(entries.len());
        let mut more_ids: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut seen: FxHashMap<&str, u32> = FxHashMap::default();
        seen.reserve(entries.len());
        for (id, entry) in entries.iter().enumerate() {
            let id = id as u32;
            if let Some(&p) = seen.get(entry.as_str()) {
                more_ids.entry(first_id[p as usize]).or_default().push(id);
                continue;
            }
            seen.insert(entry, distinct.len() as u32);
            first_id.push(id);
            distinct.push(entry);
        }
        drop(seen);

        let mut whole = Vec::new();
        let mut ac_patterns: Vec<Vec<u8>> = Vec::new();
        let mut ac_pattern = Vec::new();
        let mut word_edges = Vec::new();
        // The token index and the automaton report the entry's (first) id
        // itself, so that a match costs no further lookup.
        for (p, &entry) in distinct.iter().enumerate() {
            let p = first_id[p];
            match rule.unpadded(entry) {
                Some((false, false)) if TokenIndex::fits(entry) => whole.push((p, entry)),
                Some((bare_start, bare_end)) => {
                    let mut pat = Vec::with_capacity(entry.len() + 2);
                    if !bare_start {
                        pat.push(b' ');
                    }
                    pat.extend_from_slice(entry.as_bytes());
                    if !bare_end {
                        pat.push(b' ');
                    }
                    ac_patterns.push(pat);
                    ac_pattern.push(p);
                }
                None => {
                    let first = entry.chars().next().is_some_and(is_word_char) as u8;
                    let last = entry.chars().next_back().is_some_and(is_word_char) as u8;
                    word_edges.push(first | (last << 1));
                    ac_patterns.push(entry.as_bytes().to_vec());
                    ac_pattern.push(p);
                }
            }
        }
        let tokens = TokenIndex::new(whole);
        let ac = if ac_patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::Standard)
                    .build(&ac_patterns)?,
            )
        };
        Ok(Self {
            rule,
            tokens,
            ac,
            ac_pattern,
            more_ids,
            word_edges,
            entries: entries.len(),
        })
    }

    /// The rule this matcher applies.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// Number of vocabulary entries.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Number of distinct entries found by the automaton (the others are
    /// found whole-token).
    pub fn automaton_patterns(&self) -> usize {
        self.ac_pattern.len()
    }

    /// Heap memory of the token table and the automaton, in bytes.
    pub fn memory_usage(&self) -> usize {
        self.tokens.memory_usage()
            + self.ac.as_ref().map_or(0, |ac| ac.memory_usage())
            + self.ac_pattern.len() * 4
            + self.word_edges.len()
    }

    /// Appends to `out` (cleared first) the ids of every entry that occurs in
    /// `text`, ascending and without repeats.
    pub fn find_into(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        if self.rule == Rule::WordBoundary {
            let ac = self
                .ac
                .as_ref()
                .expect("word-boundary matchers have an automaton");
            for m in ac.find_overlapping_iter(text) {
                let i = m.pattern().as_usize();
                let edges = self.word_edges[i];
                if on_word_boundaries(text, m.start(), m.end(), edges & 1 != 0, edges & 2 != 0) {
                    self.push_ids(self.ac_pattern[i], out);
                }
            }
        } else {
            if !self.tokens.is_empty() {
                self.tokens
                    .find(text, &mut scratch.tokens, |p| self.push_ids(p, out));
            }
            if let Some(ac) = &self.ac {
                metaclip_spacing_into(text, &mut scratch.spaced);
                for m in ac.find_overlapping_iter(&scratch.spaced[..]) {
                    self.push_ids(self.ac_pattern[m.pattern().as_usize()], out);
                }
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }

    /// The ids of every entry that occurs in `text`, ascending.
    pub fn find(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        self.find_into(text, &mut Scratch::default(), &mut out);
        out
    }

    #[inline]
    fn push_ids(&self, id: u32, out: &mut Vec<u32>) {
        out.push(id);
        if !self.more_ids.is_empty() {
            if let Some(more) = self.more_ids.get(&id) {
                out.extend_from_slice(more);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::rule::metaclip_spacing;
    use crate::matching::script::{is_metaclip2_unspaced, is_script_aware_unspaced};
    use proptest::prelude::*;

    fn v(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|s| s.to_string()).collect()
    }

    /// MetaCLIP's `substr_matching`, transcribed literally: string replaces,
    /// then a loop over entries with a substring test.
    fn reference_metaclip(text: &str, entries: &[String]) -> Vec<u32> {
        let mut spaced = format!(" {text} ");
        for p in [",", ".", ";", ":", "?", "!", "`"] {
            spaced = spaced.replace(p, &format!(" {p} "));
        }
        for c in ["\t", "\n", "\r"] {
            spaced = spaced.replace(c, " ");
        }
        let mut ids = Vec::new();
        for (id, e) in entries.iter().enumerate() {
            if spaced.contains(&format!(" {e} ")) {
                ids.push(id as u32);
            }
        }
        ids
    }

    /// MetaCLIP 2's matching, transcribed literally: the same spacing, each
    /// entry padded with a space on a side whose character fails `unspaced`
    /// (its `get_spaced_metadata`), then a substring test per entry.
    fn reference_padded(text: &str, entries: &[String], unspaced: fn(char) -> bool) -> Vec<u32> {
        let spaced = metaclip_spacing(text);
        let mut ids = Vec::new();
        for (id, e) in entries.iter().enumerate() {
            let mut p = e.clone();
            if !unspaced(p.chars().next().unwrap()) {
                p = format!(" {p}");
            }
            if !unspaced(p.chars().next_back().unwrap()) {
                p = format!("{p} ");
            }
            if spaced.contains(&p) {
                ids.push(id as u32);
            }
        }
        ids
    }

    /// Word-boundary rule by brute force over every char position.
    fn reference_word_boundary(text: &str, entries: &[String]) -> Vec<u32> {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let mut ids = Vec::new();
        for (id, e) in entries.iter().enumerate() {
            let found = text.char_indices().map(|(i, _)| i).any(|i| {
                text[i..].starts_with(e.as_str()) && {
                    let before = text[..i].chars().next_back();
                    let after = text[i + e.len()..].chars().next();
                    let ew = |c: Option<char>| word(c);
                    (!ew(e.chars().next()) || !word(before))
                        && (!ew(e.chars().next_back()) || !word(after))
                }
            });
            if found {
                ids.push(id as u32);
            }
        }
        ids
    }

    /// Characters chosen to collide: separators, whitespace, multi-byte
    /// letters and a few ASCII letters so entries overlap often.
    fn alphabet() -> impl Strategy<Value = char> {
        prop::sample::select(vec![
            'a', 'b', 'c', ' ', ' ', ',', '.', ';', ':', '?', '!', '`', '\t', '\n', '\r', 'é',
            '日', '🐕', '\'', '(', '-', '_', '1', 'ー', 'カ', 'ก', '한', '」', '，', 'д',
        ])
    }

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(alphabet(), 0..40).prop_map(|c| c.into_iter().collect())
    }

    fn entries() -> impl Strategy<Value = Vec<String>> {
        let entry = prop::collection::vec(alphabet(), 1..6)
            .prop_map(|c| c.into_iter().collect::<String>())
            .prop_filter("vocabulary lines hold no LF/CR", |s: &String| {
                !s.contains(['\n', '\r'])
            });
        prop::collection::vec(entry, 1..25)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn metaclip_rule_equals_reference(t in text(), es in entries()) {
            let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_metaclip(&t, &es));
        }

        #[test]
        fn metaclip_rule_finds_entries_planted_in_text(
            es in entries(), picks in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        ) {
            // Texts built from entries joined by separators, so matches are common.
            let t = picks.iter().map(|i| i.get(&es).as_str()).collect::<Vec<_>>().join(" ");
            let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_metaclip(&t, &es));
        }

        #[test]
        fn metaclip2_rule_equals_reference(t in text(), es in entries()) {
            let m = Matcher::new(&es, Rule::MetaClip2, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_padded(&t, &es, is_metaclip2_unspaced));
        }

        #[test]
        fn script_aware_rule_equals_reference(t in text(), es in entries()) {
            let m = Matcher::new(&es, Rule::ScriptAware, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_padded(&t, &es, is_script_aware_unspaced));
        }

        #[test]
        fn padded_rules_find_entries_planted_in_text(
            es in entries(), picks in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
            sep in prop::sample::select(vec!["", " ", "  ", ", ", "\t"]),
        ) {
            let t = picks.iter().map(|i| i.get(&es).as_str()).collect::<Vec<_>>().join(sep);
            for (rule, unspaced) in [
                (Rule::MetaClip2, is_metaclip2_unspaced as fn(char) -> bool),
                (Rule::ScriptAware, is_script_aware_unspaced),
            ] {
                let m = Matcher::new(&es, rule, u64::MAX).unwrap();
                prop_assert_eq!(m.find(&t), reference_padded(&t, &es, unspaced));
            }
            let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_metaclip(&t, &es));
        }

        #[test]
        fn word_boundary_rule_equals_reference(t in text(), es in entries()) {
            let m = Matcher::new(&es, Rule::WordBoundary, u64::MAX).unwrap();
            prop_assert_eq!(m.find(&t), reference_word_boundary(&t, &es));
        }
    }

    #[test]
    fn metaclip_examples() {
        let es = v(&["dog", "hot dog", "hot", "St. Louis", ",", "dog's", "café"]);
        let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
        assert_eq!(m.find("a hot dog, in St. Louis"), vec![0, 1, 2, 4]);
        assert_eq!(m.find("(dog) dog's dogs"), vec![5]);
        assert_eq!(m.find("Dog"), Vec::<u32>::new());
        assert_eq!(m.find("café\tdog"), vec![0, 6]);
    }

    #[test]
    fn word_boundary_examples() {
        let es = v(&["dog", "hot dog", "St. Louis", "café"]);
        let m = Matcher::new(&es, Rule::WordBoundary, u64::MAX).unwrap();
        assert_eq!(m.find("(dog) in St. Louis"), vec![0, 2]);
        assert_eq!(m.find("dog's hot dog-friendly"), vec![0, 1]);
        assert_eq!(m.find("dogs hotdog cafés"), Vec::<u32>::new());
        assert_eq!(m.find("«café»"), vec![3]);
    }

    #[test]
    fn multilingual_examples() {
        let es = v(&["ヘッドポーター", "財布", "dog", "U.S.", "한국", "ไทย"]);
        let text = "ヘッドポーター財布 dog U.S. 한국어 ภาษาไทย";
        let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
        assert_eq!(m.find(text), vec![2]);
        let m = Matcher::new(&es, Rule::MetaClip2, u64::MAX).unwrap();
        assert_eq!(m.automaton_patterns(), 3);
        assert_eq!(m.find(text), vec![1, 2, 5]);
        let m = Matcher::new(&es, Rule::ScriptAware, u64::MAX).unwrap();
        assert_eq!(m.find(text), vec![0, 1, 2, 4, 5]);
    }

    #[test]
    fn long_fields_match_exactly() {
        // Fields longer than a slot's inline key, and one over MAX_FIELD
        // (left to the automaton).
        let long = "x".repeat(super::super::tokens::MAX_FIELD + 1);
        let es = v(&[
            "supercalifragilistic",
            "supercalifragilistix",
            "a supercalifragilistic day",
            &long,
        ]);
        let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
        assert_eq!(m.automaton_patterns(), 1);
        assert_eq!(m.find("a supercalifragilistic day"), vec![0, 2]);
        assert_eq!(m.find("supercalifragilisti"), Vec::<u32>::new());
        assert_eq!(m.find(&format!("{long}.")), vec![3]);
        assert_eq!(m.find(&format!("{long}x")), Vec::<u32>::new());
        for t in ["a supercalifragilistic day", &format!("{long}.")] {
            assert_eq!(m.find(t), reference_metaclip(t, &es), "{t:.30}");
        }
    }

    #[test]
    fn duplicate_entries_report_every_id() {
        let es = v(&["dog", "cat", "dog"]);
        let m = Matcher::new(&es, Rule::MetaClip, u64::MAX).unwrap();
        assert_eq!(m.find("dog and cat"), vec![0, 1, 2]);
    }

    #[test]
    fn refuses_vocabulary_over_memory_limit() {
        let es = v(&["dog", "cat"]);
        let est = estimate_memory(&es, Rule::MetaClip);
        assert!(Matcher::new(&es, Rule::MetaClip, est).is_ok());
        let e = Matcher::new(&es, Rule::MetaClip, est - 1).unwrap_err();
        assert!(matches!(e, MatchError::VocabTooLarge { entries: 2, .. }));
        assert!(e.to_string().contains("--max-vocab-memory"), "{e}");
    }
}
