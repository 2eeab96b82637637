//! Building the vocabularies of several Wikipedia editions in one command
//! (`vocab build --lang de,ja,th`): each edition gets `OUT/LANG/` from the
//! dumps and OMW files named after it and the pageviews of its projects.
//! Up to [`MAX_CONCURRENT`] editions are built at once, sharing the cores
//! and dividing the memory limit; each build's output is the one it would
//! have on its own.

use std::path::Path;
use std::sync::Mutex;

use crate::build::{build, BuildOptions, BuildReport, SourceCaps};
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

/// The options of one edition's build within `base`: `OUT/LANG`, its dumps
/// and OMW files, its pageviews projects, its thresholds ([`thresholds`]).
pub fn options_for(base: &BuildOptions, lang: &str, given: GivenThresholds) -> BuildOptions {
    let mut o = base.clone();
    set_thresholds(&mut o, &thresholds(Some(lang), &given));
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

/// MetaCLIP 2's most bigrams of a language other than English
/// (`upper_bound_bigram`).
pub const DEFAULT_BIGRAM_MAX: usize = 100_646;

/// MetaCLIP 2's share of titles kept for a language other than English.
pub const DEFAULT_TITLE_TOP_SHARE: f64 = 0.76;

/// The thresholds given on the command line (none: the language's default,
/// [`thresholds`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct GivenThresholds {
    /// `--unigram-min-count`.
    pub min_count: Option<u64>,
    /// `--unigram-top-share`.
    pub top_share: Option<f64>,
    /// `--bigram-max`.
    pub bigram_max: Option<usize>,
    /// `--title-min-views`.
    pub title_min_views: Option<u64>,
    /// `--title-hourly-min`.
    pub title_hourly_min: Option<u64>,
    /// `--title-top-share`.
    pub title_top_share: Option<f64>,
}

/// The thresholds of one build.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum unigram count.
    pub unigram_min_count: u64,
    /// Share of distinct unigrams kept.
    pub unigram_top_share: Option<f64>,
    /// An hourly pageviews figure counts when at least this.
    pub title_hourly_min: u64,
    /// A title is kept when its views sum to at least this.
    pub title_min_views: u64,
    /// Caps on bigrams and titles.
    pub caps: SourceCaps,
}

/// The thresholds of edition `lang` (none: English) where `given` leaves
/// them open. English keeps MetaCLIP's: unigrams seen at least 100 times,
/// titles with at least 70 views counted from hourly figures of at least 50,
/// no caps. Every other language, as MetaCLIP 2's `build_metadata.py` and
/// `build_title.py`: the most frequent 10% of its distinct unigrams (at most
/// 251,465) with no minimum count, at most 100,646 bigrams (highest PMI),
/// and the most viewed 76% of its titles (at most 61,235), counting every
/// view.
pub fn thresholds(lang: Option<&str>, given: &GivenThresholds) -> Thresholds {
    let english = matches!(lang, None | Some("en"));
    let (min_count, top_share, hourly, views, caps) = if english {
        (100, None, 50, 70, SourceCaps::default())
    } else {
        (
            1,
            Some(DEFAULT_UNIGRAM_TOP_SHARE),
            1,
            1,
            SourceCaps {
                bigram_max: Some(DEFAULT_BIGRAM_MAX),
                title_top_share: Some(DEFAULT_TITLE_TOP_SHARE),
            },
        )
    };
    Thresholds {
        unigram_min_count: given.min_count.unwrap_or(min_count),
        unigram_top_share: given.top_share.or(top_share),
        title_hourly_min: given.title_hourly_min.unwrap_or(hourly),
        title_min_views: given.title_min_views.unwrap_or(views),
        caps: SourceCaps {
            bigram_max: given.bigram_max.or(caps.bigram_max),
            title_top_share: given.title_top_share.or(caps.title_top_share),
        },
    }
}

/// `o` with the thresholds `t`.
pub fn set_thresholds(o: &mut BuildOptions, t: &Thresholds) {
    o.wiki.unigram_min_count = t.unigram_min_count;
    o.wiki.unigram_top_share = t.unigram_top_share;
    o.titles.hourly_min = t.title_hourly_min;
    o.titles.min_views = t.title_min_views;
    o.caps = t.caps;
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

    #[test]
    fn thresholds_per_language() {
        let none = GivenThresholds::default();
        let en = thresholds(None, &none);
        assert_eq!(en, thresholds(Some("en"), &none));
        assert_eq!(
            (
                en.unigram_min_count,
                en.unigram_top_share,
                en.title_hourly_min,
                en.title_min_views
            ),
            (100, None, 50, 70)
        );
        assert_eq!(en.caps, SourceCaps::default());
        let ja = thresholds(Some("ja"), &none);
        assert_eq!((ja.unigram_min_count, ja.unigram_top_share), (1, Some(0.1)));
        assert_eq!((ja.title_hourly_min, ja.title_min_views), (1, 1));
        assert_eq!(ja.caps.bigram_max, Some(100_646));
        assert_eq!(ja.caps.title_top_share, Some(0.76));
        let given = GivenThresholds {
            top_share: Some(0.5),
            title_min_views: Some(9),
            ..none
        };
        let de = thresholds(Some("de"), &given);
        assert_eq!((de.unigram_top_share, de.title_min_views), (Some(0.5), 9));
        assert_eq!(thresholds(Some("en"), &given).unigram_top_share, Some(0.5));
    }
}
