//! A block's first half: its tables, then the Huffman-coded symbols undone
//! into the Burrows-Wheeler-transformed bytes (move-to-front and the
//! RUNA/RUNB run lengths reversed).

use crate::bits::BitReader;
use crate::huffman::{HuffmanTable, MAX_ALPHA_SIZE, MAX_CODE_LEN};
use crate::Corruption;

/// Symbols coded with one table before the next selector applies.
const GROUP_SIZE: u32 = 50;
/// The most coding tables a block has.
const MAX_TABLES: usize = 6;
/// Selectors beyond this many are read and ignored, as libbzip2 does.
const MAX_SELECTORS: usize = 2 + 900_000 / GROUP_SIZE as usize;

/// The reusable tables of block decoding.
pub(crate) struct BlockTables {
    tables: Vec<HuffmanTable>,
    selectors: Vec<u8>,
    lengths: Vec<u8>,
}

impl Default for BlockTables {
    fn default() -> Self {
        Self {
            tables: (0..MAX_TABLES).map(|_| HuffmanTable::default()).collect(),
            selectors: Vec::with_capacity(MAX_SELECTORS),
            lengths: Vec::with_capacity(MAX_ALPHA_SIZE),
        }
    }
}

/// A decoded block, ready for the inverse transform.
pub(crate) struct BwtBlock {
    /// Bytes in the block (its first `len` entries of `tt`).
    pub(crate) len: usize,
    /// The row of the original text in the sorted rotations.
    pub(crate) orig_ptr: usize,
    /// How many times each byte value occurs.
    pub(crate) byte_counts: [u32; 256],
}

impl BlockTables {
    /// Reads a block after its magic and CRC, writing its bytes into the low
    /// 8 bits of `tt[..len]` (at most `max_len` of them).
    pub(crate) fn read(
        &mut self,
        bits: &mut BitReader,
        tt: &mut [u32],
        max_len: usize,
    ) -> Result<BwtBlock, Corruption> {
        if bits.bit() {
            return Err(Corruption::Randomised);
        }
        let orig_ptr = bits.bits(24) as usize;
        if orig_ptr > max_len + 10 {
            return Err(Corruption::Invalid("origin pointer beyond the block size"));
        }
        let alphabet = read_symbol_map(bits)?;
        if alphabet.is_empty() {
            return Err(Corruption::Invalid("a block uses no byte values"));
        }
        let alpha_size = alphabet.len() + 2;
        let n_tables = bits.bits(3) as usize;
        if !(2..=MAX_TABLES).contains(&n_tables) {
            return Err(Corruption::Invalid("number of Huffman tables not in 2..=6"));
        }
        self.read_selectors(bits, n_tables)?;
        for t in 0..n_tables {
            self.read_code_lengths(bits, alpha_size)?;
            self.tables[t].build(&self.lengths);
        }
        let (len, byte_counts) = self.read_symbols(bits, &alphabet, tt, max_len)?;
        if orig_ptr >= len {
            return Err(Corruption::Invalid("origin pointer beyond the block's end"));
        }
        Ok(BwtBlock {
            len,
            orig_ptr,
            byte_counts,
        })
    }

    fn read_selectors(&mut self, bits: &mut BitReader, n_tables: usize) -> Result<(), Corruption> {
        let n_selectors = bits.bits(15) as usize;
        if n_selectors == 0 {
            return Err(Corruption::Invalid("a block has no selectors"));
        }
        let mut order: [u8; MAX_TABLES] = [0, 1, 2, 3, 4, 5];
        self.selectors.clear();
        for i in 0..n_selectors {
            let mut j = 0usize;
            while bits.bit() {
                j += 1;
                if j >= n_tables {
                    return Err(Corruption::Invalid("selector beyond the tables"));
                }
            }
            if i < MAX_SELECTORS {
                let table = order[j];
                order.copy_within(0..j, 1);
                order[0] = table;
                self.selectors.push(table);
            }
        }
        Ok(())
    }

    fn read_code_lengths(
        &mut self,
        bits: &mut BitReader,
        alpha_size: usize,
    ) -> Result<(), Corruption> {
        self.lengths.clear();
        let mut len = bits.bits(5);
        for _ in 0..alpha_size {
            loop {
                if !(1..=MAX_CODE_LEN).contains(&len) {
                    return Err(Corruption::Invalid("Huffman code length not in 1..=20"));
                }
                if !bits.bit() {
                    break;
                }
                if bits.bit() {
                    len -= 1;
                } else {
                    len += 1;
                }
            }
            self.lengths.push(len as u8);
        }
        Ok(())
    }

