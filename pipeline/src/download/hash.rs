//! Hashes of downloaded bytes: `--compute-hash` (a column of the shard) and
//! `--verify-hash` (a check against a column of the input), as img2dataset.

use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256, Sha512};

/// A hash of the downloaded bytes, by img2dataset's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashAlgo {
    /// No hash.
    None,
    /// MD5.
    Md5,
    /// SHA-256.
    #[default]
    Sha256,
    /// SHA-512.
    Sha512,
}

impl HashAlgo {
    /// The column name (`md5`, `sha256`, `sha512`); `None` for no hash.
    pub fn column(self) -> Option<&'static str> {
        match self {
            HashAlgo::None => None,
            HashAlgo::Md5 => Some("md5"),
            HashAlgo::Sha256 => Some("sha256"),
            HashAlgo::Sha512 => Some("sha512"),
        }
    }

    /// The lowercase hex digest of `bytes` (`None` for no hash).
    pub fn hex(self, bytes: &[u8]) -> Option<String> {
        Some(match self {
            HashAlgo::None => return None,
            HashAlgo::Md5 => hex::encode(Md5::digest(bytes)),
            HashAlgo::Sha256 => hex::encode(Sha256::digest(bytes)),
            HashAlgo::Sha512 => hex::encode(Sha512::digest(bytes)),
        })
    }
}

impl FromStr for HashAlgo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "" => Ok(HashAlgo::None),
            "md5" => Ok(HashAlgo::Md5),
            "sha256" => Ok(HashAlgo::Sha256),
            "sha512" => Ok(HashAlgo::Sha512),
            other => Err(format!(
                "unknown hash {other:?} (expected md5, sha256, sha512 or none)"
            )),
        }
    }
}

/// `--verify-hash COL,ALGO`: the input column holding the expected hex
/// digest of each image's bytes, and its hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifyHash {
    /// The input column.
    pub column: String,
    /// The hash (not `None`).
    pub algo: HashAlgo,
}

impl FromStr for VerifyHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (column, algo) = s
            .split_once(',')
            .ok_or_else(|| format!("expected COLUMN,ALGO (e.g. sha256,sha256), got {s:?}"))?;
        let algo: HashAlgo = algo.trim().parse()?;
        if algo == HashAlgo::None || column.trim().is_empty() {
            return Err(format!("expected COLUMN,ALGO with a hash, got {s:?}"));
        }
        Ok(VerifyHash {
            column: column.trim().to_string(),
            algo,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_names() {
        assert_eq!(
            HashAlgo::Md5.hex(b"abc").unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(HashAlgo::Sha512.hex(b"abc").unwrap().len(), 128);
        assert_eq!(HashAlgo::None.hex(b"abc"), None);
        assert_eq!("SHA512".parse(), Ok(HashAlgo::Sha512));
        let v: VerifyHash = "expected_md5,md5".parse().unwrap();
        assert_eq!(v.column, "expected_md5");
        assert_eq!(v.algo, HashAlgo::Md5);
        assert!("col".parse::<VerifyHash>().is_err());
        assert!("col,none".parse::<VerifyHash>().is_err());
    }
}
