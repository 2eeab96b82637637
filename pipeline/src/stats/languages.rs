//! Per-language statistics of a multilingual run (`crawl match --lid`):
//! texts identified per language (the match stage's `lang_*` counters),
//! each language's vocabulary (`match.json`), and its balancing
//! (`balance.json`, or `balanced.json` when the run was balanced after
//! download): t, tail share, matches, entries and pairs before and after.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::balance::BalanceSummary;
use crate::matching::stage::{counter as match_counter, MatchSummary};
use crate::run_dir::RunDir;

/// The languages of a multilingual run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageStats {
    /// Texts whose language has no vocabulary (not matched, counted).
    pub texts_without_vocab: u64,
    /// The file the balancing columns come from (`balance.json`,
    /// `balanced.json`), if any.
    pub balance_from: Option<String>,
    /// English's tail share at its t, which the other languages follow.
    pub reference_tail_share: Option<f64>,
    /// One row per language seen or with a vocabulary, most texts first.
    pub rows: Vec<LanguageRow>,
}

/// One language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageRow {
    /// Wikipedia edition code (`und`: not identified).
    pub lang: String,
    /// Texts identified as this language.
    pub texts: u64,
    /// Entries of its vocabulary (none: no vocabulary).
    pub vocab_entries: Option<u64>,
    /// Pairs matched (rows balanced).
    pub matched: Option<u64>,
    /// Pairs kept by balancing.
    pub kept: Option<u64>,
    /// Its t.
    pub t: Option<u64>,
    /// Share of its matches in entries matched fewer than t times.
    pub tail_share: Option<f64>,
    /// Its matches before balancing.
    pub matches: Option<u64>,
    /// Its entries with a match.
    pub entries_matched: Option<u64>,
    /// Its entries with more than t matches.
    pub entries_capped: Option<u64>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            log::warn!("{}: {e}; the languages table leaves it out", path.display());
            None
        }
    }
}

/// The languages of the run in `run`, when its match stage identified them.
pub fn collect(run: &Path) -> Option<LanguageStats> {
    let dir = RunDir::new(run);
    let summary: MatchSummary = read_json(&dir.match_summary())?;
    let mut rows: BTreeMap<String, LanguageRow> = BTreeMap::new();
    let blank = |lang: &str| LanguageRow {
        lang: lang.to_string(),
        texts: 0,
        vocab_entries: None,
        matched: None,
        kept: None,
        t: None,
        tail_share: None,
        matches: None,
        entries_matched: None,
        entries_capped: None,
    };
    for (name, &n) in &summary.counters.0 {
        if let Some(lang) = name.strip_prefix(match_counter::LANG_PREFIX) {
            rows.entry(lang.to_string())
                .or_insert_with(|| blank(lang))
                .texts = n;
        }
    }
    if rows.is_empty() && summary.languages.is_empty() {
        return None;
    }
    for l in &summary.languages {
        rows.entry(l.lang.clone())
            .or_insert_with(|| blank(&l.lang))
            .vocab_entries = Some(l.entries as u64);
    }
    let balanced = [dir.balanced_summary(), dir.balance_summary()]
        .into_iter()
        .find_map(|p| Some((p.clone(), read_json::<BalanceSummary>(&p)?)));
    let mut reference_tail_share = None;
    let balance_from = balanced.as_ref().map(|(p, _)| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    if let Some((_, b)) = balanced {
        reference_tail_share = b.reference_tail_share;
        for l in b.languages {
            let r = rows
                .entry(l.cap.lang.clone())
                .or_insert_with(|| blank(&l.cap.lang));
            r.matched = Some(l.rows_in);
            r.kept = Some(l.rows_kept);
            r.t = Some(l.cap.t);
            r.tail_share = Some(l.cap.tail_share);
            r.matches = Some(l.cap.matches);
            r.entries_matched = Some(l.entries_matched as u64);
            r.entries_capped = Some(l.entries_capped as u64);
        }
    }
    let mut rows: Vec<LanguageRow> = rows.into_values().collect();
    rows.sort_by(|a, b| b.texts.cmp(&a.texts).then_with(|| a.lang.cmp(&b.lang)));
    Some(LanguageStats {
        texts_without_vocab: summary.counters.get(match_counter::SKIP_NO_VOCAB),
        balance_from,
        reference_tail_share,
        rows,
    })
}
