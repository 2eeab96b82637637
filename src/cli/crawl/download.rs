//! `witcurate crawl download`: its flags, and the stage they make.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgAction, Args};
use pipeline::download::{
    self, DownloadConfig, DownloadStage, EncodeFormat, FetchConfig, ImageConfig, InputSpec,
    Interpolation, OutputFormat, ResizeMode,
};

/// Where `crawl download` reads samples when run alone: `selected/` of the
/// run directory, or url+caption tables (the stage as a plain downloader).
#[derive(Debug, Clone, Args)]
pub struct DownloadInput {
    /// Download url+caption tables instead of `selected/`: files or directories of
    /// parquet, csv, tsv or jsonl (each optionally .gz), format from the file name.
    #[arg(long, alias = "url_list", num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// URL column of --input tables.
    #[arg(long, alias = "url_col", default_value = "url")]
    pub url_col: String,
    /// Caption column of --input tables (default: `caption`, else `text`).
    #[arg(long, alias = "caption_col")]
    pub caption_col: Option<String>,
}

impl DownloadInput {
    /// The input of a run directory `run`.
    pub fn spec(&self, run: &Path) -> InputSpec {
        if self.input.is_empty() {
            InputSpec::Selected(std::path::absolute(run).unwrap_or_else(|_| run.to_path_buf()))
        } else {
            InputSpec::Tables {
                paths: self
                    .input
                    .iter()
                    .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                    .collect(),
                url_col: self.url_col.clone(),
                caption_col: self.caption_col.clone(),
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
    /// `parquet` (images in the `jpg` column) or `webdataset` (`NNNNN.tar` + metadata parquet).
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
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub concurrency: u64,
    /// Concurrent requests to one host at most.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub per_host_concurrency: u64,
    /// The User-Agent header.
    #[arg(long, default_value = download::fetch::DEFAULT_USER_AGENT)]
    pub user_agent: String,
    /// Download even when X-Robots-Tag says noai/noimageai/noindex/noimageindex.
    #[arg(long)]
    pub ignore_x_robots_tag: bool,
    /// Threads for the network runtime (images are decoded on --threads).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub io_threads: u64,
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
    pub fn stage(&self, input: InputSpec) -> Result<DownloadStage> {
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
                min_image_size: self.min_image_size,
                max_image_area: self.max_image_area,
                max_aspect_ratio: self.max_aspect_ratio,
                max_pixels: self.max_pixels,
            },
            fetch: FetchConfig {
                timeout: seconds("timeout", self.timeout)?,
                retries: self.retries,
                max_retry_wait: seconds("max-retry-wait", self.max_retry_wait)?,
                max_redirects: self.max_redirects,
                max_body_bytes: self.max_body_bytes,
                allow_private: self.allow_private_addresses,
                user_agent: self.user_agent.clone(),
                respect_robots: !self.ignore_x_robots_tag,
                per_host: self.per_host_concurrency as usize,
                ..FetchConfig::default()
            },
            concurrency: self.concurrency as usize,
            io_threads: self.io_threads as usize,
        };
        DownloadStage::new(cfg).context("crawl download")
    }
}
