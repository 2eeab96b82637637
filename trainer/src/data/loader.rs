//! Batches prepared on a background thread and a decoding pool, ahead of
//! the training step.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver};
use rayon::prelude::*;

use super::augment;
use super::shards::{Sample, ShardSet};
use super::stream::SampleStream;
use super::throttle::DataWarnings;
use crate::distributed::{rank_rows, Collective, Solo};
use crate::rng::Rng;
use crate::tokenizer::{Encoded, TextTokenizer};
use crate::{Error, Result};

const AUGMENT: u64 = 0x4155;

/// How batches are made.
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Pairs per batch (the global batch, over every rank).
    pub batch_size: usize,
    /// Side of the model's input image.
    pub image_size: usize,
    /// Smallest area fraction of the random resized crop.
    pub crop_scale_min: f64,
    /// Seed of order and augmentation.
    pub seed: u64,
    /// Shuffle buffer capacity.
    pub shuffle_buffer: usize,
    /// Decoding threads.
    pub workers: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// Stream samples to discard first (to resume).
    pub skip: u64,
    /// Stop with an error after this many unusable samples in a row (a
    /// shard set whose images cannot be decoded would otherwise be retried
    /// forever).
    pub max_consecutive_failures: u64,
}

/// Default of [`LoaderOptions::max_consecutive_failures`].
pub const DEFAULT_MAX_CONSECUTIVE_FAILURES: u64 = 1000;

/// A ready batch.
#[derive(Debug)]
pub struct Batch {
    /// `[B, 3, S, S]` normalised pixels, row-major.
    pub images: Vec<f32>,
    /// `[B, T]` token ids.
    pub tokens: Vec<u32>,
    /// `[B]` end-of-text positions.
    pub eot: Vec<u32>,
    /// Pairs in the batch (this rank's rows).
    pub size: usize,
    /// Stream samples consumed once this batch was made (the resume point).
    pub consumed: u64,
    /// Samples dropped while making it (undecodable images).
    pub dropped: u64,
    /// Seconds the loader spent making it (reading, decoding, augmenting).
    pub prep_secs: f64,
    /// The stream's epoch when the batch was made.
    pub epoch: u64,
}

/// Background batch maker. Dropping it stops the thread.
pub struct Loader {
    rx: Option<Receiver<Result<Batch>>>,
    handle: Option<JoinHandle<()>>,
    warnings: Arc<DataWarnings>,
}

/// What the loader thread carries from batch to batch.
struct State {
    stream: SampleStream,
    /// The ranks sharing each batch (this one decodes its rows only).
    comm: Box<dyn Collective>,
    /// Unusable samples since the last usable one.
    consecutive_failures: u64,
    warnings: Arc<DataWarnings>,
}

/// Decodes, augments and normalises sample `n` of the stream and tokenises
/// its caption.
pub fn prepare_sample(
    n: u64,
    s: &Sample,
    tok: &TextTokenizer,
    opts: &LoaderOptions,
) -> std::result::Result<(Vec<f32>, Encoded), String> {
    let img = augment::decode_rgb(&s.jpg)?;
    let mut rng = Rng::derive(opts.seed, &[AUGMENT, n]);
    let size = opts.image_size as u32;
    let crop = augment::random_resized_crop(&img, size, opts.crop_scale_min, &mut rng);
    let mut px = vec![0f32; 3 * opts.image_size * opts.image_size];
    augment::normalize_into(&crop, &mut px);
    let enc = tok.encode(&s.caption).map_err(|e| e.to_string())?;
    Ok((px, enc))
}

