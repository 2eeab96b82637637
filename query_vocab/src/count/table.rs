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

type Map = HashMap<Box<[u8]>, u64, BuildHasherDefault<KeyHasher>>;

/// Run-file prefixes.
pub const UNIGRAM_PREFIX: &str = "unigram";
/// See [`UNIGRAM_PREFIX`].
pub const BIGRAM_PREFIX: &str = "bigram";

/// Unigram and bigram counts of one thread.
#[derive(Debug)]
pub struct CountTable {
    unigrams: Map,
    bigrams: Map,
    used: usize,
    budget: usize,
    key: Vec<u8>,
    /// Runs written by this table: (unigram runs, bigram runs).
    pub runs: (Vec<PathBuf>, Vec<PathBuf>),
}

impl CountTable {
    /// An empty table that spills past `budget` bytes (estimated).
    pub fn new(budget: usize) -> Self {
        Self {
            unigrams: Map::default(),
            bigrams: Map::default(),
            used: 0,
            budget,
            key: Vec::new(),
            runs: (Vec::new(), Vec::new()),
        }
    }

    fn bump(map: &mut Map, used: &mut usize, key: &[u8]) {
        match map.get_mut(key) {
            Some(c) => *c += 1,
            None => {
                *used += record_cost(key.len());
                map.insert(key.into(), 1);
            }
        }
    }

    /// Counts one unigram.
    pub fn unigram(&mut self, token: &str) {
        Self::bump(&mut self.unigrams, &mut self.used, token.as_bytes());
    }

    /// Counts one bigram, keyed `a b` (tokens hold no spaces, and a space
    /// sorts below every token byte, so key order is (a, b) order).
    pub fn bigram(&mut self, a: &str, b: &str) {
        self.key.clear();
        self.key.extend_from_slice(a.as_bytes());
        self.key.push(b' ');
        self.key.extend_from_slice(b.as_bytes());
        Self::bump(&mut self.bigrams, &mut self.used, &self.key);
    }

    /// Spills when over budget.
    pub fn maybe_spill(&mut self, spill: &SpillDir) -> Result<()> {
        if self.used >= self.budget {
            self.spill(spill)?;
        }
        Ok(())
    }

    /// Writes everything counted so far as two sorted runs and empties the table.
    pub fn spill(&mut self, spill: &SpillDir) -> Result<()> {
        let drain = |map: &mut Map| -> Vec<(Vec<u8>, u64, u64)> {
            let records = map.drain().map(|(k, c)| (k.into_vec(), c, 0)).collect();
            *map = Map::default();
            records
        };
        if !self.unigrams.is_empty() {
            let records = drain(&mut self.unigrams);
            self.runs.0.push(spill.write_run(UNIGRAM_PREFIX, records)?);
        }
        if !self.bigrams.is_empty() {
            let records = drain(&mut self.bigrams);
            self.runs.1.push(spill.write_run(BIGRAM_PREFIX, records)?);
        }
        self.used = 0;
        Ok(())
    }
}
