//! `witcurate train`.

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;

/// Flags of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Shard directories (their `*.parquet`) or shard files.
    #[arg(long, required = true, num_args = 1..)]
    pub shards: Vec<PathBuf>,
    /// Train only on the rows these selections of a crawl run keep:
    /// RUN/dedup (near-duplicates and contaminated images removed) and/or
    /// RUN/balanced (balanced after download). Their stages must be complete.
    #[arg(long, num_args = 1..)]
    pub select: Vec<PathBuf>,
    /// Run directory: checkpoints (`step-NNNNNNNN/`) and `train_log.jsonl`.
    #[arg(long)]
    pub out: PathBuf,
    /// Model preset: tiny, small or vit-b-32.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Optimizer steps of the whole run.
    #[arg(long, default_value_t = 1000)]
    pub steps: u64,
    /// Pairs per forward pass; a step contrasts batch-size × accum-freq pairs.
    /// With several ranks (mpirun), the global batch: each rank embeds
    /// batch-size / ranks of them.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Micro-batches per optimizer step, accumulated with the whole step's
    /// negatives (open_clip's gradient accumulation).
    #[arg(long, default_value_t = 1)]
    pub accum_freq: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Linear warmup steps (default: 10% of the steps, at most 2000).
    #[arg(long)]
    pub warmup_steps: Option<u64>,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.2)]
    pub weight_decay: f64,
    /// Clip the global gradient norm (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub grad_clip: f64,
    /// Seed of initialisation, data order and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write a checkpoint every N steps (and at the end).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,
    /// Continue from the newest checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Stop after this step (with a checkpoint), leaving the run resumable.
    #[arg(long)]
    pub stop_at_step: Option<u64>,
    /// Samples in the shuffle buffer.
    #[arg(long, default_value_t = 4096)]
    pub shuffle_buffer: usize,
    /// Smallest area fraction kept by the random resized crop.
    #[arg(long, default_value_t = 0.9)]
    pub crop_scale_min: f64,
    /// Tokens per caption (default: the preset's, 77).
    #[arg(long)]
    pub context_length: Option<usize>,
    /// Tokenizer vocabulary size (default: the preset's).
    #[arg(long)]
    pub vocab_size: Option<usize>,
    /// Input image side (default: the preset's; a multiple of the patch size).
    #[arg(long)]
    pub image_size: Option<usize>,
    /// Captions used to train the tokenizer.
    #[arg(long, default_value_t = 1_000_000)]
    pub tokenizer_samples: usize,
    /// Image decoding threads (default: --threads, else every core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Batches prepared ahead of the step.
    #[arg(long, default_value_t = 4)]
    pub prefetch: usize,
    /// Threads of candle's element-wise CPU kernels (default:
    /// CANDLE_NUM_THREADS, else every core but one); matrix products use
    /// rayon's (RAYON_NUM_THREADS, else every core).
    #[arg(long)]
    pub compute_threads: Option<usize>,
    /// Stop with an error after this many unusable samples (undecodable
    /// images) in a row.
    #[arg(long, default_value_t = trainer::data::DEFAULT_MAX_CONSECUTIVE_FAILURES)]
    pub max_consecutive_failures: u64,
    /// Zero-shot evaluation every N steps (and after the last), logged in
    /// train_log.jsonl beside the loss (default with --eval-images: at
    /// every checkpoint).
    #[arg(long, requires = "eval_images")]
    pub eval_every: Option<u64>,
    /// ImageFolder tree for the evaluation during training.
    #[arg(long)]
    pub eval_images: Option<PathBuf>,
    /// Class names of --eval-images: lines `folder<TAB>class name`.
    #[arg(long, requires = "eval_images")]
    pub eval_classes: Option<PathBuf>,
    /// Prompt templates of the evaluation, one per line with `{}` (default: CLIP's).
    #[arg(long, requires = "eval_images")]
    pub eval_templates: Option<PathBuf>,
    /// A bundled benchmark (imagenet, cifar10, cifar100, ...) whose class
    /// names and prompt templates --eval-images uses (see `eval --dataset`).
    #[arg(long, requires = "eval_images")]
    pub eval_dataset: Option<String>,
    /// Images per forward pass of the evaluation.
    #[arg(long, default_value_t = 128)]
    pub eval_batch_size: usize,
    /// Compute device: cpu, cuda or cuda:N (cuda needs a `cuda` build).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Arithmetic of the matrix products: f32, or bf16 (mixed precision with
    /// f32 weights and optimizer state, for GPUs; on the CPU bf16 is slower).
    #[arg(long, default_value = "f32")]
    pub precision: trainer::Precision,
}

