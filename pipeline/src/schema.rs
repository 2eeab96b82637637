//! Column names and Arrow schemas of the files between stages
//! (`docs/formats.md`). Every stage reads and writes through these so that the
//! contracts live in one place.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};

/// Column names.
pub mod col {
    /// Hex of the 128-bit hash of `url + "\n" + text`.
    pub const UID: &str = "uid";
    /// Image URL.
    pub const URL: &str = "url";
    /// Alt-text (or caption from a table).
    pub const TEXT: &str = "text";
    /// URL of the page the image was found on (null for tables).
    pub const PAGE_URL: &str = "page_url";
    /// Where the pair came from (`wat`, `warc`, `table`).
    pub const SOURCE: &str = "source";
    /// Vocabulary entry ids the text matched, ascending.
    pub const QUERY_IDS: &str = "query_ids";
    /// Vocabulary entry id (counts files).
    pub const ID: &str = "id";
    /// Number of matches (counts files).
    pub const COUNT: &str = "count";
    /// Shard sample key, shard-major and zero-padded.
    pub const KEY: &str = "key";
    /// Caption in shards (the pair's text).
    pub const CAPTION: &str = "caption";
    /// `success` or the failure class.
    pub const STATUS: &str = "status";
    /// Failure detail (null on success).
    pub const ERROR_MESSAGE: &str = "error_message";
    /// Final image width.
    pub const WIDTH: &str = "width";
    /// Final image height.
    pub const HEIGHT: &str = "height";
    /// Width before resizing.
    pub const ORIGINAL_WIDTH: &str = "original_width";
    /// Height before resizing.
    pub const ORIGINAL_HEIGHT: &str = "original_height";
    /// sha256 (hex) of the original bytes.
    pub const SHA256: &str = "sha256";
    /// 64-bit DCT pHash of the image (see `crate::phash`); null on failure.
    pub const PHASH: &str = "phash";
    /// The encoded image (JPEG unless configured otherwise); null on failure.
    pub const JPG: &str = "jpg";
}

/// The `query_ids` field type: `list<uint32>` with nullable-free items.
pub fn query_ids_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::UInt32, false)))
}

fn pair_fields() -> Vec<Field> {
    vec![
        Field::new(col::UID, DataType::Utf8, false),
        Field::new(col::URL, DataType::Utf8, false),
        Field::new(col::TEXT, DataType::Utf8, false),
        Field::new(col::PAGE_URL, DataType::Utf8, true),
        Field::new(col::SOURCE, DataType::Utf8, false),
    ]
}

/// `pairs/part-NNNNN.parquet`.
pub fn pairs_schema() -> SchemaRef {
    Arc::new(Schema::new(pair_fields()))
}

/// `matched/` and `selected/` parts: the pairs columns plus `query_ids`.
pub fn matched_schema() -> SchemaRef {
    let mut fields = pair_fields();
    fields.push(Field::new(col::QUERY_IDS, query_ids_type(), false));
    Arc::new(Schema::new(fields))
}

/// `counts/part-NNNNN.parquet` and `counts.parquet`.
pub fn counts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::ID, DataType::UInt32, false),
        Field::new(col::COUNT, DataType::UInt64, false),
    ]))
}

/// `shards/NNNNN.parquet` (a superset of img2dataset's parquet output).
pub fn shard_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(col::KEY, DataType::Utf8, false),
        Field::new(col::UID, DataType::Utf8, false),
        Field::new(col::URL, DataType::Utf8, false),
        Field::new(col::CAPTION, DataType::Utf8, true),
        Field::new(col::QUERY_IDS, query_ids_type(), true),
        Field::new(col::STATUS, DataType::Utf8, false),
        Field::new(col::ERROR_MESSAGE, DataType::Utf8, true),
        Field::new(col::WIDTH, DataType::Int32, true),
        Field::new(col::HEIGHT, DataType::Int32, true),
        Field::new(col::ORIGINAL_WIDTH, DataType::Int32, true),
        Field::new(col::ORIGINAL_HEIGHT, DataType::Int32, true),
        Field::new(col::SHA256, DataType::Utf8, true),
        Field::new(col::PHASH, DataType::UInt64, true),
        Field::new(col::JPG, DataType::Binary, true),
    ]))
}

/// The pair identity: hex of the 128-bit xxh3 hash of `url + "\n" + text`
/// (32 lowercase hex digits). Stable across versions and platforms.
pub fn uid(url: &str, text: &str) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(url.as_bytes());
    hasher.update(b"\n");
    hasher.update(text.as_bytes());
    format!("{:032x}", hasher.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_stable_hex() {
        let u = uid("http://a/b.jpg", "a dog");
        assert_eq!(u.len(), 32);
        assert!(u.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(u, uid("http://a/b.jpg", "a dog"));
        assert_ne!(u, uid("http://a/b.jpg\na", "dog"));
    }

    /// Golden values: the uid is stored in every file and decides the
    /// balance draws, so a change of hash, separator or hex formatting must
    /// fail here. Checked against the reference xxHash (Python `xxhash`:
    /// `xxh3_128_hexdigest((url + "\n" + text).encode())`).
    #[test]
    fn uid_matches_golden_values() {
        assert_eq!(
            uid("http://a/b.jpg", "a dog"),
            "3bdb4030fa29428a4d54fe6eae9490cd"
        );
        assert_eq!(uid("", ""), "7858ef011ea0bad1384868fba0c21fdc");
        assert_eq!(
            uid("https://例え.jp/画像.png", "猫の写真 — café"),
            "63259b654fd1b2f78e00eb1f790cd3c4"
        );
        assert_eq!(
            uid("http://x.example/y.jpg", "emoji 🐱 and\ttab"),
            "6f7b7751c43e82ba281b6f34ea652051"
        );
        assert_eq!(
            uid("http://img.example/0.jpg", "a cat"),
            "5a2b0356dd0ce94af3bbe2dadbd15059"
        );
        // Leading zeros are kept: always 32 digits.
        assert_eq!(
            uid("http://img.example/119.jpg", "a cat"),
            "008db87cc799dbea8354d47ede0cfb7d"
        );
    }

    #[test]
    fn the_generator_writes_these_formats() {
        assert_eq!(synthetic::formats::pairs_schema(), pairs_schema());
        assert_eq!(synthetic::formats::matched_schema(), matched_schema());
        assert_eq!(synthetic::formats::counts_schema(), counts_schema());
        assert_eq!(synthetic::formats::shard_schema(), shard_schema());
        for (url, text) in [("http://a/b.jpg", "a dog"), ("", ""), ("u", "é ✓")] {
            assert_eq!(synthetic::formats::uid(url, text), uid(url, text));
        }
    }
}
