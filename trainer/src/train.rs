//! The training job.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::checkpoint::{self, CheckpointMeta, FORMAT_VERSION};
use crate::config::{ModelConfig, Precision, TrainConfig};
use crate::data::throttle::Throttled;
use crate::data::{Loader, LoaderOptions, ShardSet};
use crate::distributed::{self, state, Comm};
use crate::error::io_err;
use crate::eval::{ZeroShotReport, ZeroShotTask};
use crate::mirror::Mirror;
use crate::model::clip::{LOGIT_SCALE, MAX_LOGIT_SCALE};
use crate::model::Clip;
use crate::optim::{lr_at, AdamW};
use crate::step::MicroBatch;
use crate::tokenizer::TextTokenizer;
use crate::{Error, Result};

/// Name of the per-step log in the run directory.
pub const LOG_FILE: &str = "train_log.jsonl";

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// Shard directories (or files).
    pub shards: Vec<PathBuf>,
    /// Selection directories: only the rows they select are trained on (see
    /// [`ShardSet::with_selections`]).
    pub select: Vec<PathBuf>,
    /// Run directory (checkpoints, log).
    pub out: PathBuf,
    /// Model shape (`vocab_size` is replaced by the trained tokenizer's).
    pub model: ModelConfig,
    /// Hyper-parameters.
    pub train: TrainConfig,
    /// Continue from the newest checkpoint in `out`.
    pub resume: bool,
    /// Stop (after checkpointing) once this step is reached, leaving the run
    /// resumable; `None` runs to `train.steps`.
    pub stop_at: Option<u64>,
    /// Decoding threads.
    pub workers: usize,
    /// Batches prepared ahead.
    pub prefetch: usize,
    /// Captions used to train the tokenizer.
    pub tokenizer_samples: usize,
    /// Compute device.
    pub device: Device,
    /// Arithmetic of the matrix products (the weights stay f32).
    pub precision: Precision,
    /// No progress bar.
    pub quiet: bool,
    /// Stop with an error after this many unusable samples in a row.
    pub max_consecutive_failures: u64,
    /// Zero-shot evaluation during training, if any.
    pub eval: Option<EvalDuringTraining>,
    /// The ranks training this model together ([`distributed::solo`] for one
    /// process). Rank 0 alone reads and writes `out`.
    pub comm: Comm,
}

/// Zero-shot evaluation every few steps, logged beside the loss.
#[derive(Debug, Clone)]
pub struct EvalDuringTraining {
    /// Evaluate after every this many steps (and after the last one).
    pub every: u64,
    /// The ImageFolder tree, its classes and templates.
    pub task: ZeroShotTask,
    /// Images per forward pass.
    pub batch_size: usize,
}

