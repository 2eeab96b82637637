//! The matchers of a match run: one for the vocabulary, or with language
//! identification one per language, with the id range of each.

use super::matcher::Matcher;
use super::stage::MatchParams;
use super::{MatchError, Vocab};

/// The matchers of a run: one, or with language identification one per
/// language (in code order).
pub(crate) struct Matchers {
    /// Whether texts are matched by language.
    pub(crate) lid: bool,
    /// The language of unreliably identified texts.
    pub(crate) fallback: Option<String>,
    /// One matcher, or one per language.
    pub(crate) list: Vec<Matcher>,
    langs: Vec<String>,
    first_id: Vec<u32>,
    /// Entries of every vocabulary together.
    pub(crate) entries: usize,
}

impl Matchers {
    /// Builds the matcher of each vocabulary (in the order of `params.languages`).
    pub(crate) fn new(params: &MatchParams, vocabs: &[Vocab]) -> Result<Self, MatchError> {
        let mut list = Vec::with_capacity(vocabs.len());
        for v in vocabs {
            list.push(Matcher::new(
                &v.entries,
                params.rule,
                params.max_vocab_memory,
            )?);
        }
        let (langs, first_id) = if params.lid {
            params
                .languages
                .iter()
                .map(|l| (l.lang.clone(), l.first_id))
                .unzip()
        } else {
            (vec![String::new()], vec![0])
        };
        Ok(Self {
            lid: params.lid,
            fallback: params.lid_fallback.clone(),
            list,
            langs,
            first_id,
            entries: params.vocab_entries,
        })
    }

    /// Heap bytes of every matcher.
    pub(crate) fn memory_usage(&self) -> usize {
        self.list.iter().map(Matcher::memory_usage).sum()
    }

    /// The matcher of a language and the id of its first entry.
    pub(crate) fn of(&self, lang: &str) -> Option<(&Matcher, u32)> {
        let i = self.langs.binary_search_by(|l| l.as_str().cmp(lang)).ok()?;
        Some((&self.list[i], self.first_id[i]))
    }
}
