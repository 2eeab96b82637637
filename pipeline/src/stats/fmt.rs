//! Number formatting shared by the Markdown and HTML reports.

/// `1234567` → `"1,234,567"`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A signed count with separators.
pub fn signed(n: i64) -> String {
    if n < 0 {
        format!("−{}", int(n.unsigned_abs()))
    } else {
        int(n as u64)
    }
}

/// `part / whole` as a percentage with one decimal (`"–"` when `whole` is 0).
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// A ratio (0..1) as a percentage with one decimal.
pub fn share(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// A compact number for chart axes: `950`, `12k`, `3.4M`, `1.2G`.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if suffix.is_empty() {
        if x.fract() == 0.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    } else if x.abs() >= 10.0 || x.fract() == 0.0 {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// Bytes in binary units: `512 B`, `3.2 KiB`, `1.5 GiB` (see
/// [`units::format_bytes`]).
pub fn bytes(n: u64) -> String {
    units::format_bytes(n)
}

/// Bin-edge label for byte histograms (`1K`, `2M`).
pub fn bytes_edge(v: f64) -> String {
    let n = v as u64;
    if n >= 1 << 20 {
        format!("{}M", n >> 20)
    } else if n >= 1 << 10 {
        format!("{}K", n >> 10)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(int(0), "0");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(signed(-1200), "−1,200");
        assert_eq!(pct(1, 3), "33.3%");
        assert_eq!(pct(1, 0), "–");
        assert_eq!(short(950.0), "950");
        assert_eq!(short(12_000.0), "12k");
        assert_eq!(short(3_400_000.0), "3.4M");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes_edge(2048.0), "2K");
    }
}
