//! Merging the sources in MetaCLIP's order, de-duplicating, and trimming to
//! the target size.
//!
//! Order: numbers, WordNet, unigrams, bigrams, titles. An entry already
//! present is not added again (case-sensitive; no other normalisation). The
//! numbers and WordNet names are always kept (cut only if the target is below
//! their count). When the new Wikipedia entries exceed what is left of the
//! target, each of the three scored sources gets a share proportional to its
//! number of new entries (largest remainders get the leftover slots, ties in
//! merge order) and keeps its highest-scoring entries (ties by byte order).

use std::collections::HashSet;

use serde::Serialize;

use crate::select::Scored;

/// Where an entry comes from (the `source` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `0`..`99`.
    Number,
    /// WordNet synset names.
    WordNet,
    /// Wikipedia unigrams.
    Unigram,
    /// Wikipedia bigrams.
    Bigram,
    /// Wikipedia titles.
    Title,
}

impl Source {
    /// The name written to `queries.parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Number => "number",
            Source::WordNet => "wordnet",
            Source::Unigram => "unigram",
            Source::Bigram => "bigram",
            Source::Title => "title",
        }
    }
}

/// One vocabulary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The query string.
    pub query: String,
    /// Its source.
    pub source: Source,
    /// Count, PMI or pageviews; `None` for numbers and WordNet.
    pub score: Option<f64>,
}

/// Per-source figures of a merge.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceCounts {
    /// Candidates the source offered.
    pub candidates: u64,
    /// Candidates not already present from an earlier source.
    pub new: u64,
    /// Entries kept in the output.
    pub kept: u64,
}

/// The numbers `"0"` to `"99"`.
pub fn numbers() -> Vec<String> {
    (0..100).map(|i| i.to_string()).collect()
}

/// Sorts by score, highest first, then by query (a total, deterministic
/// order).
pub fn sort_by_score(v: &mut [Scored]) {
    v.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.query.cmp(&b.query))
    });
}

/// Keeps the `k` best of `v` by [`sort_by_score`]'s order.
pub fn keep_best(v: &mut Vec<Scored>, k: usize) {
    if v.len() > k {
        sort_by_score(v);
        v.truncate(k);
    }
}

