//! The byte-level BPE tokenizer, trained offline on the shards' captions with
//! the `tokenizers` crate and saved as `tokenizer.json` beside the weights.
//!
//! Captions are lower-cased (as CLIP does), split GPT-2 style on bytes, and
//! encoded as `<|startoftext|> tokens… <|endoftext|>` padded with `<pad>` to
//! the context length; over-long captions are cut so that the end-of-text
//! token is always present (the text tower pools at it).
//!
//! A foreign `tokenizer.json` loads too (CLIP's own BPE as published in the
//! Hugging Face format, or the one `witcurate export` writes): its
//! start- and end-of-text tokens are found by name, and without a `<pad>`
//! token id 0 pads, as CLIP does. Only the end-of-text position matters to
//! the text tower (its attention is causal), so the padding id never
//! changes an embedding.

use std::path::Path;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::Lowercase;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::{Error, Result};

/// Padding token (id 0).
pub const PAD: &str = "<pad>";
/// The padding id of a tokenizer without [`PAD`] (CLIP pads with 0).
pub const DEFAULT_PAD_ID: u32 = 0;
/// Start-of-text token.
pub const SOT: &str = "<|startoftext|>";
/// End-of-text token.
pub const EOT: &str = "<|endoftext|>";

/// A trained tokenizer and the context length it encodes to.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    sot: u32,
    eot: u32,
    pad: u32,
    context_length: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("context_length", &self.context_length)
            .finish()
    }
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

/// One encoded caption.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// `context_length` token ids.
    pub ids: Vec<u32>,
    /// Position of the end-of-text token.
    pub eot: u32,
}

impl TextTokenizer {
    /// Trains a byte-level BPE with at most `vocab_size` tokens on `captions`.
    pub fn train<I, S>(captions: I, vocab_size: usize, context_length: usize) -> Result<Self>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let mut tok = Tokenizer::new(BPE::default());
        tok.with_normalizer(Some(Lowercase)).map_err(tok_err)?;
        tok.with_pre_tokenizer(Some(ByteLevel::default()));
        tok.with_decoder(Some(ByteLevel::default()));
        let specials = [PAD, SOT, EOT]
            .iter()
            .map(|s| AddedToken::from(s.to_string(), true))
            .collect();
        let alphabet = ByteLevel::alphabet().into_iter().collect();
        let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(alphabet)
            .build()
            .into();
        tok.train(&mut trainer, captions).map_err(tok_err)?;
        Self::from_tokenizer(tok, context_length)
    }

    fn from_tokenizer(mut inner: Tokenizer, context_length: usize) -> Result<Self> {
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| Error::Tokenizer(format!("missing special token {t}")))
        };
        let (sot, eot) = (id(SOT)?, id(EOT)?);
        let pad = inner.token_to_id(PAD).unwrap_or(DEFAULT_PAD_ID);
        // A published tokenizer.json may pad or truncate on its own; this
        // type does both itself, around the start and end tokens.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(TextTokenizer {
            sot,
            eot,
            pad,
            inner,
            context_length,
        })
    }

    /// Loads `tokenizer.json` (this crate's, or a foreign one with
    /// `<|startoftext|>` and `<|endoftext|>` tokens).
    pub fn load(path: &Path, context_length: usize) -> Result<Self> {
        let inner = Tokenizer::from_file(path)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::from_tokenizer(inner, context_length)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// Id of the start-of-text token.
    pub fn sot_id(&self) -> u32 {
        self.sot
    }

    /// Id of the end-of-text token (the text tower pools at its position).
    pub fn eot_id(&self) -> u32 {
        self.eot
    }

    /// Id that fills a caption after its end-of-text token.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// The token of `id`, if the vocabulary has it.
    pub fn token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Makes `<|startoftext|> … <|endoftext|>` the post-processor, so that
    /// tools which frame text with the tokenizer's own special tokens
    /// (Hugging Face's `AutoTokenizer`, open_clip's `HFTokenizer`) encode a
    /// caption as [`TextTokenizer::encode`] does (which adds them itself).
    pub fn with_special_token_template(mut self) -> Result<Self> {
        let template = TemplateProcessing::builder()
            .try_single(format!("{SOT} $A {EOT}"))
            .map_err(Error::Tokenizer)?
            .try_pair(format!("{SOT} $A {EOT} $B:1 {EOT}:1"))
            .map_err(Error::Tokenizer)?
            .special_tokens(vec![(SOT, self.sot), (EOT, self.eot)])
            .build()
            .map_err(tok_err)?;
        self.inner.with_post_processor(Some(template));
        Ok(self)
    }

    /// The highest id the vocabulary holds, special tokens included.
    pub fn max_id(&self) -> u32 {
        self.inner
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Saves as `tokenizer.json` (the `tokenizers` format).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.inner
            .save(path, false)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// The tokenizer as the text of `tokenizer.json`.
    pub fn to_json(&self) -> Result<String> {
        self.inner.to_string(false).map_err(tok_err)
    }

    /// A tokenizer from the text of `tokenizer.json` (see [`TextTokenizer::to_json`]).
    pub fn from_json(json: &str, context_length: usize) -> Result<Self> {
        let inner: Tokenizer = json.parse().map_err(tok_err)?;
        Self::from_tokenizer(inner, context_length)
    }

    /// Tokens in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokens per encoded caption.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Encodes one caption to exactly `context_length` ids.
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let enc = self.inner.encode(text, false).map_err(tok_err)?;
        let body = enc.get_ids();
        let keep = body.len().min(self.context_length - 2);
        let mut ids = Vec::with_capacity(self.context_length);
        ids.push(self.sot);
        ids.extend_from_slice(&body[..keep]);
        ids.push(self.eot);
        let eot = (ids.len() - 1) as u32;
        ids.resize(self.context_length, self.pad);
        Ok(Encoded { ids, eot })
    }

    /// Decodes ids back to text (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(tok_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trains_encodes_pads_truncates_and_round_trips() {
        let caps: Vec<String> = (0..200)
            .map(|i| format!("a photo of a red circle number {i}, nice Ärger"))
            .collect();
        let tok = TextTokenizer::train(caps.iter(), 300, 8).unwrap();
        assert!(tok.vocab_size() <= 300 && tok.vocab_size() > 256);
        let e = tok.encode("red circle").unwrap();
        assert_eq!(e.ids.len(), 8);
        assert_eq!(e.ids[0], tok.sot);
        assert_eq!(e.ids[e.eot as usize], tok.eot);
        assert!(e.ids[e.eot as usize + 1..].iter().all(|&i| i == tok.pad));
        assert_eq!(tok.decode(&e.ids).unwrap().trim(), "red circle");
        let long = tok.encode(&"word ".repeat(50)).unwrap();
        assert_eq!(long.ids.len(), 8);
        assert_eq!(long.eot, 7);
        assert_eq!(long.ids[7], tok.eot);
        // Unseen bytes still encode (byte-level).
        let odd = tok.encode("日本").unwrap();
        assert!(odd.eot >= 2);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokenizer.json");
        tok.save(&p).unwrap();
        let back = TextTokenizer::load(&p, 8).unwrap();
        assert_eq!(
            back.encode("a red circle").unwrap(),
            tok.encode("a red circle").unwrap()
        );
    }
}
