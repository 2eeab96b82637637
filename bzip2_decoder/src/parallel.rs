//! Decoding a `.bz2` file's blocks on several threads, in order.
//!
//! Blocks are not byte-aligned, and where one ends is known only once it is
//! decoded. So, as lbzip2 does, the compressed bytes are searched for the
//! 48-bit block magic at every bit offset; a batch of blocks starting there
//! is decoded in parallel; and the chain is then followed from the first:
//! each block ends where the next one (or the stream's end) starts. A magic
//! found by chance inside a block's data (about once in 2^48 bits) gives a
//! "block" that is off the chain, and is dropped. This works alike for one
//! stream of many blocks and for many streams (Wikipedia's multistream
//! dumps), and checks every block's and every stream's CRC.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};

use rayon::prelude::*;

use crate::bits::BitReader;
use crate::{stream_end, stream_level, Block, DecodeError, Decoder, MAX_BLOCK_LEN};

/// Compressed bytes read at a time.
const READ_BYTES: usize = 4 << 20;
/// Compressed bytes first searched for block magics after the head.
const SEARCH_SPAN: usize = 1 << 20;
/// Compressed bytes held, at most, to find blocks for a batch.
const MAX_WINDOW: usize = 64 << 20;
/// A block's compressed bytes, at most: far above what any encoder writes
/// (about 1.1 MB for a level-9 block of random bytes), and a bound on what
/// is read ahead for a damaged block that never ends.
const MAX_BLOCK_BYTES: usize = 16 << 20;

thread_local! {
    /// Each decoding thread's decoder, whose block-sized buffers are reused.
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

/// A fault in a `.bz2` file, with where it is.
#[derive(Debug, thiserror::Error)]
#[error("in the stream starting at compressed byte {offset}: {error}")]
pub struct PositionedError {
    /// Byte offset in the file of the faulty stream's header (of the byte
    /// where a stream header was expected, for a missing one).
    pub offset: u64,
    /// What is wrong.
    pub error: DecodeError,
}

/// What the chain expects next.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A stream header (`BZh1`..`BZh9`), or the end of the file.
    Header,
    /// A block or the end of the stream.
    Block { max_len: usize, crc: u32 },
}

/// Where the chain's head stands after the markers that need no decoding.
enum Head {
    /// A block (or what must be one) starts at the head.
    Block,
    /// More compressed bytes are needed to go on.
    NeedData,
    /// The file ended after a whole stream.
    Finished,
}

/// A reader of the decoded bytes of a bzip2 file (one or many streams),
/// whose blocks are decoded on a pool of threads, in order.
///
/// Errors are [`io::Error`]s wrapping a [`PositionedError`].
pub struct ParallelReader<R> {
    src: R,
    eof: bool,
    pool: rayon::ThreadPool,
    /// Blocks decoded per batch.
    batch: usize,
    /// Compressed bytes; `buf[0]` is at file offset `buf_offset`.
    buf: Vec<u8>,
    buf_offset: u64,
    /// The chain's head, in bits from `buf[0]`.
    head: u64,
    expect: Expect,
    /// File offset of the current stream's header.
    stream_offset: u64,
    ready: VecDeque<Vec<u8>>,
    current: io::Cursor<Vec<u8>>,
    /// Buffers of blocks already read, reused: fresh memory costs more than
    /// decoding into it.
    spare: Vec<Vec<u8>>,
    /// Where blocks may start ([`block_magics`]; tests add false starts).
    find_starts: fn(&[u8], u64) -> Vec<u64>,
}

