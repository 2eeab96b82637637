//! Decodes a (multistream) `.bz2` file with this decoder and with libbzip2,
//! on one thread, and prints both speeds; fails if their outputs differ.
//!   cargo run --release -p bzip2_decoder --example decode_file -- FILE.bz2 [REPEAT]

use std::io::Read;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: decode_file FILE.bz2 [REPEAT]");
    let repeat: usize = args
        .next()
        .map_or(3, |r| r.parse().expect("REPEAT is a number"));
    let input = std::fs::read(&path).expect("readable input");
    let mut ours = Vec::new();
    let mut best_ours = f64::MAX;
    let mut decoder = bzip2_decoder::Decoder::new();
    for _ in 0..repeat {
        ours.clear();
        let t = Instant::now();
        decoder
            .decode_streams(&input, &mut ours)
            .expect("decodable input");
        best_ours = best_ours.min(t.elapsed().as_secs_f64());
    }
    let mut theirs = Vec::new();
    let mut best_theirs = f64::MAX;
    for _ in 0..repeat {
        theirs.clear();
        let t = Instant::now();
        bzip2::read::MultiBzDecoder::new(&input[..])
            .read_to_end(&mut theirs)
            .expect("libbzip2 decodes it");
        best_theirs = best_theirs.min(t.elapsed().as_secs_f64());
    }
    assert!(ours == theirs, "outputs differ");
    let mb = ours.len() as f64 / 1e6;
    println!(
        "{mb:.1} MB decoded; bzip2_decoder {:.1} MB/s, libbzip2 {:.1} MB/s ({:.2}x)",
        mb / best_ours,
        mb / best_theirs,
        best_theirs / best_ours
    );
}
