//! Pages of the sample web in other languages (German and Japanese), for the
//! demo's multilingual run (language identification, one vocabulary per
//! language): alt-texts made of real words for the colours and shapes, and a
//! small stand-in for each language's Wikipedia dump (the bundled samples
//! hold only English Wikipedia), written as MediaWiki XML so that
//! `vocab build --lang de,ja` reads it like a real dump.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[cfg(test)]
use crate::shapes::{COLOURS, SHAPES};

/// The languages, by Wikipedia edition code.
pub const LANGUAGES: [&str; 2] = ["de", "ja"];

/// The colour names of [`crate::shapes::COLOURS`] in `lang` (German nouns; Japanese
/// adjectival forms that precede a noun).
pub fn colour_words(lang: &str) -> [&'static str; 6] {
    match lang {
        "de" => ["Rot", "Grün", "Blau", "Gelb", "Lila", "Orange"],
        _ => ["赤い", "緑の", "青い", "黄色い", "紫の", "オレンジ色の"],
    }
}

/// The shape names of [`crate::shapes::SHAPES`] in `lang`.
pub fn shape_words(lang: &str) -> [&'static str; 3] {
    match lang {
        "de" => ["Kreis", "Quadrat", "Dreieck"],
        _ => ["円", "正方形", "三角形"],
    }
}

/// An alt-text in `lang` for an image of `SHAPES[shape]` in
/// `COLOURS[colour]`.
pub fn alt_text(rng: &mut ChaCha8Rng, lang: &str, colour: usize, shape: usize) -> String {
    let c = colour_words(lang)[colour];
    let s = shape_words(lang)[shape];
    let kind: u32 = rng.random_range(0..100);
    match (lang, kind) {
        ("de", 0..=39) => format!("Ein {s} in {c} auf grauem Hintergrund"),
        ("de", 40..=69) => format!("Foto: {s} in der Farbe {c}, kostenloser Download"),
        ("de", 70..=89) => format!("Das {s}-Symbol in {c}"),
        ("de", _) => format!("Bild {}", rng.random_range(1..1000)),
        (_, 0..=39) => format!("灰色の背景に{c}{s}"),
        (_, 40..=69) => format!("{c}{s}の写真、無料ダウンロード"),
        (_, 70..=89) => format!("{c}{s}のイラスト素材"),
        (_, _) => format!("画像{}", rng.random_range(1..1000)),
    }
}

/// A stand-in Wikipedia dump of `lang` (MediaWiki XML): one article per
/// shape and colour, sentences of real words about them.
pub fn wiki_dump(lang: &str) -> String {
    let mut xml = String::from("<mediawiki>\n");
    let mut page = |title: &str, text: &str| {
        xml.push_str(&format!(
            "<page><title>{title}</title><ns>0</ns><revision><text>{text}</text></revision></page>\n"
        ));
    };
    let colours = colour_words(lang);
    let shapes = shape_words(lang);
    for s in shapes {
        let mut text = String::new();
        for c in colours {
            text.push_str(&match lang {
                "de" => format!(
                    "Ein {s} in {c} ist eine geometrische Figur. Das Foto zeigt einen {s} in {c} \
                     auf grauem Hintergrund.\n"
                ),
                _ => {
                    format!("{c}{s}は図形の一つである。写真には灰色の背景に{c}{s}が写っている。\n")
                }
            });
        }
        page(s, &text);
    }
    for c in colours {
        let text = match lang {
            "de" => format!("{c} ist eine Farbe. Die Farbe {c} ist im Bild zu sehen.\n"),
            _ => format!("{c}色は色の一つである。画像には{c}色が見える。\n"),
        };
        page(c, &text);
    }
    xml.push_str("</mediawiki>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn alt_texts_and_dumps_use_the_words() {
        for l in LANGUAGES {
            assert_eq!(colour_words(l).len(), COLOURS.len());
            assert_eq!(shape_words(l).len(), SHAPES.len());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let de: Vec<String> = (0..20).map(|_| alt_text(&mut rng, "de", 0, 2)).collect();
        assert!(de.iter().any(|t| t.contains("Dreieck in Rot")), "{de:?}");
        let ja: Vec<String> = (0..20).map(|_| alt_text(&mut rng, "ja", 2, 0)).collect();
        assert!(ja.iter().any(|t| t.contains("青い円")), "{ja:?}");
        let dump = wiki_dump("ja");
        assert!(dump.contains("<title>三角形</title>") && dump.ends_with("</mediawiki>\n"));
    }
}
