//! `witcurate crawl match`: its flags, and the stage they make.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use pipeline::matching::{languages, MatchStage, Rule, Vocab};

/// The matching rule, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleArg {
    /// MetaCLIP's rule exactly: space-delimited, case-sensitive substring match.
    Metaclip,
    /// Unicode-aware word boundaries on the unmodified text (`(dog)`, `dog's` match `dog`).
    WordBoundary,
    /// MetaCLIP 2's multilingual rule exactly: an entry is padded with a space only on a side
    /// that is not CJK/Thai/Lao/Khmer/Myanmar/Tibetan or punctuation.
    Metaclip2,
    /// MetaCLIP 2's rule deciding by Unicode script, so Hiragana, Katakana and Hangul entries
    /// also match inside unspaced text.
    ScriptAware,
}

impl From<RuleArg> for Rule {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::Metaclip => Rule::MetaClip,
            RuleArg::WordBoundary => Rule::WordBoundary,
            RuleArg::Metaclip2 => Rule::MetaClip2,
            RuleArg::ScriptAware => Rule::ScriptAware,
        }
    }
}

/// Flags of the match stage (reads RUN/pairs/, writes RUN/matched/,
/// RUN/counts/, RUN/counts.parquet).
#[derive(Debug, Clone, Args)]
pub struct MatchOptions {
    /// The vocabulary directory (holding queries.txt) or a queries.txt file.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// When an entry matches a text [default: metaclip; with --lid, metaclip2].
    #[arg(long, value_enum)]
    pub rule: Option<RuleArg>,
    /// Refuse a vocabulary whose automaton is estimated to need more memory
    /// than this. In bytes, or a number with a unit: 2G or 2GiB mean 2 GiB
    /// (powers of 1024, also K, M, T), 2GB means 2·10^9 bytes (KB, MB, TB).
    #[arg(long, default_value = "16GiB", value_parser = parse_size)]
    pub max_vocab_memory: u64,
    /// Identify each text's language, store it in a `lang` column, and match
    /// the text against its language's vocabulary (from --vocab-dir; --vocab
    /// is English's). Texts of languages without one are counted
    /// (skip_no_vocab), not matched.
    #[arg(long)]
    pub lid: bool,
    /// With --lid: a directory of vocabularies by language, LANG/queries.txt
    /// or LANG.txt (LANG a Wikipedia code: en, ja, zh, ...).
    #[arg(long, requires = "lid")]
    pub vocab_dir: Option<PathBuf>,
    /// With --lid: the language of texts whose identification is not
    /// reliable (most short alt-texts), e.g. en for a mostly English crawl.
    /// Without it, the identifier's best guess is taken, as MetaCLIP 2 does.
    #[arg(long, requires = "lid", value_name = "LANG")]
    pub lid_fallback: Option<String>,
}

impl MatchOptions {
    /// The rule: the one given, else MetaCLIP 2's for a multilingual run
    /// (`--lid`), MetaCLIP's otherwise.
    pub fn rule(&self) -> Rule {
        match self.rule {
            Some(r) => r.into(),
            None if self.lid => Rule::MetaClip2,
            None => Rule::MetaClip,
        }
    }

    /// The stage these flags describe.
    pub fn stage(&self) -> Result<MatchStage> {
        if self.lid {
            return self.lid_stage();
        }
        let Some(vocab) = &self.vocab else {
            anyhow::bail!("crawl match needs --vocab DIR (a vocabulary directory or queries.txt)");
        };
        let vocab = Vocab::load(vocab).context("reading the vocabulary")?;
        Ok(MatchStage::new(vocab, self.rule(), self.max_vocab_memory))
    }
}

impl MatchOptions {
    /// The stage with language identification: the vocabularies of
    /// --vocab-dir, and --vocab as English's.
    fn lid_stage(&self) -> Result<MatchStage> {
        let mut found = match &self.vocab_dir {
            Some(dir) => languages::scan_vocab_dir(dir)?,
            None => Vec::new(),
        };
        if let Some(en) = &self.vocab {
            if let Some((_, other)) = found.iter().find(|(l, _)| l == "en") {
                anyhow::bail!(
                    "English has two vocabularies: --vocab {} and {}",
                    en.display(),
                    other.display()
                );
            }
            found.push(("en".to_string(), en.clone()));
            found.sort();
        }
        if found.is_empty() {
            anyhow::bail!(
                "crawl match --lid needs --vocab-dir DIR (vocabularies by language) or --vocab"
            );
        }
        let mut vocabs = Vec::with_capacity(found.len());
        for (lang, path) in found {
            let v = Vocab::load(&path)
                .with_context(|| format!("reading the vocabulary of language {lang}"))?;
            vocabs.push((lang, v));
        }
        let dir = self
            .vocab_dir
            .clone()
            .or_else(|| self.vocab.clone())
            .expect("one of them is given");
        if let Some(f) = &self.lid_fallback {
            if !languages::is_lang_code(f) {
                anyhow::bail!("--lid-fallback {f}: not a language code (en, ja, zh, ...)");
            }
        }
        Ok(
            MatchStage::with_lid(&dir, vocabs, self.rule(), self.max_vocab_memory)?
                .with_lid_fallback(self.lid_fallback.clone()),
        )
    }
}

/// Parses a byte size (see [`units::parse_size`]).
pub fn parse_size(s: &str) -> Result<u64, String> {
    units::parse_size(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert!(parse_size("x").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }
}
