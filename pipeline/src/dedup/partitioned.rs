//! Near-duplicate grouping with bounded memory: the same groups as
//! [`super::index::group`], found in passes over a stream of hashes instead
//! of one sort of every band of every image.
//!
//! Each (band, band value) bucket and each sha256 belongs to one of `P`
//! partitions (a mix of its value, modulo `P`). Pass `p` reads the stream,
//! keeps only the band entries and sha256 values of partition `p`, sorts and
//! compares them exactly as the in-memory grouping does, and joins the
//! near and exact duplicates it finds in one union-find over every image. A
//! bucket lies wholly in one partition and the union-find's roots are the
//! smallest members, so the groups do not depend on `P`: only the memory of a
//! pass (about `(24 × bands + 112) × images / P` bytes: the band entries and
//! sha256 values of one partition) and the number of passes do.

use std::collections::HashMap;

use super::index::{band_value, bands, Groups, MAX_BUCKET_PAIRS};

/// Bytes one band entry takes in a pass.
pub const ENTRY_BYTES: u64 = std::mem::size_of::<Entry>() as u64;

/// Bytes one image's sha256 takes in a pass (64 hex digits in a hash map).
pub const SHA_BYTES: u64 = 112;

/// A stream of every image's index (0, 1, ... in order), hash and sha256,
/// which can be read several times.
pub trait HashStream {
    /// The error of a read.
    type Error;
    /// Calls `f(index, phash, sha256)` for every image, in index order.
    fn for_each(&self, f: &mut dyn FnMut(u32, u64, Option<&str>)) -> Result<(), Self::Error>;
}

/// Hashes held in memory (tests, small runs).
impl HashStream for (&[u64], &[Option<&str>]) {
    type Error = std::convert::Infallible;
    fn for_each(&self, f: &mut dyn FnMut(u32, u64, Option<&str>)) -> Result<(), Self::Error> {
        for (i, (&h, s)) in self.0.iter().zip(self.1).enumerate() {
            f(i as u32, h, *s);
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Entry {
    value: u64,
    hash: u64,
    index: u32,
    band: u32,
}

/// The number of passes that keeps one pass's band entries and sha256
/// values for `images` images at distance `k` within `budget` bytes (at
/// least 1).
pub fn passes_for(images: u64, k: u32, budget: u64) -> usize {
    let need = images.saturating_mul(bands(k).len() as u64 * ENTRY_BYTES + SHA_BYTES);
    need.div_ceil(budget.max(1)).max(1) as usize
}

fn mix(x: u64) -> u64 {
    // splitmix64's finaliser: every input bit moves every output bit.
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn band_partition(band: u32, value: u64, passes: usize) -> usize {
    (mix(value ^ mix(band as u64)) % passes as u64) as usize
}

fn sha_partition(sha: &str, passes: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(sha.as_bytes()) % passes as u64) as usize
}

/// Groups the `n` images of `stream` whose hashes are within `k` bits, or
/// whose sha256 are equal, in `passes` passes over the stream.
pub fn group_in_passes<S: HashStream>(
    stream: &S,
    n: usize,
    k: u32,
    passes: usize,
) -> Result<Groups, S::Error> {
    let passes = passes.max(1);
    let bands = bands(k);
    let mut groups = Groups::new(n);
    let mut entries: Vec<Entry> = Vec::new();
    for pass in 0..passes {
        entries.clear();
        let mut first_of_sha: HashMap<String, u32> = HashMap::new();
        stream.for_each(&mut |i, h, sha| {
            for (b, band) in bands.iter().enumerate() {
                let value = band_value(h, *band);
                if band_partition(b as u32, value, passes) == pass {
                    entries.push(Entry {
                        value,
                        hash: h,
                        index: i,
                        band: b as u32,
                    });
                }
            }
            if let Some(sha) = sha.filter(|s| sha_partition(s, passes) == pass) {
                match first_of_sha.get(sha) {
                    Some(&first) => groups.join(first, i),
                    None => {
                        first_of_sha.insert(sha.to_string(), i);
                    }
                }
            }
        })?;
        entries.sort_unstable_by_key(|e| (e.band, e.value, e.index));
        for run in entries.chunk_by(|a, b| a.band == b.band && a.value == b.value) {
            if run.len() < 2 {
                continue;
            }
            let heads = run.len().min(MAX_BUCKET_PAIRS);
            for (x, a) in run.iter().enumerate().take(heads) {
                for b in &run[x + 1..] {
                    if (a.hash ^ b.hash).count_ones() <= k {
                        groups.join(a.index, b.index);
                    }
                }
            }
        }
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::index::group;

    /// Hashes in clusters (a base and copies a few bits off), blank-like
    /// buckets larger than [`MAX_BUCKET_PAIRS`], and repeated sha256 values.
    fn data(seed: u64, n: usize) -> (Vec<u64>, Vec<Option<String>>) {
        let mut hashes = Vec::with_capacity(n);
        let mut shas = Vec::with_capacity(n);
        let mut base = mix(seed);
        for i in 0..n as u64 {
            let r = mix(seed ^ (i << 8));
            if r.is_multiple_of(7) {
                base = mix(r);
            }
            let h = match r % 5 {
                0 => base,
                1 => base ^ (1 << (r % 64)) ^ (1 << ((r >> 8) % 64)),
                2 => base ^ (mix(r) & mix(r >> 3) & mix(r >> 5)),
                3 if i % 3 == 0 => 0, // a huge bucket of blank images
                _ => mix(r ^ 1),
            };
            hashes.push(h);
            shas.push(match r % 11 {
                0 => Some(format!("sha-{}", r % 13)),
                1 => None,
                _ => Some(format!("sha-unique-{i}")),
            });
        }
        (hashes, shas)
    }

    fn roots(mut g: Groups, n: usize) -> Vec<u32> {
        (0..n as u32).map(|i| g.root(i)).collect()
    }

    #[test]
    fn groups_do_not_depend_on_the_number_of_passes() {
        for (seed, k) in [(1, 4), (2, 0), (3, 8), (4, 2)] {
            let n = 3000;
            let (hashes, shas) = data(seed, n);
            let shas: Vec<Option<&str>> = shas.iter().map(|s| s.as_deref()).collect();
            let (g, _) = group(&hashes, &shas, k);
            let want = roots(g, n);
            assert!(
                want.iter()
                    .enumerate()
                    .filter(|(i, r)| *i as u32 != **r)
                    .count()
                    > 100,
                "the data has groups"
            );
            for passes in [1, 2, 7] {
                let got = group_in_passes(&(&hashes[..], &shas[..]), n, k, passes).unwrap();
                assert_eq!(roots(got, n), want, "seed {seed}, k {k}, {passes} passes");
            }
        }
    }

    #[test]
    fn passes_fit_the_budget() {
        assert_eq!(passes_for(0, 4, 1 << 30), 1);
        assert_eq!(passes_for(1_000_000, 4, 1 << 30), 1);
        // 400M images, 5 bands of 24 bytes and a sha256: 93 GB in 1 GiB passes.
        assert_eq!(passes_for(400_000_000, 4, 1 << 30), 87);
    }
}
