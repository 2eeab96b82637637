//! Language identification of alt-texts, for matching each text against its
//! language's vocabulary.
//!
//! [`identify`] runs [`whatlang`] (69 languages, trigram models plus the
//! script; small and fast, see `docs/matching.md` for its accuracy on short
//! texts) and names the language by its Wikipedia edition code (`en`, `ja`,
//! `zh`, ...), the code vocabularies are built and stored under. A text whose
//! language cannot be told (no letters, or too short) is [`UNDETERMINED`].
//! The result depends on the text only.

/// The language of a text that cannot be identified.
pub const UNDETERMINED: &str = "und";

/// The language of `text` as a Wikipedia edition code, or [`UNDETERMINED`].
/// The most likely language is taken whatever its confidence, as MetaCLIP 2
/// takes the top language of its identifier.
pub fn identify(text: &str) -> &'static str {
    match whatlang::detect_lang(text) {
        Some(lang) => wiki_code(lang.code()),
        None => UNDETERMINED,
    }
}

/// Like [`identify`], but a text whose identification whatlang does not
/// deem reliable (most short ones) gets `fallback` instead, when one is
/// given: for a crawl known to be mostly in one language, its short
/// formulaic alt-texts (`photo No. 3`, `Search`) then count as that language.
pub fn identify_or<'a>(text: &str, fallback: Option<&'a str>) -> &'a str {
    let Some(fallback) = fallback else {
        return identify(text);
    };
    match whatlang::detect(text) {
        Some(info) if info.is_reliable() => wiki_code(info.lang().code()),
        _ => fallback,
    }
}

/// The Wikipedia edition code of an ISO 639-3 code that [`whatlang`]
/// reports (`cmn` → `zh`, `pes` → `fa`, `nob` → `no`, otherwise the ISO
/// 639-1 code); an unknown code is returned as it is.
pub fn wiki_code(iso639_3: &'static str) -> &'static str {
    match iso639_3 {
        "afr" => "af",
        "aka" => "ak",
        "amh" => "am",
        "ara" => "ar",
        "aze" => "az",
        "bel" => "be",
        "ben" => "bn",
        "bul" => "bg",
        "cat" => "ca",
        "ces" => "cs",
        "cmn" => "zh",
        "cym" => "cy",
        "dan" => "da",
        "deu" => "de",
        "ell" => "el",
        "eng" => "en",
        "epo" => "eo",
        "est" => "et",
        "fin" => "fi",
        "fra" => "fr",
        "guj" => "gu",
        "heb" => "he",
        "hin" => "hi",
        "hrv" => "hr",
        "hun" => "hu",
        "hye" => "hy",
        "ind" => "id",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kan" => "kn",
        "kat" => "ka",
        "khm" => "km",
        "kor" => "ko",
        "lat" => "la",
        "lav" => "lv",
        "lit" => "lt",
        "mal" => "ml",
        "mar" => "mr",
        "mkd" => "mk",
        "mya" => "my",
        "nep" => "ne",
        "nld" => "nl",
        "nob" => "no",
        "ori" => "or",
        "pan" => "pa",
        "pes" => "fa",
        "pol" => "pl",
        "por" => "pt",
        "ron" => "ro",
        "rus" => "ru",
        "sin" => "si",
        "slk" => "sk",
        "slv" => "sl",
        "sna" => "sn",
        "spa" => "es",
        "srp" => "sr",
        "swe" => "sv",
        "tam" => "ta",
        "tel" => "te",
        "tgl" => "tl",
        "tha" => "th",
        "tuk" => "tk",
        "tur" => "tr",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "vie" => "vi",
        "yid" => "yi",
        "zul" => "zu",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whatlang_language_has_a_two_letter_code() {
        for lang in whatlang::Lang::all() {
            assert_eq!(wiki_code(lang.code()).len(), 2, "{}", lang.code());
        }
    }

    #[test]
    fn identifies_scripts_and_languages() {
        assert_eq!(identify("ヘッドポーターの財布"), "ja");
        assert_eq!(identify("모든 인류 구성원의 천부의 존엄성"), "ko");
        assert_eq!(identify("a red bicycle leaning against the wall"), "en");
        assert_eq!(identify("12345 !!!"), UNDETERMINED);
        assert_eq!(identify(""), UNDETERMINED);
    }

    #[test]
    fn unreliable_identifications_fall_back() {
        // A real alt-text of the bundled Common Crawl sample.
        assert_ne!(identify("photo No. 3"), "en");
        assert_eq!(identify_or("photo No. 3", Some("en")), "en");
        assert_eq!(identify_or("", Some("en")), "en");
        let ja =
            "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。";
        assert_eq!(identify_or(ja, Some("en")), "ja");
        assert_eq!(identify_or("photo No. 3", None), identify("photo No. 3"));
    }
}
