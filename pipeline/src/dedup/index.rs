//! Near-duplicate grouping of 64-bit perceptual hashes: multi-index hashing
//! plus union-find.
//!
//! Two hashes within Hamming distance `k` agree exactly on at least one of
//! `k + 1` disjoint bands of their bits (pigeonhole), so candidates are the
//! hashes that share a band value; each candidate pair is then checked in
//! full. Groups are the connected components of "within k" (and "same
//! sha256"): transitive, so a chain of small edits forms one group.

use std::collections::HashMap;

/// The bands of `k + 1` (as equal as possible) disjoint bit ranges of 64.
pub fn bands(k: u32) -> Vec<(u32, u32)> {
    let n = (k + 1).clamp(1, 64);
    let mut out = Vec::with_capacity(n as usize);
    let mut start = 0;
    for b in 0..n {
        let width = 64 / n + u32::from(b < 64 % n);
        out.push((start, width));
        start += width;
    }
    out
}

/// The value of band `(start, width)` of `h`.
pub fn band_value(h: u64, (start, width): (u32, u32)) -> u64 {
    if width == 64 {
        h
    } else {
        (h >> start) & ((1u64 << width) - 1)
    }
}

/// Union-find over `0..n`; the root of a set is its smallest member, so
/// groups do not depend on the order edges are added in.
#[derive(Debug, Clone)]
pub struct Groups {
    parent: Vec<u32>,
}

impl Groups {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
        }
    }

    /// The smallest member of `i`'s group.
    pub fn root(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let p = self.parent[i as usize];
            self.parent[i as usize] = self.parent[p as usize];
            i = p;
        }
        i
    }

    /// Every member's root, in member order (the union-find is consumed).
    pub fn into_roots(mut self) -> Vec<u32> {
        // A parent is always smaller than its child, so going up in order
        // finds each parent's root already in place.
        for i in 0..self.parent.len() {
            let p = self.parent[i] as usize;
            self.parent[i] = self.parent[p];
        }
        self.parent
    }

    /// Joins the groups of `a` and `b`.
    pub fn join(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            let (lo, hi) = (ra.min(rb), ra.max(rb));
            self.parent[hi as usize] = lo;
        }
    }
}

/// How many members of one band bucket are compared with each other at most;
/// larger buckets (thousands of identical bands: blank or logo images) are
/// compared against their first members only, which still joins every
/// member within `k` of those.
pub const MAX_BUCKET_PAIRS: usize = 256;

/// Groups `hashes` (index = image) whose hashes are within `k` bits, and
/// those with equal `exact` keys (e.g. sha256); returns the groups and the
/// number of near-duplicate edges found.
pub fn group(hashes: &[u64], exact: &[Option<&str>], k: u32) -> (Groups, u64) {
    let n = hashes.len();
    let mut groups = Groups::new(n);
    let mut edges = 0u64;
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for (i, key) in exact.iter().enumerate() {
        if let Some(key) = key {
            match seen.get(key) {
                Some(&first) => groups.join(first, i as u32),
                None => {
                    seen.insert(key, i as u32);
                }
            }
        }
    }
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(n);
    for band in bands(k) {
        order.clear();
        order.extend(
            hashes
                .iter()
                .enumerate()
                .map(|(i, &h)| (band_value(h, band), i as u32)),
        );
        order.sort_unstable();
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            if run.len() < 2 {
                continue;
            }
            let heads = run.len().min(MAX_BUCKET_PAIRS);
            for (x, &(_, a)) in run.iter().enumerate().take(heads) {
                for &(_, b) in &run[x + 1..] {
                    if (hashes[a as usize] ^ hashes[b as usize]).count_ones() <= k {
                        groups.join(a, b);
                        edges += 1;
                    }
                }
            }
        }
    }
    (groups, edges)
}

/// An index of reference hashes (an evaluation set) for "is this image near
/// one of them".
#[derive(Debug, Clone, Default)]
pub struct Reference {
    k: u32,
    by_band: Vec<HashMap<u64, Vec<u64>>>,
    len: usize,
}

impl Reference {
    /// The index of `hashes` for distance `k`.
    pub fn new(hashes: &[u64], k: u32) -> Self {
        let bands = bands(k);
        let mut by_band = vec![HashMap::new(); bands.len()];
        for &h in hashes {
            for (b, band) in bands.iter().enumerate() {
                by_band[b]
                    .entry(band_value(h, *band))
                    .or_insert_with(Vec::new)
                    .push(h);
            }
        }
        Self {
            k,
            by_band,
            len: hashes.len(),
        }
    }

    /// Number of reference hashes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `h` is within `k` bits of a reference hash.
    pub fn near(&self, h: u64) -> bool {
        bands(self.k).iter().enumerate().any(|(b, band)| {
            self.by_band[b]
                .get(&band_value(h, *band))
                .is_some_and(|v| v.iter().any(|&r| (r ^ h).count_ones() <= self.k))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_cover_64_bits() {
        for k in 0..20 {
            let b = bands(k);
            assert_eq!(b.len() as u32, k + 1);
            assert_eq!(b.iter().map(|x| x.1).sum::<u32>(), 64);
        }
        assert_eq!(band_value(0xffff_0000, (16, 16)), 0xffff);
        assert_eq!(band_value(7, (0, 64)), 7);
    }

    #[test]
    fn groups_are_within_k_transitively_and_by_exact_key() {
        let base = 0x1234_5678_9abc_def0u64;
        let hashes = [
            base,
            base ^ 0b111,             // 3 bits from 0
            base ^ 0b111 ^ (1 << 40), // 1 bit from 1, 4 from 0
            !base,                    // far from all
            0x0f0f_0f0f_0f0f_0f0f,    // far, but same sha as 0
        ];
        let exact = [Some("a"), None, None, None, Some("a")];
        let (mut g, _) = group(&hashes, &exact, 3);
        let roots: Vec<u32> = (0..5).map(|i| g.root(i)).collect();
        assert_eq!(roots, vec![0, 0, 0, 3, 0]);
        let (mut g, _) = group(&hashes, &[None; 5], 2);
        let roots: Vec<u32> = (0..5).map(|i| g.root(i)).collect();
        assert_eq!(roots, vec![0, 1, 1, 3, 4]);
    }

    #[test]
    fn reference_lookup() {
        let r = Reference::new(&[0, u64::MAX], 4);
        assert!(r.near(0b1111));
        assert!(!r.near(0b11111));
        assert!(r.near(u64::MAX ^ 1));
        assert_eq!(r.len(), 2);
    }
}
