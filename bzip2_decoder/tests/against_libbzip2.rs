//! The decoder against libbzip2: whatever libbzip2's encoder writes decodes
//! to the original bytes; cut or damaged input is an error, never a panic or
//! a wrong result.

use std::io::{Read, Write};
use std::path::PathBuf;

use bzip2_decoder::{DecodeError, Decoder};
use proptest::prelude::*;

fn compress(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn decode(input: &[u8]) -> Result<(usize, Vec<u8>), DecodeError> {
    let mut out = Vec::new();
    let used = Decoder::new().decode_stream(input, &mut out)?;
    Ok((used, out))
}

fn sample(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/wikipedia")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Bytes with runs of every length around bzip2's run-length limits (4
/// equal bytes, then a count of up to 255 more).
fn runs() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        (
            any::<u8>(),
            prop_oneof![1usize..8, 250usize..262, 0usize..600],
        ),
        0..60,
    )
    .prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(b, n)| std::iter::repeat_n(b, n))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_round_trip(data in prop::collection::vec(any::<u8>(), 0..5000), level in 1u32..=9) {
        let compressed = compress(&data, level);
        prop_assert_eq!(decode(&compressed), Ok((compressed.len(), data)));
    }

    #[test]
    fn runs_round_trip(data in runs(), level in 1u32..=9) {
        let compressed = compress(&data, level);
        prop_assert_eq!(decode(&compressed), Ok((compressed.len(), data)));
    }

    #[test]
    fn few_byte_values_round_trip(data in prop::collection::vec(0u8..3, 0..20_000)) {
        let compressed = compress(&data, 1);
        prop_assert_eq!(decode(&compressed), Ok((compressed.len(), data)));
    }
}

#[test]
fn empty_input_and_single_bytes() {
    // Repeating texts ("aa", "abab...") are several cycles of the inverse
    // transform rather than one.
    for data in [
        &b""[..],
        b"a",
        b"aa",
        b"aaaa",
        b"aaaaa",
        b"abababab",
        &[0u8; 1][..],
        &[255u8; 4][..],
    ] {
        let compressed = compress(data, 9);
        assert_eq!(decode(&compressed), Ok((compressed.len(), data.to_vec())));
    }
}

#[test]
fn real_wikipedia_dumps_decode_as_libbzip2_decodes_them() {
    for name in [
        "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        "bgwiki-latest-pages-articles-shortened.xml.bz2",
    ] {
        let compressed = sample(name);
        let mut expected = Vec::new();
        bzip2::read::MultiBzDecoder::new(&compressed[..])
            .read_to_end(&mut expected)
            .unwrap();
        let mut out = Vec::new();
        Decoder::new()
            .decode_streams(&compressed, &mut out)
            .unwrap();
        assert!(out == expected, "{name}: output differs from libbzip2's");
    }
}

#[test]
fn many_blocks_and_long_runs() {
    let text = sample("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
    // Compressed bytes are as good as random; then text-like runs.
    let mut data = text.repeat(3);
    data.extend(std::iter::repeat_n(b'=', 1_000_000));
    data.extend_from_slice(&text);
    for level in [1, 9] {
        let compressed = compress(&data, level);
        assert_eq!(
            decode(&compressed),
            Ok((compressed.len(), data.clone())),
            "level {level}"
        );
    }
}

#[test]
fn multistream_input_decodes_stream_after_stream() {
    let parts: Vec<Vec<u8>> = (0..5)
        .map(|i| format!("<page>{i}</page>\n").repeat(i * 300).into_bytes())
        .collect();
    let input: Vec<u8> = parts.iter().flat_map(|p| compress(p, 9)).collect();
    let mut out = Vec::new();
    let mut decoder = Decoder::new();
    decoder.decode_streams(&input, &mut out).unwrap();
    assert_eq!(out, parts.concat());
    // decode_stream stops at the first stream's end.
    out.clear();
    let first = compress(&parts[0], 9).len();
    assert_eq!(decoder.decode_stream(&input, &mut out), Ok(first));
    assert_eq!(
        decoder.decode_stream(&input[first..], &mut out),
        Ok(compress(&parts[1], 9).len())
    );
    assert_eq!(out, parts[1]);
}

#[test]
fn every_cut_is_reported_as_truncated() {
    let data = b"It was the best of times, it was the worst of times. ".repeat(40);
    let mut compressed = compress(&data, 1);
    compressed.extend(compress(&data[..700], 1));
    let first_len = compress(&data, 1).len();
    let mut decoder = Decoder::new();
    for cut in 0..first_len {
        let mut out = b"kept".to_vec();
        assert_eq!(
            decoder.decode_stream(&compressed[..cut], &mut out),
            Err(DecodeError::Truncated),
            "cut at {cut}"
        );
        assert_eq!(out, b"kept", "output left as it was");
    }
    assert_eq!(
        decoder.decode_streams(&compressed[..compressed.len() - 1], &mut Vec::new()),
        Err((first_len, DecodeError::Truncated))
    );
}

#[test]
fn every_flipped_bit_is_caught_or_harmless_as_in_libbzip2() {
    let data: Vec<u8> = (0..40)
        .flat_map(|i| format!("{i}: All human beings are born free and equal. ").into_bytes())
        .collect();
    let compressed = compress(&data, 1);
    let mut decoder = Decoder::new();
    let mut caught = 0;
    for bit in 0..compressed.len() * 8 {
        let mut damaged = compressed.clone();
        damaged[bit / 8] ^= 0x80 >> (bit % 8);
        let mut out = Vec::new();
        let ours = decoder.decode_stream(&damaged, &mut out);
        let mut theirs = Vec::new();
        let libbzip2 = bzip2::read::BzDecoder::new(&damaged[..]).read_to_end(&mut theirs);
        match ours {
            // A flip that changes nothing decoded (the block size digit, the
            // padding, a code that stays equivalent) passes, as in libbzip2.
            Ok(_) => {
                assert_eq!(out, data, "bit {bit} changed the output");
                assert!(
                    libbzip2.is_ok(),
                    "bit {bit}: libbzip2 refuses what was accepted"
                );
            }
            Err(_) => {
                assert!(out.is_empty());
                assert!(
                    libbzip2.is_err() || theirs != data,
                    "bit {bit}: refused what libbzip2 decodes: {ours:?}"
                );
                caught += 1;
            }
        }
    }
    assert!(caught * 10 >= compressed.len() * 8 * 9, "{caught} caught");
}

#[test]
fn hostile_bytes_after_a_valid_header_are_errors() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut decoder = Decoder::new();
    for _ in 0..300 {
        let mut input = b"BZh9\x31\x41\x59\x26\x53\x59".to_vec();
        for _ in 0..2000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            input.push(rng as u8);
        }
        assert!(decoder.decode_stream(&input, &mut Vec::new()).is_err());
    }
}

#[test]
fn other_input_is_named() {
    assert_eq!(decode(b"<mediawiki>"), Err(DecodeError::NotBzip2));
    assert_eq!(decode(b"BZh0"), Err(DecodeError::NotBzip2));
    assert_eq!(decode(b"BZ"), Err(DecodeError::Truncated));
    assert_eq!(decode(b""), Err(DecodeError::Truncated));
    // The randomised bit follows the magic and the block CRC.
    let mut randomised = compress(b"hello hello hello", 9);
    randomised[14] |= 0x80;
    assert_eq!(decode(&randomised), Err(DecodeError::Randomised));
    let err = decode(&compress(b"x", 9)[..8]).unwrap_err().to_string();
    assert!(err.contains("ends inside"), "{err}");
}