    /// The Huffman-coded symbols: move-to-front indexes and RUNA/RUNB runs
    /// of the front byte, up to the end-of-block symbol.
    fn read_symbols(
        &self,
        bits: &mut BitReader,
        alphabet: &[u8],
        tt: &mut [u32],
        max_len: usize,
    ) -> Result<(usize, [u32; 256]), Corruption> {
        let tt = &mut tt[..max_len];
        // The bit reader and the state below stay in registers this way.
        let mut local = bits.clone();
        let result = self.read_symbols_with(&mut local, alphabet, tt);
        *bits = local;
        result
    }

    #[inline(always)]
    fn read_symbols_with(
        &self,
        bits: &mut BitReader,
        alphabet: &[u8],
        tt: &mut [u32],
    ) -> Result<(usize, [u32; 256]), Corruption> {
        let max_len = tt.len();
        let end_of_block = alphabet.len() as u16 + 1;
        let mut mtf = MoveToFront::new(alphabet);
        let mut counts = [0u32; 256];
        let mut len = 0usize;
        let mut run = 0u32;
        let mut run_weight = 1u32;
        let mut selector = 0usize;
        let mut group_left = 0u32;
        let mut table = &self.tables[0];
        loop {
            if group_left == 0 {
                let Some(&t) = self.selectors.get(selector) else {
                    return Err(Corruption::Invalid("more symbol groups than selectors"));
                };
                table = &self.tables[usize::from(t)];
                selector += 1;
                group_left = GROUP_SIZE;
            }
            group_left -= 1;
            if bits.available() < MAX_CODE_LEN {
                bits.refill();
            }
            let Some(symbol) = table.decode(bits) else {
                return Err(Corruption::Invalid("a bit pattern that is no Huffman code"));
            };
            if symbol <= 1 {
                // RUNA adds 1 × weight, RUNB 2 × weight; weights double.
                if run_weight >= 1 << 21 {
                    return Err(Corruption::Invalid("run of the front byte too long"));
                }
                run += (u32::from(symbol) + 1) * run_weight;
                run_weight <<= 1;
                continue;
            }
            if run > 0 {
                let end = len + run as usize;
                if end > max_len {
                    return Err(Corruption::Invalid("block longer than its declared size"));
                }
                let byte = mtf.front();
                tt[len..end].fill(u32::from(byte));
                counts[usize::from(byte)] += run;
                len = end;
                run = 0;
                run_weight = 1;
            }
            if symbol == end_of_block {
                break;
            }
            let byte = mtf.take(usize::from(symbol - 1));
            if len >= max_len {
                return Err(Corruption::Invalid("block longer than its declared size"));
            }
            tt[len] = u32::from(byte);
            counts[usize::from(byte)] += 1;
            len += 1;
        }
        Ok((len, counts))
    }
}

/// The move-to-front list of byte values.
struct MoveToFront {
    list: [u8; 256],
}

impl MoveToFront {
    fn new(alphabet: &[u8]) -> Self {
        let mut list = [0u8; 256];
        list[..alphabet.len()].copy_from_slice(alphabet);
        Self { list }
    }

    #[inline(always)]
    fn front(&self) -> u8 {
        self.list[0]
    }

    /// Returns the byte at `index` and moves it to the front.
    #[inline(always)]
    fn take(&mut self, index: usize) -> u8 {
        let byte = self.list[index];
        if index < 16 {
            // The first 16 entries as one 128-bit word (entry k in byte k):
            // entries 0..index move up one place, the taken byte goes first.
            let head = u128::from_le_bytes(self.list[..16].try_into().expect("16 bytes"));
            let moved = (u128::MAX >> (8 * (15 - index))) & !0xff;
            let head = (head << 8 & moved) | (head & !moved & !0xff) | u128::from(byte);
            self.list[..16].copy_from_slice(&head.to_le_bytes());
        } else {
            self.list.copy_within(0..index, 1);
            self.list[0] = byte;
        }
        byte
    }
}

/// The byte values a block uses, in order: 16 bits saying which ranges of 16
/// are used, then 16 bits for each used range.
fn read_symbol_map(bits: &mut BitReader) -> Result<Vec<u8>, Corruption> {
    let ranges = bits.bits(16);
    let mut alphabet = Vec::with_capacity(256);
    for range in 0..16u32 {
        if ranges & (0x8000 >> range) != 0 {
            let used = bits.bits(16);
            for j in 0..16u32 {
                if used & (0x8000 >> j) != 0 {
                    alphabet.push((range * 16 + j) as u8);
                }
            }
        }
    }
    Ok(alphabet)
}