/// Runs `train`: one process, or one rank of an MPI job (`mpirun -n N`,
/// `srun`) when the binary has the `mpi` feature. In a job, a rank that fails
/// ends every rank (so that none waits forever for it) and only rank 0
/// reports.
pub fn run(args: TrainArgs, global: &GlobalArgs) -> anyhow::Result<()> {
    let mut world = trainer::distributed::launch()?;
    let comm = world.comm.clone();
    if comm.rank() != 0 {
        // Warnings and errors only: rank 0 reports the run.
        log::set_max_level(log::LevelFilter::Warn);
    }
    let result = train(args, global, &mut world);
    if let Err(e) = &result {
        if comm.size() > 1 {
            eprintln!("error: rank {} of {}: {e:#}", comm.rank(), comm.size());
            comm.abort(1);
        }
    }
    drop(world);
    result
}

fn train(
    args: TrainArgs,
    global: &GlobalArgs,
    world: &mut trainer::distributed::World,
) -> anyhow::Result<()> {
    trainer::configure_compute_threads(args.compute_threads)?;
    // The device, and with it NCCL's communicator in a job on GPUs (the
    // `nccl` feature).
    let device = world.bind_device(&args.device)?;
    let comm = world.comm.clone();
    let lead = comm.rank() == 0;
    let mut model = trainer::ModelConfig::preset(&args.preset)?;
    if let Some(c) = args.context_length {
        model.context_length = c;
    }
    if let Some(v) = args.vocab_size {
        model.vocab_size = v;
    }
    if let Some(s) = args.image_size {
        model.image_size = s;
    }
    let train = trainer::TrainConfig {
        steps: args.steps,
        batch_size: args.batch_size,
        accum_freq: args.accum_freq,
        lr: args.lr,
        warmup_steps: args
            .warmup_steps
            .unwrap_or_else(|| (args.steps / 10).min(2000)),
        weight_decay: args.weight_decay,
        grad_clip: args.grad_clip,
        seed: args.seed,
        shuffle_buffer: args.shuffle_buffer,
        crop_scale_min: args.crop_scale_min,
        checkpoint_every: args.checkpoint_every,
        ..trainer::TrainConfig::default()
    };
    let eval = match &args.eval_images {
        Some(images) => Some(trainer::train::EvalDuringTraining {
            every: args.eval_every.unwrap_or(args.checkpoint_every),
            task: trainer::eval::ZeroShotTask::load(
                images,
                args.eval_classes.as_deref(),
                args.eval_templates.as_deref(),
                args.eval_dataset.as_deref(),
            )?,
            batch_size: args.eval_batch_size,
        }),
        None => None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for dir in &args.select {
        pipeline::selection::require_complete(dir)?;
    }
    let opts = trainer::train::TrainOptions {
        shards: args.shards,
        select: args.select,
        out: args.out,
        model,
        train,
        resume: args.resume,
        stop_at: args.stop_at_step,
        workers: args.workers.or(global.threads).unwrap_or(cores),
        prefetch: args.prefetch,
        tokenizer_samples: args.tokenizer_samples,
        device,
        precision: args.precision,
        quiet: global.quiet,
        max_consecutive_failures: args.max_consecutive_failures,
        eval,
        comm,
    };
    let s = trainer::train::train(&opts)?;
    if !lead {
        return Ok(());
    }
    match pipeline::stats::train_curves::write(&opts.out, None) {
        Ok(p) => log::info!("training curves: {}", p.display()),
        Err(e) => log::warn!("no training curves: {e}"),
    }
    println!(
        "train: steps {}..{}, final loss {:.4}, {} parameters, {:.1} samples/s; \
         per step: data wait {:.1} ms, forward {:.1} ms, backward {:.1} ms, optimizer {:.1} ms{}; \
         {} undecodable samples and {} unreadable shard parts skipped; checkpoint {}",
        s.start_step,
        s.end_step,
        s.final_loss,
        s.parameters,
        s.samples_per_sec,
        per_step(s.data_wait_secs, &s),
        per_step(s.forward_secs, &s),
        per_step(s.backward_secs, &s),
        per_step(s.optimizer_secs, &s),
        if s.comm_secs > 0.0 {
            format!(", collectives {:.1} ms", per_step(s.comm_secs, &s))
        } else {
            String::new()
        },
        s.dropped_samples,
        s.unreadable_parts,
        s.checkpoint.display()
    );
    let total = |v: &[u64]| v.iter().sum::<u64>();
    println!(
        "train data: {} shard bytes read ({} of images); by rank {:?} ({:?} of images)",
        total(&s.shard_bytes_read),
        total(&s.image_bytes_read),
        s.shard_bytes_read,
        s.image_bytes_read
    );
    if let Some(z) = &s.zero_shot {
        println!(
            "train zero-shot after step {}: top-1 {:.2}%, top-5 {:.2}% on {} images \
             (chance {:.2}%; evaluations took {:.1} s)",
            s.end_step,
            z.top1 * 100.0,
            z.top5 * 100.0,
            z.images,
            z.chance_top1 * 100.0,
            s.eval_secs
        );
    }
    Ok(())
}

fn per_step(secs: f64, s: &trainer::train::TrainSummary) -> f64 {
    let n = s.end_step.saturating_sub(s.start_step).max(1);
    secs * 1e3 / n as f64
}
