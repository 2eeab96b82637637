//! Choosing the cap t.

/// How t is chosen.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// A fixed t (MetaCLIP: 20,000).
    Fixed(u64),
    /// The smallest t such that entries matched fewer than t times ("tail"
    /// entries) hold at least this share of all matches (MetaCLIP: 0.06 for
    /// its larger pools).
    TailShare(f64),
}

/// The smallest t for which entries with `count < t` hold at least `share`
/// of all matches. Returns 1 when there are no matches. `share` must lie in
/// (0, 1].
pub fn tail_share_threshold(counts: &[u64], share: f64) -> u64 {
    let mut sorted: Vec<u64> = counts.iter().copied().filter(|&c| c > 0).collect();
    sorted.sort_unstable();
    let total: u128 = sorted.iter().map(|&c| c as u128).sum();
    if total == 0 {
        return 1;
    }
    let mut cum: u128 = 0;
    let mut i = 0;
    while i < sorted.len() {
        let c = sorted[i];
        while i < sorted.len() && sorted[i] == c {
            cum += c as u128;
            i += 1;
        }
        // t = c + 1: every entry with count <= c is in the tail.
        if cum as f64 >= share * total as f64 {
            return c + 1;
        }
    }
    sorted.last().map_or(1, |&c| c + 1)
}

/// The share of all matches held by entries with `count < t`.
pub fn tail_share(counts: &[u64], t: u64) -> f64 {
    let total: u128 = counts.iter().map(|&c| c as u128).sum();
    if total == 0 {
        return 0.0;
    }
    let tail: u128 = counts.iter().filter(|&&c| c < t).map(|&c| c as u128).sum();
    tail as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_smallest_threshold_reaching_share() {
        // total 100: counts 1,2,3,4 sum 10; 40; 50.
        let counts = [1, 2, 3, 4, 0, 40, 50];
        assert_eq!(tail_share_threshold(&counts, 0.01), 2);
        assert_eq!(tail_share_threshold(&counts, 0.10), 5);
        assert_eq!(tail_share_threshold(&counts, 0.11), 41);
        assert_eq!(tail_share_threshold(&counts, 0.5), 41);
        assert_eq!(tail_share_threshold(&counts, 0.51), 51);
        assert_eq!(tail_share_threshold(&counts, 1.0), 51);
        assert_eq!(tail_share_threshold(&[0, 0], 0.06), 1);
        for share in [0.01, 0.06, 0.3, 0.9] {
            let t = tail_share_threshold(&counts, share);
            assert!(tail_share(&counts, t) >= share);
            assert!(tail_share(&counts, t - 1) < share || t == 1);
        }
    }
}
