//! Byte sizes, the one way the project reads and prints them.
//!
//! - [`parse_size`] reads a size flag: a number with an optional unit, where
//!   `K`/`M`/`G`/`T` and `KiB`/`MiB`/`GiB`/`TiB` are powers of 1024 and
//!   `KB`/`MB`/`GB`/`TB` powers of 1000 (so `2G` = `2GiB` = 2·2^30 bytes and
//!   `2GB` = 2·10^9 bytes). Every size flag's `--help` says so.
//! - [`format_bytes`] prints a byte count in binary units: `512 B`,
//!   `3.2 KiB`, `1.5 GiB`.
//!
//! A crate of its own, with no dependencies beyond `thiserror`, so that every
//! crate (the CLI, `pipeline`, `query_vocab`, `trainer`) can use it without
//! depending on one another.

#![warn(missing_docs)]

/// Why a size does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number where one was expected.
    #[error("`{0}` is not a size (examples: 4000000000, 512MiB, 16G, 2GB)")]
    NotANumber(String),
    /// A unit that is none of B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB.
    #[error("unknown size unit `{unit}` in `{input}` (use K, M, G, T (powers of 1024), KiB, MiB, GiB, TiB (the same) or KB, MB, GB, TB (powers of 1000))")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// More bytes than 64 bits hold.
    #[error("`{0}` is too large a size")]
    TooLarge(String),
}

/// The multiplier of a unit (case-insensitive), `None` for an unknown one.
fn unit_factor(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    })
}

/// Parses a byte size: a non-negative number (digits, at most one `.`) and an
/// optional unit (see the crate docs), blanks around and between allowed.
/// Fractions of a byte are dropped: `1.5K` is 1536, `0.3KB` is 300.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim();
    let factor = unit_factor(unit).ok_or_else(|| SizeError::UnknownUnit {
        unit: unit.to_string(),
        input: s.to_string(),
    })?;
    let not_a_number = || SizeError::NotANumber(s.to_string());
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(not_a_number());
    }
    // Integer arithmetic, so that large sizes are exact.
    let too_large = || SizeError::TooLarge(s.to_string());
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let mut bytes = whole.checked_mul(factor).ok_or_else(too_large)?;
    // The fraction: digit by digit, each worth factor / 10^k (in u128 to
    // avoid overflow), the sum rounded down.
    let mut num_frac: u128 = 0;
    let mut den: u128 = 1;
    for d in frac.bytes().take(30) {
        num_frac = num_frac * 10 + u128::from(d - b'0');
        den *= 10;
    }
    let extra = num_frac * u128::from(factor) / den;
    bytes = bytes
        .checked_add(u64::try_from(extra).map_err(|_| too_large())?)
        .ok_or_else(too_large)?;
    Ok(bytes)
}

/// [`parse_size`] for a flag of type `usize`.
pub fn parse_size_usize(s: &str) -> Result<usize, SizeError> {
    usize::try_from(parse_size(s)?).map_err(|_| SizeError::TooLarge(s.to_string()))
}

/// A byte count for people, in binary units with one decimal: `512 B`,
/// `3.2 KiB`, `1.5 GiB`, `2.0 TiB` (TiB is the largest unit used).
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_units() {
        assert_eq!(parse_size("123"), Ok(123));
        assert_eq!(parse_size("123B"), Ok(123));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2gib"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("2gb"), Ok(2_000_000_000));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512MB"), Ok(512_000_000));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4KB"), Ok(4000));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("1TB"), Ok(1_000_000_000_000));
        assert_eq!(parse_size(" 16 GiB "), Ok(16 << 30));
    }

    #[test]
    fn fractions_are_exact_and_round_down() {
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("0.3KB"), Ok(300));
        assert_eq!(parse_size(".5M"), Ok(1 << 19));
        assert_eq!(parse_size("2."), Ok(2));
        assert_eq!(parse_size("0.0001K"), Ok(0));
        assert_eq!(parse_size("1.1"), Ok(1));
        // Integer arithmetic: exact beyond 2^53.
        assert_eq!(parse_size("9007199254740993"), Ok(9_007_199_254_740_993));
        assert_eq!(parse_size("15.999999999T"), Ok(17_592_186_043_316));
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(matches!(
            parse_size("x"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_size("3 parsecs"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(parse_size("G"), Err(SizeError::NotANumber(_))));
        assert!(matches!(parse_size(""), Err(SizeError::NotANumber(_))));
        assert!(matches!(parse_size("."), Err(SizeError::NotANumber(_))));
        assert!(matches!(parse_size("1.2.3"), Err(SizeError::NotANumber(_))));
        assert!(matches!(
            parse_size("-1"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_size("1e9"),
            Err(SizeError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_size("16777216T"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("99999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert_eq!(parse_size("16777215T"), Ok(16_777_215 << 40));
        let msg = parse_size("3 parsecs").unwrap_err().to_string();
        assert!(msg.contains("`parsecs`"), "{msg}");
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1024), "1.0 KiB");
        assert_eq!(format_bytes(3 << 29), "1.5 GiB");
        assert_eq!(format_bytes(16 << 30), "16.0 GiB");
        assert_eq!(format_bytes(5 << 40), "5.0 TiB");
        assert_eq!(format_bytes(2048 << 40), "2048.0 TiB");
        assert_eq!(format_bytes(u64::MAX), "16777216.0 TiB");
        // What a parsed size prints as.
        assert_eq!(format_bytes(parse_size("2G").unwrap()), "2.0 GiB");
        assert_eq!(format_bytes(parse_size("2GB").unwrap()), "1.9 GiB");
    }
}
