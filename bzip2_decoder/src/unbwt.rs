//! A block's second half: the inverse Burrows-Wheeler transform, then the
//! initial run-length encoding undone.
//!
//! The inverse transform follows a chain of links through a block-sized
//! table, one dependent memory load per byte. libbzip2 walks it from one end
//! and waits on every load. Here the chain is cut at [`WALKERS`] places known
//! in advance (positions spread over the table, which lie at unknown but
//! distinct places along the chain), and the pieces are walked side by side,
//! so that their loads overlap; the pieces are then put back in chain order.

use crate::Corruption;

/// Pieces of the chain walked side by side.
const WALKERS: usize = 32;
/// Blocks shorter than this are walked in one piece.
const MIN_SPLIT_LEN: usize = 1 << 12;
/// Marks a table entry where a piece starts (links, below 900,000, use the
/// bits 8 to 27).
const START: u32 = 1 << 31;
/// The link part of a table entry, once shifted down by 8.
const LINK_MASK: u32 = (1 << 20) - 1;

/// Reusable buffers of the inverse transform.
#[derive(Default)]
pub(crate) struct Unbwt {
    pieces: Vec<Vec<u8>>,
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
        let mut starts = vec![first];
        if len >= MIN_SPLIT_LEN {
            starts.extend(
                (1..WALKERS)
                    .map(|k| k * len / WALKERS)
                    .filter(|&p| p != first),
            );
        }
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
        let mut order = Vec::with_capacity(starts.len());
        let mut at = first;
        loop {
            let k = starts
                .iter()
                .position(|&s| s == at)
                .expect("pieces end where others start");
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
        let mut runs = RunDecoder::default();
        out.reserve(len);
        let mut left = len;
        while left > 0 {
            for &k in &order {
                let piece = &self.pieces[k][..self.pieces[k].len().min(left)];
                runs.decode(piece, out);
                left -= piece.len();
            }
        }
        runs.finish()
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

/// Walks the pieces of the chain that start at `starts` side by side, each
/// until the next start; returns where each piece ended. The pieces are
/// disjoint (a walker stops at any start), so this takes `tt.len()` steps
/// at most.
fn walk(tt: &[u32], starts: &[usize], pieces: &mut [Vec<u8>]) -> Vec<usize> {
    let len = tt.len();
    let mut ends = vec![0usize; starts.len()];
    // (position, piece) of the walkers still going.
    let mut active: Vec<(u32, usize)> = Vec::with_capacity(starts.len());
    for (k, (&s, piece)) in starts.iter().zip(pieces.iter_mut()).enumerate() {
        piece.clear();
        piece.reserve(2 * len / starts.len() + 64);
        let entry = tt[s];
        piece.push(entry as u8);
        active.push((entry >> 8 & LINK_MASK, k));
    }
    while !active.is_empty() {
        let mut i = 0;
        while i < active.len() {
            let (pos, k) = active[i];
            // Links are always below `len`: they are row numbers.
            let entry = tt[pos as usize];
            if entry & START != 0 {
                ends[k] = pos as usize;
                active.swap_remove(i);
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
#[derive(Default)]
struct RunDecoder {
    last: u8,
    /// Equal bytes seen in a row (0 to 4); at 4 the next byte is a count.
    run: u8,
}

impl RunDecoder {
        fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.run == 4 {
                out.resize(out.len() + usize::from(b), self.last);
                self.run = 0;
                continue;
            }
            if self.run > 0 && b == self.last {
                self.run += 1;
            } else {
                self.last = b;
                self.run = 1;
            }
            out.push(b);
        }
    }

    fn finish(&self) -> Result<(), Corruption> {
        if self.run == 4 {
            return Err(Corruption::Invalid("a block ends before a run's count"));
        }
        Ok(())
    }
}
