//! Counting the words of Wikipedia articles: dump reading ([`dump`]), page
//! splitting and parsing ([`pages`]), wikitext cleaning ([`wikitext`]) and
//! tokenisation ([`tokenize`]), run on all cores with spilling count tables.

pub mod dump;
pub mod pages;
pub mod segment;
pub mod tokenize;
pub mod wikitext;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use serde::Serialize;

use crate::count::runs::SpillDir;
use crate::count::table::CountTable;
use crate::error::Result;

/// Bytes of page XML handed to a worker at once.
const BATCH_BYTES: usize = 2 << 20;

/// Totals and faults of reading the dumps.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WikiStats {
    /// Compressed (on-disk) bytes read.
    pub input_bytes: u64,
    /// Decoded XML bytes.
    pub xml_bytes: u64,
    /// `<page>` records.
    pub pages: u64,
    /// Articles counted (namespace 0, not redirects).
    pub articles: u64,
    /// Redirect pages (not counted).
    pub redirects: u64,
    /// Pages outside the article namespace (not counted).
    pub other_namespace: u64,
    /// Pages whose XML is malformed (skipped).
    pub malformed_pages: u64,
    /// Pages that never close (skipped).
    pub unclosed_pages: u64,
    /// Dumps that end without `</mediawiki>`.
    pub truncated_dumps: u64,
    /// Tokens counted.
    pub tokens: u64,
}

impl WikiStats {
    fn add(&mut self, o: &WikiStats) {
        self.input_bytes += o.input_bytes;
        self.xml_bytes += o.xml_bytes;
        self.pages += o.pages;
        self.articles += o.articles;
        self.redirects += o.redirects;
        self.other_namespace += o.other_namespace;
        self.malformed_pages += o.malformed_pages;
        self.unclosed_pages += o.unclosed_pages;
        self.truncated_dumps += o.truncated_dumps;
        self.tokens += o.tokens;
    }
}

/// What counting the dumps leaves: sorted runs of unigram and bigram counts.
#[derive(Debug, Default)]
pub struct WikiCounts {
    /// Totals and faults.
    pub stats: WikiStats,
    /// Unigram runs (`token`, count).
    pub unigram_runs: Vec<PathBuf>,
    /// Bigram runs (`a b`, count).
    pub bigram_runs: Vec<PathBuf>,
}

/// Whether wikitext is a redirect (`#REDIRECT [[…]]`, any case).
pub fn is_redirect_text(text: &str) -> bool {
    let t = text.trim_start().as_bytes();
    t.len() >= 9 && t[..9].eq_ignore_ascii_case(b"#redirect")
}

/// Counts the tokens of one article's wikitext into `table`, cutting runs
/// of unspaced scripts into words with `seg` when given.
pub fn count_article(
    wikitext: &str,
    seg: Option<&segment::Segmenter>,
    table: &mut CountTable,
) -> u64 {
    let text = wikitext::to_text(wikitext);
    let mut prev: Option<u32> = None;
    let mut n = 0;
    tokenize::tokenize_segmented(&text, seg, |tok, joined| {
        let id = table.unigram(tok);
        if joined {
            if let Some(p) = prev {
                table.bigram_ids(p, id);
            }
        }
        prev = Some(id);
        n += 1;
    });
    n
}

fn process_batch(
    batch: &pages::PageBatch,
    seg: Option<&segment::Segmenter>,
    table: &mut CountTable,
    stats: &mut WikiStats,
) {
    for (offset, range) in &batch.pages {
        match pages::parse_page(&batch.data[range.clone()]) {
            Err(e) => {
                stats.malformed_pages += 1;
                log::warn!(
                    "{}: page at decoded byte {offset}: malformed XML: {e}; skipped",
                    batch.file.display()
                );
            }
            Ok(p) if p.ns != 0 => stats.other_namespace += 1,
            Ok(p) if p.redirect || is_redirect_text(&p.text) => stats.redirects += 1,
            Ok(p) => {
                stats.articles += 1;
                stats.tokens += count_article(&p.text, seg, table);
            }
        }
    }
}

/// Counts unigrams and bigrams of every article of `dumps` on the global
/// rayon pool; each thread's table spills past `table_budget` bytes.
/// `on_progress(read_bytes, pages)` is called as batches finish. With `seg`,
/// runs of unspaced scripts are cut into words ([`segment`]).
pub fn count_dumps(
    dumps: &[PathBuf],
    seg: Option<&segment::Segmenter>,
    table_budget: usize,
    spill: &SpillDir,
    on_progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<WikiCounts> {
    let threads = rayon::current_num_threads();
    let read_bytes = Arc::new(AtomicU64::new(0));
    let pages_done = AtomicU64::new(0);
    let workers: Vec<Mutex<(CountTable, WikiStats)>> = (0..threads)
        .map(|_| Mutex::new((CountTable::new(table_budget), WikiStats::default())))
        .collect();
    let (tx, rx) = crossbeam_channel::bounded::<pages::PageBatch>(threads * 2);
    let (split_result, count_result) = std::thread::scope(|scope| {
        let read_bytes_r = read_bytes.clone();
        let reader = scope.spawn(move || -> Result<WikiStats> {
            let tx = tx;
            let mut stats = WikiStats::default();
            for path in dumps {
                let decoded = dump::open(path, threads, read_bytes_r.clone())?;
                let s = pages::split_pages(path, decoded, BATCH_BYTES, |b| tx.send(b).is_ok())?;
                stats.pages += s.pages;
                stats.xml_bytes += s.decoded_bytes;
                stats.unclosed_pages += s.unclosed_pages;
                stats.truncated_dumps += u64::from(s.truncated);
            }
            Ok(stats)
        });
        let counted = rx
            .into_iter()
            .par_bridge()
            .try_for_each(|batch| -> Result<()> {
                let idx = rayon::current_thread_index().unwrap_or(0) % threads;
                let mut guard = workers[idx].lock().expect("not poisoned");
                let (table, stats) = &mut *guard;
                process_batch(&batch, seg, table, stats);
                table.maybe_spill(spill)?;
                let done = pages_done.fetch_add(batch.pages.len() as u64, Ordering::Relaxed);
                on_progress(
                    read_bytes.load(Ordering::Relaxed),
                    done + batch.pages.len() as u64,
                );
                Ok(())
            });
        let split = reader.join().expect("dump reader thread panicked");
        (split, counted)
    });
    let split_stats = split_result?;
    count_result?;
    let mut out = WikiCounts::default();
    out.stats.add(&split_stats);
    out.stats.input_bytes = read_bytes.load(Ordering::Relaxed);
    for w in workers {
        let (mut table, stats) = w.into_inner().expect("not poisoned");
        table.spill(spill)?;
        out.stats.add(&stats);
        out.unigram_runs.extend(table.runs.0);
        out.bigram_runs.extend(table.runs.1);
    }
    // Run order does not change merged results, but keep it canonical.
    out.unigram_runs.sort();
    out.bigram_runs.sort();
    Ok(out)
}

/// Size of `path` in bytes (0 when unreadable).
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
