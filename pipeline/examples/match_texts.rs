//! Times the matcher alone, as MetaCLIP's Python matcher is timed by
//! `scripts/bench_match_metaclip.py`: every text of `PAIRS_DIR/part-*.parquet`
//! is read into memory first, then matched on one thread. Writes per-entry
//! counts (`id<TAB>count`) to `COUNTS_OUT` so that the benchmark can check
//! them against MetaCLIP's.
//!
//! `cargo run --release -p pipeline --example match_texts -- QUERIES_TXT PAIRS_DIR COUNTS_OUT [RULE]`

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use arrow_array::cast::AsArray;
use pipeline::matching::{Matcher, Rule, Scratch, Vocab};
use pipeline::parts::{list_parts, open_checked};
use pipeline::schema::pairs_schema;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: match_texts QUERIES_TXT PAIRS_DIR COUNTS_OUT [metaclip|metaclip2|script-aware|word-boundary]");
        std::process::exit(2);
    }
    let rule = match args.get(4).map_or("metaclip", String::as_str) {
        "metaclip" => Rule::MetaClip,
        "metaclip2" => Rule::MetaClip2,
        "script-aware" => Rule::ScriptAware,
        "word-boundary" => Rule::WordBoundary,
        other => panic!("unknown rule {other}"),
    };
    let vocab = Vocab::load(Path::new(&args[1])).expect("vocabulary");
    let mut texts: Vec<String> = Vec::new();
    for part in list_parts(Path::new(&args[2])).expect("pairs") {
        let (reader, _) = open_checked(&part.path, &pairs_schema(), "pairs").expect("part");
        for batch in reader {
            let batch = batch.expect("batch");
            let col = batch
                .column_by_name("text")
                .expect("text")
                .as_string::<i32>();
            texts.extend(col.iter().map(|t| t.unwrap_or_default().to_string()));
        }
    }
    let t = Instant::now();
    let matcher = Matcher::new(&vocab.entries, rule, u64::MAX).expect("matcher");
    let build = t.elapsed().as_secs_f64();
    let mut counts = vec![0u64; vocab.len()];
    let (mut scratch, mut ids) = (Scratch::default(), Vec::new());
    let (mut matched, mut matches, mut bytes) = (0u64, 0u64, 0usize);
    let t = Instant::now();
    for text in &texts {
        matcher.find_into(text, &mut scratch, &mut ids);
        bytes += text.len();
        if !ids.is_empty() {
            matched += 1;
            matches += ids.len() as u64;
            for &id in &ids {
                counts[id as usize] += 1;
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3]).expect("counts file"));
    for (id, c) in counts.iter().enumerate().filter(|(_, &c)| c > 0) {
        writeln!(out, "{id}\t{c}").expect("write");
    }
    println!(
        "witcurate matcher ({rule}): build {build:.2}s; {} texts in {secs:.2}s on 1 thread = {:.0} texts/s, \
         {:.2} MB/s; {matched} matched, {matches} matches",
        texts.len(),
        texts.len() as f64 / secs,
        bytes as f64 / secs / 1e6
    );
    println!("MATCH_ONLY_TEXTS_PER_S={:.1}", texts.len() as f64 / secs);
}
