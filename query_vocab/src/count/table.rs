//! A per-thread count table of unigrams and bigrams that spills to sorted runs
//! when it outgrows its share of the memory limit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

use super::runs::{record_cost, SpillDir};
use crate::error::Result;

/// Hashes a byte key in one xxh3 call (the streaming hasher is slow on the
/// short keys counted here).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 ^= (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Token → its id in the table.
type TokenIds = HashMap<Box<[u8]>, u32, BuildHasherDefault<KeyHasher>>;
/// `(id of a << 32) | id of b` → count.
type BigramCounts = HashMap<u64, u64, rustc_hash::FxBuildHasher>;

/// Run-file prefixes.
pub const UNIGRAM_PREFIX: &str = "unigram";
/// See [`UNIGRAM_PREFIX`].
pub const BIGRAM_PREFIX: &str = "bigram";

/// Unigram and bigram counts of one thread. Each distinct token is stored
/// once and given an id; unigrams are counted by id, and bigrams by the
/// pair of ids, so a bigram costs one integer-keyed lookup instead of
/// building, hashing and comparing the joined string.
#[derive(Debug)]
pub struct CountTable {
    ids: TokenIds,
    /// Byte length of each id's token.
    lens: Vec<u32>,
    /// Count of each id.
    unigrams: Vec<u64>,
    bigrams: BigramCounts,
    /// Estimated bytes: what the counted records take once spilled (see
    /// [`record_cost`]), so that a spill's sorted records stay within the
    /// budget too.
    used: usize,
    budget: usize,
    /// Runs written by this table: (unigram runs, bigram runs).
    pub runs: (Vec<PathBuf>, Vec<PathBuf>),
}

impl CountTable {
    /// An empty table that spills past `budget` bytes (estimated).
    pub fn new(budget: usize) -> Self {
        Self {
            ids: TokenIds::default(),
            lens: Vec::new(),
            unigrams: Vec::new(),
            bigrams: BigramCounts::default(),
            used: 0,
            budget,
            runs: (Vec::new(), Vec::new()),
        }
    }

    /// The id of `token`, added when new.
    fn id(&mut self, token: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        // A table spills long before 2^32 distinct tokens.
        let id = u32::try_from(self.lens.len()).expect("fewer than 2^32 tokens per table");
        self.ids.insert(token.into(), id);
        self.lens.push(token.len() as u32);
        self.unigrams.push(0);
        id
    }

    /// Counts one unigram; returns its id, for [`CountTable::bigram_ids`]
    /// (valid until the table spills).
    pub fn unigram(&mut self, token: &str) -> u32 {
        let id = self.id(token.as_bytes());
        if self.unigrams[id as usize] == 0 {
            self.used += record_cost(token.len());
        }
        self.unigrams[id as usize] += 1;
        id
    }

    /// Counts one bigram, keyed `a b` (tokens hold no spaces, and a space
    /// sorts below every token byte, so key order is (a, b) order).
    pub fn bigram(&mut self, a: &str, b: &str) {
        let (a, b) = (self.id(a.as_bytes()), self.id(b.as_bytes()));
        self.bigram_ids(a, b);
    }

    /// Counts the bigram of the tokens with ids `a` and `b` (from
    /// [`CountTable::unigram`] since the last spill).
    pub fn bigram_ids(&mut self, a: u32, b: u32) {
        let count = self
            .bigrams
            .entry((u64::from(a) << 32) | u64::from(b))
            .or_insert(0);
        if *count == 0 {
            self.used += record_cost((self.lens[a as usize] + 1 + self.lens[b as usize]) as usize);
        }
        *count += 1;
    }

    /// Spills when over budget.
    pub fn maybe_spill(&mut self, spill: &SpillDir) -> Result<()> {
        if self.used >= self.budget {
            self.spill(spill)?;
        }
        Ok(())
    }

    /// Writes everything counted so far as two sorted runs and empties the
    /// table (token ids start over).
    pub fn spill(&mut self, spill: &SpillDir) -> Result<()> {
        // The token of each id.
        let mut names: Vec<&[u8]> = vec![&[]; self.lens.len()];
        for (token, &id) in &self.ids {
            names[id as usize] = token;
        }
        let unigrams: Vec<(Vec<u8>, u64, u64)> = names
            .iter()
            .zip(&self.unigrams)
            .filter(|(_, &c)| c > 0)
            .map(|(k, &c)| (k.to_vec(), c, 0))
            .collect();
        if !unigrams.is_empty() {
            self.runs.0.push(spill.write_run(UNIGRAM_PREFIX, unigrams)?);
        }
        if !self.bigrams.is_empty() {
            let bigrams: Vec<(Vec<u8>, u64, u64)> = self
                .bigrams
                .drain()
                .map(|(key, c)| {
                    let (a, b) = (names[(key >> 32) as usize], names[key as u32 as usize]);
                    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
                    k.extend_from_slice(a);
                    k.push(b' ');
                    k.extend_from_slice(b);
                    (k, c, 0)
                })
                .collect();
            self.runs.1.push(spill.write_run(BIGRAM_PREFIX, bigrams)?);
        }
        self.ids = TokenIds::default();
        self.lens = Vec::new();
        self.unigrams = Vec::new();
        self.bigrams = BigramCounts::default();
        self.used = 0;
        Ok(())
    }
}
