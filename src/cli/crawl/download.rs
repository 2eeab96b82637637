//! `witcurate crawl download`: its flags, and the stage they make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgAction, Args};
use pipeline::download::{
    self, DownloadConfig, DownloadStage, EncodeFormat, FetchConfig, HashAlgo, ImageConfig,
    InputSpec, Interpolation, OutputFormat, ResizeMode, VerifyHash,
};
use pipeline::sources::table::TableFormat;

/// Where `crawl download` reads samples when run alone: `selected/` of the
/// run directory, or url+caption tables (the stage as a plain downloader).
#[derive(Debug, Clone, Args)]
pub struct DownloadInput {
    /// Download url+caption tables instead of `selected/`: files or directories of
    /// parquet, csv, tsv or jsonl (each optionally .gz), format from the file name.
    #[arg(long, alias = "url_list", num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Which output of the run to download when --input is absent: `selected`
    /// (balanced before download) or `matched` (every matched pair, to
    /// balance after download and dedup with `crawl balance --pool downloaded`).
    #[arg(long, value_enum, default_value_t = FromArg::Selected, conflicts_with = "input")]
    pub from: FromArg,
    /// URL column of --input tables.
    #[arg(long, alias = "url_col", default_value = "url")]
    pub url_col: String,
    /// Caption column of --input tables (default: `caption`, else `text`).
    #[arg(long, alias = "caption_col")]
    pub caption_col: Option<String>,
    /// Format of every --input table: txt (one URL per line) | csv | tsv | json | jsonl |
    /// parquet (default: from each file's name).
    #[arg(long, alias = "input_format", value_parser = parse_input_format)]
    pub input_format: Option<TableFormat>,
    /// Columns of --input tables to carry into the shards, as text
    /// (`a,b` or img2dataset's `["a","b"]`).
    #[arg(long, alias = "save_additional_columns", value_parser = parse_list)]
    pub save_additional_columns: Option<NameList>,
}

/// The run output `crawl download` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FromArg {
    /// RUN/selected/ (the balance stage's output).
    Selected,
    /// RUN/matched/ (the match stage's output).
    Matched,
}

impl DownloadInput {
    /// The input of a run directory `run`.
    pub fn spec(&self, run: &Path) -> InputSpec {
        if self.input.is_empty() {
            let run = pipeline::storage::files::absolute(run);
            match self.from {
                FromArg::Selected => InputSpec::Selected(run),
                FromArg::Matched => InputSpec::Matched(run),
            }
        } else {
            InputSpec::Tables {
                paths: self
                    .input
                    .iter()
                    .map(|p| pipeline::storage::files::absolute(p))
                    .collect(),
                url_col: self.url_col.clone(),
                caption_col: self.caption_col.clone(),
                extra_cols: self
                    .save_additional_columns
                    .clone()
                    .map(|l| l.0)
                    .unwrap_or_default(),
                format: self.input_format,
            }
        }
    }
}

