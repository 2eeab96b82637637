//! End-to-end tests of `witcurate vocab build` on the bundled samples.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_success, s, witcurate};

const WORDNET: &str = "/usr/share/wordnet";

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn enwiki() -> PathBuf {
    data("wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
}

fn wordnet() -> PathBuf {
    let dir = PathBuf::from(WORDNET);
    assert!(
        dir.join("data.noun").exists(),
        "WordNet 3.0 is missing: run scripts/setup.sh (installs Debian's wordnet-base)"
    );
    dir
}

fn ok(args: &[&str]) -> Output {
    let out = witcurate(args);
    assert_success(&out);
    out
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn wordnet_with_numbers_is_metaclips_86654() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vocab");
    let wn = wordnet();
    ok(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wordnet",
        s(&wn),
    ]);
    let q = lines(&out.join("queries.txt"));
    assert_eq!(q.len(), 86_654);
    assert_eq!(&q[..3], ["0", "1", "2"]);
    assert_eq!(q[100], "entity");
    assert!(q.contains(&"physical entity".to_string()));
    let j = json(&out.join("vocab.json"));
    assert_eq!(j["sources"]["number"]["kept"], 100);
    assert_eq!(j["sources"]["wordnet"]["kept"], 86_554);
    assert_eq!(j["wordnet"]["synsets"], 117_659);
    assert_eq!(
        &std::fs::read(out.join("queries.parquet")).unwrap()[..4],
        b"PAR1"
    );
}

fn sample_args<'a>(out: &'a str, wn: &'a str, pv: &'a str, dump: &'a str) -> Vec<&'a str> {
    vec![
        "vocab",
        "build",
        "--quiet",
        "--out",
        out,
        "--wiki-dump",
        dump,
        "--pageviews",
        pv,
        "--wordnet",
        wn,
        "--unigram-min-count",
        "30",
        "--bigram-min-pmi",
        "12",
        "--bigram-min-count",
        "3",
    ]
}

#[test]
fn sample_dump_gives_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("vocab");
    let (wn, pv, dump) = (wordnet(), data("pageviews"), enwiki());
    let res = ok(&sample_args(s(&out), s(&wn), s(&pv), s(&dump)));
    let summary = String::from_utf8_lossy(&res.stdout);
    assert!(
        summary.contains("entries (number 100, wordnet 86554, unigram"),
        "{summary}"
    );
    let q = lines(&out.join("queries.txt"));
    let j = json(&out.join("vocab.json"));
    assert_eq!(j["entries"].as_u64().unwrap() as usize, q.len());
    let w = &j["wikipedia"]["stats"];
    assert_eq!(w["pages"], 206);
    assert_eq!(w["redirects"], 99);
    assert_eq!(w["other_namespace"], 1);
    assert_eq!(w["articles"], 106);
    assert_eq!(w["malformed_pages"], 0);
    let kept = |src: &str| j["sources"][src]["kept"].as_u64().unwrap();
    assert!(kept("unigram") > 100, "{j}");
    assert!(kept("bigram") > 0, "{j}");
    // Six titles pass the thresholds; those already present (for example as a
    // bigram) are not repeated.
    assert_eq!(j["sources"]["title"]["candidates"], 6);
    assert_eq!(
        kept("title"),
        j["sources"]["title"]["new"].as_u64().unwrap()
    );
    assert!(kept("title") >= 4);
    // Case is preserved: capitalised words are new next to WordNet's lower case.
    let at = |e: &str| q.iter().position(|x| x == e);
    assert!(at("American").unwrap() >= 86_654);
    assert!(at("american").unwrap() < 86_654);
    // Titles come last, by views.
    assert_eq!(q.last().unwrap(), "Alchemy");
    assert_eq!(
        at("Abraham Lincoln"),
        Some(q.len() - kept("title") as usize)
    );
    assert!(at("Alain Connes").is_some());
    let first_title = q.len() - kept("title") as usize;
    assert!(
        !q[first_title..].contains(&"Aristotle".to_string()),
        "55 views is below the threshold"
    );
    // Nothing from templates, refs or markup, nothing the matcher cannot match.
    for e in &q[86_654..] {
        assert!(
            !e.is_empty() && !e.starts_with(' ') && !e.ends_with(' '),
            "{e:?}"
        );
        if !q.ends_with(std::slice::from_ref(e)) {
            assert!(!e.contains(['{', '}', '[', ']', '|', '<', '>']), "{e:?}");
        }
    }
    let uni: Vec<&String> = q[86_654..].iter().filter(|e| !e.contains(' ')).collect();
    for e in uni {
        assert!(!e.contains([',', '.', ';', ':', '?', '!', '`']), "{e:?}");
    }
}

