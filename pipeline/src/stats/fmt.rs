//! Number formatting shared by the Markdown and HTML reports.

/// `1234567` → `"1,234,567"`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
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

/// `part / whole` as a percentage with one decimal (`"–"` when `whole` is
/// 0). Only `part == 0` prints as `0.0%` and only `part == whole` as
/// `100.0%`: a share that would round to either prints as `<0.1%` or
/// `>99.9%`.
pub fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".into();
    }
    let p = 100.0 * part as f64 / whole as f64;
    match part.cmp(&whole) {
        std::cmp::Ordering::Equal => "100.0%".into(),
        std::cmp::Ordering::Less if part == 0 => "0.0%".into(),
        std::cmp::Ordering::Less => strictly_between(p),
        std::cmp::Ordering::Greater => above_whole(p),
    }
}

/// A ratio as a percentage with one decimal; as with [`pct`], only exactly 0
/// and exactly 1 print as `0.0%` and `100.0%`.
pub fn share(x: f64) -> String {
    if x.is_nan() {
        "–".into()
    } else if x == 0.0 {
        "0.0%".into()
    } else if x == 1.0 {
        "100.0%".into()
    } else if x > 0.0 && x < 1.0 {
        strictly_between(100.0 * x)
    } else if x > 1.0 {
        above_whole(100.0 * x)
    } else {
        format!("{:.1}%", 100.0 * x)
    }
}

/// A percentage known to lie strictly between 0 and 100 (`p` itself may have
/// rounded to either).
fn strictly_between(p: f64) -> String {
    if p < 0.1 {
        "<0.1%".into()
    } else if p > 99.9 {
        ">99.9%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// A percentage known to lie above 100.
fn above_whole(p: f64) -> String {
    let s = format!("{p:.1}%");
    if s == "100.0%" {
        ">100.0%".into()
    } else {
        s
    }
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
        assert_eq!(pct(0, 7), "0.0%");
        assert_eq!(pct(7, 7), "100.0%");
        assert_eq!(pct(1, 2), "50.0%");
        // 37 of 86,870 entries matched: neither share is 0 or 100%.
        assert_eq!(pct(86_833, 86_870), ">99.9%");
        assert_eq!(pct(37, 86_870), "<0.1%");
        assert_eq!(pct(999, 1000), "99.9%");
        assert_eq!(pct(1, 1000), "0.1%");
        assert_eq!(pct(9_996, 10_000), ">99.9%");
        assert_eq!(pct(4, 10_000), "<0.1%");
        // Floating point cannot tell these from 100% and 0%; integers can.
        assert_eq!(pct(u64::MAX - 1, u64::MAX), ">99.9%");
        assert_eq!(pct(1, u64::MAX), "<0.1%");
        assert_eq!(share(0.0), "0.0%");
        assert_eq!(share(1.0), "100.0%");
        assert_eq!(share(0.625), "62.5%");
        assert_eq!(share(0.9996), ">99.9%");
        assert_eq!(share(0.0004), "<0.1%");
        assert_eq!(share(1.5), "150.0%");
        assert_eq!(share(f64::NAN), "–");
        assert_eq!(pct(10_001, 10_000), ">100.0%");
        assert_eq!(pct(3, 2), "150.0%");
        assert_eq!(short(950.0), "950");
        assert_eq!(short(12_000.0), "12k");
        assert_eq!(short(3_400_000.0), "3.4M");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes_edge(2048.0), "2K");
    }
}
