//! Builds witcurate's query vocabulary: the list of strings that alt-texts are
//! matched against (CLIP's 500,000 queries, as reproduced by MetaCLIP).
//!
//! Sources, merged in this order and de-duplicated: the numbers `0..99`,
//! WordNet synset names ([`wordnet`]), Wikipedia unigrams and high-PMI bigrams
//! ([`wiki`] counts them, [`select`] picks them), and Wikipedia article titles
//! with enough pageviews ([`pageviews`]). [`merge`] orders, de-duplicates and
//! trims; [`output`] writes `queries.txt`, `queries.parquet` and `vocab.json`.
//!
//! Counting streams the dumps through all cores; each thread's count table
//! spills sorted runs to disk when it outgrows its share of the memory limit,
//! and the runs are merged ([`count`]). The output depends only on the
//! inputs and options, never on the thread count.
//!
//! ```
//! use query_vocab::wiki::{tokenize::tokenize, wikitext::to_text};
//! let text = to_text("The [[Eiffel Tower|tower]] in {{city|Paris}} ''Paris''.");
//! let mut tokens = Vec::new();
//! tokenize(&text, |t, _| tokens.push(t.to_string()));
//! assert_eq!(tokens, ["The", "tower", "in", "Paris"]);
//! ```

#![warn(missing_docs)]

pub mod build;
pub mod count;
pub mod error;
pub mod languages;
pub mod merge;
pub mod omw;
pub mod output;
pub mod pageviews;
pub mod select;
pub mod wiki;
pub mod wordnet;

pub use build::{build, BuildOptions, BuildReport};
pub use error::{Result, VocabError};
