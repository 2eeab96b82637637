//! `witcurate crawl extract`: its flags, and the stage they make.

use anyhow::Result;
use clap::{Args, ValueEnum};
use pipeline::extract::{ExtractParams, ExtractStage, InputFormat};
use pipeline::sources::input::COMMONCRAWL_BASE_URL;
use pipeline::sources::table::TableOptions;

/// How inputs are read.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// From the file name (.wat[.gz], .warc[.gz], .parquet, .csv, .tsv, .jsonl[.gz]).
    Auto,
    /// WARC files: `<img>` elements of HTML responses.
    Warc,
    /// WAT files: `IMG@/src` links of the metadata JSON.
    Wat,
    /// url+caption tables (parquet, csv, tsv, jsonl; format from the extension).
    Table,
}

/// Flags of the extract stage (RUN/pairs/part-NNNNN.parquet).
#[derive(Debug, Clone, Args)]
pub struct ExtractOptions {
    /// Input files: paths, directories, globs, http(s) URLs, or path lists
    /// (`*.paths[.gz]`, like Common Crawl's wat.paths.gz).
    #[arg(long, value_name = "PATH_OR_URL", num_args = 1..)]
    pub input: Vec<String>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Base URL of relative entries in path lists.
    #[arg(long, default_value = COMMONCRAWL_BASE_URL)]
    pub base_url: String,
    /// Table column holding the image URL.
    #[arg(long, default_value = "url")]
    pub url_col: String,
    /// Table column holding the caption.
    #[arg(long, default_value = "caption")]
    pub caption_col: String,
    /// Also emit a pair with the image's `title` attribute as text.
    #[arg(long)]
    pub include_title: bool,
    /// Keep images whose alt-text is empty or missing (text "").
    #[arg(long)]
    pub keep_empty_alt: bool,
    /// Drop texts shorter than this many characters.
    #[arg(long, default_value_t = 0)]
    pub min_text_len: usize,
    /// Drop texts longer than this many characters.
    #[arg(long, default_value_t = 4096)]
    pub max_text_len: usize,
    /// Number of output partitions (pairs/part-NNNNN.parquet files); each is
    /// de-duplicated alone, so size them to fit memory (see docs/extract.md).
    #[arg(long, default_value_t = 16)]
    pub partitions: usize,
    /// Skip (and count) WARC/WAT records larger than this (`32MiB`, `200MB`,
    /// `1GiB`, or bytes).
    #[arg(long, default_value = "32MiB", value_parser = units::parse_size_usize)]
    pub max_record_size: usize,
    /// The same limit as a number of MiB (the older spelling of
    /// `--max-record-size`).
    #[arg(long, conflicts_with = "max_record_size")]
    pub max_record_mb: Option<usize>,
}

impl ExtractOptions {
    /// The stage these flags describe.
    pub fn stage(&self) -> Result<ExtractStage> {
        if self.input.is_empty() {
            anyhow::bail!("crawl extract needs --input PATH_OR_URL...");
        }
        let mut p = ExtractParams::new(&self.input, &self.base_url)?;
        p.format = match self.format {
            FormatArg::Auto => InputFormat::Auto,
            FormatArg::Warc => InputFormat::Warc,
            FormatArg::Wat => InputFormat::Wat,
            FormatArg::Table => InputFormat::Table,
        };
        p.table = TableOptions {
            url_col: self.url_col.clone(),
            caption_col: self.caption_col.clone(),
            caption_fallback: None,
            extra_cols: Vec::new(),
        };
        p.text.include_title = self.include_title;
        p.text.keep_empty_alt = self.keep_empty_alt;
        p.text.min_text_len = self.min_text_len;
        p.text.max_text_len = self.max_text_len;
        p.partitions = self.partitions;
        p.max_record_bytes = match self.max_record_mb {
            Some(mb) => mb
                .checked_mul(1 << 20)
                .ok_or_else(|| anyhow::anyhow!("--max-record-mb {mb} is too large"))?,
            None => self.max_record_size,
        };
        Ok(ExtractStage::new(p)?)
    }
}