fn make_batch(
    st: &mut State,
    shards: &ShardSet,
    tok: &TextTokenizer,
    opts: &LoaderOptions,
    pool: &rayon::ThreadPool,
) -> Result<Batch> {
    let t0 = Instant::now();
    // Of the global batch's B stream samples, this rank's rows.
    let (rank, ranks) = (st.comm.rank(), st.comm.size());
    let (lo, hi) = rank_rows(opts.batch_size, rank, ranks);
    let b = hi - lo;
    let mut items: Vec<(Vec<f32>, Encoded)> = Vec::with_capacity(b);
    let mut dropped = 0u64;
    let mut pulled = (0..opts.batch_size)
        .map(|_| st.stream.next_sample())
        .collect::<Result<Vec<_>>>()?;
    let mut raw: Vec<_> = pulled.drain(lo..hi).collect();
    loop {
        let done: Vec<_> = pool.install(|| {
            // Images left unread by the stream (several ranks): this rank's
            // only, read now.
            let mut refs: Vec<&mut Sample> = raw.iter_mut().map(|(_, s)| s).collect();
            let loaded = shards.load_images(&mut refs);
            raw.par_iter()
                .zip(loaded)
                .map(|((n, s), loaded)| {
                    loaded?;
                    prepare_sample(*n, s, tok, opts)
                })
                .collect()
        });
        let mut failed = 0u64;
        for (r, (_, s)) in done.into_iter().zip(&raw) {
            match r {
                Ok(x) => {
                    st.consecutive_failures = 0;
                    items.push(x);
                }
                Err(msg) => {
                    failed += 1;
                    st.consecutive_failures += 1;
                    let at = || shards.describe(s.origin);
                    st.warnings
                        .unusable_samples
                        .warn(|| format!("{}: {msg}; sample skipped", at()));
                    if st.consecutive_failures >= opts.max_consecutive_failures.max(1) {
                        return Err(Error::TooManyFailures {
                            count: st.consecutive_failures,
                            last: format!("{}: {msg}", at()),
                        });
                    }
                }
            }
        }
        dropped += failed;
        // The next stream samples replace the dropped ones, the ranks' in
        // rank order: the global batch holds the samples one process's would.
        let counts = if ranks == 1 {
            vec![failed]
        } else {
            st.comm.all_gather_u64(failed)?
        };
        let total: u64 = counts.iter().sum();
        if total == 0 {
            break;
        }
        let before: u64 = counts[..rank].iter().sum();
        let mut refill = (0..total)
            .map(|_| st.stream.next_sample())
            .collect::<Result<Vec<_>>>()?;
        raw = refill
            .drain(before as usize..(before + failed) as usize)
            .collect();
    }
    let px = 3 * opts.image_size * opts.image_size;
    let mut images = Vec::with_capacity(b * px);
    let mut tokens = Vec::with_capacity(b * tok.context_length());
    let mut eot = Vec::with_capacity(b);
    for (p, e) in items {
        images.extend_from_slice(&p);
        tokens.extend_from_slice(&e.ids);
        eot.push(e.eot);
    }
    Ok(Batch {
        images,
        tokens,
        eot,
        size: b,
        consumed: st.stream.produced(),
        dropped,
        prep_secs: t0.elapsed().as_secs_f64(),
        epoch: st.stream.epoch(),
    })
}

impl Loader {
    /// Starts the loader thread (skipping `opts.skip` samples first).
    pub fn start(
        shards: Arc<ShardSet>,
        tok: Arc<TextTokenizer>,
        opts: LoaderOptions,
    ) -> Result<Self> {
        Self::start_on(shards, tok, opts, Box::new(Solo), None)
    }

    /// As [`Loader::start`], for one of the ranks of `comm` (a communicator
    /// of the loader's own, see [`Collective::duplicate`]): every rank follows
    /// the same stream and makes its rows `r·B/N .. (r+1)·B/N` of each global
    /// batch of `opts.batch_size` samples (see [`crate::distributed`]).
    ///
    /// `batches` bounds the batches made (`None`: endless). Several ranks
    /// must bound them, to the number they will take: a rank's loader
    /// exchanges with the others' at every batch, and one that stopped early
    /// would leave the others waiting.
    pub fn start_on(
        shards: Arc<ShardSet>,
        tok: Arc<TextTokenizer>,
        opts: LoaderOptions,
        comm: Box<dyn Collective>,
        batches: Option<u64>,
    ) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.workers.max(1))
            .thread_name(|i| format!("decode-{i}"))
            .build()
            .map_err(|e| Error::Config(format!("cannot start decoding threads: {e}")))?;
        let (tx, rx) = bounded(opts.prefetch.max(1));
        let warnings = Arc::new(DataWarnings::default());
        let mut st = State {
            // With several ranks a rank reads the images it decodes only.
            stream: SampleStream::with_warnings(
                shards.clone(),
                opts.seed,
                opts.shuffle_buffer,
                warnings.clone(),
            )
            .deferring_images(comm.size() > 1),
            comm,
            consecutive_failures: 0,
            warnings: warnings.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("loader".into())
            .spawn(move || {
                if let Err(e) = st.stream.skip(opts.skip) {
                    let _ = tx.send(Err(e));
                    return;
                }
                for _ in 0..batches.unwrap_or(u64::MAX) {
                    let r = make_batch(&mut st, &shards, &tok, &opts, &pool);
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Config(format!("cannot start the loader thread: {e}")))?;
        Ok(Loader {
            rx: Some(rx),
            handle: Some(handle),
            warnings,
        })
    }

    /// The counts of the data path's warnings so far.
    pub fn warnings(&self) -> &DataWarnings {
        &self.warnings
    }

    /// The next batch (blocks until ready).
    pub fn next_batch(&self) -> Result<Batch> {
        self.rx
            .as_ref()
            .expect("open until drop")
            .recv()
            .map_err(|_| Error::Config("the loader thread stopped".into()))?
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the channel makes the thread's next send fail.
        self.rx.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