/// One line of `train_log.jsonl`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepLog {
    /// Steps taken after this one (1-based).
    pub step: u64,
    /// Contrastive loss of the step.
    pub loss: f64,
    /// Temperature τ (the logits are scaled by 1/τ).
    pub temperature: f64,
    /// The logit scale 1/τ.
    pub logit_scale: f64,
    /// Learning rate of the step.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Pairs per second over the whole step.
    pub samples_per_sec: f64,
    /// Milliseconds the step waited for its batch.
    pub data_wait_ms: f64,
    /// Milliseconds in the forward pass.
    pub forward_ms: f64,
    /// Milliseconds in the backward pass.
    pub backward_ms: f64,
    /// Milliseconds in the optimizer.
    pub optimizer_ms: f64,
    /// Milliseconds in collective operations with the other ranks (runs of
    /// several ranks only; not part of `forward_ms` and `backward_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm_ms: Option<f64>,
    /// Epoch of the data stream.
    pub epoch: u64,
    /// Zero-shot top-1 accuracy after this step (steps with an evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_shot_top1: Option<f64>,
    /// Zero-shot top-5 accuracy after this step (steps with an evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_shot_top5: Option<f64>,
    /// Milliseconds the evaluation took (not part of the step's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_ms: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Step the run started from (0, or the resumed checkpoint's).
    pub start_step: u64,
    /// Step reached.
    pub end_step: u64,
    /// Loss of the last step.
    pub final_loss: f64,
    /// Trainable parameters.
    pub parameters: usize,
    /// Pairs per second over the run.
    pub samples_per_sec: f64,
    /// Seconds waiting for data.
    pub data_wait_secs: f64,
    /// Seconds in forward passes.
    pub forward_secs: f64,
    /// Seconds in backward passes.
    pub backward_secs: f64,
    /// Seconds in the optimizer.
    pub optimizer_secs: f64,
    /// Seconds in collective operations with the other ranks (0 for one
    /// process).
    pub comm_secs: f64,
    /// Seconds the loader spent preparing batches (overlapped with compute).
    pub loader_secs: f64,
    /// Wall seconds of the loop, evaluations excluded.
    pub elapsed_secs: f64,
    /// Samples dropped for undecodable images.
    pub dropped_samples: u64,
    /// Shard parts (row groups, tar files) skipped as unreadable.
    pub unreadable_parts: u64,
    /// Bytes each rank's loader read from the shard files, in rank order
    /// (with several ranks a rank reads the images it decodes only, where
    /// the shard format allows: see `docs/scaling.md`).
    pub shard_bytes_read: Vec<u64>,
    /// The image bytes among [`TrainSummary::shard_bytes_read`], by rank.
    pub image_bytes_read: Vec<u64>,
    /// The last checkpoint written.
    pub checkpoint: PathBuf,
    /// The last zero-shot evaluation during training, if any.
    pub zero_shot: Option<ZeroShotReport>,
    /// Seconds spent in evaluations during training.
    pub eval_secs: f64,
}

fn train_tokenizer(shards: &ShardSet, cfg: &ModelConfig, limit: usize) -> Result<TextTokenizer> {
    let mut captions = Vec::new();
    let unreadable = Throttled::new("unreadable shard parts");
    for g in shards.parts() {
        if captions.len() >= limit {
            break;
        }
        match shards.read_captions(g) {
            Ok(c) => captions.extend(c),
            Err(e) => {
                unreadable.warn(|| format!("tokenizer: skipping an unreadable part: {e}"));
            }
        }
    }
    captions.truncate(limit);
    if captions.is_empty() {
        return Err(Error::NoSamples(shards.sources()));
    }
    log::info!("training the tokenizer on {} captions", captions.len());
    TextTokenizer::train(captions.iter(), cfg.vocab_size, cfg.context_length)
}

/// Keeps the log lines of steps up to `step` (a resumed run rewrites later ones).
fn truncate_log(path: &Path, step: u64) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut kept = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(io_err(path))?;
        if let Ok(l) = serde_json::from_str::<StepLog>(&line) {
            if l.step <= step {
                kept.push(line);
            }
        }
    }
    let mut text = kept.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    // Atomically: a kill here keeps the old log.
    Ok(atomic_output::write_atomically(path, text.as_bytes())?)
}

fn clamp_logit_scale(model: &Clip) -> Result<()> {
    let p = model
        .params
        .get(LOGIT_SCALE)
        .expect("model has a logit scale");
    let v = p.var.to_scalar::<f32>()? as f64;
    let max = MAX_LOGIT_SCALE.ln();
    if !(0.0..=max).contains(&v) {
        let c = v.clamp(0.0, max) as f32;
        p.var.set(&Tensor::new(c, p.var.device())?)?;
    }
    Ok(())
}

