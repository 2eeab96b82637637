//! One `vocab build`: read the sources, select, merge, write the outputs.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use crate::count::runs::SpillDir;
use crate::error::{Result, VocabError};
use crate::merge::{self, Entry, Source, SourceCounts};
use crate::omw;
use crate::output;
use crate::pageviews::{self, PageviewParams, PageviewStats};
use crate::select::{self, WikiThresholds};
use crate::wiki::segment::{self, Segmenter};
use crate::wiki::{self, WikiStats};
use crate::wordnet;

/// Everything a build needs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Output directory.
    pub out: PathBuf,
    /// MediaWiki XML dumps.
    pub wiki_dumps: Vec<PathBuf>,
    /// Pageviews files or directories.
    pub pageviews: Vec<PathBuf>,
    /// WordNet database directory.
    pub wordnet: Option<PathBuf>,
    /// Open Multilingual Wordnet tab files (`wn-data-LANG.tab`) whose lemmas
    /// join the WordNet source ([`crate::omw`]).
    pub omw: Vec<PathBuf>,
    /// The Wikipedia edition the vocabulary is for (`ja`, `de`, ...): its
    /// text is segmented into words when it is written without spaces
    /// ([`crate::wiki::segment`]), and its bigrams of such scripts are joined
    /// without the space, as MetaCLIP 2 does. None: English as before.
    pub lang: Option<String>,
    /// Total entries wanted.
    pub target_size: usize,
    /// Unigram and bigram thresholds.
    pub wiki: WikiThresholds,
    /// Title thresholds and projects.
    pub titles: PageviewParams,
    /// MetaCLIP 2's caps on bigrams and titles (none for English).
    pub caps: SourceCaps,
    /// Memory bound of the count tables and sort buffers, in bytes.
    pub memory_limit: usize,
    /// Where spill files go (default: a hidden directory in `out`).
    pub tmp_dir: Option<PathBuf>,
    /// Rebuild even when the outputs exist.
    pub force: bool,
    /// Hide progress bars.
    pub quiet: bool,
}

/// The most titles [`SourceCaps::title_top_share`] keeps (MetaCLIP 2's
/// `upper_bound_title`).
pub const TITLE_TOP_CAP: usize = 61_235;

/// MetaCLIP 2's caps on the bigram and title sources of a language other
/// than English (`build_metadata.py`); none: no cap beyond the thresholds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SourceCaps {
    /// Keep at most this many bigrams, the highest PMI (MetaCLIP 2: 100,646).
    pub bigram_max: Option<usize>,
    /// Keep this share of the titles, the most viewed, at most
    /// [`TITLE_TOP_CAP`] (MetaCLIP 2: 0.76).
    pub title_top_share: Option<f64>,
}

/// The result of a build, also written (with the options) to `vocab.json`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// Entries written.
    pub entries: u64,
    /// Figures per source, in merge order.
    pub sources: Vec<(Source, SourceCounts)>,
    /// Wikipedia totals and faults.
    pub wiki: Option<WikiStats>,
    /// Pageviews totals and faults.
    pub pageviews: Option<PageviewStats>,
    /// WordNet synsets read and bad lines.
    pub wordnet_synsets: u64,
    /// WordNet lines skipped.
    pub wordnet_bad_lines: u64,
    /// Total Wikipedia tokens.
    pub total_tokens: u64,
    /// Distinct unigrams and bigrams seen.
    pub distinct_unigrams: u64,
    /// See `distinct_unigrams`.
    pub distinct_bigrams: u64,
    /// Bytes spilled to disk by the counting and sorting.
    pub spilled_bytes: u64,
    /// Seconds per phase.
    pub seconds: Vec<(String, f64)>,
    /// Whether the outputs existed and nothing was done.
    pub skipped: bool,
}

impl BuildReport {
    /// The report of a build that found its outputs complete.
    pub fn skipped() -> Self {
        BuildReport {
            entries: 0,
            sources: vec![],
            wiki: None,
            pageviews: None,
            wordnet_synsets: 0,
            wordnet_bad_lines: 0,
            total_tokens: 0,
            distinct_unigrams: 0,
            distinct_bigrams: 0,
            spilled_bytes: 0,
            seconds: vec![],
            skipped: true,
        }
    }

