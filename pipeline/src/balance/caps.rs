//! The cap of every entry: one t for a single-vocabulary run, one t per
//! language for a multilingual one (MetaCLIP 2).
//!
//! A multilingual match (`crawl match --lid`) numbers each language's entries
//! one after another (`match.json`'s `languages`, each with its `first_id`),
//! so an entry's language is the range its id falls in, and counts are per
//! (language, entry). MetaCLIP 2 (`metaclip/curation/curate.py`,
//! `global_count`) then gives English `t_en` and every other language the t
//! at which its tail share is nearest to English's tail share at `t_en`,
//! where the tail share at t is the share of all matches held by entries
//! matched fewer than t times ([`t_to_p`], [`p_to_t`]).

use serde::{Deserialize, Serialize};

use super::threshold::{tail_share_threshold, Threshold};
use crate::matching::languages::LangVocab;

/// The language whose t is given (`--t`) and whose tail share the others
/// follow.
pub const REFERENCE_LANG: &str = "en";

/// MetaCLIP 2's `t_to_p`: the share of all matches held by entries matched
/// fewer than `t` times (0 when there are no matches).
pub fn t_to_p(counts: &[u64], t: u64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let tail: u64 = counts.iter().filter(|&&c| c < t).sum();
    tail as f64 / total as f64
}

/// MetaCLIP 2's `p_to_t`: sort the counts, take the cumulative share of
/// matches at each position, and return the count at the first position
/// whose share is nearest to `p`. At least 1 (their rule can return 0 for a
/// tiny `p`, which would make every keep probability undefined); 1 when there
/// are no matches.
pub fn p_to_t(counts: &[u64], p: f64) -> u64 {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().sum();
    if total == 0 {
        return 1;
    }
    let mut cum = 0u64;
    let mut best = (f64::INFINITY, 0u64);
    for &c in &sorted {
        cum += c;
        let d = (cum as f64 / total as f64 - p).abs();
        // Strictly less: numpy's argmin takes the first of equal distances.
        if d < best.0 {
            best = (d, c);
        }
    }
    best.1.max(1)
}

/// One language's cap, as `balance.json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LangCap {
    /// The language (Wikipedia edition code).
    pub lang: String,
    /// Id of its first entry.
    pub first_id: u32,
    /// Number of its entries.
    pub entries: usize,
    /// The t applied to its entries.
    pub t: u64,
    /// Share of its matches held by entries matched fewer than t times
    /// (before balancing).
    pub tail_share: f64,
    /// Matches of its entries before balancing.
    pub matches: u64,
}

/// The t of every entry id.
#[derive(Debug, Clone, PartialEq)]
pub struct Caps {
    /// The t of English (or the only t of a single-vocabulary run).
    pub t: u64,
    /// English's tail share at its t, which the other languages follow
    /// (multilingual runs with English matches only).
    pub reference_tail_share: Option<f64>,
    /// Per language, in id order; empty for a single-vocabulary run.
    pub languages: Vec<LangCap>,
}

impl Caps {
    /// One t for every entry.
    pub fn uniform(counts: &[u64], threshold: Threshold) -> Self {
        Self {
            t: resolve(counts, threshold),
            reference_tail_share: None,
            languages: Vec::new(),
        }
    }

    /// One t per language of `languages` (as `match.json` lists them).
    /// English gets `threshold` (a fixed t, or the t of a tail share measured
    /// on English); every other language the t of [`p_to_t`] at English's
    /// tail share. Without English matches, a fixed t applies to every
    /// language, and a tail share is measured on each language.
    pub fn per_language(counts: &[u64], languages: &[LangVocab], threshold: Threshold) -> Self {
        let slice = |l: &LangVocab| -> Vec<u64> {
            let start = (l.first_id as usize).min(counts.len());
            let end = (l.first_id as usize + l.entries).min(counts.len());
            counts[start..end].to_vec()
        };
        let en = languages
            .iter()
            .find(|l| l.lang == REFERENCE_LANG)
            .map(slice)
            .filter(|c| c.iter().any(|&x| x > 0));
        let (t_en, reference) = match &en {
            Some(c) => {
                let t = resolve(c, threshold);
                (t, Some(t_to_p(c, t)))
            }
            None => (resolve(counts, threshold), None),
        };
        let languages = languages
            .iter()
            .map(|l| {
                let c = slice(l);
                let t = if l.lang == REFERENCE_LANG {
                    t_en
                } else {
                    match (reference, threshold) {
                        (Some(p), _) => p_to_t(&c, p),
                        (None, Threshold::Fixed(t)) => t,
                        (None, Threshold::TailShare(s)) => tail_share_threshold(&c, s),
                    }
                };
                LangCap {
                    lang: l.lang.clone(),
                    first_id: l.first_id,
                    entries: l.entries,
                    t,
                    tail_share: t_to_p(&c, t),
                    matches: c.iter().sum(),
                }
            })
            .collect();
        Self {
            t: t_en,
            reference_tail_share: reference,
            languages,
        }
    }

    /// The index in [`Caps::languages`] of the language of entry `id` (none
    /// for a single-vocabulary run).
    pub fn language_of(&self, id: u32) -> Option<usize> {
        let i = self.languages.partition_point(|l| l.first_id <= id);
        i.checked_sub(1)
    }

