//! A block's second half: the inverse Burrows-Wheeler transform, then the
//! initial run-length encoding undone.
//!
//! The inverse transform follows a chain of links through a block-sized
//! table, one dependent memory load per byte. libbzip2 walks it from one end
//! and waits on every load. Here the chain is cut at up to [`MAX_PIECES`]
//! places known in advance (positions spread over the table, which lie at
//! unknown but distinct places along the chain), and [`WALKERS`] pieces are
//! walked side by side, so that their loads overlap; each walker that
//! reaches the start of another piece takes the next piece not yet walked.
//! The pieces are then put back in chain order.

use crate::Corruption;

/// Pieces of the chain walked side by side.
const WALKERS: usize = 32;
/// The most pieces a block is cut into.
const MAX_PIECES: usize = 256;
/// Bytes per piece, about, in blocks too small for `MAX_PIECES`.
const MIN_PIECE_LEN: usize = 1024;
/// Marks a table entry where a piece starts (links, below 900,000, use the
/// bits 8 to 27).
const START: u32 = 1 << 31;
/// The link part of a table entry, once shifted down by 8.
const LINK_MASK: u32 = (1 << 20) - 1;

/// Reusable buffers of the inverse transform.
#[derive(Default)]
pub(crate) struct Unbwt {
    pieces: Vec<Vec<u8>>,
    /// The block's bytes in order, before the run lengths are expanded.
    text: Vec<u8>,
}

impl Unbwt {
    /// Inverts the transform of `tt[..len]` (bytes in the low 8 bits) and
    /// appends the block's bytes, run lengths expanded, to `out`.
    pub(crate) fn invert(
        &mut self,
        tt: &mut [u32],
        byte_counts: &[u32; 256],
        orig_ptr: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Corruption> {
        let len = tt.len();
        link(tt, byte_counts);
        let first = (tt[orig_ptr] >> 8 & LINK_MASK) as usize;
        let n_pieces = (len / MIN_PIECE_LEN).clamp(1, MAX_PIECES);
        let mut starts = vec![first];
        starts.extend(
            (1..n_pieces)
                .map(|k| k * len / n_pieces)
                .filter(|&p| p != first),
        );
        for &s in &starts {
            tt[s] |= START;
        }
        if self.pieces.len() < starts.len() {
            self.pieces.resize_with(starts.len(), Vec::new);
        }
        let ends = walk(tt, &starts, &mut self.pieces[..starts.len()]);
        for &s in &starts {
            tt[s] &= !START;
        }
        // Chain order: from the first byte's piece, each piece ends where
        // another starts, until the chain comes back to the first byte.
        let mut by_start: Vec<(usize, usize)> =
            starts.iter().enumerate().map(|(k, &s)| (s, k)).collect();
        by_start.sort_unstable();
        let mut order = Vec::with_capacity(starts.len());
        let mut at = first;
        loop {
            let i = by_start
                .binary_search_by_key(&at, |&(s, _)| s)
                .expect("pieces end where others start");
            let k = by_start[i].1;
            order.push(k);
            at = ends[k];
            if at == first || order.len() == starts.len() {
                break;
            }
        }
        // A block that repeats itself (its text is some shorter text
        // several times over) is several shorter cycles: like libbzip2,
        // take the first one's bytes over and over. (Every piece holds at
        // least its first byte.)
        self.text.clear();
        while self.text.len() < len {
            for &k in &order {
                let piece = &self.pieces[k];
                let take = piece.len().min(len - self.text.len());
                self.text.extend_from_slice(&piece[..take]);
            }
        }
        expand_runs(&self.text, out)
    }
}

/// Turns `tt[i]`'s low byte (the last column) into links: after this,
/// `tt[j] >> 8` is the row following row `j` in the text.
fn link(tt: &mut [u32], byte_counts: &[u32; 256]) {
    let mut next = [0u32; 256];
    let mut sum = 0;
    for (n, &c) in next.iter_mut().zip(byte_counts) {
        *n = sum;
        sum += c;
    }
    for i in 0..tt.len() {
        let byte = (tt[i] & 0xff) as usize;
        let row = next[byte] as usize;
        tt[row] |= (i as u32) << 8;
        next[byte] += 1;
    }
}

/// Walks the pieces of the chain that start at `starts`, [`WALKERS`] side
/// by side, each until the next start; returns where each piece ended. The
/// pieces are disjoint (a walker stops at any start), so this takes
/// `tt.len()` steps at most.
fn walk(tt: &[u32], starts: &[usize], pieces: &mut [Vec<u8>]) -> Vec<usize> {
    let len = tt.len();
    let mut ends = vec![0usize; starts.len()];
    let piece_capacity = 4 * len / starts.len() + 64;
    let begin = |pieces: &mut [Vec<u8>], k: usize| -> (u32, usize) {
        let piece = &mut pieces[k];
        piece.clear();
        piece.reserve(piece_capacity);
        let entry = tt[starts[k]];
        piece.push(entry as u8);
        (entry >> 8 & LINK_MASK, k)
    };
    // (position, piece) of the walkers going.
    let mut active: Vec<(u32, usize)> = (0..WALKERS.min(starts.len()))
        .map(|k| begin(pieces, k))
        .collect();
    let mut next_piece = active.len();
    while !active.is_empty() {
        let mut i = 0;
        while i < active.len() {
            let (pos, k) = active[i];
            // Links are always below `len`: they are row numbers.
            let entry = tt[pos as usize];
            if entry & START != 0 {
                ends[k] = pos as usize;
                if next_piece < starts.len() {
                    active[i] = begin(pieces, next_piece);
                    next_piece += 1;
                    i += 1;
                } else {
                    active.swap_remove(i);
                }
                continue;
            }
            pieces[k].push(entry as u8);
            active[i].0 = entry >> 8 & LINK_MASK;
            i += 1;
        }
    }
    ends
}

/// Undoes bzip2's first run-length encoding: four equal bytes are followed
/// by a count (0 to 255) of further copies.
fn expand_runs(text: &[u8], out: &mut Vec<u8>) -> Result<(), Corruption> {
    out.reserve(text.len());
    let mut i = 0;
    while let Some(run) = find_four_equal(&text[i..]) {
        let run = i + run;
        out.extend_from_slice(&text[i..run + 4]);
        let Some(&extra) = text.get(run + 4) else {
            return Err(Corruption::Invalid("a block ends before a run's count"));
        };
        out.resize(out.len() + usize::from(extra), text[run]);
        i = run + 5;
    }
    out.extend_from_slice(&text[i..]);
    Ok(())
}

/// Where the first four equal bytes in a row start in `text`.
fn find_four_equal(text: &[u8]) -> Option<usize> {
    // Eight starting positions at a time: byte t of `diff` is zero where
    // the four bytes from t are equal.
    let mut i = 0;
    while i + 11 <= text.len() {
        let at = |o: usize| u64::from_le_bytes(text[i + o..i + o + 8].try_into().expect("8 bytes"));
        let (a, b, c, d) = (at(0), at(1), at(2), at(3));
        let diff = (a ^ b) | (b ^ c) | (c ^ d);
        // The lowest zero byte of `diff` is found exactly (bits above it
        // may be flagged falsely, never below).
        let zero = diff.wrapping_sub(0x0101_0101_0101_0101) & !diff & 0x8080_8080_8080_8080;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    (i..text.len().saturating_sub(3)).find(|&j| {
        text[j] == text[j + 1] && text[j + 1] == text[j + 2] && text[j + 2] == text[j + 3]
    })
}
