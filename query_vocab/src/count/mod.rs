//! Counting unigrams and bigrams within a memory bound: per-thread hash tables
//! that spill sorted runs to disk ([`table`]), and the external sort and merge
//! of those runs ([`runs`]).

pub mod runs;
pub mod table;
