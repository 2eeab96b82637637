//! The download stage on the stage runner: one task per shard (sample `i` of
//! the input goes to shard `i / shard_size`), run together by one download
//! job ([`super::job`]); each shard's record is written as soon as its files
//! are committed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::job::{self, DownloadConfig};
use super::reader::InputSpec;
use super::writer::ShardStats;
use crate::run_dir::RunDir;
use crate::stage::{BoxError, Stage, StageContext, StageOutcome, TaskDone, TaskResult};
use crate::task::Counters;

/// Counter names of download tasks (shards).
pub mod counter {
    /// Samples of the shard.
    pub const SAMPLES: &str = "samples";
    /// Samples that became images.
    pub const IMAGES: &str = "images";
    /// Bytes downloaded.
    pub const BYTES_DOWNLOADED: &str = "bytes_downloaded";
    /// Bytes of images written.
    pub const BYTES_WRITTEN: &str = "bytes_written";
}

/// Failure classes that are filters (an image that is fine but not wanted),
/// counted as `skip_CLASS`; every other failure class is `fault_CLASS`.
pub const FILTER_CLASSES: [&str; 4] = ["too_small", "too_large", "aspect_ratio", "robots_opt_out"];

/// The counter name of failure class `class`.
pub fn failure_counter(class: &str) -> String {
    if FILTER_CLASSES.contains(&class) {
        format!("skip_{class}")
    } else {
        format!("fault_{class}")
    }
}

/// The counters of a written shard.
pub fn shard_counters(s: &ShardStats) -> Counters {
    let mut c = Counters::default();
    c.add(counter::SAMPLES, s.count);
    c.add(counter::IMAGES, s.successes);
    c.add(counter::BYTES_DOWNLOADED, s.bytes_downloaded);
    c.add(counter::BYTES_WRITTEN, s.bytes_written);
    for (class, n) in &s.failures {
        c.add(&failure_counter(class), *n);
    }
    c
}

/// The download stage.
pub struct DownloadStage {
    params: DownloadConfig,
    /// Samples and shards of the input (read once).
    plan: OnceLock<(u64, usize)>,
}

impl DownloadStage {
    /// The stage with `cfg` (checked).
    pub fn new(cfg: DownloadConfig) -> Result<Self, super::DownloadError> {
        job::check(&cfg)?;
        Ok(Self {
            params: cfg,
            plan: OnceLock::new(),
        })
    }

    fn plan(&self) -> Result<(u64, usize), super::DownloadError> {
        if let Some(p) = self.plan.get() {
            return Ok(*p);
        }
        let p = job::plan(&self.params)?;
        Ok(*self.plan.get_or_init(|| p))
    }
}

impl Stage for DownloadStage {
    const NAME: &'static str = "download";
    type Params = DownloadConfig;

    fn params(&self) -> &DownloadConfig {
        &self.params
    }

    fn open(params: DownloadConfig) -> Result<Self, BoxError> {
        Ok(Self::new(params)?)
    }

    /// What the images depend on: the input, the shard layout, the image
    /// settings and the fetch settings that decide what may be downloaded
    /// (not timeouts, retries or concurrency, which a rerun may change).
    fn guarded(&self) -> serde_json::Value {
        let p = &self.params;
        // The run's own `selected/` or `matched/` by its place in the run,
        // not by the run's location: the same run on disk or on object
        // storage has the same parameters (and the same generation).
        let input = match &p.input {
            InputSpec::Selected(_) => serde_json::json!("RUN/selected"),
            InputSpec::Matched(_) => serde_json::json!("RUN/matched"),
            tables => serde_json::json!(tables),
        };
        serde_json::json!({
            "input": input,
            "shard_size": p.shard_size,
            "output_format": p.output_format,
            "image": p.image,
            "allow_private_addresses": p.fetch.allow_private,
            "user_agent": p.fetch.user_agent,
            "respect_x_robots_tag": p.fetch.respect_robots,
            "robots_token": p.fetch.robots_token,
            "disallowed_header_directives": p.fetch.disallowed_directives,
            "compute_hash": p.compute_hash,
            "verify_hash": p.verify_hash,
            "bbox_col": p.bbox_col,
            "max_body_bytes": p.fetch.max_body_bytes,
        })
    }

    fn upstream(&self) -> Option<&'static str> {
        match self.params.input {
            InputSpec::Selected(_) => Some("balance"),
            InputSpec::Matched(_) => Some("match"),
            InputSpec::Tables { .. } => None,
        }
    }

    fn tasks(&self, _run: &RunDir) -> Result<Vec<usize>, BoxError> {
        let (_, shards) = self.plan()?;
        Ok((0..shards).collect())
    }

    fn task_outputs(&self, run: &RunDir, task: usize) -> Vec<PathBuf> {
        let Ok((total, _)) = self.plan() else {
            return vec![run.shards().join("missing")];
        };
        job::shard_files(&self.params, &run.shards(), total, task).completion_files()
    }

    fn output_dirs(&self, run: &RunDir) -> Vec<PathBuf> {
        vec![run.shards()]
    }

    fn progress_unit(&self) -> &'static str {
        "samples"
    }

    fn run_tasks(
        &self,
        ctx: &StageContext<'_>,
        tasks: &[usize],
        done: &(dyn Fn(usize, TaskResult) + Sync),
    ) -> Result<(), BoxError> {
        let todo: BTreeSet<usize> = tasks.iter().copied().collect();
        let summary = job::run_shards(
            &self.params,
            &ctx.run.shards(),
            &todo,
            ctx.progress,
            &|stats: &ShardStats| {
                done(
                    stats.shard,
                    Ok(TaskDone {
                        counters: shard_counters(stats),
                        seconds: stats.duration_seconds,
                    }),
                )
            },
        )?;
        log::info!("{summary}");
        Ok(())
    }

    fn summary(&self, r: &StageOutcome) -> String {
        let c = &r.counters;
        let samples = c.get(counter::SAMPLES);
        let failures: Vec<String> =
            c.0.iter()
                .filter(|(k, v)| (k.starts_with("fault_") || k.starts_with("skip_")) && **v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
        format!(
            "download: {} shards written, {} skipped; {} samples, {} images ({:.1}%), {:.1} MB in, \
             {:.1} MB out, {:.1}s, {:.0} samples/s; failures: {}{}",
            r.tasks_run,
            r.tasks_skipped,
            samples,
            c.get(counter::IMAGES),
            100.0 * c.get(counter::IMAGES) as f64 / samples.max(1) as f64,
            c.get(counter::BYTES_DOWNLOADED) as f64 / 1e6,
            c.get(counter::BYTES_WRITTEN) as f64 / 1e6,
            r.task_seconds,
            samples as f64 / r.task_seconds.max(1e-9),
            if failures.is_empty() {
                "none".to_string()
            } else {
                failures.join(" ")
            },
            r.tail()
        )
    }
}