    /// The one-line summary printed at the end.
    pub fn summary(&self) -> String {
        if self.skipped {
            return "vocab: outputs exist; nothing to do (use --force to rebuild)".into();
        }
        let per_source: Vec<String> = self
            .sources
            .iter()
            .map(|(s, c)| format!("{} {}", s.as_str(), c.kept))
            .collect();
        let total: f64 = self.seconds.iter().map(|(_, s)| s).sum();
        let mut line = format!(
            "vocab: {} entries ({}) in {:.1}s",
            self.entries,
            per_source.join(", "),
            total
        );
        if let Some(w) = &self.wiki {
            let count_s = self
                .seconds
                .iter()
                .find(|(n, _)| n == "count")
                .map_or(0.0, |p| p.1)
                .max(1e-9);
            line.push_str(&format!(
                "; wikipedia: {} articles, {:.1} MB XML at {:.1} MB/s",
                w.articles,
                w.xml_bytes as f64 / 1e6,
                w.xml_bytes as f64 / 1e6 / count_s
            ));
        }
        line
    }
}

fn bar(quiet: bool, len: u64, template: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(ProgressStyle::with_template(template).expect("valid template"));
    pb
}

/// Runs a build (see the crate docs).
pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    if storage::files::is_object(&opts.out) {
        return build_to_object_store(opts);
    }
    build_here(opts)
}

/// [`build`] with `--out` on object storage: the vocabulary is built in a
/// local staging directory, then its files go up one by one, `vocab.json`
/// (what marks a build complete) last; an existing build of the same recipe
/// there is kept, as on disk.
fn build_to_object_store(opts: &BuildOptions) -> Result<BuildReport> {
    let remote = opts.out.clone();
    let files = storage::files::exists;
    let js = remote.join(output::VOCAB_JSON);
    let local = storage::files::staging_dir().join("vocab").join(
        remote
            .to_string_lossy()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
    );
    if !opts.force
        && files(&remote.join(output::QUERIES_TXT))
        && files(&remote.join(output::QUERIES_PARQUET))
        && files(&js)
    {
        std::fs::create_dir_all(&local).map_err(|e| VocabError::io(&local, e))?;
        let copy = local.join(output::VOCAB_JSON);
        storage::files::get_file(&js, &copy).map_err(|e| VocabError::io(&js, e))?;
        check_same_recipe(&copy, opts)?;
        let _ = std::fs::remove_dir_all(&local);
        return Ok(BuildReport::skipped());
    }
    let here = BuildOptions {
        out: local.clone(),
        ..opts.clone()
    };
    let report = build_here(&here)?;
    for name in [
        output::QUERIES_TXT,
        output::QUERIES_PARQUET,
        output::VOCAB_JSON,
    ] {
        let to = remote.join(name);
        storage::files::put_file(&local.join(name), &to).map_err(|e| VocabError::io(&to, e))?;
    }
    let _ = std::fs::remove_dir_all(&local);
    Ok(report)
}

