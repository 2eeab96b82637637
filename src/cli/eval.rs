//! `witcurate eval`.

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;

/// Flags of `eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A checkpoint directory, or a run directory (its newest checkpoint).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Labelled images for zero-shot classification: an ImageFolder tree (one
    /// sub-folder per class), a table of (image, label) rows (.parquet with
    /// image bytes or paths, .csv, .tsv or .jsonl of paths), or a bundled set
    /// (`bundled:digits`, `bundled:digits/test`).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// The image column of a table (default: the first of image, img, jpg,
    /// png, webp, file, path, filepath, image_path).
    #[arg(long)]
    pub image_col: Option<String>,
    /// The label column of a table (default: the first of label, labels,
    /// class, fine_label, target, y); integers are class numbers.
    #[arg(long)]
    pub label_col: Option<String>,
    /// Class names: lines `id<TAB>class name`, the id a folder name or a
    /// table's label (default: the ids, `_` as space).
    #[arg(long)]
    pub classes: Option<PathBuf>,
    /// Prompt templates, one per line with `{}` for the class name (default:
    /// the --dataset's, else CLIP's 12 for generic images).
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// A bundled benchmark of the CLIP paper (imagenet, cifar10, cifar100,
    /// food101, ...): its class names, in label order, name the sorted
    /// sub-folders of --images (or a table's integer labels), and its prompt
    /// templates are used.
    #[arg(long, requires = "images")]
    pub dataset: Option<String>,
    /// Held-out shard directories or files for image/text retrieval.
    #[arg(long, num_args = 1..)]
    pub shards: Vec<PathBuf>,
    /// Pairs used for retrieval.
    #[arg(long, default_value_t = 1000)]
    pub max_pairs: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Labelled images the linear probe is fitted on (with --probe-test): an
    /// ImageFolder tree, a table or a bundled set, as --images.
    #[arg(long, requires = "probe_test")]
    pub probe_train: Option<PathBuf>,
    /// Labelled images the linear probe is scored on (classes among
    /// --probe-train's).
    #[arg(long, requires = "probe_train")]
    pub probe_test: Option<PathBuf>,
    /// Keep the linear probe's image features here (with --probe-train or a
    /// --suite), per checkpoint and image set.
    #[arg(long)]
    pub feature_cache: Option<PathBuf>,
    /// A Karpathy-split JSON (`dataset_coco.json`, `dataset_flickr30k.json`)
    /// for image-text retrieval with all captions of each image.
    #[arg(long, requires = "retrieval_images")]
    pub retrieval_json: Option<PathBuf>,
    /// The directory the images of --retrieval-json are relative to.
    #[arg(long, requires = "retrieval_json")]
    pub retrieval_images: Option<PathBuf>,
    /// The split of --retrieval-json to rank.
    #[arg(long, default_value = "test")]
    pub retrieval_split: String,
    /// Rank at most this many images of --retrieval-json (the first ones).
    #[arg(long)]
    pub retrieval_max_images: Option<usize>,
    /// Run the tasks of this suite file (JSON: zero_shot, linear_probe,
    /// retrieval and shard_retrieval tasks) instead, and write one table.
    #[arg(long, conflicts_with_all = ["images", "shards", "probe_train", "retrieval_json"])]
    pub suite: Option<PathBuf>,
    /// Where --suite writes suite.json, suite.md and suite.html.
    #[arg(long, default_value = "eval-suite", requires = "suite")]
    pub suite_out: PathBuf,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Threads of candle's element-wise CPU kernels (default:
    /// CANDLE_NUM_THREADS, else every core but one); matrix products use
    /// rayon's (RAYON_NUM_THREADS, else every core).
    #[arg(long)]
    pub compute_threads: Option<usize>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs `eval`.
