//! Choosing Wikipedia unigrams and bigrams from the merged counts.
//!
//! Unigrams: count ≥ `unigram_min_count`; with `unigram_top_share` (MetaCLIP
//! 2's rule for its non-English lists, which scales with the corpus), the
//! most frequent `share` of the distinct unigrams, at most
//! [`UNIGRAM_TOP_CAP`]: every unigram whose count is at least the smallest
//! count c for which no more than that many unigrams have a count ≥ c (a tie
//! at the boundary is left out whole, so the result never exceeds the
//! number and does not depend on the order of equal counts).
//!
//! Bigrams: `PMI(a, b) = log2( p(a b) / (p(a) p(b)) )` with
//! `p(a b) = c(a b) / N`, `p(a) = c(a) / N`, `p(b) = c(b) / N`, where `N` is the
//! total number of tokens (the unigram count total), i.e.
//! `PMI = log2( c(a b) · N / (c(a) · c(b)) )`. A bigram is kept when
//! `PMI ≥ bigram_min_pmi` and `c(a b) ≥ bigram_min_count`.
//!
//! Scale: the unigram and bigram tables do not fit in memory for all of
//! Wikipedia, so the join runs on sorted files. The merged unigram counts are
//! written once (sorted by token); the merged bigrams, sorted by `a`, are
//! joined with them to get `c(a)`, re-sorted by `b` under the memory budget
//! (external sort), and joined again to get `c(b)`. Because `c(b) ≥ c(a b)`,
//! `PMI ≥ t` implies `c(a) ≤ N / 2^t` (and likewise for `b`), which prunes
//! most pairs before the re-sort.

use std::path::{Path, PathBuf};

use crate::count::runs::{merge_all, RunReader, RunWriter, Sorter, SpillDir};
use crate::error::Result;

/// A candidate entry with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The entry.
    pub query: String,
    /// Count (unigrams), PMI (bigrams) or pageviews (titles).
    pub score: f64,
}

/// The most unigrams `unigram_top_share` keeps (MetaCLIP 2's
/// `upper_bound_unigram`).
pub const UNIGRAM_TOP_CAP: u64 = 251_465;

/// Thresholds of the Wikipedia sources.
#[derive(Debug, Clone, Copy)]
pub struct WikiThresholds {
    /// Minimum unigram count.
    pub unigram_min_count: u64,
    /// Keep only this share of the distinct unigrams, the most frequent
    /// (MetaCLIP 2: 0.1), at most [`UNIGRAM_TOP_CAP`]; none = every unigram
    /// of at least `unigram_min_count`.
    pub unigram_top_share: Option<f64>,
    /// Minimum log2 PMI of a bigram.
    pub bigram_min_pmi: f64,
    /// Minimum count of a bigram.
    pub bigram_min_count: u64,
}

/// Selected Wikipedia entries and corpus totals.
#[derive(Debug, Default)]
pub struct WikiSelection {
    /// Unigrams passing the threshold.
    pub unigrams: Vec<Scored>,
    /// Bigrams passing the thresholds.
    pub bigrams: Vec<Scored>,
    /// Total tokens `N`.
    pub total_tokens: u64,
    /// Distinct unigrams.
    pub distinct_unigrams: u64,
    /// Distinct bigrams.
    pub distinct_bigrams: u64,
}

/// Walks the sorted unigram file alongside ascending lookups.
struct UnigramCursor {
    reader: RunReader,
    current: Option<(Vec<u8>, u64)>,
}

impl UnigramCursor {
    fn open(path: &Path) -> Result<Self> {
        let mut reader = RunReader::open(path)?;
        let current = reader.next_record()?.map(|(k, a, _)| (k, a));
        Ok(Self { reader, current })
    }

    /// The count of `key`; lookups must come in ascending order.
    fn count(&mut self, key: &[u8]) -> Result<u64> {
        while let Some((k, c)) = &self.current {
            match k.as_slice().cmp(key) {
                std::cmp::Ordering::Less => {
                    self.current = self.reader.next_record()?.map(|(k, a, _)| (k, a));
                }
                std::cmp::Ordering::Equal => return Ok(*c),
                std::cmp::Ordering::Greater => return Ok(0),
            }
        }
        Ok(0)
    }
}

