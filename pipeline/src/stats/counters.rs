//! What the stages' counters mean: the label of every counter the stages
//! write (see the stages' `counter` modules and
//! [`crate::stage::record`]), by stage and name.
//!
//! A counter's kind comes from its name's prefix (`fault_*`, `skip_*`, else a
//! measure). A name without a label here (a download failure class such as
//! `fault_http_503`, a new counter) is described from its name. The match,
//! balance and download names are their stages' constants; the extract
//! stage's are spelled out (its `counter` module is private to `extract`).

use crate::balance::stage::counter as balance;
use crate::dedup::stage::counter as dedup;
use crate::download::stage::counter as download;
use crate::extract::counter as extract;
use crate::matching::stage::counter as matching;
use crate::stage::record::CounterKind;

use super::model::CounterClass;

/// The stages with records, in pipeline order.
pub const STAGES: [&str; 6] = [
    "extract",
    "match",
    "balance",
    "download",
    "dedup",
    "balance_downloaded",
];

/// Labels of counters, by stage and name.
const LABELS: &[(&str, &str, &str)] = &[
    // extract tasks: inputs and bytes
    ("extract", "inputs_warc", "WARC files read"),
    ("extract", "inputs_wat", "WAT files read"),
    (
        "extract",
        "inputs_table",
        "tables read (CSV, TSV, JSON lines, parquet)",
    ),
    ("extract", "records", "WARC/WAT records read"),
    ("extract", "rows", "table rows read"),
    ("extract", "bytes_raw", "bytes read"),
    ("extract", "bytes_decoded", "bytes after decompression"),
    (
        "extract",
        "connection_resumes",
        "dropped connections resumed (Range requests)",
    ),
    ("extract", "gzip_members", "gzip members read"),
    (
        "extract",
        "gzip_skipped_bytes",
        "bytes skipped over corrupt gzip members",
    ),
    // extract tasks: records
    (
        "extract",
        "records_not_response",
        "WARC records that are not responses",
    ),
    (
        "extract",
        "records_not_metadata",
        "WAT records that are not metadata",
    ),
    (
        "extract",
        "records_not_json",
        "WAT records without a JSON payload",
    ),
    (
        "extract",
        "records_not_html",
        "records of a page that is not HTML",
    ),
    (
        "extract",
        "http_content_encoding_already_decoded",
        "responses stored already decoded despite their Content-Encoding",
    ),
    ("extract", "pages", "HTML pages read"),
    (
        "extract",
        "html_invalid_bytes",
        "pages with bytes invalid in their charset",
    ),
    ("extract", "html_non_utf8", "pages not in UTF-8 (decoded)"),
    (
        "extract",
        "images",
        "images found (img elements, image links)",
    ),
    (
        "extract",
        "pairs_from_title",
        "pairs from an image's title attribute",
    ),
    ("extract", extract::PAIRS_EXTRACTED, "pairs extracted"),
    (
        "extract",
        extract::PAIRS,
        "pairs after de-duplication within each input",
    ),
    // extract tasks: rules
    (
        "extract",
        "skip_record_no_target_uri",
        "records without a target URI",
    ),
    (
        "extract",
        "skip_record_bad_target_uri",
        "records whose target URI does not parse",
    ),
    ("extract", "skip_img_no_src", "images without a source URL"),
    (
        "extract",
        "skip_img_data_url",
        "images inlined as data: URLs",
    ),
    (
        "extract",
        "skip_img_bad_url",
        "images whose URL does not parse",
    ),
    ("extract", "skip_img_not_http", "images not on http(s)"),
    (
        "extract",
        "skip_img_url_too_long",
        "images whose URL is too long",
    ),
    ("extract", "skip_img_no_alt", "images without alt text"),
    (
        "extract",
        "skip_img_empty_alt",
        "images with an empty alt text",
    ),
    (
        "extract",
        "skip_text_too_short",
        "texts shorter than --min-text-len",
    ),
    (
        "extract",
        "skip_text_too_long",
        "texts longer than --max-text-len",
    ),
    (
        "extract",
        "skip_empty_caption",
        "table rows with an empty caption",
    ),
    (
        "extract",
        extract::DUPLICATES_IN_TASK,
        "duplicate (url, text) within an input",
    ),
    // extract tasks: faults
    (
        "extract",
        "fault_gzip_corrupt_member",
        "corrupt gzip members",
    ),
    (
        "extract",
        "fault_http_malformed",
        "malformed HTTP responses",
    ),
    (
        "extract",
        "fault_http_bad_chunking",
        "HTTP bodies with bad chunked encoding",
    ),
    (
        "extract",
        "fault_http_bad_content_encoding",
        "HTTP bodies that do not decode as their Content-Encoding says",
    ),
    (
        "extract",
        "fault_wat_invalid_json",
        "WAT records with invalid JSON",
    ),
    (
        "extract",
        "fault_table_bad_row",
        "table rows that could not be read",
    ),
    (
        "extract",
        "fault_internal_error",
        "records whose extraction failed",
    ),
    (
        "extract",
        "fault_warc_garbage",
        "bytes that are not a WARC record",
    ),
    (
        "extract",
        "fault_warc_truncated_record",
        "truncated WARC records",
    ),
    (
        "extract",
        "fault_warc_malformed_header",
        "WARC records with a malformed header",
    ),
    (
        "extract",
        "fault_warc_bad_content_length",
        "WARC records whose Content-Length does not end the record",
    ),
    (
        "extract",
        "fault_warc_record_too_large",
        "WARC records over --max-record-bytes",
    ),
    // extract reduce
    (
        "extract",
        extract::REDUCE_ROWS_IN,
        "pairs read by the reduce",
    ),
    (
        "extract",
        extract::UNIQUE_PAIRS,
        "unique pairs (de-duplicated over all inputs)",
    ),
    (
        "extract",
        extract::DUPLICATES,
        "duplicate (url, text) across inputs",
    ),
    // match
    ("match", matching::PAIRS_IN, "pairs read by match"),
    (
        "match",
        matching::PAIRS_MATCHED,
        "pairs matching a vocabulary entry",
    ),
    (
        "match",
        matching::MATCHES,
        "entry matches (sum of query_ids lengths)",
    ),
    ("match", matching::TEXT_BYTES, "bytes of text matched"),
    (
        "match",
        matching::FAULT_NULL_FIELD,
        "rows with a required column null",
    ),
    (
        "match",
        matching::ENTRIES_MATCHED,
        "entries with at least one match",
    ),
    (
        "match",
        matching::ENTRIES_UNMATCHED,
        "entries never matched",
    ),
    // balance
    ("balance", balance::PAIRS_IN, "pairs read by balance"),
    ("balance", balance::PAIRS_KEPT, "pairs kept by balancing"),
    ("balance", balance::MATCHES_IN, "entry matches read"),
    (
        "balance",
        balance::MATCHES_KEPT,
        "entry matches of the kept pairs",
    ),
    (
        "balance",
        balance::FAULT_NULL_FIELD,
        "rows with a required column null",
    ),
    ("balance", balance::T, "t (the balance cap)"),
    (
        "balance",
        balance::ENTRIES_MATCHED,
        "entries with at least one match",
    ),
    (
        "balance",
        balance::ENTRIES_CAPPED,
        "entries over t (those the cap acts on)",
    ),
    (
        "balance",
        balance::MAX_COUNT_AFTER,
        "largest count of an entry after balancing",
    ),
    // download
    ("dedup", dedup::IMAGES, "images read by dedup"),
    ("dedup", dedup::KEPT, "images kept by dedup"),
    (
        "dedup",
        dedup::EXACT_DUPLICATE,
        "exact duplicates (same bytes as a kept image)",
    ),
    (
        "dedup",
        dedup::NEAR_DUPLICATE,
        "near-duplicates (perceptual hash within --max-distance)",
    ),
    (
        "dedup",
        dedup::CONTAMINATED,
        "near an evaluation image (--against)",
    ),
    ("dedup", dedup::GROUPS, "groups of duplicates"),
    ("dedup", dedup::REFERENCE_HASHES, "reference hashes"),
    (
        "dedup",
        dedup::POOL,
        "kept images that match an entry (the pool of balancing after download)",
    ),
    ("dedup", dedup::NO_ENTRY, "kept images that match no entry"),
    // balancing after download
    (
        "balance_downloaded",
        balance::PAIRS_IN,
        "images read by balancing after download",
    ),
    (
        "balance_downloaded",
        balance::PAIRS_KEPT,
        "images in the final dataset (kept by balancing after download)",
    ),
    (
        "balance_downloaded",
        balance::MATCHES_IN,
        "entry matches read",
    ),
    (
        "balance_downloaded",
        balance::MATCHES_KEPT,
        "entry matches of the kept images",
    ),
    (
        "balance_downloaded",
        balance::FAULT_NULL_FIELD,
        "rows with a required column null",
    ),
    (
        "balance_downloaded",
        balance::T,
        "t (the cap after download)",
    ),
    (
        "balance_downloaded",
        balance::ENTRIES_MATCHED,
        "entries with at least one match in the pool",
    ),
    (
        "balance_downloaded",
        balance::ENTRIES_CAPPED,
        "entries over t (those the cap acts on)",
    ),
    (
        "balance_downloaded",
        balance::MAX_COUNT_AFTER,
        "largest count of an entry in the final dataset",
    ),
    ("download", download::SAMPLES, "samples to download"),
    ("download", download::IMAGES, "images downloaded"),
    ("download", download::BYTES_DOWNLOADED, "bytes downloaded"),
    (
        "download",
        download::BYTES_WRITTEN,
        "bytes of images written",
    ),
    (
        "download",
        "skip_too_small",
        "images smaller than --min-image-size",
    ),
    ("download", "skip_too_large", "images over --max-pixels"),
    (
        "download",
        "skip_aspect_ratio",
        "images over --max-aspect-ratio",
    ),
    (
        "download",
        "skip_robots_opt_out",
        "images whose X-Robots-Tag opts out",
    ),
    ("download", "fault_invalid_url", "invalid URLs"),
    (
        "download",
        "fault_forbidden_address",
        "hosts on loopback, private or special addresses",
    ),
    (
        "download",
        "fault_dns_error",
        "host names that did not resolve",
    ),
    ("download", "fault_network_error", "connection failures"),
    ("download", "fault_timeout", "timeouts"),
    ("download", "fault_redirect_loop", "redirect loops"),
    ("download", "fault_too_many_redirects", "too many redirects"),
    (
        "download",
        "fault_body_too_large",
        "bodies over the size limit",
    ),
    (
        "download",
        "fault_not_an_image",
        "responses that are not an image",
    ),
    (
        "download",
        "fault_decode_error",
        "images that do not decode",
    ),
    (
        "download",
        "fault_encode_error",
        "images that could not be re-encoded",
    ),
];