fn without_run(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().unwrap().remove("run");
    v
}

#[test]
fn output_is_identical_across_threads_and_memory_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (wn, pv, dump) = (wordnet(), data("pageviews"), enwiki());
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let mut args = sample_args(s(&a), s(&wn), s(&pv), s(&dump));
    args.extend(["--threads", "1"]);
    ok(&args);
    let mut args = sample_args(s(&b), s(&wn), s(&pv), s(&dump));
    args.extend(["--threads", "2", "--memory-limit", "1M"]);
    ok(&args);
    for f in ["queries.txt", "queries.parquet"] {
        assert!(
            std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let (ja, jb) = (json(&a.join("vocab.json")), json(&b.join("vocab.json")));
    assert!(jb["run"]["spilled_bytes"].as_u64().unwrap() > 0);
    assert_eq!(jb["run"]["threads"], 2);
    let strip_limit = |mut v: serde_json::Value| {
        v["parameters"]
            .as_object_mut()
            .unwrap()
            .remove("memory_limit");
        without_run(v)
    };
    assert_eq!(strip_limit(ja), strip_limit(jb));
}

#[test]
fn existing_outputs_are_skipped_and_force_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let pv = data("pageviews");
    let base = [
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--pageviews",
        s(&pv),
    ];
    let with =
        |extra: &[&'static str]| -> Vec<&str> { base.iter().chain(extra).copied().collect() };
    ok(&base);
    let q = lines(&out.join("queries.txt"));
    assert_eq!(q.len(), 106);
    // Leftovers of a killed run are cleaned when the build runs again.
    std::fs::create_dir(out.join(".vocab-spill-999999")).unwrap();
    std::fs::write(out.join(".vocab-spill-999999/unigram-000000.run"), b"x").unwrap();
    std::fs::write(out.join(".queries.txt.tmp-999999"), b"half").unwrap();
    let again = ok(&base);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to do"));
    // Other options must not be answered with the old outputs.
    let changed = witcurate(&with(&["--target-size", "103"]));
    assert!(!changed.status.success());
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(err.contains("vocab.json"), "{err}");
    assert!(err.contains("built with other options"), "{err}");
    assert!(err.contains("target_size: 500000 then, 103 now"), "{err}");
    assert!(err.contains("--force"), "{err}");
    let forced = ok(&with(&["--force", "--target-size", "103"]));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("103 entries"));
    let q = lines(&out.join("queries.txt"));
    assert_eq!(&q[100..], ["Abraham Lincoln", "Anarchism", "Alain Connes"]);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn utf16_dump_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let dump = data("wikipedia/bgwiki-latest-pages-articles-shortened.xml.bz2");
    ok(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wiki-dump",
        s(&dump),
        "--unigram-min-count",
        "5",
    ]);
    let j = json(&out.join("vocab.json"));
    assert!(
        j["wikipedia"]["stats"]["articles"].as_u64().unwrap() > 0,
        "{j}"
    );
    let q = lines(&out.join("queries.txt"));
    assert!(
        q.iter()
            .any(|e| e.chars().any(|c| ('\u{0400}'..='\u{04ff}').contains(&c))),
        "no Cyrillic entries"
    );
}

