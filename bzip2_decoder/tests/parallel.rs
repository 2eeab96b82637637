//! The parallel reader: one stream of many blocks or many streams, decoded
//! on several threads, gives libbzip2's bytes; cut or damaged files give
//! the fault and where it is.

use std::io::{self, Read, Write};

use bzip2_decoder::{DecodeError, Decoder, ParallelReader, PositionedError};

fn compress(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn text(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            format!("{i} {}: words and more words; ", (i * 7919 + seed) % 1013).into_bytes()
        })
        .collect()
}

/// A source that hands out a few bytes per read.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn read_all(input: impl Read, threads: usize) -> Result<Vec<u8>, PositionedError> {
    let mut out = Vec::new();
    match ParallelReader::new(input, threads)
        .unwrap()
        .read_to_end(&mut out)
    {
        Ok(_) => Ok(out),
        Err(e) => {
            let inner = e.into_inner().expect("a positioned fault");
            Err(*inner
                .downcast::<PositionedError>()
                .expect("a positioned fault"))
        }
    }
}

#[test]
fn one_stream_of_many_blocks() {
    let data = text(60_000, 1); // about 2 MB: 20 blocks at level 1
    let input = compress(&data, 1);
    for threads in [1, 2, 5] {
        assert!(
            read_all(&input[..], threads).unwrap() == data,
            "{threads} threads"
        );
    }
    // Compressed bytes arriving 777 at a time.
    assert!(read_all(Trickle(&input, 777), 3).unwrap() == data);
}

#[test]
fn many_streams_of_every_level() {
    let parts: Vec<Vec<u8>> = (0..24).map(|i| text(i * 700, i)).collect();
    let input: Vec<u8> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| compress(p, 1 + i as u32 % 9))
        .collect();
    for threads in [1, 4] {
        assert!(
            read_all(&input[..], threads).unwrap() == parts.concat(),
            "{threads} threads"
        );
    }
}

#[test]
fn cuts_are_truncation_faults_unless_between_streams() {
    let first = compress(&text(4000, 2), 1);
    let second = compress(&text(300, 3), 1);
    let input = [&first[..], &second[..]].concat();
    for cut in (1..input.len())
        .step_by(7)
        .chain([first.len() - 1, first.len() + 1])
    {
        let result = read_all(&input[..cut], 2);
        if cut == first.len() {
            assert!(result.is_ok());
            continue;
        }
        let fault = result.expect_err("a cut file fails");
        assert_eq!(fault.error, DecodeError::Truncated, "cut at {cut}");
        let stream = if cut < first.len() {
            0
        } else {
            first.len() as u64
        };
        assert_eq!(fault.offset, stream, "cut at {cut}");
    }
}

#[test]
fn bytes_after_the_last_stream_are_a_fault_at_their_offset() {
    let input = [compress(b"one stream", 9), b"trailing junk".to_vec()].concat();
    let fault = read_all(&input[..], 2).unwrap_err();
    assert_eq!(fault.error, DecodeError::NotBzip2);
    assert_eq!(fault.offset, input.len() as u64 - 13);
}

#[test]
fn flipped_bits_fail_exactly_where_the_one_stream_decoder_fails() {
    let data = text(5000, 4);
    let input = [compress(&data[..60_000], 1), compress(&data[60_000..], 1)].concat();
    let mut decoder = Decoder::new();
    for bit in (0..input.len() * 8).step_by(input.len() * 8 / 400) {
        let mut damaged = input.clone();
        damaged[bit / 8] ^= 0x80 >> (bit % 8);
        let mut expected = Vec::new();
        let sequential = decoder.decode_streams(&damaged, &mut expected);
        match (read_all(&damaged[..], 3), sequential) {
            (Ok(out), Ok(())) => assert!(out == expected, "bit {bit}"),
            (Err(fault), Err((offset, error))) => {
                assert_eq!(
                    (fault.offset, &fault.error),
                    (offset as u64, &error),
                    "bit {bit}"
                );
            }
            (parallel, sequential) => {
                panic!(
                    "bit {bit}: parallel {:?}, sequential {sequential:?}",
                    parallel.map(|o| o.len())
                )
            }
        }
    }
}

/// A stream whose first block's code lengths go up and down for ever.
struct EndlessBlock {
    head: Vec<u8>,
    sent: usize,
}

impl EndlessBlock {
    fn new() -> Self {
        // Bits after "BZh9": block magic, CRC, not randomised, origin 0,
        // byte values 0..16 used, 2 tables, 1 selector (table 0), first
        // length 5, then "+1 -1" (bits 10 11) without end, as 0xbb bytes.
        let mut bits = String::new();
        let mut put = |value: u64, width: u32| {
            for k in (0..width).rev() {
                bits.push(if value >> k & 1 == 1 { '1' } else { '0' });
            }
        };
        put(0x3141_5926_5359, 48);
        put(0, 32);
        put(0, 1);
        put(0, 24);
        put(0x8000, 16);
        put(0xffff, 16);
        put(2, 3);
        put(1, 15);
        put(0, 1);
        put(5, 5);
        // Symbols 0 to 2 get length 5; then symbol 3's length moves.
        put(0, 3);
        assert_eq!(bits.len() % 4, 0);
        while !bits.len().is_multiple_of(8) {
            bits.push_str("1011");
        }
        let mut head = b"BZh9".to_vec();
        head.extend(
            bits.as_bytes()
                .chunks(8)
                .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 2).unwrap()),
        );
        Self { head, sent: 0 }
    }
}

impl Read for EndlessBlock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for (i, b) in buf.iter_mut().enumerate() {
            let at = self.sent + i;
            *b = self.head.get(at).copied().unwrap_or(0xbb); // 1011 1011
        }
        self.sent += buf.len();
        Ok(buf.len())
    }
}

#[test]
fn a_block_that_never_ends_is_a_fault_not_an_endless_read() {
    let fault = read_all(EndlessBlock::new(), 2).unwrap_err();
    assert!(
        matches!(fault.error, DecodeError::Corrupt { .. }),
        "{fault}"
    );
    assert!(fault.to_string().contains("16 MB"), "{fault}");
}
