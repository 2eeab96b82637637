//! Bounded-memory summaries used while streaming a run: fixed-bin histograms,
//! Misra–Gries heavy hitters (top texts, top domains) and a distinct counter
//! that is exact up to a threshold and a HyperLogLog estimate beyond it.
//!
//! Every summary is *mergeable*: files are summarised in parallel and the
//! partial summaries merged in file order, so the result does not depend on
//! the number of threads.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_128, Xxh3DefaultBuilder};

/// A histogram with fixed bins. Bin `i` holds values in
/// `[edges[i], edges[i + 1])`; the last bin is open-ended (`edges[last]` and
/// above) and values below `edges[0]` are counted in bin 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Lower edge of each bin, ascending.
    pub edges: Vec<f64>,
    /// Number of values in each bin (same length as `edges`).
    pub counts: Vec<u64>,
    /// Number of values added.
    pub n: u64,
    /// Sum of the values added.
    pub sum: f64,
    /// Smallest value added (`None` when empty).
    pub min: Option<f64>,
    /// Largest value added (`None` when empty).
    pub max: Option<f64>,
}

impl Histogram {
    /// A histogram with the given lower bin edges (must be ascending and non-empty).
    pub fn with_edges(edges: Vec<f64>) -> Self {
        assert!(!edges.is_empty(), "a histogram needs at least one bin");
        debug_assert!(edges.windows(2).all(|w| w[0] < w[1]));
        let counts = vec![0; edges.len()];
        Self {
            edges,
            counts,
            n: 0,
            sum: 0.0,
            min: None,
            max: None,
        }
    }

    /// `bins` bins of width `width` starting at `start`; the last one open-ended.
    pub fn linear(start: f64, width: f64, bins: usize) -> Self {
        Self::with_edges((0..bins).map(|i| start + width * i as f64).collect())
    }

    /// Adds `value` once.
    pub fn add(&mut self, value: f64) {
        self.add_n(value, 1);
    }

    /// Adds `value` `times` times.
    pub fn add_n(&mut self, value: f64, times: u64) {
        if times == 0 || value.is_nan() {
            return;
        }
        let bin = self
            .edges
            .partition_point(|e| *e <= value)
            .saturating_sub(1);
        self.counts[bin] += times;
        self.n += times;
        self.sum += value * times as f64;
        self.min = Some(self.min.map_or(value, |m| m.min(value)));
        self.max = Some(self.max.map_or(value, |m| m.max(value)));
    }

