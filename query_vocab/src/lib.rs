//! Builds witcurate's query vocabulary: the list of strings that alt-texts are
//! matched against (CLIP's 500,000 queries, as reproduced by MetaCLIP).
//!
//! Sources, merged in this order and de-duplicated: the numbers `0..99`,
//! WordNet synset names, Wikipedia unigrams and high-PMI bigrams, and
//! Wikipedia article titles with enough pageviews.