/// Flags of the download stage (reads RUN/selected/, writes RUN/shards/).
#[derive(Debug, Clone, Args)]
pub struct DownloadOptions {
    /// Samples per shard.
    #[arg(long, alias = "number_sample_per_shard", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub shard_size: u64,
    /// `parquet` (images in the `jpg` column), `webdataset` (`NNNNN.tar` + metadata parquet)
    /// or `files` (a directory `NNNNN/` of images, captions and json + metadata parquet).
    #[arg(long, alias = "output_format", default_value = "parquet", value_parser = parse_format)]
    pub output_format: OutputFormat,
    /// Side of the output images in pixels.
    #[arg(long, alias = "image_size", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub image_size: u32,
    /// no | border (white padding to a square) | keep_ratio | keep_ratio_largest | center_crop.
    #[arg(long, alias = "resize_mode", default_value = "border", value_parser = parse_mode)]
    pub resize_mode: ResizeMode,
    /// Leave images not larger than --image-size alone (no upscaling, crop or padding).
    #[arg(long, alias = "resize_only_if_bigger", num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = parse_bool, action = ArgAction::Set)]
    pub resize_only_if_bigger: bool,
    /// Interpolation to scale down: area | lanczos | cubic | linear | nearest.
    #[arg(long, alias = "downscale_interpolation", default_value = "area", value_parser = parse_interpolation)]
    pub downscale_interpolation: Interpolation,
    /// Interpolation to scale up: lanczos | area | cubic | linear | nearest.
    #[arg(long, alias = "upscale_interpolation", default_value = "lanczos", value_parser = parse_interpolation)]
    pub upscale_interpolation: Interpolation,
    /// Format of the output images: jpg | png | webp (lossless).
    #[arg(long, alias = "encode_format", default_value = "jpg", value_parser = parse_encode_format)]
    pub encode_format: EncodeFormat,
    /// Output quality: 0-100 for jpg (default 95), the compression level 0-9 for png (default 9).
    #[arg(long, alias = "encode_quality", visible_alias = "jpeg-quality")]
    pub encode_quality: Option<u8>,
    /// Keep the downloaded bytes when the image needs no change (already in
    /// --encode-format, no resize, no transparency, upright).
    #[arg(long, alias = "skip_reencode", num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = parse_bool, action = ArgAction::Set)]
    pub skip_reencode: bool,
    /// Store the downloaded bytes as they are: no resizing, no re-encoding.
    #[arg(long, alias = "disable_all_reencoding", num_args = 0..=1, default_value = "false",
          default_missing_value = "true", value_parser = parse_bool, action = ArgAction::Set)]
    pub disable_all_reencoding: bool,
    /// Ignore the EXIF orientation (img2dataset's behaviour: photos may come out sideways).
    #[arg(long)]
    pub ignore_exif_orientation: bool,
    /// Ignore embedded ICC profiles (img2dataset's behaviour: Display P3 or Adobe RGB
    /// photos come out dull).
    #[arg(long)]
    pub ignore_icc_profile: bool,
    /// Images whose smaller side is below this many pixels fail with `too_small`.
    #[arg(long, alias = "min_image_size", default_value_t = 0)]
    pub min_image_size: u32,
    /// Images with more pixels than this fail with `too_large` (a filter; see also --max-pixels).
    #[arg(long, alias = "max_image_area", default_value_t = f64::INFINITY)]
    pub max_image_area: f64,
    /// Images with a longer/shorter side ratio above this fail with `aspect_ratio`.
    #[arg(long, alias = "max_aspect_ratio", default_value_t = f64::INFINITY)]
    pub max_aspect_ratio: f64,
    /// Images with more pixels fail with `too_large`, checked from the header before decoding.
    #[arg(long, default_value_t = 89_478_485)]
    pub max_pixels: u64,
    /// Memory all concurrent decodes may hold together (bytes, or with a unit:
    /// 2GiB); an image needing more fails with `too_large`.
    #[arg(long, default_value = "2GiB", value_parser = units::parse_size)]
    pub decode_memory: u64,
    /// Allow URLs that resolve to loopback, private, link-local or other special addresses.
    #[arg(long)]
    pub allow_private_addresses: bool,
    /// Total deadline of one request attempt in seconds (connect, redirects, headers, body).
    #[arg(long, default_value_t = 20.0)]
    pub timeout: f64,
    /// Retries of retryable failures (timeouts, transport errors, 408/429/5xx).
    #[arg(long, default_value_t = 2)]
    pub retries: u32,
    /// Longest `Retry-After` wait honoured, in seconds; a longer ask is not retried.
    #[arg(long, default_value_t = 30.0)]
    pub max_retry_wait: f64,
    /// Redirect hops followed at most.
    #[arg(long, default_value_t = 5)]
    pub max_redirects: usize,
    /// Bodies larger than this fail with `body_too_large` (bytes, or with a
    /// unit: 2G and 2GiB are 2 GiB, 2GB is 2·10^9 bytes).
    #[arg(long, default_value = "32MiB", value_parser = units::parse_size)]
    pub max_body_bytes: u64,
    /// Samples in flight at most.
    #[arg(long, alias = "thread_count", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub concurrency: u64,
    /// Concurrent requests to one host at most.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub per_host_concurrency: u64,
    /// The User-Agent header.
    #[arg(long, default_value = download::fetch::DEFAULT_USER_AGENT)]
    pub user_agent: String,
    /// A user-agent token X-Robots-Tag directives may be addressed to (`TOKEN: noai`),
    /// besides `witcurate`; also added to the User-Agent as `(compatible; TOKEN)`.
    #[arg(long, alias = "user_agent_token")]
    pub user_agent_token: Option<String>,
    /// The X-Robots-Tag directives that opt an image out (`a,b` or `["a","b"]`;
    /// empty: none).
    #[arg(long, alias = "disallowed_header_directives", value_parser = parse_list,
          default_value = "noai,noimageai,noindex,noimageindex")]
    pub disallowed_header_directives: NameList,
    /// Download even when X-Robots-Tag says noai/noimageai/noindex/noimageindex.
    #[arg(long)]
    pub ignore_x_robots_tag: bool,
    /// Hash of the downloaded bytes to store: md5 | sha512 add a column of that name;
    /// sha256 (the default) is always in its column; none.
    #[arg(long, alias = "compute_hash", default_value = "sha256", value_parser = parse_hash)]
    pub compute_hash: HashAlgo,
    /// COLUMN,ALGO: check each download against the hex digest in that input
    /// column (`hash_mismatch` when it differs).
    #[arg(long, alias = "verify_hash", value_parser = parse_verify_hash)]
    pub verify_hash: Option<VerifyHash>,
    /// Input column of bounding boxes to blur (faces, say): JSON lists of normalised
    /// [x_min, y_min, x_max, y_max], as img2dataset's --bbox_col.
    #[arg(long, alias = "bbox_col")]
    pub bbox_col: Option<String>,
    #[command(flatten)]
    pub img2dataset: Img2datasetFlags,
    /// Threads for the network runtime (images are decoded on --threads).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub io_threads: u64,
}