/// The kind of counter `name`.
pub fn class(name: &str) -> CounterClass {
    match CounterKind::of(name) {
        CounterKind::Fault => CounterClass::Fault,
        CounterKind::Skip => CounterClass::Skip,
        CounterKind::Measure => CounterClass::Measure,
    }
}

/// What counter `name` of `stage` counts.
pub fn label(stage: &str, name: &str) -> String {
    if let Some((_, _, l)) = LABELS.iter().find(|(s, n, _)| *s == stage && *n == name) {
        return (*l).to_string();
    }
    if let Some(code) = name.strip_prefix("fault_http_") {
        if code.bytes().all(|b| b.is_ascii_digit()) {
            return format!("HTTP status {code}");
        }
    }
    // Per-language counters of a multilingual run.
    let balancing = matches!(stage, "balance" | "balance_downloaded");
    if let Some(lang) = name
        .strip_prefix(balance::LANG_IN_PREFIX)
        .filter(|_| balancing)
    {
        return format!("rows read in language {lang}");
    }
    if let Some(lang) = name
        .strip_prefix(balance::LANG_KEPT_PREFIX)
        .filter(|_| balancing)
    {
        return format!("rows kept in language {lang}");
    }
    if let Some(lang) = name.strip_prefix(balance::T_PREFIX).filter(|_| balancing) {
        return format!("t of language {lang}");
    }
    if let Some(lang) = name
        .strip_prefix(matching::LANG_PREFIX)
        .filter(|_| stage == "match")
    {
        return format!("texts identified as language {lang}");
    }
    match name.split_once('_') {
        Some(("fault", rest)) => format!("failed: {}", rest.replace('_', " ")),
        Some(("skip", rest)) => format!("removed: {}", rest.replace('_', " ")),
        _ => name.replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_by_stage_and_name() {
        assert_eq!(label("balance", "t"), "t (the balance cap)");
        assert_eq!(
            label("extract", "images"),
            "images found (img elements, image links)"
        );
        assert_eq!(label("download", "images"), "images downloaded");
        assert_eq!(label("download", "fault_http_404"), "HTTP status 404");
        assert_eq!(label("download", "fault_gone_wrong"), "failed: gone wrong");
        assert_eq!(label("extract", "skip_new_rule"), "removed: new rule");
        assert_eq!(label("match", "new_measure"), "new measure");
        assert_eq!(label("match", "lang_ja"), "texts identified as language ja");
        assert_eq!(label("balance", "lang_kept_de"), "rows kept in language de");
        assert_eq!(label("balance_downloaded", "t_ja"), "t of language ja");
        assert_eq!(class("fault_http_404"), CounterClass::Fault);
        assert_eq!(class("skip_duplicate"), CounterClass::Skip);
        assert_eq!(class("unique_pairs"), CounterClass::Measure);
    }

    #[test]
    fn every_label_is_of_a_known_stage_and_unique() {
        for (i, (stage, name, _)) in LABELS.iter().enumerate() {
            assert!(STAGES.contains(stage), "{stage}");
            assert!(
                !LABELS[..i].iter().any(|(s, n, _)| s == stage && n == name),
                "{stage}.{name} twice"
            );
        }
    }

    #[test]
    fn download_classes_are_labelled_with_their_kind() {
        for class in crate::download::stage::FILTER_CLASSES {
            let name = crate::download::stage::failure_counter(class);
            assert!(name.starts_with("skip_"), "{name}");
            assert!(
                LABELS
                    .iter()
                    .any(|(s, n, _)| *s == "download" && *n == name),
                "{name}"
            );
        }
    }
}
