//! A multistream bzip2 dump (streams of whole pages, as Wikipedia publishes
//! them) gives exactly what the same dump as a single stream gives.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use query_vocab::pageviews::PageviewParams;
use query_vocab::select::WikiThresholds;
use query_vocab::{build, BuildOptions};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
}

fn bz2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn options(out: PathBuf, dump: PathBuf) -> BuildOptions {
    BuildOptions {
        out,
        wiki_dumps: vec![dump],
        pageviews: vec![],
        wordnet: None,
        omw: vec![],
        lang: None,
        target_size: 500_000,
        wiki: WikiThresholds {
            unigram_min_count: 20,
            unigram_top_share: None,
            bigram_min_pmi: 10.0,
            bigram_min_count: 2,
        },
        titles: PageviewParams {
            projects: vec!["en".into()],
            hourly_min: 50,
            min_views: 70,
        },
        caps: Default::default(),
        memory_limit: 1 << 20,
        tmp_dir: None,
        force: false,
        quiet: true,
    }
}

#[test]
fn multistream_equals_single_stream() {
    let mut xml = Vec::new();
    bzip2::read::BzDecoder::new(std::fs::File::open(sample()).unwrap())
        .read_to_end(&mut xml)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Header stream, then streams of 10 pages, then the footer.
    let first = memchr::memmem::find(&xml, b"<page>").unwrap();
    let mut multi = bz2(&xml[..first]);
    let mut pos = first;
    let mut streams = 1;
    while let Some(next) = memchr::memmem::find_iter(&xml[pos..], b"</page>").nth(9) {
        let end = pos + next + b"</page>".len();
        multi.extend(bz2(&xml[pos..end]));
        pos = end;
        streams += 1;
    }
    multi.extend(bz2(&xml[pos..]));
    assert!(streams > 10);
    let multi_path = dir.path().join("multi.xml.bz2");
    std::fs::write(&multi_path, multi).unwrap();

    let a = build(&options(dir.path().join("a"), sample())).unwrap();
    let b = build(&options(dir.path().join("b"), multi_path)).unwrap();
    let read = |d: &str| std::fs::read(dir.path().join(d).join("queries.txt")).unwrap();
    assert_eq!(read("a"), read("b"));
    let (wa, wb) = (a.wiki.unwrap(), b.wiki.unwrap());
    assert_eq!(wa.articles, 106);
    assert_eq!(wa.articles, wb.articles);
    assert_eq!(wa.tokens, wb.tokens);
    assert_eq!(wa.xml_bytes, wb.xml_bytes);
    assert!(a.entries > 100);
    assert!(b.spilled_bytes > 0);
}