/// img2dataset flags that have no meaning here (its process pool, its
/// distributor, its logging): accepted, so that an img2dataset command line
/// runs unchanged, and reported as ignored.
#[derive(Debug, Clone, Args)]
pub struct Img2datasetFlags {
    #[arg(long = "processes_count", hide = true)]
    processes_count: Option<String>,
    #[arg(long = "distributor", hide = true)]
    distributor: Option<String>,
    #[arg(long = "enable_wandb", hide = true)]
    enable_wandb: Option<String>,
    #[arg(long = "wandb_project", hide = true)]
    wandb_project: Option<String>,
    #[arg(long = "subjob_size", hide = true)]
    subjob_size: Option<String>,
    #[arg(long = "max_shard_retry", hide = true)]
    max_shard_retry: Option<String>,
    #[arg(long = "incremental_mode", hide = true)]
    incremental_mode: Option<String>,
    #[arg(long = "oom_shard_count", hide = true)]
    oom_shard_count: Option<String>,
    #[arg(long = "extract_exif", hide = true)]
    extract_exif: Option<String>,
    #[arg(long = "ignore_ssl_certificate", hide = true)]
    ignore_ssl_certificate: Option<String>,
}

impl Img2datasetFlags {
    /// Logs each ignored flag that was given.
    fn report(&self) {
        let given = [
            (
                "processes_count",
                &self.processes_count,
                "images are decoded on --threads",
            ),
            (
                "distributor",
                &self.distributor,
                "use --task-index/--task-count or the executor flags",
            ),
            (
                "enable_wandb",
                &self.enable_wandb,
                "progress and counters are in _stats/",
            ),
            (
                "wandb_project",
                &self.wandb_project,
                "progress and counters are in _stats/",
            ),
            ("subjob_size", &self.subjob_size, "every shard is a task"),
            (
                "max_shard_retry",
                &self.max_shard_retry,
                "a rerun redoes unfinished shards",
            ),
            (
                "incremental_mode",
                &self.incremental_mode,
                "done shards are always skipped; --force starts over",
            ),
            (
                "oom_shard_count",
                &self.oom_shard_count,
                "shard names have at least 5 digits",
            ),
        ];
        for (flag, value, why) in given {
            if value.is_some() {
                log::info!("--{flag} is img2dataset's and is ignored here ({why})");
            }
        }
    }
}

fn parse_input_format(s: &str) -> Result<TableFormat, String> {
    s.parse()
}

fn parse_hash(s: &str) -> Result<HashAlgo, String> {
    s.parse()
}