/// Rank 0's side of the start: the run directory prepared, and the model,
/// optimizer and tokenizer loaded from its newest checkpoint or made anew.
fn prepare_run(opts: &TrainOptions, shards: &ShardSet, out: &Path) -> Result<state::Start> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let log_path = out.join(LOG_FILE);
    let unfinished = checkpoint::remove_unfinished(out)?;
    if unfinished > 0 {
        log::info!("removed {unfinished} half-written checkpoint(s) of an earlier run");
    }
    match checkpoint::latest(out)? {
        Some(dir) => {
            if !opts.resume {
                return Err(Error::Config(format!(
                    "{} already holds checkpoint {}; pass --resume to continue it, or choose a new --out",
                    opts.out.display(),
                    dir.display()
                )));
            }
            let loaded = checkpoint::load_with_precision(&dir, &opts.device, opts.precision)?;
            let meta = loaded.meta;
            if meta.train != opts.train {
                log::warn!(
                    "resuming with the hyper-parameters saved in {} (the command line's differ)",
                    dir.display()
                );
            }
            let mut optimizer = AdamW::new(&loaded.model.params, &meta.train)?;
            checkpoint::load_optimizer(&dir, &loaded.model, &mut optimizer, meta.step)?;
            truncate_log(&log_path, meta.step)?;
            log::info!("resuming from {} (step {})", dir.display(), meta.step);
            Ok(state::Start {
                model: loaded.model,
                optimizer,
                tokenizer: loaded.tokenizer,
                train: meta.train,
                start_step: meta.step,
                skip: meta.samples_consumed,
                resumed_loss: meta.loss,
            })
        }
        None => {
            opts.model.validate()?;
            let tokenizer = train_tokenizer(shards, &opts.model, opts.tokenizer_samples)?;
            let mut mcfg = opts.model.clone();
            mcfg.vocab_size = tokenizer.vocab_size();
            let model = Clip::with_precision(&mcfg, &opts.device, opts.train.seed, opts.precision)?;
            let optimizer = AdamW::new(&model.params, &opts.train)?;
            if log_path.exists() {
                std::fs::remove_file(&log_path).map_err(io_err(&log_path))?;
            }
            Ok(state::Start {
                model,
                optimizer,
                tokenizer,
                train: opts.train.clone(),
                start_step: 0,
                skip: 0,
                resumed_loss: None,
            })
        }
    }
}

/// Fails unless the global batch splits evenly over `ranks`.
fn check_batch_splits(cfg: &TrainConfig, ranks: usize) -> Result<()> {
    if !cfg.batch_size.is_multiple_of(ranks) || cfg.batch_size < ranks {
        return Err(Error::Config(format!(
            "--batch-size {} (the global batch) does not split evenly over {ranks} ranks",
            cfg.batch_size
        )));
    }
    Ok(())
}