impl<R: Read> ParallelReader<R> {
    /// A reader of `src`, which starts with a stream header, decoding on
    /// `threads` threads.
    pub fn new(src: R, threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("bz2-{i}"))
            .build()
            .map_err(io::Error::other)?;
        Ok(Self {
            src,
            eof: false,
            pool,
            batch: 2 * threads,
            buf: Vec::new(),
            buf_offset: 0,
            head: 0,
            expect: Expect::Header,
            stream_offset: 0,
            ready: VecDeque::new(),
            current: io::Cursor::new(Vec::new()),
            spare: Vec::new(),
            find_starts: block_magics,
        })
    }

    fn fault(&self, offset: u64, error: DecodeError) -> io::Error {
        io::Error::other(PositionedError { offset, error })
    }

    /// A fault of the current stream; `Corrupt`'s bit, counted from
    /// `buf[0]`, becomes counted from the stream's start.
    fn stream_fault(&self, error: DecodeError) -> io::Error {
        let error = match error {
            DecodeError::Corrupt { bit, reason } => DecodeError::Corrupt {
                bit: self.buf_offset * 8 + bit - self.stream_offset * 8,
                reason,
            },
            other => other,
        };
        self.fault(self.stream_offset, error)
    }

    /// Reads more compressed bytes (none at the end of the file).
    fn read_more(&mut self) -> io::Result<()> {
        // Drop what the chain has passed.
        let passed = (self.head / 8) as usize;
        self.buf.drain(..passed);
        self.buf_offset += passed as u64;
        self.head -= passed as u64 * 8;
        let old = self.buf.len();
        self.buf.resize(old + READ_BYTES, 0);
        let mut n = 0;
        while old + n < self.buf.len() {
            match self.src.read(&mut self.buf[old + n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(old + n);
        if n == 0 {
            self.eof = true;
        }
        Ok(())
    }

    /// Moves the head over stream headers and stream ends.
    fn advance_markers(&mut self) -> io::Result<Head> {
        loop {
            match self.expect {
                Expect::Header => {
                    let byte = (self.head / 8) as usize;
                    let offset = self.buf_offset + byte as u64;
                    match stream_level(&self.buf[byte..]) {
                        Ok(level) => {
                            self.expect = Expect::Block {
                                max_len: level * 100_000,
                                crc: 0,
                            };
                            self.stream_offset = offset;
                            self.head += 32;
                        }
                        Err(_) if byte == self.buf.len() && self.eof => return Ok(Head::Finished),
                        Err(DecodeError::Truncated) if !self.eof => return Ok(Head::NeedData),
                        Err(e) => return Err(self.fault(offset, e)),
                    }
                }
                Expect::Block { crc, .. } => match stream_end(&self.buf, self.head) {
                    Ok(None) => return Ok(Head::Block),
                    Ok(Some(end)) => {
                        if end.crc != crc {
                            return Err(self.stream_fault(DecodeError::Corrupt {
                                bit: self.head + 80,
                                reason: "stream CRC mismatch",
                            }));
                        }
                        self.head = end.next_byte as u64 * 8;
                        self.expect = Expect::Header;
                    }
                    Err(_) if !self.eof => return Ok(Head::NeedData),
                    Err(e) => return Err(self.stream_fault(e)),
                },
            }
        }
    }

    /// The first `want` block magics after the head. The window is searched
    /// from the head on, over a span that doubles until enough are found,
    /// so that a batch costs a search of about its own bytes, not of the
    /// whole window.
    fn next_starts(&self, want: usize) -> Vec<u64> {
        let from = (self.head / 8) as usize;
        let mut span = SEARCH_SPAN;
        loop {
            let end = from.saturating_add(span).min(self.buf.len());
            let mut found = (self.find_starts)(&self.buf[..end], self.head + 1);
            if found.len() >= want || end == self.buf.len() {
                found.truncate(want);
                return found;
            }
            span *= 2;
        }
    }

    /// Decodes the next batch of blocks into `ready`; false at the end.
    fn refill(&mut self) -> io::Result<bool> {
        loop {
            match self.advance_markers()? {
                Head::Finished => return Ok(false),
                Head::NeedData => {
                    self.read_more()?;
                    continue;
                }
                Head::Block => {}
            }
            // The head, and the block magics after it.
            let mut starts = vec![self.head];
            starts.extend(self.next_starts(self.batch - 1));
            let window = self.buf.len() - (self.head / 8) as usize;
            if starts.len() < self.batch && !self.eof && window < MAX_WINDOW {
                self.read_more()?;
                continue;
            }
            let buffers: Vec<Vec<u8>> = starts
                .iter()
                .map(|_| self.spare.pop().unwrap_or_default())
                .collect();
            let buf = &self.buf;
            let decoded: Vec<Result<(Block, Vec<u8>), DecodeError>> = self.pool.install(|| {
                starts
                    .par_iter()
                    .zip(buffers)
                    .map(|(&start, mut out)| {
                        out.clear();
                        DECODER
                            .with_borrow_mut(|d| {
                                d.decode_block(buf, start, MAX_BLOCK_LEN, &mut out)
                            })
                            .map(|block| (block, out))
                    })
                    .collect()
            });
            let mut decoded: Vec<Option<_>> = decoded.into_iter().map(Some).collect();
            // Follow the chain through the batch.
            let mut progressed = false;
            let stop = loop {
                match self.advance_markers()? {
                    Head::Block => {}
                    stop => break stop,
                }
                let Ok(i) = starts.binary_search(&self.head) else {
                    // Beyond this batch (the head was its first block).
                    break Head::Block;
                };
                let Expect::Block { max_len, crc } = self.expect else {
                    unreachable!("advance_markers stops at a block only when one is expected");
                };
                match decoded[i].take().expect("the chain passes each block once") {
                    Ok((block, out)) if block.len <= max_len => {
                        self.expect = Expect::Block {
                            max_len,
                            crc: crc.rotate_left(1) ^ block.crc,
                        };
                        self.head = block.end_bit;
                        self.ready.push_back(out);
                        progressed = true;
                    }
                    Ok(_) => {
                        return Err(self.stream_fault(DecodeError::Corrupt {
                            bit: self.head,
                            reason: "block longer than its declared size",
                        }));
                    }
                    Err(DecodeError::Truncated) if !self.eof => break Head::NeedData,
                    Err(e) => return Err(self.stream_fault(e)),
                }
            };
            // Blocks off the chain, or not reached yet, are decoded again later.
            self.spare.extend(
                decoded
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.ok())
                    .map(|(_, out)| out),
            );
            match stop {
                _ if progressed => return Ok(true),
                Head::Finished => return Ok(false),
                Head::NeedData => {
                    let window = self.buf.len() - (self.head / 8) as usize;
                    if window > MAX_BLOCK_BYTES {
                        return Err(self.stream_fault(DecodeError::Corrupt {
                            bit: self.head,
                            reason: "a block runs on past 16 MB of compressed data",
                        }));
                    }
                    self.read_more()?;
                }
                Head::Block => unreachable!("the batch starts at the head, so the chain advanced"),
            }
        }
    }
}

impl<R: Read> Read for ParallelReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.current.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            if let Some(next) = self.ready.pop_front() {
                let done = std::mem::replace(&mut self.current, io::Cursor::new(next));
                self.spare.push(done.into_inner());
                continue;
            }
            // After the end, the head stays there: refill says so again.
            if !self.refill()? {
                return Ok(0);
            }
        }
    }
}

