//! Reading bzip2's most-significant-bit-first bit stream.

/// A bit reader over a byte slice. Bits past the end read as zeros;
/// [`BitReader::overrun`] tells whether any were consumed. It is `Clone` so
/// that a hot loop can work on a copy held in registers.
#[derive(Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// The next byte of `data` to load.
    pos: usize,
    /// Buffered bits, the next one in the most significant position.
    buf: u64,
    /// How many bits of `buf` are valid.
    count: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            buf: 0,
            count: 0,
        }
    }

    /// A reader whose next bit is bit `bit` of `data` (most significant bit
    /// of byte 0 first).
    pub(crate) fn at(data: &'a [u8], bit: u64) -> Self {
        let mut reader = Self::new(data);
        reader.pos = (bit / 8) as usize;
        let skip = (bit % 8) as u32;
        if skip > 0 {
            reader.bits(skip);
        }
        reader
    }

    /// Tops the buffer up to at least 56 bits.
    #[inline(always)]
    pub(crate) fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.pos..self.pos + 8) {
            let word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
            self.buf |= word >> self.count;
            self.pos += ((63 - self.count) >> 3) as usize;
            self.count |= 56;
        } else {
            self.refill_near_end();
        }
    }

    #[cold]
    fn refill_near_end(&mut self) {
        while self.count <= 56 {
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.pos += 1;
            self.buf |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    /// How many bits are buffered.
    #[inline(always)]
    pub(crate) fn available(&self) -> u32 {
        self.count
    }

    /// The next `n` bits (1 to 32) without consuming them; needs `n`
    /// buffered bits.
    #[inline(always)]
    pub(crate) fn peek(&self, n: u32) -> u32 {
        (self.buf >> (64 - n)) as u32
    }

    /// Drops `n` buffered bits.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    /// Reads `n` bits (1 to 32).
    #[inline]
    pub(crate) fn bits(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        let v = self.peek(n);
        self.consume(n);
        v
    }

    /// Reads one bit.
    #[inline]
    pub(crate) fn bit(&mut self) -> bool {
        self.bits(1) == 1
    }

    /// Bits consumed so far.
    pub(crate) fn consumed_bits(&self) -> u64 {
        self.pos as u64 * 8 - u64::from(self.count)
    }

    /// Whether more bits were consumed than the input holds.
    #[inline]
    pub(crate) fn overrun(&self) -> bool {
        self.consumed_bits() > self.data.len() as u64 * 8
    }

    /// Skips to the next byte boundary.
    pub(crate) fn align_to_byte(&mut self) {
        let partial = (self.consumed_bits() % 8) as u32;
        if partial != 0 {
            self.bits(8 - partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bits_most_significant_first_across_refills() {
        let data: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        let mut r = BitReader::new(&data);
        let mut bits = Vec::new();
        let widths = [1, 3, 7, 13, 24, 32, 5, 2, 17, 9];
        let mut total = 0;
        let mut i = 0;
        while total + widths[i % widths.len()] <= data.len() * 8 {
            let w = widths[i % widths.len()];
            let v = r.bits(w as u32);
            for b in (0..w).rev() {
                bits.push((v >> b) & 1 == 1);
            }
            total += w;
            i += 1;
        }
        let expected: Vec<bool> = data
            .iter()
            .flat_map(|&byte| (0..8).rev().map(move |b| (byte >> b) & 1 == 1))
            .take(total)
            .collect();
        assert_eq!(bits, expected);
        assert!(!r.overrun());
        r.bits(32);
        assert!(r.overrun());
    }
}