/// Merges the runs and selects unigrams and bigrams. `sort_budget` bounds the
/// memory of the bigram re-sort.
pub fn select(
    spill: &SpillDir,
    unigram_runs: Vec<PathBuf>,
    bigram_runs: Vec<PathBuf>,
    t: &WikiThresholds,
    sort_budget: usize,
) -> Result<WikiSelection> {
    let mut out = WikiSelection::default();
    // 1. Merged unigram counts, written once, sorted by token.
    let unigram_path = spill.next_path("unigrams-merged");
    let mut writer = RunWriter::create(&unigram_path)?;
    let mut merged = merge_all(spill, "unigram", unigram_runs)?;
    // With a top share: how many unigrams have each count.
    let mut histogram: std::collections::BTreeMap<u64, u64> = Default::default();
    while let Some((key, count, _)) = merged.next_record()? {
        out.total_tokens += count;
        out.distinct_unigrams += 1;
        if t.unigram_top_share.is_some() {
            *histogram.entry(count).or_default() += 1;
        } else if count >= t.unigram_min_count {
            out.unigrams.push(Scored {
                query: String::from_utf8_lossy(&key).into_owned(),
                score: count as f64,
            });
        }
        writer.push(&key, count, 0)?;
    }
    drop(merged);
    let unigram_path = writer.finish()?;
    if let Some(share) = t.unigram_top_share {
        let keep = ((share * out.distinct_unigrams as f64) as u64).min(UNIGRAM_TOP_CAP);
        let min_count = top_count(&histogram, keep).max(t.unigram_min_count);
        let mut reader = RunReader::open(&unigram_path)?;
        while let Some((key, count, _)) = reader.next_record()? {
            if count >= min_count {
                out.unigrams.push(Scored {
                    query: String::from_utf8_lossy(&key).into_owned(),
                    score: count as f64,
                });
            }
        }
    }
    let n = out.total_tokens as f64;
    // PMI ≥ t needs c(a) ≤ N / 2^t and c(b) ≤ N / 2^t.
    let max_unigram = n / t.bigram_min_pmi.exp2();

    // 2. Bigrams sorted by a: join c(a), prune, re-sort by b.
    let mut by_b = Sorter::new(spill, "bigram-by-b", sort_budget);
    let mut cursor = UnigramCursor::open(&unigram_path)?;
    let mut merged = merge_all(spill, "bigram", bigram_runs)?;
    while let Some((key, c_ab, _)) = merged.next_record()? {
        out.distinct_bigrams += 1;
        if c_ab < t.bigram_min_count {
            continue;
        }
        let Some(space) = key.iter().position(|&b| b == b' ') else {
            continue;
        };
        let c_a = cursor.count(&key[..space])?;
        if c_a == 0 || c_a as f64 > max_unigram {
            continue;
        }
        let mut swapped = Vec::with_capacity(key.len());
        swapped.extend_from_slice(&key[space + 1..]);
        swapped.push(b' ');
        swapped.extend_from_slice(&key[..space]);
        by_b.push(swapped, c_ab, c_a)?;
    }
    drop(merged);

    // 3. Join c(b) and compute PMI.
    let mut cursor = UnigramCursor::open(&unigram_path)?;
    let mut merged = by_b.finish()?;
    while let Some((key, c_ab, c_a)) = merged.next_record()? {
        let space = key
            .iter()
            .position(|&b| b == b' ')
            .expect("written with a space");
        let c_b = cursor.count(&key[..space])?;
        if c_b == 0 || c_b as f64 > max_unigram {
            continue;
        }
        let pmi = pmi(c_ab, c_a, c_b, out.total_tokens);
        if pmi >= t.bigram_min_pmi {
            let (b, a) = (&key[..space], &key[space + 1..]);
            let mut query = String::from_utf8_lossy(a).into_owned();
            query.push(' ');
            query.push_str(&String::from_utf8_lossy(b));
            out.bigrams.push(Scored { query, score: pmi });
        }
    }
    Ok(out)
}

