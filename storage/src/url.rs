//! Object URLs: `s3://bucket/key`, `gs://bucket/key`, `az://container/key`.

use std::fmt;

use super::StorageError;

/// The kind of store an object URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// Amazon S3 or an S3-compatible store (`s3://`, also `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage (`az://`, also `azure://`).
    Azure,
}

/// A parsed object URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectUrl {
    /// The store kind.
    pub scheme: Scheme,
    /// Bucket (container).
    pub bucket: String,
    /// Key within the bucket (no leading `/`; may be empty or end in `/`).
    pub key: String,
}

/// Whether `s` starts with an object URL scheme.
pub fn is_object_url(s: &str) -> bool {
    scheme_of(s).is_some()
}

fn scheme_of(s: &str) -> Option<(Scheme, usize)> {
    let lower = s.get(..9).unwrap_or(s).to_ascii_lowercase();
    [
        ("s3://", Scheme::S3),
        ("s3a://", Scheme::S3),
        ("gs://", Scheme::Gcs),
        ("az://", Scheme::Azure),
        ("azure://", Scheme::Azure),
    ]
    .into_iter()
    .find(|(p, _)| lower.starts_with(p))
    .map(|(p, s)| (s, p.len()))
}

impl ObjectUrl {
    /// Parses `s3://bucket/key` (and the other schemes).
    pub fn parse(s: &str) -> Result<Self, StorageError> {
        let bad = |m: &str| StorageError::BadUrl {
            url: s.to_string(),
            message: m.to_string(),
        };
        let (scheme, n) = scheme_of(s)
            .ok_or_else(|| bad("expected s3://, gs:// or az:// followed by a bucket"))?;
        let rest = &s[n..];
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket name"));
        }
        if key.contains("//") || key.split('/').any(|p| p == "." || p == "..") {
            return Err(bad("a key may not have empty, `.` or `..` segments"));
        }
        Ok(Self {
            scheme,
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The URL of the bucket (`s3://bucket`).
    pub fn bucket_url(&self) -> String {
        format!("{}://{}", self.scheme_name(), self.bucket)
    }

    /// `s3`, `gs` or `az`.
    pub fn scheme_name(&self) -> &'static str {
        match self.scheme {
            Scheme::S3 => "s3",
            Scheme::Gcs => "gs",
            Scheme::Azure => "az",
        }
    }

    /// The same bucket with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            key: key.into(),
        }
    }

    /// The key's last segment.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.scheme_name(), self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_buckets_and_keys() {
        let u = ObjectUrl::parse("s3://commoncrawl/crawl-data/x.warc.gz").unwrap();
        assert_eq!(u.scheme, Scheme::S3);
        assert_eq!(u.bucket, "commoncrawl");
        assert_eq!(u.key, "crawl-data/x.warc.gz");
        assert_eq!(u.file_name(), "x.warc.gz");
        assert_eq!(u.to_string(), "s3://commoncrawl/crawl-data/x.warc.gz");
        assert_eq!(ObjectUrl::parse("GS://b").unwrap().key, "");
        assert_eq!(ObjectUrl::parse("az://c/p/").unwrap().scheme, Scheme::Azure);
        for bad in [
            "s3://",
            "s3:///k",
            "http://x/y",
            "s3://b/a//c",
            "s3://b/../c",
        ] {
            assert!(ObjectUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(is_object_url("s3a://b/k") && !is_object_url("/tmp/s3://x"));
    }
}