    /// The t of entry `id`.
    pub fn t(&self, id: u32) -> u64 {
        match self.language_of(id) {
            Some(i) => self.languages[i].t,
            None => self.t,
        }
    }
}

/// The t of `threshold` on `counts`.
fn resolve(counts: &[u64], threshold: Threshold) -> u64 {
    match threshold {
        Threshold::Fixed(t) => t,
        Threshold::TailShare(s) => tail_share_threshold(counts, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transcription of MetaCLIP 2's `p_to_t` with numpy's semantics:
    /// `counts = sort(c); portion = cumsum(counts) / counts.sum();
    /// t = counts[argmin(abs(portion - p))]`.
    fn p_to_t_reference(c: &[u64], p: f64) -> u64 {
        let mut counts = c.to_vec();
        counts.sort();
        let sum: u64 = counts.iter().sum();
        let portion: Vec<f64> = counts
            .iter()
            .scan(0u64, |s, &x| {
                *s += x;
                Some(*s as f64 / sum as f64)
            })
            .collect();
        let mut idx = 0;
        for (i, q) in portion.iter().enumerate() {
            if (q - p).abs() < (portion[idx] - p).abs() {
                idx = i;
            }
        }
        counts[idx]
    }

    fn lang(lang: &str, first_id: u32, entries: usize) -> LangVocab {
        LangVocab {
            lang: lang.into(),
            vocab: "x".into(),
            fingerprint: String::new(),
            entries,
            first_id,
        }
    }

    #[test]
    fn tail_share_and_its_inverse() {
        // total 100: below 40, 1+2+3+4 = 10; below 41, 50.
        let counts = [1, 2, 3, 4, 0, 40, 50];
        assert_eq!(t_to_p(&counts, 40), 0.1);
        assert_eq!(t_to_p(&counts, 41), 0.5);
        assert_eq!(t_to_p(&counts, 51), 1.0);
        assert_eq!(t_to_p(&[0, 0], 5), 0.0);
        // Cumulative shares: 0, .01, .03, .06, .10, .50, 1.
        assert_eq!(p_to_t(&counts, 0.1), 4);
        assert_eq!(p_to_t(&counts, 0.06), 3);
        assert_eq!(p_to_t(&counts, 0.31), 40);
        assert_eq!(p_to_t(&counts, 0.29), 4);
        // Nearest to 0 is an entry without matches: t = 1, not 0.
        assert_eq!(p_to_t(&counts, 0.001), 1);
        assert_eq!(p_to_t(&[], 0.5), 1);
    }

    #[test]
    fn p_to_t_matches_the_reference() {
        let mut x: u64 = 88172645463325252;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let n = 1 + (next() % 40) as usize;
            let counts: Vec<u64> = (0..n)
                .map(|_| match next() % 4 {
                    0 => 0,
                    1 => next() % 5,
                    _ => next() % 10_000,
                })
                .collect();
            let p = (next() % 1001) as f64 / 1000.0;
            if counts.iter().sum::<u64>() == 0 {
                continue;
            }
            assert_eq!(
                p_to_t(&counts, p),
                p_to_t_reference(&counts, p).max(1),
                "{counts:?} {p}"
            );
        }
    }

    #[test]
    fn every_language_follows_englishs_tail_share() {
        // en: ids 0..4, ja: 4..8, de: 8..10 (no matches).
        let counts = vec![1, 9, 90, 900, 2, 2, 200, 2000];
        let langs = [lang("en", 0, 4), lang("ja", 4, 4), lang("de", 8, 2)];
        let caps = Caps::per_language(&counts, &langs, Threshold::Fixed(90));
        // English: tail (< 90) = 10 of 1000.
        assert_eq!(caps.t, 90);
        assert_eq!(caps.reference_tail_share, Some(0.01));
        // Japanese cumulative shares: 2/2204, 4/2204, 204/2204, 1: nearest
        // to 0.01 is 4/2204 (0.0018), at count 2.
        assert_eq!(caps.languages[1].t, 2);
        assert_eq!(caps.languages[1].matches, 2204);
        assert_eq!(caps.languages[2].t, 1);
        assert_eq!(caps.languages[2].matches, 0);
        assert_eq!(caps.t(0), 90);
        assert_eq!(caps.t(3), 90);
        assert_eq!(caps.t(4), 2);
        assert_eq!(caps.t(7), 2);
        assert_eq!(caps.t(9), 1);
        assert_eq!(caps.language_of(5), Some(1));
    }

    #[test]
    fn without_english_a_fixed_t_applies_to_all() {
        let counts = vec![5, 50, 500];
        let langs = [lang("de", 0, 1), lang("ja", 1, 2)];
        let caps = Caps::per_language(&counts, &langs, Threshold::Fixed(40));
        assert_eq!(caps.reference_tail_share, None);
        assert!(caps.languages.iter().all(|l| l.t == 40));
        let uniform = Caps::uniform(&counts, Threshold::Fixed(7));
        assert_eq!(uniform.t(2), 7);
        assert_eq!(uniform.language_of(2), None);
    }
}
