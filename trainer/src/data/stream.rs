//! The endless, seeded sample stream.

use std::sync::Arc;

use super::shards::{Images, PartSamples, Sample, ShardSet};
use super::throttle::DataWarnings;
use crate::rng::Rng;
use crate::{Error, Result};

const STREAM: u64 = 0x5354;

/// Epoch after epoch: the shard parts (parquet row groups, tar files) in an
/// order shuffled by `(seed, epoch)`, read one at a time, their samples
/// passed through a shuffle buffer of fixed capacity. Memory is bounded by
/// the buffer and one row group (a tar is streamed sample by sample).
/// Unreadable parts are logged and skipped.
#[derive(Debug)]
pub struct SampleStream {
    shards: Arc<ShardSet>,
    seed: u64,
    capacity: usize,
    epoch: u64,
    order: Vec<usize>,
    next_group: usize,
    current: Option<PartSamples>,
    buffer: Vec<Sample>,
    rng: Rng,
    produced: u64,
    epoch_produced: u64,
    warnings: Arc<DataWarnings>,
    images: Images,
}

impl SampleStream {
    /// The stream of `shards` for `seed`, with a shuffle buffer of `capacity`.
    pub fn new(shards: Arc<ShardSet>, seed: u64, capacity: usize) -> Self {
        Self::with_warnings(shards, seed, capacity, Arc::default())
    }

    /// As [`SampleStream::new`], counting unreadable parts in `warnings`.
    pub fn with_warnings(
        shards: Arc<ShardSet>,
        seed: u64,
        capacity: usize,
        warnings: Arc<DataWarnings>,
    ) -> Self {
        let mut s = SampleStream {
            shards,
            seed,
            capacity: capacity.max(1),
            epoch: 0,
            order: Vec::new(),
            next_group: 0,
            current: None,
            buffer: Vec::new(),
            rng: Rng::new(0),
            produced: 0,
            epoch_produced: 0,
            warnings,
            images: Images::Read,
        };
        s.start_epoch(0);
        s
    }

    /// Leaves the images unread where the shard format allows it (see
    /// [`Images::Defer`]): the samples carry where their image is, for
    /// [`ShardSet::load_images`]. The stream (which samples, in which order)
    /// is the same either way.
    pub fn deferring_images(mut self, defer: bool) -> Self {
        self.images = if defer { Images::Defer } else { Images::Read };
        self
    }

    fn start_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.order = (0..self.shards.parts().len()).collect();
        Rng::derive(self.seed, &[STREAM, 0, epoch]).shuffle(&mut self.order);
        self.rng = Rng::derive(self.seed, &[STREAM, 1, epoch]);
        self.next_group = 0;
        self.epoch_produced = 0;
    }

    /// Samples handed out so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// The current epoch (0-based).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The next sample and its index in the stream.
    pub fn next_sample(&mut self) -> Result<(u64, Sample)> {
        loop {
            while self.buffer.len() < self.capacity {
                if let Some(part) = &mut self.current {
                    match part.next() {
                        Some(Ok(s)) => self.buffer.push(s),
                        Some(Err(e)) => {
                            // A damaged tar: keep what was read, skip the rest.
                            self.current = None;
                            self.warnings
                                .unreadable_parts
                                .warn(|| format!("skipping the rest of a shard part: {e}"));
                        }
                        None => self.current = None,
                    }
                } else if self.next_group < self.order.len() {
                    let g = self.shards.parts()[self.order[self.next_group]];
                    self.next_group += 1;
                    match self.shards.samples_with(&g, self.images) {
                        Ok(v) => self.current = Some(v),
                        Err(e) => {
                            self.warnings
                                .unreadable_parts
                                .warn(|| format!("skipping an unreadable shard part: {e}"));
                        }
                    }
                } else {
                    break;
                }
            }
            if !self.buffer.is_empty() {
                let i = self.rng.below(self.buffer.len());
                let s = self.buffer.swap_remove(i);
                self.produced += 1;
                self.epoch_produced += 1;
                return Ok((self.produced - 1, s));
            }
            if self.epoch_produced == 0 {
                return Err(Error::NoSamples(self.shards.sources()));
            }
            self.start_epoch(self.epoch + 1);
        }
    }

    /// Discards `n` samples (to resume a run) without decoding them.
    pub fn skip(&mut self, n: u64) -> Result<()> {
        for _ in 0..n {
            self.next_sample()?;
        }
        Ok(())
    }
}