    /// Adds every value of `other` (which must have the same edges).
    pub fn merge(&mut self, other: &Histogram) {
        assert_eq!(
            self.edges, other.edges,
            "merging histograms with different bins"
        );
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.n += other.n;
        self.sum += other.sum;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Mean of the values added (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    /// The bin holding the `q`-quantile (0..=1), as its lower edge; `None` when empty.
    pub fn quantile_bin(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let target = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (edge, count) in self.edges.iter().zip(&self.counts) {
            seen += count;
            if seen >= target {
                return Some(*edge);
            }
        }
        self.edges.last().copied()
    }

    /// Human label of bin `i` (`"10–20"`, `"300+"`), with values formatted by `fmt`.
    pub fn bin_label(&self, i: usize, fmt: impl Fn(f64) -> String) -> String {
        match self.edges.get(i + 1) {
            Some(next)
                if (next - self.edges[i] - 1.0).abs() < 1e-9 && self.edges[i].fract() == 0.0 =>
            {
                fmt(self.edges[i])
            }
            Some(next) => format!("{}–{}", fmt(self.edges[i]), fmt(*next)),
            None => format!("{}+", fmt(self.edges[i])),
        }
    }
}

/// Approximate counts of the most frequent keys of a stream in bounded memory
/// (the Misra–Gries summary with batched decrements).
///
/// At most `2 × capacity` keys are held. Each reported count is a lower bound:
/// the true count lies in `[count, count + max_undercount]`, with
/// `max_undercount ≤ total / (capacity + 1)`. Every key occurring more than
/// `total / (capacity + 1)` times is kept. With fewer distinct keys than
/// `capacity` the counts are exact.
#[derive(Debug, Clone)]
pub struct HeavyHitters {
    capacity: usize,
    counts: HashMap<String, u64, Xxh3DefaultBuilder>,
    total: u64,
    decrement: u64,
}

/// One key of a [`HeavyHitters`] summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeavyHitter {
    /// The key (a text or a domain).
    pub key: String,
    /// Its count (a lower bound; exact when the summary is exact).
    pub count: u64,
}

impl HeavyHitters {
    /// A summary keeping about `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            counts: HashMap::with_hasher(Xxh3DefaultBuilder),
            total: 0,
            decrement: 0,
        }
    }

    /// Counts `key` `n` more times.
    pub fn add(&mut self, key: &str, n: u64) {
        self.total += n;
        if let Some(c) = self.counts.get_mut(key) {
            *c += n;
            return;
        }
        self.counts.insert(key.to_owned(), n);
        if self.counts.len() > 2 * self.capacity {
            self.prune();
        }
    }

    /// Subtracts the (capacity+1)-th largest count from every key and drops
    /// those at zero, leaving at most `capacity` keys.
    fn prune(&mut self) {
        if self.counts.len() <= self.capacity {
            return;
        }
        let mut values: Vec<u64> = self.counts.values().copied().collect();
        let k = self.capacity;
        let (_, kth, _) = values.select_nth_unstable_by(k, |a, b| b.cmp(a));
        let cut = *kth;
        self.decrement += cut;
        self.counts.retain(|_, c| {
            *c = c.saturating_sub(cut);
            *c > 0
        });
    }

    /// Adds the summary `other` into `self` (mergeable summaries).
    pub fn merge(&mut self, other: &HeavyHitters) {
        self.total += other.total;
        self.decrement += other.decrement;
        for (k, v) in &other.counts {
            *self.counts.entry(k.clone()).or_insert(0) += v;
        }
        self.prune();
    }

    /// Total count added (exact).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Upper bound of how much any reported count may be below the true one
    /// (0 when the summary is exact).
    pub fn max_undercount(&self) -> u64 {
        self.decrement
    }

    /// The `n` keys with the largest counts, ties broken by key.
    pub fn top(&self, n: usize) -> Vec<HeavyHitter> {
        let mut all: Vec<HeavyHitter> = self
            .counts
            .iter()
            .map(|(k, c)| HeavyHitter {
                key: k.clone(),
                count: *c,
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }
}

/// Number of HyperLogLog registers (2^14: about 0.8% standard error).
const HLL_BITS: u32 = 14;

/// Counts distinct strings: exactly (a set of 128-bit hashes) up to
/// `exact_limit` distinct values, then as a HyperLogLog estimate (16 KiB).
#[derive(Debug, Clone)]
pub enum Distinct {
    /// The set of 128-bit hashes seen so far.
    Exact {
        /// Hashes seen.
        set: HashSet<u128, Xxh3DefaultBuilder>,
        /// Size beyond which the set turns into a sketch.
        limit: usize,
    },
    /// HyperLogLog registers.
    Sketch(Box<[u8]>),
}

impl Distinct {
    /// A counter that stays exact up to `exact_limit` distinct values.
    pub fn new(exact_limit: usize) -> Self {
        Distinct::Exact {
            set: HashSet::with_hasher(Xxh3DefaultBuilder),
            limit: exact_limit,
        }
    }

    /// Counts `value`.
    pub fn add(&mut self, value: &[u8]) {
        self.add_hash(xxh3_128(value));
    }

    fn add_hash(&mut self, h: u128) {
        match self {
            Distinct::Exact { set, limit } => {
                set.insert(h);
                if set.len() > *limit {
                    let mut regs = vec![0u8; 1 << HLL_BITS].into_boxed_slice();
                    for h in set.iter() {
                        hll_insert(&mut regs, *h);
                    }
                    *self = Distinct::Sketch(regs);
                }
            }
            Distinct::Sketch(regs) => hll_insert(regs, h),
        }
    }

    /// Adds the values counted by `other`.
    pub fn merge(&mut self, other: &Distinct) {
        match other {
            Distinct::Exact { set, .. } => {
                for h in set {
                    self.add_hash(*h);
                }
            }
            Distinct::Sketch(theirs) => {
                if let Distinct::Exact { set, .. } = self {
                    let mut regs = vec![0u8; 1 << HLL_BITS].into_boxed_slice();
                    for h in set.iter() {
                        hll_insert(&mut regs, *h);
                    }
                    *self = Distinct::Sketch(regs);
                }
                if let Distinct::Sketch(mine) = self {
                    for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    /// Whether [`Distinct::count`] is exact.
    pub fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact { .. })
    }

    /// The number of distinct values (exact, or the HyperLogLog estimate).
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact { set, .. } => set.len() as u64,
            Distinct::Sketch(regs) => hll_estimate(regs),
        }
    }
}

fn hll_insert(regs: &mut [u8], h: u128) {
    let x = h as u64;
    let idx = (x >> (64 - HLL_BITS)) as usize;
    let rest = (x << HLL_BITS) | (1 << (HLL_BITS - 1));
    let rank = rest.leading_zeros() as u8 + 1;
    if rank > regs[idx] {
        regs[idx] = rank;
    }
}

fn hll_estimate(regs: &[u8]) -> u64 {
    let m = regs.len() as f64;
    let alpha = 0.7213 / (1.0 + 1.079 / m);
    let sum: f64 = regs.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
    let raw = alpha * m * m / sum;
    let zeros = regs.iter().filter(|r| **r == 0).count();
    let est = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    est.round() as u64
}

/// The host of an URL, lower-cased, without user info, port or a leading
/// `www.`; `None` when the URL has no `scheme://host` part.
pub fn domain_of(url: &str) -> Option<Cow<'_, str>> {
    let rest = &url[url.find("://")? + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let mut host = &rest[..end];
    if let Some(at) = host.rfind('@') {
        host = &host[at + 1..];
    }
    if host.starts_with('[') {
        host = &host[..host.find(']').map_or(host.len(), |i| i + 1)];
    } else if let Some(colon) = host.find(':') {
        host = &host[..colon];
    }
    let host = host.trim_end_matches('.');
    if host.is_empty() {
        return None;
    }
    let host = match host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("WWW."))
    {
        Some(h) if !h.is_empty() => h,
        _ => host,
    };
    Some(if host.bytes().any(|b| b.is_ascii_uppercase()) {
        let lower = host.to_ascii_lowercase();
        match lower.strip_prefix("www.") {
            Some(h) if !h.is_empty() => Cow::Owned(h.to_string()),
            _ => Cow::Owned(lower),
        }
    } else {
        Cow::Borrowed(host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_and_merge() {
        let mut h = Histogram::linear(0.0, 10.0, 3);
        for v in [0.0, 9.9, 10.0, 25.0, 1000.0] {
            h.add(v);
        }
        assert_eq!(h.counts, vec![2, 1, 2]);
        assert_eq!(h.bin_label(0, |v| format!("{v}")), "0–10");
        assert_eq!(h.bin_label(2, |v| format!("{v}")), "20+");
        let mut g = Histogram::linear(0.0, 10.0, 3);
        g.add(5.0);
        g.merge(&h);
        assert_eq!(g.counts, vec![3, 1, 2]);
        assert_eq!(g.n, 6);
        assert_eq!(g.min, Some(0.0));
        assert_eq!(g.max, Some(1000.0));
        assert_eq!(g.quantile_bin(0.5), Some(0.0));
        assert_eq!(g.quantile_bin(1.0), Some(20.0));
        let unit = Histogram::linear(0.0, 1.0, 3);
        assert_eq!(unit.bin_label(1, |v| format!("{v}")), "1");
    }

    #[test]
    fn heavy_hitters_exact_when_small_and_bounded_when_large() {
        let mut hh = HeavyHitters::new(10);
        for (k, n) in [("a", 5), ("b", 3), ("c", 1)] {
            hh.add(k, n);
        }
        assert_eq!(hh.max_undercount(), 0);
        assert_eq!(
            hh.top(2)[0],
            HeavyHitter {
                key: "a".into(),
                count: 5
            }
        );
        // A stream with a heavy key among many singletons keeps the heavy key.
        let mut hh = HeavyHitters::new(8);
        for i in 0..10_000 {
            hh.add(&format!("k{i}"), 1);
            if i % 4 == 0 {
                hh.add("heavy", 1);
            }
        }
        let top = hh.top(1);
        assert_eq!(top[0].key, "heavy");
        assert!(top[0].count <= 2500 && top[0].count + hh.max_undercount() >= 2500);
        assert!(hh.max_undercount() <= hh.total() / 9);
    }

    #[test]
    fn heavy_hitters_merge_is_order_independent_in_result() {
        let mut a = HeavyHitters::new(4);
        let mut b = HeavyHitters::new(4);
        for i in 0..50 {
            a.add(["x", "y", "z"][i % 3], 1);
            b.add(["x", "w"][i % 2], 1);
        }
        let mut ab = a.clone();
        ab.merge(&b);
        assert_eq!(
            ab.top(1)[0],
            HeavyHitter {
                key: "x".into(),
                count: 42
            }
        );
        assert_eq!(ab.total(), 100);
    }

    #[test]
    fn distinct_exact_then_estimated() {
        let mut d = Distinct::new(1000);
        for i in 0..500 {
            d.add(format!("{}", i % 250).as_bytes());
        }
        assert!(d.is_exact());
        assert_eq!(d.count(), 250);
        let mut big = Distinct::new(1000);
        for i in 0..50_000 {
            big.add(format!("v{i}").as_bytes());
        }
        assert!(!big.is_exact());
        let est = big.count() as f64;
        assert!((est - 50_000.0).abs() / 50_000.0 < 0.05, "estimate {est}");
        let mut merged = Distinct::new(1000);
        merged.merge(&d);
        merged.merge(&big);
        assert!((merged.count() as f64 - 50_000.0).abs() / 50_000.0 < 0.05);
    }

    #[test]
    fn domains() {
        assert_eq!(
            domain_of("https://www.Example.com:8080/a.jpg").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            domain_of("http://user:pw@img.host.org?x=1").as_deref(),
            Some("img.host.org")
        );
        assert_eq!(domain_of("http://[::1]:80/x").as_deref(), Some("[::1]"));
        assert_eq!(domain_of("data:image/png;base64,xx"), None);
        assert_eq!(domain_of("http:///x"), None);
    }
}
