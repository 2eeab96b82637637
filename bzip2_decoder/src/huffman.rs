//! bzip2's canonical Huffman codes, decoded through a lookup table.

use crate::bits::BitReader;

/// The longest code bzip2 allows.
pub(crate) const MAX_CODE_LEN: u32 = 20;
/// Codes up to this long are decoded with one table lookup.
const TABLE_BITS: u32 = 10;
/// The most symbols an alphabet has (256 byte values, RUNA/RUNB, end of block).
pub(crate) const MAX_ALPHA_SIZE: usize = 258;

/// One coding table of a block.
pub(crate) struct HuffmanTable {
    /// Indexed by the next `TABLE_BITS` bits: `symbol << 5 | length`, or 0
    /// where the code is longer (or no code).
    lookup: [u16; 1 << TABLE_BITS],
    /// First code of each length.
    first_code: [i64; MAX_CODE_LEN as usize + 1],
    /// Last code of each length.
    last_code: [i64; MAX_CODE_LEN as usize + 1],
    /// Where each length's symbols start in `symbols`.
    offset: [i64; MAX_CODE_LEN as usize + 1],
    /// Symbols ordered by (code length, symbol).
    symbols: Vec<u16>,
    min_len: u32,
    max_len: u32,
}

impl Default for HuffmanTable {
    fn default() -> Self {
        Self {
            lookup: [0; 1 << TABLE_BITS],
            first_code: [0; MAX_CODE_LEN as usize + 1],
            last_code: [0; MAX_CODE_LEN as usize + 1],
            offset: [0; MAX_CODE_LEN as usize + 1],
            symbols: Vec::with_capacity(MAX_ALPHA_SIZE),
            min_len: 0,
            max_len: 0,
        }
    }
}

impl HuffmanTable {
    /// Rebuilds the table for the code lengths (1 to 20) of an alphabet.
    ///
    /// Codes are assigned as bzip2 does, in order of length, then symbol, and
    /// read as libbzip2 reads them: length by length from the shortest, the
    /// first length at which the bits read are at most that length's last
    /// code wins. For a proper prefix code that is plain canonical decoding;
    /// for a damaged, oversubscribed one it is what libbzip2 makes of it.
    pub(crate) fn build(&mut self, lengths: &[u8]) {
        let mut count = [0i64; MAX_CODE_LEN as usize + 1];
        for &len in lengths {
            count[usize::from(len)] += 1;
        }
        let used = || (1..=MAX_CODE_LEN).filter(|&l| count[l as usize] > 0);
        self.min_len = used().next().unwrap_or(1);
        self.max_len = used().next_back().unwrap_or(0);
        let mut code = 0i64;
        let mut offset = 0i64;
        for len in self.min_len..=self.max_len {
            let l = len as usize;
            self.first_code[l] = code;
            self.last_code[l] = code + count[l] - 1;
            self.offset[l] = offset;
            offset += count[l];
            code = (code + count[l]) << 1;
        }
        self.symbols.clear();
        for len in 1..=MAX_CODE_LEN as u8 {
            self.symbols.extend(
                lengths
                    .iter()
                    .enumerate()
                    .filter(|&(_, &l)| l == len)
                    .map(|(s, _)| s as u16),
            );
        }
        for prefix in 0..1u32 << TABLE_BITS {
            let window = prefix << (MAX_CODE_LEN - TABLE_BITS);
            self.lookup[prefix as usize] = match self.resolve(window, TABLE_BITS) {
                Some((symbol, len)) => symbol << 5 | len as u16,
                None => 0,
            };
        }
    }

    /// The symbol and code length at the start of `window` (the next 20
    /// bits), trying lengths up to `up_to`.
    fn resolve(&self, window: u32, up_to: u32) -> Option<(u16, u32)> {
        for len in self.min_len..=self.max_len.min(up_to) {
            let l = len as usize;
            let code = i64::from(window >> (MAX_CODE_LEN - len));
            if code <= self.last_code[l] {
                let index = self.offset[l] + code - self.first_code[l];
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| self.symbols.get(i))?;
                return Some((*symbol, len));
            }
        }
        None
    }

    /// Decodes one symbol; needs at least [`MAX_CODE_LEN`] buffered bits.
    /// `None` for a bit pattern that is no code.
    #[inline(always)]
    pub(crate) fn decode(&self, bits: &mut BitReader) -> Option<u16> {
        let entry = self.lookup[bits.peek(TABLE_BITS) as usize];
        if entry != 0 {
            bits.consume(u32::from(entry & 31));
            return Some(entry >> 5);
        }
        self.decode_long(bits)
    }

    #[cold]
    fn decode_long(&self, bits: &mut BitReader) -> Option<u16> {
        let (symbol, len) = self.resolve(bits.peek(MAX_CODE_LEN), MAX_CODE_LEN)?;
        bits.consume(len);
        Some(symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(lengths: &[u8], symbols: &[u16]) -> Vec<u8> {
        // Canonical codes, assigned the way bzip2's encoder does.
        let mut codes = vec![0u32; lengths.len()];
        let mut code = 0u32;
        for len in 1..=20u8 {
            for (s, &l) in lengths.iter().enumerate() {
                if l == len {
                    codes[s] = code;
                    code += 1;
                }
            }
            code <<= 1;
        }
        let mut out = Vec::new();
        let (mut acc, mut n) = (0u64, 0u32);
        for &s in symbols {
            let len = u32::from(lengths[s as usize]);
            acc = acc << len | u64::from(codes[s as usize]);
            n += len;
            while n >= 8 {
                out.push((acc >> (n - 8)) as u8);
                n -= 8;
            }
        }
        if n > 0 {
            out.push((acc << (8 - n)) as u8);
        }
        out.extend_from_slice(&[0; 8]);
        out
    }

    #[test]
    fn decodes_short_and_long_codes() {
        // A complete code with lengths 1 to 19, plus one more of 19.
        let mut lengths: Vec<u8> = (1..=19).collect();
        lengths.push(19);
        let mut table = HuffmanTable::default();
        table.build(&lengths);
        let symbols: Vec<u16> = (0..lengths.len() as u16).rev().chain(0..20).collect();
        let data = encode(&lengths, &symbols);
        let mut bits = BitReader::new(&data);
        for &s in &symbols {
            bits.refill();
            assert_eq!(table.decode(&mut bits), Some(s));
        }
    }

    #[test]
    fn damaged_codes_read_as_libbzip2_reads_them() {
        let mut table = HuffmanTable::default();
        let data = [0x5f; 16]; // 0101 1111 ...
                               // Oversubscribed: three 1-bit codes; "0" and "1" are symbols 0 and 1.
        table.build(&[1, 1, 1]);
        let mut bits = BitReader::new(&data);
        bits.refill();
        assert_eq!(table.decode(&mut bits), Some(0));
        assert_eq!(table.decode(&mut bits), Some(1));
        // Incomplete: only "0" is a code; "1..." is none.
        table.build(&[1]);
        let mut bits = BitReader::new(&data);
        bits.refill();
        assert_eq!(table.decode(&mut bits), Some(0));
        assert_eq!(table.decode(&mut bits), None);
    }
}