pub fn run(args: EvalArgs, _global: &GlobalArgs) -> anyhow::Result<()> {
    if let Some(suite) = &args.suite {
        trainer::configure_compute_threads(args.compute_threads)?;
        let report = trainer::suite::evaluate_suite(
            &args.checkpoint,
            &trainer::device(&args.device)?,
            suite,
            args.batch_size,
            args.feature_cache.as_deref(),
        )?;
        let paths = trainer::suite::write_suite(&report, &args.suite_out)?;
        for row in &report.rows {
            println!(
                "eval suite: {}: {} {:.2}%",
                row.name,
                row.metric,
                row.score * 100.0
            );
        }
        println!(
            "eval suite: {} tasks, average {:.2}%; table: {}",
            report.rows.len(),
            report.average * 100.0,
            paths[2].display()
        );
        return Ok(());
    }
    if args.images.is_none()
        && args.shards.is_empty()
        && args.probe_train.is_none()
        && args.retrieval_json.is_none()
    {
        anyhow::bail!(
            "nothing to evaluate: give --images, --shards, --retrieval-json and/or \
             --probe-train with --probe-test"
        );
    }
    trainer::configure_compute_threads(args.compute_threads)?;
    let opts = trainer::eval::EvalOptions {
        checkpoint: args.checkpoint,
        images: args.images,
        columns: trainer::labelled::TableColumns {
            image: args.image_col.clone(),
            label: args.label_col.clone(),
        },
        classes: args.classes,
        templates: args.templates,
        dataset: args.dataset,
        shards: args.shards,
        max_pairs: args.max_pairs,
        batch_size: args.batch_size,
        device: trainer::device(&args.device)?,
        probe: match (args.probe_train, args.probe_test) {
            (Some(train), Some(test)) => Some(trainer::probe_images::ProbeOptions {
                train,
                test,
                columns: trainer::labelled::TableColumns {
                    image: args.image_col,
                    label: args.label_col,
                },
                cache: args.feature_cache,
            }),
            _ => None,
        },
        captioned: match (args.retrieval_json, args.retrieval_images) {
            (Some(json), Some(images)) => Some(trainer::eval::CaptionedSet {
                json,
                images,
                split: args.retrieval_split,
                max_images: args.retrieval_max_images,
            }),
            _ => None,
        },
    };
    let r = trainer::eval::evaluate(&opts)?;
    if let Some(z) = &r.zero_shot {
        println!(
            "eval zero-shot: {} images, {} classes, {} templates: top-1 {:.2}%, top-5 {:.2}%, mean per-class recall {:.2}% (chance {:.2}%)",
            z.images,
            z.classes,
            z.templates,
            z.top1 * 100.0,
            z.top5 * 100.0,
            z.mean_per_class_recall * 100.0,
            z.chance_top1 * 100.0
        );
    }
    if let Some(t) = &r.retrieval {
        println!(
            "eval retrieval: {} pairs: image→text R@1 {:.2}% R@5 {:.2}% R@10 {:.2}%, text→image R@1 {:.2}% R@5 {:.2}% R@10 {:.2}%",
            t.pairs,
            t.image_to_text_r1 * 100.0,
            t.image_to_text_r5 * 100.0,
            t.image_to_text_r10 * 100.0,
            t.text_to_image_r1 * 100.0,
            t.text_to_image_r5 * 100.0,
            t.text_to_image_r10 * 100.0
        );
    }
    if let Some(p) = &r.linear_probe {
        println!(
            "eval linear probe: {} classes, {} training and {} test images, C {:.3e}: top-1 {:.2}%, mean per-class recall {:.2}%",
            p.classes,
            p.train,
            p.test,
            p.c,
            p.top1 * 100.0,
            p.mean_per_class_recall * 100.0
        );
    }
    if let Some(c) = &r.captioned_retrieval {
        let pct = |v: [f64; 3]| {
            format!(
                "R@1 {:.2}% R@5 {:.2}% R@10 {:.2}%",
                v[0] * 100.0,
                v[1] * 100.0,
                v[2] * 100.0
            )
        };
        println!(
            "eval captioned retrieval: {} images, {} captions: image→text {}, text→image {}",
            c.images,
            c.captions,
            pct(c.image_to_text),
            pct(c.text_to_image)
        );
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&r)? + "\n";
        // Atomically: a killed run leaves the old file or the new one, never half.
        pipeline::task::clean_stale_temps_of(path)
            .and_then(|_| pipeline::task::write_atomically(path, text.as_bytes()))
            .map_err(|e| anyhow::anyhow!("writing the evaluation JSON: {e}"))?;
    }
    Ok(())
}