fn build_here(opts: &BuildOptions) -> Result<BuildReport> {
    let txt = opts.out.join(output::QUERIES_TXT);
    let pq = opts.out.join(output::QUERIES_PARQUET);
    let js = opts.out.join(output::VOCAB_JSON);
    if !opts.force && txt.exists() && pq.exists() && js.exists() {
        check_same_recipe(&js, opts)?;
        return Ok(BuildReport::skipped());
    }
    remove_leftovers(&opts.out);
    if opts.memory_limit < 1 << 20 {
        return Err(VocabError::Config(
            "--memory-limit must be at least 1M".into(),
        ));
    }
    // Check every input up front, so a typo fails before hours of counting.
    for d in &opts.wiki_dumps {
        std::fs::metadata(d).map_err(|e| VocabError::io(d, e))?;
    }
    let pageview_files = pageviews::collect_files(&opts.pageviews)?;
    if let Some(dir) = &opts.wordnet {
        if !dir.is_dir() {
            wordnet::read_names(dir)?;
        }
    }
    let mut seconds = Vec::new();
    let mut phase =
        |name: &str, t: Instant| seconds.push((name.to_string(), t.elapsed().as_secs_f64()));

    // WordNet.
    let t = Instant::now();
    let mut wn = match &opts.wordnet {
        Some(dir) => wordnet::read_names(dir)?,
        None => wordnet::WordNetNames::default(),
    };
    if !opts.omw.is_empty() {
        let lemmas = omw::read_lemmas(&opts.omw, opts.lang.as_deref().unwrap_or("en"))?;
        let mut seen: std::collections::HashSet<String> = wn.names.iter().cloned().collect();
        wn.synsets += lemmas.synsets;
        wn.bad_lines += lemmas.bad_lines;
        wn.names
            .extend(lemmas.names.into_iter().filter(|n| seen.insert(n.clone())));
    }
    phase("wordnet", t);

    // Wikipedia.
    let tmp_root = opts
        .tmp_dir
        .clone()
        .unwrap_or_else(|| opts.out.clone())
        .join(format!(".vocab-spill-{}", std::process::id()));
    let mut wiki_stats = None;
    let mut selection = select::WikiSelection::default();
    let mut spilled = 0;
    if !opts.wiki_dumps.is_empty() {
        let spill = SpillDir::new(&tmp_root)?;
        let result = count_and_select(opts, &spill, &mut phase);
        spilled = *spill.spilled.lock().expect("not poisoned");
        let _ = std::fs::remove_dir_all(&tmp_root);
        let (stats, mut sel) = result?;
        if let Some(max) = opts.caps.bigram_max {
            merge::keep_best(&mut sel.bigrams, max);
        }
        if segmenter(opts)?.is_some() {
            for b in &mut sel.bigrams {
                b.query = join_unspaced_bigram(&b.query);
            }
        }
        wiki_stats = Some(stats);
        selection = sel;
    }

    // Pageviews.
    let t = Instant::now();
    let (mut titles, pv_stats) = if pageview_files.is_empty() {
        (Vec::new(), None)
    } else {
        let pb = bar(opts.quiet, 0, "{spinner} pageviews: reading {msg}");
        pb.set_message(format!("{} files", pageview_files.len()));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        let (titles, stats) = pageviews::read_titles(&pageview_files, &opts.titles)?;
        pb.finish_and_clear();
        (titles, Some(stats))
    };
    if let Some(share) = opts.caps.title_top_share {
        let k = ((share * titles.len() as f64) as usize).min(TITLE_TOP_CAP);
        merge::keep_best(&mut titles, k);
    }
    phase("pageviews", t);

    // Merge and write.
    let t = Instant::now();
    let (entries, sources) = merge::merge(
        merge::numbers(),
        wn.names,
        [
            (Source::Unigram, selection.unigrams),
            (Source::Bigram, selection.bigrams),
            (Source::Title, titles),
        ],
        opts.target_size,
    );
    output::write_txt(&txt, &entries)?;
    output::write_parquet(&pq, &entries)?;
    phase("merge_write", t);
    let report = BuildReport {
        entries: entries.len() as u64,
        sources,
        wiki: wiki_stats,
        pageviews: pv_stats,
        wordnet_synsets: wn.synsets,
        wordnet_bad_lines: wn.bad_lines,
        total_tokens: selection.total_tokens,
        distinct_unigrams: selection.distinct_unigrams,
        distinct_bigrams: selection.distinct_bigrams,
        spilled_bytes: spilled,
        seconds,
        skipped: false,
    };
    output::write_json(&js, &vocab_json(opts, &pageview_files, &report, &entries))?;
    Ok(report)
}