#[test]
fn table_markup_is_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    let dump = data("wikipedia/enwiki-table-markup.xml.bz2");
    ok(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wiki-dump",
        s(&dump),
        "--unigram-min-count",
        "1",
    ]);
    let q = lines(&out.join("queries.txt"));
    for junk in [
        "colspan",
        "rowspan",
        "wikitable",
        "style",
        "align",
        "cellpadding",
    ] {
        assert!(!q.iter().any(|e| e == junk), "table markup counted: {junk}");
    }
}

#[test]
fn bad_inputs_give_clear_messages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v");
    // Truncated bz2: fatal, names the file and the position.
    let cut = dir.path().join("cut.xml.bz2");
    let bytes = std::fs::read(enwiki()).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = witcurate(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wiki-dump",
        s(&cut),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        err.contains("cut.xml.bz2") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("compressed byte"), "{err}");
    assert!(!out.join("queries.txt").exists());

    // Missing WordNet directory.
    let r = witcurate(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wordnet",
        "/no/such/wordnet",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        err.contains("/no/such/wordnet") && err.contains("wordnet-base"),
        "{err}"
    );

    // Not a MediaWiki export.
    let html = dir.path().join("page.xml");
    std::fs::write(&html, "<html><body>hello</body></html>").unwrap();
    let r = witcurate(&[
        "vocab",
        "build",
        "--quiet",
        "--out",
        s(&out),
        "--wiki-dump",
        s(&html),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        err.contains("page.xml") && err.contains("MediaWiki"),
        "{err}"
    );

    // Malformed page and bad pageviews line: counted, warned, not fatal.
    let xml = dir.path().join("small.xml");
    std::fs::write(
        &xml,
        "<mediawiki>\n<page><title>Good</title><ns>0</ns><revision><text>alpha beta alpha</text></revision></page>\n\
         <page><title>Bad</title><ns>0</ns><revision><text>gamma</txt></revision></page>\n\
         <page><title>Also good</title><ns>0</ns><revision><text>beta alpha</text></revision></page>\n</mediawiki>\n",
    )
    .unwrap();
    let pv = dir.path().join("pageviews-20240101-000000");
    std::fs::write(&pv, "en Good 80 0\nen Broken_line 99\nen Also_good 90 0\n").unwrap();
    let r = ok(&[
        "vocab",
        "build",
        "--out",
        s(&out),
        "--wiki-dump",
        s(&xml),
        "--pageviews",
        s(&pv),
        "--unigram-min-count",
        "2",
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("small.xml: page at decoded byte"), "{err}");
    assert!(
        err.contains("pageviews-20240101-000000:2: expected 4 fields"),
        "{err}"
    );
    let j = json(&out.join("vocab.json"));
    assert_eq!(j["wikipedia"]["stats"]["malformed_pages"], 1);
    assert_eq!(j["wikipedia"]["stats"]["articles"], 2);
    assert_eq!(j["pageviews"]["bad_field_count"], 1);
    let q = lines(&out.join("queries.txt"));
    assert_eq!(&q[100..], ["alpha", "beta", "Also good", "Good"]);
}

/// A MediaWiki XML dump with one article per line of a bundled UDHR
/// translation (real text; the XML around it is written here).
fn udhr_dump(dir: &Path, name: &str, udhr: &str) -> PathBuf {
    let text = std::fs::read_to_string(data(&format!("udhr/{udhr}.txt"))).unwrap();
    let mut xml = String::from("<mediawiki>\n");
    for (i, line) in text.lines().enumerate() {
        xml.push_str(&format!(
            "<page><title>Article {i}</title><ns>0</ns><revision><text>{line}</text></revision></page>\n"
        ));
    }
    xml.push_str("</mediawiki>\n");
    let path = dir.join(name);
    std::fs::write(&path, xml).unwrap();
    path
}

/// `--lang ja,th,ru` builds three vocabularies at once from dumps named
/// after their editions: Japanese and Thai text (written without spaces) is
/// cut into words, their bigrams are joined without a space, the Russian one
/// is tokenised at spaces; each equals the vocabulary built on its own.
#[test]
fn several_languages_are_built_at_once_with_word_segmentation() {
    let dir = tempfile::tempdir().unwrap();
    let ja = udhr_dump(dir.path(), "jawiki-udhr.xml", "jpn");
    let th = udhr_dump(dir.path(), "thwiki-udhr.xml", "tha");
    let ru = udhr_dump(dir.path(), "ruwiki-udhr.xml", "rus");
    let omw = dir.path().join("wn-data-jpn.tab");
    std::fs::write(&omw, "# test\n02084071-n\tjpn:lemma\t犬\n").unwrap();
    let out = dir.path().join("vocabs");
    // Thresholds for a corpus of 20 paragraphs per language.
    let thresholds = [
        "--unigram-top-share",
        "0.3",
        "--bigram-min-pmi",
        "3",
        "--bigram-min-count",
        "2",
    ];
    let build = |out: &Path, lang: &str, dumps: &[&Path]| {
        let mut args = vec!["--quiet", "vocab", "build", "--out", s(out), "--lang", lang];
        for d in dumps {
            args.extend(["--wiki-dump", s(d)]);
        }
        args.extend(["--omw", s(&omw)]);
        args.extend(thresholds);
        String::from_utf8_lossy(&ok(&args).stdout).into_owned()
    };
    let stdout = build(&out, "ja,th,ru", &[&ja, &th, &ru]);
    assert!(
        stdout.contains("ja: vocab:") && stdout.contains("ru: vocab:"),
        "{stdout}"
    );
    let ja_q = lines(&out.join("ja/queries.txt"));
    for word in ["権利", "自由", "犬"] {
        assert!(ja_q.iter().any(|q| q == word), "{word} not in {ja_q:?}");
    }
    // Words, not whole sentences; bigrams of Japanese words without a space.
    assert!(ja_q.iter().all(|q| q.chars().count() <= 20), "{ja_q:?}");
    let ja_json = json(&out.join("ja/vocab.json"));
    assert_eq!(ja_json["parameters"]["lang"], "ja");
    assert_eq!(ja_json["parameters"]["unigram_top_share"], 0.3);
    // MetaCLIP 2's caps, the defaults of a language other than English.
    assert_eq!(ja_json["parameters"]["bigram_max"], 100_646);
    assert_eq!(ja_json["parameters"]["title_top_share"], 0.76);
    assert_eq!(ja_json["parameters"]["title_min_views"], 1);
    assert_eq!(
        ja_json["parameters"]["pageviews_projects"],
        serde_json::json!(["ja", "ja.m"])
    );
    assert!(ja_json["sources"]["bigram"]["kept"].as_u64().unwrap() > 0);
    let bigrams: Vec<&str> = ja_q
        .iter()
        .map(String::as_str)
        .filter(|q| q.chars().count() >= 3 && !q.contains(' '))
        .collect();
    assert!(!bigrams.is_empty(), "{ja_q:?}");
    let th_q = lines(&out.join("th/queries.txt"));
    assert!(th_q.iter().any(|q| q == "สิทธิ"), "{th_q:?}");
    let ru_q = lines(&out.join("ru/queries.txt"));
    assert!(ru_q.iter().any(|q| q == "права"), "{ru_q:?}");
    assert!(ru_q.iter().all(|q| !q.contains('犬')));

    // The Japanese vocabulary on its own is the same.
    let single = dir.path().join("ja-alone");
    build(&single, "ja", &[&ja]);
    assert_eq!(lines(&single.join("queries.txt")), ja_q);

    // A dump of another edition is refused rather than left out.
    let bad = witcurate(&[
        "--quiet",
        "vocab",
        "build",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
        "--lang",
        "ja,th",
        "--wiki-dump",
        ru.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("not a dump of ja, th"), "{err}");
}