/// The bit positions, from `from_bit` on and in order, where the 48-bit
/// block magic 0x314159265359 lies in `buf`, at any bit offset.
fn block_magics(buf: &[u8], from_bit: u64) -> Vec<u64> {
    const MAGIC: u64 = 0x3141_5926_5359;
    let from_byte = (from_bit / 8) as usize;
    let mut found = Vec::new();
    for shift in 0..8u32 {
        // With the magic starting `shift` bits into a byte, the five bytes
        // after that byte hold nothing else.
        let word = (MAGIC << (16 - shift)).to_be_bytes();
        let needle = &word[1..6];
        let from = from_byte.max(1);
        if from >= buf.len() {
            break;
        }
        for j in memchr::memmem::find_iter(&buf[from..], needle) {
            let bit = (from + j - 1) as u64 * 8 + u64::from(shift);
            if bit >= from_bit && magic_at(buf, bit, MAGIC) {
                found.push(bit);
            }
        }
    }
    found.sort_unstable();
    found
}

fn magic_at(buf: &[u8], bit: u64, magic: u64) -> bool {
    let mut bits = BitReader::at(buf, bit);
    let value = u64::from(bits.bits(24)) << 24 | u64::from(bits.bits(24));
    !bits.overrun() && value == magic
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn compress(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("{i}: a line of text, {} ", i * 7919 % 1000).into_bytes())
            .collect()
    }

    #[test]
    fn magics_are_found_at_every_bit_offset() {
        for shift in 0..8 {
            for at in [0usize, 1, 13] {
                let mut buf = vec![0x5au8; 40];
                let bit = (at * 8 + shift) as u64;
                // Write the 48 magic bits from `bit` on.
                for k in 0..48u64 {
                    let value = (0x3141_5926_5359u64 >> (47 - k)) & 1;
                    let b = (bit + k) as usize;
                    buf[b / 8] = buf[b / 8] & !(0x80 >> (b % 8)) | ((value as u8) << (7 - b % 8));
                }
                assert_eq!(block_magics(&buf, 0), vec![bit], "shift {shift}, byte {at}");
                assert_eq!(block_magics(&buf, bit + 1), Vec::<u64>::new());
            }
        }
    }

    /// Every byte-aligned position and every tenth bit: a flood of false
    /// block starts, which must change nothing.
    fn with_false_starts(buf: &[u8], from_bit: u64) -> Vec<u64> {
        let mut starts = block_magics(buf, from_bit);
        starts.extend((from_bit..buf.len() as u64 * 8).filter(|b| b % 8 == 0 || b % 10 == 3));
        starts.sort_unstable();
        starts.dedup();
        starts
    }

    #[test]
    fn false_block_starts_are_dropped() {
        let first = text(10_000);
        let second = text(500);
        let input = [compress(&first, 1), compress(&second, 9)].concat();
        for threads in [1, 3] {
            let mut reader = ParallelReader::new(&input[..], threads).unwrap();
            reader.find_starts = with_false_starts;
            let mut out = Vec::new();
            reader.read_to_end(&mut out).unwrap();
            assert!(
                out == [&first[..], &second[..]].concat(),
                "{threads} threads"
            );
        }
    }
}