/// The smallest count c for which at most `keep` unigrams have a count
/// ≥ c (`histogram`: count → unigrams with it); `u64::MAX` when even the
/// most frequent count has more than `keep` unigrams.
pub fn top_count(histogram: &std::collections::BTreeMap<u64, u64>, keep: u64) -> u64 {
    let mut above = 0u64;
    let mut c_star = u64::MAX;
    for (&c, &n) in histogram.iter().rev() {
        if above + n > keep {
            break;
        }
        above += n;
        c_star = c;
    }
    c_star
}

/// `log2( c(a b) · N / (c(a) · c(b)) )`.
pub fn pmi(c_ab: u64, c_a: u64, c_b: u64, n: u64) -> f64 {
    ((c_ab as f64) * (n as f64) / ((c_a as f64) * (c_b as f64))).log2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::count::table::CountTable;

    #[test]
    fn selects_by_count_and_pmi() {
        let dir = tempfile::tempdir().unwrap();
        let spill = SpillDir::new(dir.path()).unwrap();
        // Tiny budget: every table spill and the re-sort go through many runs.
        let mut tables = vec![CountTable::new(64), CountTable::new(64)];
        let text = "the cat sat on the mat the cat ran\nzig zag the the the";
        for (i, tok_line) in text.lines().enumerate() {
            let t = &mut tables[i % 2];
            let toks: Vec<&str> = tok_line.split(' ').collect();
            for (j, tok) in toks.iter().enumerate() {
                t.unigram(tok);
                if j > 0 {
                    t.bigram(toks[j - 1], tok);
                }
                t.maybe_spill(&spill).unwrap();
            }
        }
        let (mut u, mut b) = (Vec::new(), Vec::new());
        for mut t in tables {
            t.spill(&spill).unwrap();
            u.extend(t.runs.0);
            b.extend(t.runs.1);
        }
        let th = WikiThresholds {
            unigram_min_count: 2,
            unigram_top_share: None,
            bigram_min_pmi: 2.0,
            bigram_min_count: 1,
        };
        let sel = select(&spill, u.clone(), b.clone(), &th, 100).unwrap();
        // The top share: 8 distinct unigrams (the 6, cat 2, others 1);
        // 0.25 → 2 kept: the, cat.
        let top = |share: f64| {
            let th = WikiThresholds {
                unigram_min_count: 1,
                unigram_top_share: Some(share),
                ..th
            };
            let s = select(&spill, u.clone(), b.clone(), &th, 100).unwrap();
            s.unigrams
                .iter()
                .map(|s| s.query.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(top(0.25), ["cat", "the"]);
        // 3 of 8: the tie of count 1 at the boundary is left out.
        assert_eq!(top(0.4), ["cat", "the"]);
        assert_eq!(top(0.125), ["the"]);
        assert!(top(0.1).is_empty());
        assert_eq!(top(1.0).len(), 8);
        assert_eq!(sel.total_tokens, 14);
        let unis: Vec<_> = sel
            .unigrams
            .iter()
            .map(|s| (s.query.as_str(), s.score))
            .collect();
        assert_eq!(unis, [("cat", 2.0), ("the", 6.0)]);
        let mut bis: Vec<_> = sel.bigrams.iter().map(|s| s.query.as_str()).collect();
        bis.sort();
        // zig zag: log2(14/(1·1)) = 3.8; cat sat: log2(14/2) = 2.8; on the: log2(14/6) = 1.2.
        assert_eq!(bis, ["cat ran", "cat sat", "sat on", "zig zag"]);
        let zz = sel.bigrams.iter().find(|s| s.query == "zig zag").unwrap();
        assert!((zz.score - 14f64.log2()).abs() < 1e-12);
        assert!(!bis.contains(&"the cat"));
    }

    #[test]
    fn top_count_keeps_at_most_the_share() {
        let h: std::collections::BTreeMap<u64, u64> = [(1, 5), (2, 2), (9, 1)].into();
        assert_eq!(top_count(&h, 0), u64::MAX);
        assert_eq!(top_count(&h, 1), 9);
        assert_eq!(top_count(&h, 2), 9);
        assert_eq!(top_count(&h, 3), 2);
        assert_eq!(top_count(&h, 7), 2);
        assert_eq!(top_count(&h, 8), 1);
    }
}
