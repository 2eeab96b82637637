//! The MetaCLIP 2 rule against a transcription of MetaCLIP 2's own matching
//! functions (`metaclip2_reference.py`, run with the project's Python), on
//! real text: Universal Declaration of Human Rights translations in
//! Japanese, Chinese, Thai, Korean, Russian and English (`tests/data/udhr`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pipeline::matching::{Matcher, Rule};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The project venv's Python (`scripts/setup.sh`), else `python3`.
fn python() -> PathBuf {
    let venv = root().join(".venv-tools/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn udhr(lang: &str) -> Vec<String> {
    let path = root().join(format!("tests/data/udhr/{lang}.txt"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(String::from)
        .collect()
}

/// Texts: each paragraph, and its pieces between commas (shorter, like
/// alt-texts), in every language.
fn texts() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for lang in ["jpn", "cmn_hans", "tha", "kor", "rus", "eng"] {
        for p in udhr(lang) {
            out.extend(
                p.split(['、', '，', ','])
                    .map(|s| (lang, s.trim().to_string())),
            );
            out.push((lang, p));
        }
    }
    out.push((
        "jpn",
        "ヘッドポーター財布 (Head Porter) 「すべて」の人, U.S.".to_string(),
    ));
    out
}

/// Entries: character windows of the unspaced texts, words and word pairs
/// of the spaced ones, and a few with punctuation or Katakana at an edge.
fn entries() -> Vec<String> {
    let mut set = BTreeSet::new();
    for lang in ["jpn", "cmn_hans", "tha"] {
        for p in udhr(lang) {
            let chars: Vec<char> = p.chars().collect();
            for (i, w) in [2usize, 3, 4].iter().enumerate() {
                for start in (i..chars.len().saturating_sub(*w)).step_by(5) {
                    set.insert(chars[start..start + w].iter().collect::<String>());
                }
            }
        }
    }
    for lang in ["kor", "rus", "eng", "tha"] {
        for p in udhr(lang) {
            let words: Vec<&str> = p.split(' ').filter(|w| !w.is_empty()).collect();
            set.extend(words.iter().map(|w| w.to_string()));
            set.extend(words.windows(2).map(|w| w.join(" ")));
            // Korean words without their particle (the first two syllables).
            set.extend(
                words
                    .iter()
                    .filter(|w| w.chars().count() > 2)
                    .map(|w| w.chars().take(2).collect::<String>()),
            );
        }
    }
    for e in [
        "ヘッドポーター",
        "財布",
        "すべて",
        "U.S.",
        "(Head",
        "Porter)",
        "「すべて」",
        "人,",
    ] {
        set.insert(e.to_string());
    }
    set.into_iter().collect()
}

#[test]
fn metaclip2_rule_equals_metaclip2_transcription_on_real_text() {
    let (entries, labelled) = (entries(), texts());
    let texts: Vec<String> = labelled.iter().map(|(_, t)| t.clone()).collect();
    let input = serde_json::json!({ "entries": entries, "texts": texts }).to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/metaclip2_reference.py");
    let mut child = Command::new(python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} does not run ({e}); run scripts/setup.sh",
                python().display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: Vec<Vec<u32>> = serde_json::from_slice(&out.stdout).unwrap();

    let m2 = Matcher::new(&entries, Rule::MetaClip2, u64::MAX).unwrap();
    let sa = Matcher::new(&entries, Rule::ScriptAware, u64::MAX).unwrap();
    let (mut total, mut extra) = (0, 0);
    let mut extra_by_lang = std::collections::BTreeMap::<&str, usize>::new();
    for ((text, want), (lang, _)) in texts.iter().zip(&want).zip(&labelled) {
        let got = m2.find(text);
        assert_eq!(&got, want, "{text}");
        total += got.len();
        // On these texts the script-aware rule finds everything MetaCLIP 2
        // finds, and more (Hiragana, Katakana and Hangul entries).
        let wider = sa.find(text);
        assert!(got.iter().all(|id| wider.contains(id)), "{text}");
        extra += wider.len() - got.len();
        *extra_by_lang.entry(lang).or_default() += wider.len() - got.len();
    }
    println!(
        "{} texts, {} entries: {total} MetaCLIP 2 matches, {extra} more with the script-aware rule \
         ({extra_by_lang:?})",
        texts.len(),
        entries.len()
    );
    assert!(
        total > 1000,
        "{total} matches: the test should exercise the rule"
    );
    assert!(extra > 100, "{extra} extra script-aware matches");
    let k = entries.iter().position(|e| e == "ヘッドポーター").unwrap() as u32;
    let text = texts.last().unwrap();
    assert!(!m2.find(text).contains(&k));
    assert!(sa.find(text).contains(&k));
}