/// Trains (or resumes) a run. Returns once `stop_at` or the last step is
/// reached, with a checkpoint written.
///
/// With several ranks in `opts.comm`, every rank calls this with the same
/// options: they train one model on their shares of each global batch of
/// `train.batch_size` pairs (see [`crate::distributed`]); rank 0 alone writes
/// the run directory and logs and runs the evaluations, so its summary is the
/// one to report.
pub fn train(opts: &TrainOptions) -> Result<TrainSummary> {
    opts.train.validate()?;
    let comm = opts.comm.clone();
    let lead = comm.rank() == 0;
    let shards = Arc::new(ShardSet::open(&opts.shards)?.with_selections(&opts.select)?);
    // A run directory on object storage is trained in a local copy.
    let mirror = if lead { Mirror::open(&opts.out)? } else { None };
    let out = mirror
        .as_ref()
        .map_or_else(|| opts.out.clone(), |m| m.local().to_path_buf());
    let log_path = out.join(LOG_FILE);
    if !opts.resume {
        // A fresh run's batch is known now (a resumed one's after loading).
        check_batch_splits(&opts.train, comm.size())?;
    }
    let prepared = if lead {
        Some(prepare_run(opts, &shards, &out)?)
    } else {
        None
    };
    let start = state::share(comm.as_ref(), prepared, &opts.device, opts.precision)?;
    let state::Start {
        model,
        mut optimizer,
        tokenizer,
        train: cfg,
        start_step,
        skip,
        resumed_loss,
    } = start;
    check_batch_splits(&cfg, comm.size())?;
    state::verify_identical(comm.as_ref(), &model.params, start_step)?;
    let end_step = opts.stop_at.unwrap_or(cfg.steps).min(cfg.steps);
    log::info!(
        "{} shard files ({} tar, the rest parquet with {} rows); model {} parameters; \
         steps {}..{} of {}, batch {} × {} micro-batches over {} rank(s)",
        shards.files().len(),
        shards.tar_files(),
        shards.parquet_rows(),
        model.params.numel(),
        start_step,
        end_step,
        cfg.steps,
        cfg.batch_size,
        cfg.accum_freq,
        comm.size()
    );

    let tokenizer = Arc::new(tokenizer);
    let mc = model.config.clone();
    // The shard bytes the loader reads (the tokenizer's captions apart).
    let read_before = (
        shards.read_stats().bytes(),
        shards.read_stats().image_bytes(),
    );
    let loader = Loader::start_on(
        shards.clone(),
        tokenizer.clone(),
        LoaderOptions {
            batch_size: cfg.batch_size,
            image_size: mc.image_size,
            crop_scale_min: cfg.crop_scale_min,
            seed: cfg.seed,
            shuffle_buffer: cfg.shuffle_buffer,
            workers: opts.workers,
            prefetch: opts.prefetch,
            skip,
            max_consecutive_failures: opts.max_consecutive_failures,
        },
        comm.duplicate()?,
        Some(end_step.saturating_sub(start_step) * cfg.accum_freq as u64),
    )?;

    // Rank 0's log; the other ranks write nothing.
    let mut log_out: Box<dyn Write> = if lead {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        Box::new(BufWriter::new(log_file))
    } else {
        Box::new(std::io::sink())
    };

    let bar = if opts.quiet || !lead {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(end_step);
        b.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {pos}/{len} steps {msg} (eta {eta})",
            )
            .expect("valid template"),
        );
        b.set_position(start_step);
        b
    };

    let dev = &opts.device;
    // This rank's rows of each global micro-batch.
    let (b, s, t) = (
        cfg.batch_size / comm.size(),
        mc.image_size,
        mc.context_length,
    );
    let mut sums = [0f64; 6]; // data, forward, backward, optimizer, loader, collectives
    let mut dropped = 0u64;
    let mut last_loss = resumed_loss.unwrap_or(f64::NAN);
    let mut last_ckpt = if lead {
        checkpoint::latest(&out)?.unwrap_or_default()
    } else {
        PathBuf::new()
    };
    let mut last_eval: Option<ZeroShotReport> = None;
    let mut eval_secs = 0.0;
    let started = Instant::now();
    let sync = |d: &Device| d.synchronize();

    for step in start_step..end_step {
        let t0 = Instant::now();
        let (mut data, mut prep) = (0.0, 0.0);
        let mut micro = Vec::with_capacity(cfg.accum_freq);
        let (mut consumed, mut epoch) = (0, 0);
        for _ in 0..cfg.accum_freq {
            let tb = Instant::now();
            let batch = loader.next_batch()?;
            data += tb.elapsed().as_secs_f64();
            prep += batch.prep_secs;
            (consumed, epoch) = (batch.consumed, batch.epoch);
            dropped += batch.dropped;
            micro.push(MicroBatch {
                images: Tensor::from_vec(batch.images, (b, 3, s, s), dev)?,
                tokens: Tensor::from_vec(batch.tokens, (b, t), dev)?,
                eot: Tensor::from_vec(batch.eot, b, dev)?,
            });
        }

        let g = distributed::gradients(&model, &micro, comm.as_ref(), dev)?;
        drop(micro);
        let t3 = Instant::now();
        let lr = lr_at(step, cfg.lr, cfg.warmup_steps, cfg.steps);
        let info = optimizer.step_with(&model.params, &g.grads, lr, cfg.grad_clip)?;
        clamp_logit_scale(&model)?;
        sync(dev)?;
        let t4 = Instant::now();

        last_loss = g.loss;
        if !last_loss.is_finite() {
            return Err(Error::Config(format!(
                "loss became {last_loss} at step {}; lower --lr",
                step + 1
            )));
        }
        let ls = model.logit_scale().to_scalar::<f32>()? as f64;
        let (fw, bw, op) = (g.forward_secs, g.backward_secs, (t4 - t3).as_secs_f64());
        for (acc, v) in sums.iter_mut().zip([data, fw, bw, op, prep, g.comm_secs]) {
            *acc += v;
        }
        let step_secs = (t4 - t0).as_secs_f64();
        let done = step + 1;
        let mut eval_cols = (None, None, None);
        // Every step in debug builds (the tests), at checkpoints otherwise.
        if cfg!(debug_assertions) || done % cfg.checkpoint_every == 0 || done == end_step {
            state::verify_identical(comm.as_ref(), &model.params, done)?;
        }
        if let (Some(e), true) = (&opts.eval, lead) {
            if done % e.every.max(1) == 0 || done == end_step {
                let te = Instant::now();
                let r = e.task.run(&model, &tokenizer, e.batch_size)?;
                let secs = te.elapsed().as_secs_f64();
                eval_secs += secs;
                log::info!(
                    "step {done}: zero-shot top-1 {:.2}%, top-5 {:.2}% ({} images)",
                    r.top1 * 100.0,
                    r.top5 * 100.0,
                    r.images
                );
                eval_cols = (Some(r.top1), Some(r.top5), Some(secs * 1e3));
                last_eval = Some(r);
            }
        }
        let rec = StepLog {
            step: step + 1,
            loss: last_loss,
            temperature: (-ls).exp(),
            logit_scale: ls.exp(),
            lr,
            grad_norm: info.grad_norm,
            samples_per_sec: cfg.global_batch() as f64 / step_secs,
            data_wait_ms: data * 1e3,
            forward_ms: fw * 1e3,
            backward_ms: bw * 1e3,
            optimizer_ms: op * 1e3,
            comm_ms: (comm.size() > 1).then_some(g.comm_secs * 1e3),
            epoch,
            zero_shot_top1: eval_cols.0,
            zero_shot_top5: eval_cols.1,
            eval_ms: eval_cols.2,
        };
        serde_json::to_writer(&mut log_out, &rec).expect("serialisable");
        log_out.write_all(b"\n").map_err(io_err(&log_path))?;
        bar.set_message(match &last_eval {
            Some(r) => format!(
                "loss {last_loss:.4}, zero-shot top-1 {:.1}%",
                r.top1 * 100.0
            ),
            None => format!("loss {last_loss:.4}"),
        });
        bar.inc(1);

        if lead && (done % cfg.checkpoint_every == 0 || done == end_step) {
            log_out.flush().map_err(io_err(&log_path))?;
            let meta = CheckpointMeta {
                format_version: FORMAT_VERSION,
                step: done,
                samples_consumed: consumed,
                epoch,
                loss: Some(last_loss),
                model: mc.clone(),
                train: cfg.clone(),
            };
            last_ckpt = checkpoint::save(&out, &meta, &model, &optimizer, &tokenizer)?;
            if let Some(m) = &mirror {
                m.push_checkpoint(&last_ckpt)?;
            }
        }
    }
    log_out.flush().map_err(io_err(&log_path))?;
    bar.finish_and_clear();
    for line in loader.warnings().summaries() {
        log::warn!("skipped {line}");
    }
    let stats = shards.read_stats();
    let shard_bytes_read = comm.all_gather_u64(stats.bytes() - read_before.0)?;
    let image_bytes_read = comm.all_gather_u64(stats.image_bytes() - read_before.1)?;
    // Evaluations are not training time.
    let elapsed = started.elapsed().as_secs_f64() - eval_secs;
    let steps_run = end_step.saturating_sub(start_step);
    Ok(TrainSummary {
        start_step,
        end_step,
        final_loss: last_loss,
        parameters: model.params.numel(),
        samples_per_sec: if elapsed > 0.0 {
            (steps_run as f64 * cfg.global_batch() as f64) / elapsed
        } else {
            0.0
        },
        data_wait_secs: sums[0],
        forward_secs: sums[1],
        backward_secs: sums[2],
        optimizer_secs: sums[3],
        loader_secs: sums[4],
        comm_secs: sums[5],
        elapsed_secs: elapsed,
        dropped_samples: comm.all_gather_u64(dropped)?.iter().sum(),
        unreadable_parts: loader.warnings().unreadable_parts.count(),
        shard_bytes_read,
        image_bytes_read,
        checkpoint: match &mirror {
            Some(m) => m.remote_of(&last_ckpt),
            None => last_ckpt,
        },
        zero_shot: last_eval,
        eval_secs,
    })
}