fn parse_verify_hash(s: &str) -> Result<VerifyHash, String> {
    // img2dataset's form is a Python list: ["col","algo"].
    parse_list(s)?.0.join(",").parse()
}

/// A list of names (columns, directives).
#[derive(Debug, Clone, Default)]
pub struct NameList(pub Vec<String>);

/// A list as `a,b` or as img2dataset's command line writes it (`["a","b"]`,
/// `['a', 'b']`, `[a,b]`); empty items are dropped.
fn parse_list(s: &str) -> Result<NameList, String> {
    let inner = s.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(inner);
    Ok(NameList(
        inner
            .split(',')
            .map(|item| {
                item.trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .trim()
                    .to_string()
            })
            .filter(|item| !item.is_empty())
            .collect(),
    ))
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse()
}

fn parse_mode(s: &str) -> Result<ResizeMode, String> {
    s.parse()
}

fn parse_interpolation(s: &str) -> Result<Interpolation, String> {
    s.parse()
}

fn parse_encode_format(s: &str) -> Result<EncodeFormat, String> {
    s.parse()
}

/// A boolean as img2dataset's command line writes it (`True`, `false`, `1`...).
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .with_context(|| format!("--{name} must be a non-negative number of seconds, got {v}"))
}

impl DownloadOptions {
    /// The stage these flags describe, reading `input`.
    pub fn stage(&self, mut input: InputSpec) -> Result<DownloadStage> {
        self.img2dataset.report();
        // The --verify-hash and --bbox-col columns are read from the input,
        // and so saved too.
        if let InputSpec::Tables { extra_cols, .. } = &mut input {
            let wanted = self
                .verify_hash
                .iter()
                .map(|v| &v.column)
                .chain(&self.bbox_col);
            for c in wanted {
                if !extra_cols.contains(c) {
                    extra_cols.push(c.clone());
                }
            }
        }
        let user_agent = match &self.user_agent_token {
            Some(token) => format!("{} (compatible; {token})", self.user_agent),
            None => self.user_agent.clone(),
        };
        let encode_quality = self
            .encode_quality
            .unwrap_or_else(|| self.encode_format.default_quality());
        self.encode_format
            .check_quality(encode_quality)
            .map_err(anyhow::Error::msg)?;
        let cfg = DownloadConfig {
            input,
            shard_size: self.shard_size as usize,
            output_format: self.output_format,
            image: ImageConfig {
                mode: self.resize_mode,
                image_size: self.image_size,
                resize_only_if_bigger: self.resize_only_if_bigger,
                downscale_interpolation: self.downscale_interpolation,
                upscale_interpolation: self.upscale_interpolation,
                encode_format: self.encode_format,
                encode_quality,
                skip_reencode: self.skip_reencode,
                disable_all_reencoding: self.disable_all_reencoding,
                apply_exif_orientation: !self.ignore_exif_orientation,
                apply_icc_profile: !self.ignore_icc_profile,
                min_image_size: self.min_image_size,
                max_image_area: self.max_image_area,
                max_aspect_ratio: self.max_aspect_ratio,
                max_pixels: self.max_pixels,
                decode_memory: self.decode_memory,
            },
            fetch: FetchConfig {
                timeout: seconds("timeout", self.timeout)?,
                retries: self.retries,
                max_retry_wait: seconds("max-retry-wait", self.max_retry_wait)?,
                max_redirects: self.max_redirects,
                max_body_bytes: self.max_body_bytes,
                allow_private: self.allow_private_addresses,
                user_agent,
                respect_robots: !self.ignore_x_robots_tag,
                robots_token: self
                    .user_agent_token
                    .as_ref()
                    .map(|t| t.to_ascii_lowercase()),
                disallowed_directives: self
                    .disallowed_header_directives
                    .0
                    .iter()
                    .map(|d| d.to_ascii_lowercase())
                    .collect(),
                per_host: self.per_host_concurrency as usize,
                ..FetchConfig::default()
            },
            concurrency: self.concurrency as usize,
            io_threads: self.io_threads as usize,
            compute_hash: self.compute_hash,
            verify_hash: self.verify_hash.clone(),
            bbox_col: self.bbox_col.clone(),
        };
        DownloadStage::new(cfg).context("crawl download")
    }
}