/// Removes what a killed build left in `out`: hidden temporary outputs
/// (`.NAME.tmp-HOST-PID`, those of dead writers) and spill directories
/// (`.vocab-spill-PID`).
fn remove_leftovers(out: &std::path::Path) {
    if let Err(e) = atomic_output::clean_stale_temps(out) {
        log::warn!("could not remove temporary files of an earlier run: {e}");
    }
    let Ok(entries) = std::fs::read_dir(out) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".vocab-spill-") {
            log::info!(
                "removing spill files of an earlier run: {}",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

type Phase<'a> = dyn FnMut(&str, Instant) + 'a;

fn count_and_select(
    opts: &BuildOptions,
    spill: &SpillDir,
    phase: &mut Phase<'_>,
) -> Result<(WikiStats, select::WikiSelection)> {
    let t = Instant::now();
    let threads = rayon::current_num_threads();
    // Count tables get 3/4 of the limit (the rest: batches in flight, buffers).
    let table_budget = opts.memory_limit / 4 * 3 / threads;
    let total: u64 = opts.wiki_dumps.iter().map(|p| wiki::file_size(p)).sum();
    let pb = bar(
        opts.quiet,
        total,
        "{spinner} wikipedia: [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
    );
    let progress = |bytes: u64, pages: u64| {
        pb.set_position(bytes);
        pb.set_message(format!("{pages} pages"));
    };
    let seg = segmenter(opts)?;
    let counts = wiki::count_dumps(
        &opts.wiki_dumps,
        seg.as_ref(),
        table_budget,
        spill,
        &progress,
    )?;
    pb.finish_and_clear();
    phase("count", t);
    let t = Instant::now();
    let pb = bar(
        opts.quiet,
        0,
        "{spinner} wikipedia: merging counts, scoring bigrams",
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    let sel = select::select(
        spill,
        counts.unigram_runs,
        counts.bigram_runs,
        &opts.wiki,
        opts.memory_limit / 4 * 3,
    )?;
    pb.finish_and_clear();
    phase("select", t);
    Ok((counts.stats, sel))
}

/// The word segmenter of `opts.lang`, when it is written without spaces
/// (an error in a build without the `segmentation` feature).
fn segmenter(opts: &BuildOptions) -> Result<Option<Segmenter>> {
    match opts.lang.as_deref().filter(|l| segment::is_unspaced(l)) {
        None => Ok(None),
        Some(lang) => Segmenter::try_new().map(Some).ok_or_else(|| {
            VocabError::Config(format!(
                "--lang {lang} is written without spaces and needs word segmentation, which this \
                 build leaves out (build with the `segmentation` feature, on by default)"
            ))
        }),
    }
}

/// A bigram `a b` of a language written without spaces, as it occurs in
/// text: `ab` when `a` ends and `b` starts with a character of such a script
/// (MetaCLIP 2 removes the space of every bigram of these languages; a pair
/// from spaced text, such as `iPhone ケース`, keeps its space here).
pub fn join_unspaced_bigram(bigram: &str) -> String {
    match bigram.split_once(' ') {
        Some((a, b))
            if a.chars().last().is_some_and(segment::is_unspaced_char)
                && b.chars().next().is_some_and(segment::is_unspaced_char) =>
        {
            format!("{a}{b}")
        }
        _ => bigram.to_string(),
    }
}

fn input_list(paths: &[PathBuf]) -> Vec<serde_json::Value> {
    paths
        .iter()
        .map(|p| json!({"path": p.display().to_string(), "bytes": wiki::file_size(p)}))
        .collect()
}

fn vocab_json(
    opts: &BuildOptions,
    pageview_files: &[PathBuf],
    r: &BuildReport,
    entries: &[Entry],
) -> serde_json::Value {
    let sources: serde_json::Map<String, serde_json::Value> = r
        .sources
        .iter()
        .map(|(s, c)| {
            (
                s.as_str().to_string(),
                serde_json::to_value(c).expect("serialisable"),
            )
        })
        .collect();
    json!({
        "format": "witcurate-vocab-1",
        "entries": entries.len(),
        "parameters": parameters_json(opts),
        "inputs": inputs_json(opts, pageview_files),
        "sources": sources,
        "wikipedia": r.wiki.as_ref().map(|w| json!({
            "stats": w,
            "total_tokens": r.total_tokens,
            "distinct_unigrams": r.distinct_unigrams,
            "distinct_bigrams": r.distinct_bigrams,
        })),
        "pageviews": r.pageviews,
        "wordnet": {"synsets": r.wordnet_synsets, "bad_lines": r.wordnet_bad_lines},
        "run": {
            "threads": rayon::current_num_threads(),
            "spilled_bytes": r.spilled_bytes,
            "seconds": r.seconds.iter().map(|(n, s)| (n.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        },
    })
}

/// The build's parameters as recorded in `vocab.json`.
fn parameters_json(opts: &BuildOptions) -> serde_json::Value {
    json!({
        "lang": opts.lang,
        "segmenter": opts
            .lang
            .as_deref()
            .filter(|l| segment::is_unspaced(l))
            .map(|_| "icu_segmenter dictionary"),
        "target_size": opts.target_size,
        "unigram_min_count": opts.wiki.unigram_min_count,
        "unigram_top_share": opts.wiki.unigram_top_share,
        "bigram_max": opts.caps.bigram_max,
        "title_top_share": opts.caps.title_top_share,
        "bigram_min_pmi": opts.wiki.bigram_min_pmi,
        "bigram_min_count": opts.wiki.bigram_min_count,
        "title_min_views": opts.titles.min_views,
        "title_hourly_min": opts.titles.hourly_min,
        "pageviews_projects": opts.titles.projects,
        "memory_limit": opts.memory_limit,
        "pmi": "log2(c(a b) * N / (c(a) * c(b))), N = total tokens",
    })
}

/// The build's inputs (paths and sizes) as recorded in `vocab.json`.
fn inputs_json(opts: &BuildOptions, pageview_files: &[PathBuf]) -> serde_json::Value {
    json!({
        "wiki_dumps": input_list(&opts.wiki_dumps),
        "pageviews": input_list(pageview_files),
        "omw": input_list(&opts.omw),
        "wordnet": opts.wordnet.as_ref().map(|d| {
            let files: Vec<PathBuf> = wordnet::DATA_FILES.iter().map(|f| d.join(f)).collect();
            json!({"path": d.display().to_string(), "data_files": input_list(&files)})
        }),
    })
}

/// What a build's outputs depend on, from `vocab.json`'s `parameters` and
/// `inputs`: every parameter but the memory limit (which changes how the work
/// is done, not its result), and the inputs by file name and size (so that
/// the same files named by another path, relative or absolute, still match).
fn recipe(parameters: &serde_json::Value, inputs: &serde_json::Value) -> serde_json::Value {
    let mut parameters = parameters.clone();
    if let Some(p) = parameters.as_object_mut() {
        p.remove("memory_limit");
        // Parameters added later are null for builds that predate them.
        p.retain(|_, v| !v.is_null());
    }
    let files = |list: &serde_json::Value| -> Vec<(String, u64)> {
        list.as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|f| {
                        let name = f["path"].as_str().map_or("", |p| {
                            std::path::Path::new(p)
                                .file_name()
                                .and_then(|n| n.to_str())
                                .unwrap_or(p)
                        });
                        (name.to_string(), f["bytes"].as_u64().unwrap_or(0))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    json!({
        "parameters": parameters,
        "wiki_dumps": files(&inputs["wiki_dumps"]),
        "pageviews": files(&inputs["pageviews"]),
        "wordnet": files(&inputs["wordnet"]["data_files"]),
        "omw": files(&inputs["omw"]),
    })
}

/// Refuses to skip a build whose existing outputs (described by `vocab_json`)
/// were made from other parameters or inputs than `opts` gives.
fn check_same_recipe(vocab_json: &std::path::Path, opts: &BuildOptions) -> Result<()> {
    let bytes = std::fs::read(vocab_json).map_err(|e| VocabError::io(vocab_json, e))?;
    let recorded: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| VocabError::OptionsChanged {
            path: vocab_json.to_path_buf(),
            detail: format!("its record cannot be read: {e}"),
        })?;
    let pageview_files = pageviews::collect_files(&opts.pageviews)?;
    let was = recipe(&recorded["parameters"], &recorded["inputs"]);
    let now = recipe(&parameters_json(opts), &inputs_json(opts, &pageview_files));
    if was == now {
        return Ok(());
    }
    let mut differences = Vec::new();
    if let (Some(a), Some(b)) = (was["parameters"].as_object(), now["parameters"].as_object()) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let (x, y) = (&was["parameters"][k], &now["parameters"][k]);
            if x != y {
                differences.push(format!("{k}: {x} then, {y} now"));
            }
        }
    }
    for k in ["wiki_dumps", "pageviews", "wordnet", "omw"] {
        if was[k] != now[k] {
            differences.push(format!(
                "{k} (name, bytes): {} then, {} now",
                was[k], now[k]
            ));
        }
    }
    Err(VocabError::OptionsChanged {
        path: vocab_json.to_path_buf(),
        detail: differences.join("; "),
    })
}
