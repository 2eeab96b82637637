//! Building the vocabularies of several Wikipedia editions in one command
//! (`vocab build --lang de,ja,th`): each edition gets `OUT/LANG/` from the
//! dumps and OMW files named after it and the pageviews of its projects.
//! Up to [`MAX_CONCURRENT`] editions are built at once, sharing the cores
//! and dividing the memory limit; each build's output is the one it would
//! have on its own.

use std::path::Path;
use std::sync::Mutex;

use crate::build::{build, BuildOptions, BuildReport};
use crate::error::{Result, VocabError};
use crate::omw;

/// Editions built at once.
pub const MAX_CONCURRENT: usize = 4;

/// The edition of a Wikipedia dump, from its file name as Wikimedia names
/// them (`jawiki-20250101-pages-articles.xml.bz2` → `ja`,
/// `zh_yuewiki-…` → `zh-yue`).
pub fn dump_edition(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let (code, _) = name.split_once("wiki")?;
    (!code.is_empty()).then(|| code.replace('_', "-"))
}

/// The pageviews projects of an edition: its desktop and mobile sites
/// (`ja`, `ja.m`, as Wikimedia's hourly files name them).
pub fn pageview_projects(lang: &str) -> Vec<String> {
    vec![lang.to_string(), format!("{lang}.m")]
}

/// The unigram thresholds given on the command line (none: the language's
/// default, [`unigram_thresholds`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenThresholds {
    /// `--unigram-min-count`.
    pub min_count: Option<u64>,
    /// `--unigram-top-share`.
    pub top_share: Option<f64>,
}

/// The options of one edition's build within `base`: `OUT/LANG`, its dumps
/// and OMW files, its pageviews projects, its unigram thresholds.
pub fn options_for(base: &BuildOptions, lang: &str, given: GivenThresholds) -> BuildOptions {
    let mut o = base.clone();
    (o.wiki.unigram_min_count, o.wiki.unigram_top_share) =
        unigram_thresholds(Some(lang), given.min_count, given.top_share);
    o.out = base.out.join(lang);
    o.lang = Some(lang.to_string());
    o.wiki_dumps = base
        .wiki_dumps
        .iter()
        .filter(|p| dump_edition(p).as_deref() == Some(lang))
        .cloned()
        .collect();
    o.omw = base
        .omw
        .iter()
        .filter(|p| omw::edition_of(p) == Some(lang))
        .cloned()
        .collect();
    o.titles.projects = pageview_projects(lang);
    o
}

/// Builds every edition of `langs` (see the module docs). Every dump and
/// OMW file must belong to one of them (a misnamed file is an error, not
/// silently left out).
pub fn build_languages(
    base: &BuildOptions,
    langs: &[String],
    given: GivenThresholds,
) -> Result<Vec<(String, BuildReport)>> {
    for p in &base.wiki_dumps {
        if !dump_edition(p).is_some_and(|l| langs.contains(&l)) {
            return Err(VocabError::Config(format!(
                "{}: not a dump of {} (names start with the edition: jawiki-…)",
                p.display(),
                langs.join(", ")
            )));
        }
    }
    for p in &base.omw {
        if !omw::edition_of(p).is_some_and(|l| langs.iter().any(|x| x == l)) {
            return Err(VocabError::Config(format!(
                "{}: not an OMW tab file of {} (wn-data-jpn.tab, ...)",
                p.display(),
                langs.join(", ")
            )));
        }
    }
    let at_once = langs.len().clamp(1, MAX_CONCURRENT);
    let queue: Mutex<Vec<(usize, BuildOptions)>> = Mutex::new(
        langs
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut o = options_for(base, l, given);
                o.memory_limit = (base.memory_limit / at_once).max(1 << 20);
                o.quiet = base.quiet || at_once > 1;
                (i, o)
            })
            .rev()
            .collect(),
    );
    let results: Mutex<Vec<(usize, Result<BuildReport>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..at_once {
            s.spawn(|| loop {
                let Some((i, o)) = queue.lock().expect("not poisoned").pop() else {
                    break;
                };
                let r = build(&o);
                if let Ok(report) = &r {
                    log::info!("{}: {}", langs[i], report.summary());
                }
                results.lock().expect("not poisoned").push((i, r));
            });
        }
    });
    let mut results = results.into_inner().expect("not poisoned");
    results.sort_by_key(|(i, _)| *i);
    results
        .into_iter()
        .map(|(i, r)| r.map(|rep| (langs[i].clone(), rep)))
        .collect()
}

/// MetaCLIP 2's share of distinct unigrams kept for a language other than
/// English (`threshold_unigram`).
pub const DEFAULT_UNIGRAM_TOP_SHARE: f64 = 0.1;

/// English's minimum unigram count (MetaCLIP's 100).
pub const ENGLISH_UNIGRAM_MIN_COUNT: u64 = 100;

/// The unigram thresholds of edition `lang` (none: English) from the ones
/// given (none: the default): English keeps every unigram of at least 100
/// occurrences; another language, as MetaCLIP 2, the most frequent 10% of its
/// distinct unigrams (at most 251,465) with no minimum count. Returns
/// `(unigram_min_count, unigram_top_share)`.
pub fn unigram_thresholds(
    lang: Option<&str>,
    min_count: Option<u64>,
    top_share: Option<f64>,
) -> (u64, Option<f64>) {
    match lang {
        None | Some("en") => (min_count.unwrap_or(ENGLISH_UNIGRAM_MIN_COUNT), top_share),
        Some(_) => (
            min_count.unwrap_or(1),
            top_share.or(Some(DEFAULT_UNIGRAM_TOP_SHARE)),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editions_of_dump_names() {
        let e = |n: &str| dump_edition(Path::new(n));
        assert_eq!(
            e("jawiki-latest-pages-articles.xml.bz2").as_deref(),
            Some("ja")
        );
        assert_eq!(
            e("/d/zh_yuewiki-20250101-pages-articles.xml").as_deref(),
            Some("zh-yue")
        );
        assert_eq!(e("dump.xml"), None);
        assert_eq!(pageview_projects("de"), ["de", "de.m"]);
    }
}