/// Merges the sources (see the module docs). Returns the entries and the
/// figures of each source in merge order.
pub fn merge(
    numbers: Vec<String>,
    wordnet: Vec<String>,
    scored: [(Source, Vec<Scored>); 3],
    target: usize,
) -> (Vec<Entry>, Vec<(Source, SourceCounts)>) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut counts = Vec::new();
    for (source, list) in [(Source::Number, numbers), (Source::WordNet, wordnet)] {
        let mut c = SourceCounts {
            candidates: list.len() as u64,
            ..Default::default()
        };
        for q in list {
            if !q.is_empty() && seen.insert(q.clone()) {
                c.new += 1;
                out.push(Entry {
                    query: q,
                    source,
                    score: None,
                });
            }
        }
        counts.push((source, c));
    }
    let fixed = out.len();
    out.truncate(target);
    let mut fresh: Vec<(Source, Vec<Scored>, SourceCounts)> = Vec::new();
    for (source, mut list) in scored {
        let mut c = SourceCounts {
            candidates: list.len() as u64,
            ..Default::default()
        };
        sort_by_score(&mut list);
        list.retain(|s| {
            !s.query.is_empty() && !s.query.contains(['\n', '\r']) && seen.insert(s.query.clone())
        });
        c.new = list.len() as u64;
        fresh.push((source, list, c));
    }
    let budget = target.saturating_sub(fixed);
    let total: usize = fresh.iter().map(|f| f.1.len()).sum();
    let quotas: Vec<usize> = if total <= budget {
        fresh.iter().map(|f| f.1.len()).collect()
    } else {
        let exact: Vec<f64> = fresh
            .iter()
            .map(|f| budget as f64 * f.1.len() as f64 / total as f64)
            .collect();
        let mut q: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
        let mut left = budget - q.iter().sum::<usize>();
        let mut order: Vec<usize> = (0..q.len()).collect();
        order.sort_by(|&a, &b| {
            let fa = exact[a] - exact[a].floor();
            let fb = exact[b] - exact[b].floor();
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        for i in order {
            if left == 0 {
                break;
            }
            if q[i] < fresh[i].1.len() {
                q[i] += 1;
                left -= 1;
            }
        }
        q
    };
    for ((source, list, mut c), quota) in fresh.into_iter().zip(quotas) {
        for s in list.into_iter().take(quota) {
            out.push(Entry {
                query: s.query,
                source,
                score: Some(s.score),
            });
        }
        c.kept = quota as u64;
        counts.push((source, c));
    }
    for (source, c) in counts.iter_mut() {
        if matches!(source, Source::Number | Source::WordNet) {
            c.kept = out.iter().filter(|e| e.source == *source).count() as u64;
        }
    }
    (out, counts)
}

#[cfg(test)]
mod tests {

    #[test]
    fn keep_best_keeps_the_highest_scores_then_the_first_queries() {
        let mut v: Vec<Scored> = [("b", 2.0), ("a", 2.0), ("c", 5.0), ("d", 1.0)]
            .iter()
            .map(|(q, s)| Scored {
                query: q.to_string(),
                score: *s,
            })
            .collect();
        keep_best(&mut v, 2);
        let q: Vec<&str> = v.iter().map(|s| s.query.as_str()).collect();
        assert_eq!(q, ["c", "a"]);
        keep_best(&mut v, 5);
        assert_eq!(v.len(), 2);
    }
    use super::*;

    fn sc(q: &str, s: f64) -> Scored {
        Scored {
            query: q.into(),
            score: s,
        }
    }

    #[test]
    fn merges_in_order_and_dedups() {
        let (out, counts) = merge(
            vec!["1".into(), "2".into()],
            vec!["dog".into(), "1".into(), "cat".into()],
            [
                (
                    Source::Unigram,
                    vec![sc("Dog", 5.0), sc("dog", 9.0), sc("fish", 7.0)],
                ),
                (Source::Bigram, vec![sc("hot dog", 31.0)]),
                (Source::Title, vec![sc("fish", 100.0), sc("Paris", 80.0)]),
            ],
            100,
        );
        let got: Vec<_> = out.iter().map(|e| (e.query.as_str(), e.source)).collect();
        assert_eq!(
            got,
            [
                ("1", Source::Number),
                ("2", Source::Number),
                ("dog", Source::WordNet),
                ("cat", Source::WordNet),
                ("fish", Source::Unigram),
                ("Dog", Source::Unigram),
                ("hot dog", Source::Bigram),
                ("Paris", Source::Title),
            ]
        );
        assert_eq!(counts[1].1.new, 2);
        assert_eq!(counts[4].1.candidates, 2);
        assert_eq!(counts[4].1.new, 1);
    }

    #[test]
    fn trims_proportionally_by_score() {
        let unis: Vec<_> = (0..60).map(|i| sc(&format!("u{i}"), i as f64)).collect();
        let bis: Vec<_> = (0..30).map(|i| sc(&format!("b {i}"), i as f64)).collect();
        let titles: Vec<_> = (0..10).map(|i| sc(&format!("T{i}"), i as f64)).collect();
        let (out, counts) = merge(
            numbers(),
            vec![],
            [
                (Source::Unigram, unis),
                (Source::Bigram, bis),
                (Source::Title, titles),
            ],
            110,
        );
        assert_eq!(out.len(), 110);
        let kept: Vec<u64> = counts.iter().map(|c| c.1.kept).collect();
        assert_eq!(kept, [100, 0, 6, 3, 1]);
        // Highest scores survive.
        assert!(out.iter().any(|e| e.query == "u59"));
        assert!(!out.iter().any(|e| e.query == "u0"));
        assert!(out.iter().any(|e| e.query == "T9"));
        let (out, _) = merge(
            numbers(),
            vec![],
            [
                (Source::Unigram, vec![]),
                (Source::Bigram, vec![]),
                (Source::Title, vec![]),
            ],
            10,
        );
        assert_eq!(out.len(), 10);
    }
}
