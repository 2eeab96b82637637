//! Inline SVG charts for the HTML report: vertical bar charts (histograms,
//! optionally normalised per series), horizontal bar charts (funnels, top
//! lists) and log-log line charts (rank-frequency curves).
//!
//! Every mark carries the number it draws (`data-value` on bars, `data-x` /
//! `data-y` on points) so that a test can check a chart against `stats.json`.

use std::fmt::Write;

use super::fmt;

/// Series colours (colour-blind friendly, distinct in greyscale too).
pub const PALETTE: [&str; 4] = ["#3b6fb6", "#e8883a", "#4a9a57", "#c9434b"];

/// Escapes text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// A number as written in `data-*` attributes (shortest round-trip form).
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One series of bars.
#[derive(Debug, Clone)]
pub struct BarSeries {
    /// Legend name.
    pub name: String,
    /// One value per category.
    pub values: Vec<f64>,
}

/// A bar chart.
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Category labels (x axis for vertical charts, rows for horizontal ones).
    pub categories: Vec<String>,
    /// The series, drawn side by side within a category.
    pub series: Vec<BarSeries>,
    /// Draw each series as shares of its own total (for comparing stages of different sizes).
    pub normalize: bool,
    /// Axis title of the values.
    pub value_label: String,
}

fn legend(o: &mut String, names: &[&str], x: f64, y: f64) {
    let mut cx = x;
    for (i, name) in names.iter().enumerate() {
        let _ = write!(
            o,
            r#"<rect x="{cx:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}" class="lg">{}</text>"#,
            y - 9.0,
            PALETTE[i % PALETTE.len()],
            cx + 14.0,
            esc(name)
        );
        cx += 24.0 + 7.0 * name.chars().count() as f64;
    }
}

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// Number of grid intervals that divide `nice_max` output into round steps.
fn ticks_for(ymax: f64) -> usize {
    let mantissa = ymax / 10f64.powf(ymax.log10().floor());
    if (mantissa - 2.0).abs() < 1e-9 {
        4
    } else {
        5
    }
}

/// A vertical bar chart (histograms), 720×280.
pub fn vertical_bars(c: &BarChart) -> String {
    let (w, h) = (720.0, 280.0);
    let (left, right, top, bottom) = (58.0, 12.0, 26.0, 58.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let totals: Vec<f64> = c
        .series
        .iter()
        .map(|s| s.values.iter().sum::<f64>())
        .collect();
    let shown = |si: usize, v: f64| {
        if c.normalize {
            if totals[si] > 0.0 {
                v / totals[si]
            } else {
                0.0
            }
        } else {
            v
        }
    };
    let max = c
        .series
        .iter()
        .enumerate()
        .flat_map(|(si, s)| s.values.iter().map(move |v| (si, *v)))
        .map(|(si, v)| shown(si, v))
        .fold(0.0, f64::max);
    let ymax = nice_max(max);
    let ticks = ticks_for(ymax);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#
    );
    for i in 0..=ticks {
        let v = ymax * i as f64 / ticks as f64;
        let y = top + ph - ph * i as f64 / ticks as f64;
        let label = if c.normalize {
            fmt::short(v * 100.0) + "%"
        } else {
            fmt::short(v)
        };
        let _ = write!(
            o,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{label}</text>"#,
            left + pw,
            left - 6.0,
            y + 4.0
        );
    }
    let n = c.categories.len().max(1);
    let slot = pw / n as f64;
    let ns = c.series.len().max(1);
    let bw = (slot * 0.8 / ns as f64).max(1.0);
    let every = (n as f64 / 24.0).ceil().max(1.0) as usize;
    for (ci, cat) in c.categories.iter().enumerate() {
        let x0 = left + slot * ci as f64 + slot * 0.1;
        for (si, s) in c.series.iter().enumerate() {
            let v = s.values.get(ci).copied().unwrap_or(0.0);
            let bh = ph * shown(si, v) / ymax;
            let _ = write!(
                o,
                r#"<rect class="bar" data-series="{si}" data-value="{}" x="{:.1}" y="{:.1}" width="{bw:.1}" height="{bh:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                num(v),
                x0 + bw * si as f64,
                top + ph - bh,
                PALETTE[si % PALETTE.len()],
                esc(&format!("{} {cat}", s.name)),
                fmt::int(v as u64)
            );
        }
        if ci % every == 0 {
            let x = left + slot * (ci as f64 + 0.5);
            let _ = write!(
                o,
                r#"<text x="{x:.1}" y="{:.1}" class="ax" text-anchor="end" transform="rotate(-40 {x:.1} {:.1})">{}</text>"#,
                top + ph + 14.0,
                top + ph + 14.0,
                esc(cat)
            );
        }
    }
    let _ = write!(
        o,
        r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" class="axis"/><text x="12" y="{:.1}" class="ax" transform="rotate(-90 12 {:.1})" text-anchor="middle">{}</text>"#,
        left + pw,
        top + ph,
        top + ph,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(&c.value_label)
    );
    if c.series.len() > 1 {
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        legend(&mut o, &names, left, 14.0);
    }
    o.push_str("</svg>");
    o
}

/// A horizontal bar chart (funnels, top lists), 720 wide, one row per category.
pub fn horizontal_bars(c: &BarChart) -> String {
    let ns = c.series.len().max(1);
    let row = 8.0 + 14.0 * ns as f64;
    let (left, right, top) = (250.0, 110.0, if ns > 1 { 26.0 } else { 8.0 });
    let w = 720.0;
    let h = top + row * c.categories.len() as f64 + 8.0;
    let pw = w - left - right;
    let max = c
        .series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let max = if max <= 0.0 { 1.0 } else { max };
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h:.0}" width="{w}" height="{h:.0}" role="img">"#
    );
    for (ci, cat) in c.categories.iter().enumerate() {
        let y0 = top + row * ci as f64 + 4.0;
        let label: String = if cat.chars().count() > 38 {
            format!("{}…", cat.chars().take(37).collect::<String>())
        } else {
            cat.clone()
        };
        let _ = write!(
            o,
            r#"<text x="{:.1}" y="{:.1}" class="lb" text-anchor="end"><title>{}</title>{}</text>"#,
            left - 8.0,
            y0 + row / 2.0,
            esc(cat),
            esc(&label)
        );
        for (si, s) in c.series.iter().enumerate() {
            let v = s.values.get(ci).copied().unwrap_or(0.0);
            let bw = (pw * v / max).max(if v > 0.0 { 1.0 } else { 0.0 });
            let y = y0 + 14.0 * si as f64;
            let _ = write!(
                o,
                r#"<rect class="bar" data-series="{si}" data-value="{}" x="{left}" y="{y:.1}" width="{bw:.1}" height="12" fill="{}"><title>{}: {}</title></rect><text x="{:.1}" y="{:.1}" class="ax">{}</text>"#,
                num(v),
                PALETTE[si % PALETTE.len()],
                esc(&format!("{} {cat}", s.name)),
                fmt::int(v as u64),
                left + bw + 5.0,
                y + 10.0,
                fmt::int(v as u64)
            );
        }
    }
    if ns > 1 {
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        legend(&mut o, &names, left, 14.0);
    }
    o.push_str("</svg>");
    o
}

/// One series of a line chart.
#[derive(Debug, Clone)]
pub struct LineSeries {
    /// Legend name.
    pub name: String,
    /// `[x, y]` points, x ascending.
    pub points: Vec<[f64; 2]>,
}

/// A log-log line chart with an optional horizontal marker line.
#[derive(Debug, Clone)]
pub struct LogLogChart {
    /// The series.
    pub series: Vec<LineSeries>,
    /// A horizontal line at this y, with its label.
    pub marker: Option<(f64, String)>,
    /// x axis title.
    pub x_label: String,
    /// y axis title.
    pub y_label: String,
}

/// Where a line chart's plot area lies in its SVG.
struct Frame {
    h: f64,
    left: f64,
    top: f64,
    pw: f64,
    ph: f64,
}

/// Draws the series of a line chart (a polyline and a point per value, each
/// point carrying its `data-x`/`data-y`), the axis titles and the legend, and
/// closes the SVG. `line` is (stroke width, point radius).
fn finish(
    o: &mut String,
    f: &Frame,
    series: &[LineSeries],
    (sx, sy): (&dyn Fn(f64) -> f64, &dyn Fn(f64) -> f64),
    (stroke, radius): (f64, f64),
    (x_label, y_label): (&str, &str),
) {
    for (si, s) in series.iter().enumerate() {
        let colour = PALETTE[si % PALETTE.len()];
        let line: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p[0]), sy(p[1])))
            .collect();
        let _ = write!(
            o,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="{stroke}" points="{}"/>"#,
            line.join(" ")
        );
        for p in &s.points {
            let _ = write!(
                o,
                r#"<circle class="pt" data-series="{si}" data-x="{}" data-y="{}" cx="{:.1}" cy="{:.1}" r="{radius}" fill="{colour}"/>"#,
                num(p[0]),
                num(p[1]),
                sx(p[0]),
                sy(p[1])
            );
        }
    }
    let _ = write!(
        o,
        r#"<text x="{:.1}" y="{:.1}" class="ax" text-anchor="middle">{}</text><text x="14" y="{:.1}" class="ax" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        f.left + f.pw / 2.0,
        f.h - 6.0,
        esc(x_label),
        f.top + f.ph / 2.0,
        f.top + f.ph / 2.0,
        esc(y_label)
    );
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(o, &names, f.left, 16.0);
    o.push_str("</svg>");
}

/// A log-log line chart, 720×340.
pub fn loglog(c: &LogLogChart) -> String {
    let (w, h) = (720.0, 340.0);
    let (left, right, top, bottom) = (64.0, 16.0, 28.0, 44.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let xmax = pts().map(|p| p[0]).fold(1.0, f64::max);
    let mut ymax = pts().map(|p| p[1]).fold(1.0, f64::max);
    if let Some((t, _)) = &c.marker {
        ymax = ymax.max(*t);
    }
    let xdec = xmax.log10().ceil().max(1.0);
    let ydec = (ymax * 1.01).log10().ceil().max(1.0);
    let sx = |x: f64| left + pw * x.max(1.0).log10() / xdec;
    let sy = |y: f64| top + ph - ph * y.max(1.0).log10() / ydec;
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#
    );
    for d in 0..=(xdec as i32) {
        let x = sx(10f64.powi(d));
        let _ = write!(
            o,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" class="ax" text-anchor="middle">{}</text>"#,
            top + ph,
            top + ph + 16.0,
            fmt::short(10f64.powi(d))
        );
    }
    for d in 0..=(ydec as i32) {
        let y = sy(10f64.powi(d));
        let _ = write!(
            o,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{}</text>"#,
            left + pw,
            left - 6.0,
            y + 4.0,
            fmt::short(10f64.powi(d))
        );
    }
    if let Some((t, label)) = &c.marker {
        let y = sy(*t);
        let _ = write!(
            o,
            r#"<line class="marker" data-y="{}" x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-dasharray="6 4" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" class="lb" text-anchor="end" fill="{}">{}</text>"#,
            num(*t),
            left + pw,
            PALETTE[3],
            left + pw - 4.0,
            y - 5.0,
            PALETTE[3],
            esc(label)
        );
    }
    let frame = Frame {
        h,
        left,
        top,
        pw,
        ph,
    };
    finish(
        &mut o,
        &frame,
        &c.series,
        (&sx, &sy),
        (2.0, 1.6),
        (&c.x_label, &c.y_label),
    );
    o
}

/// A line chart on linear axes (training curves), 720×300: x from 0, y from
/// the series' minimum (or 0) to a round maximum.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// The series.
    pub series: Vec<LineSeries>,
    /// x axis title.
    pub x_label: String,
    /// y axis title.
    pub y_label: String,
    /// Start the y axis at 0 (else at the smallest value, rounded down).
    pub y_from_zero: bool,
}

/// A line chart on linear axes; points carry `data-x`/`data-y` like
/// [`loglog`]'s.
pub fn lines(c: &LineChart) -> String {
    let (w, h) = (720.0, 300.0);
    let (left, right, top, bottom) = (64.0, 16.0, 28.0, 44.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let pts = || c.series.iter().flat_map(|s| s.points.iter());
    let xmax = nice_max(pts().map(|p| p[0]).fold(0.0, f64::max));
    let ymax = nice_max(pts().map(|p| p[1]).fold(0.0, f64::max));
    let ymin = if c.y_from_zero {
        0.0
    } else {
        let lo = pts().map(|p| p[1]).fold(f64::INFINITY, f64::min);
        if lo.is_finite() && lo > 0.0 {
            let step = ymax / ticks_for(ymax) as f64;
            (lo / step).floor() * step
        } else {
            0.0
        }
    };
    let sx = |x: f64| left + pw * x / xmax;
    let sy = |y: f64| top + ph - ph * (y - ymin) / (ymax - ymin).max(f64::MIN_POSITIVE);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img">"#
    );
    let xt = ticks_for(xmax);
    for i in 0..=xt {
        let v = xmax * i as f64 / xt as f64;
        let x = sx(v);
        let _ = write!(
            o,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{top}" y2="{:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" class="ax" text-anchor="middle">{}</text>"#,
            top + ph,
            top + ph + 16.0,
            fmt::short(v)
        );
    }
    let yt = ticks_for(ymax);
    for i in 0..=yt {
        let v = ymin + (ymax - ymin) * i as f64 / yt as f64;
        let y = sy(v);
        let _ = write!(
            o,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="ax" text-anchor="end">{}</text>"#,
            left + pw,
            left - 6.0,
            y + 4.0,
            if ymax <= 1.0 {
                format!("{v:.2}")
            } else {
                fmt::short(v)
            }
        );
    }
    let frame = Frame {
        h,
        left,
        top,
        pw,
        ph,
    };
    finish(
        &mut o,
        &frame,
        &c.series,
        (&sx, &sy),
        (1.5, 1.4),
        (&c.x_label, &c.y_label),
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_carry_their_values() {
        let c = BarChart {
            categories: vec!["a".into(), "b<".into()],
            series: vec![BarSeries {
                name: "s".into(),
                values: vec![3.0, 0.5],
            }],
            normalize: false,
            value_label: "n".into(),
        };
        let v = vertical_bars(&c);
        assert!(v.contains(r#"data-value="3""#) && v.contains(r#"data-value="0.5""#));
        assert!(v.contains("b&lt;"));
        let hz = horizontal_bars(&c);
        assert_eq!(hz.matches("class=\"bar\"").count(), 2);
    }

    #[test]
    fn loglog_marks_points_and_marker() {
        let c = LogLogChart {
            series: vec![LineSeries {
                name: "before".into(),
                points: vec![[1.0, 100.0], [10.0, 3.0]],
            }],
            marker: Some((20.0, "t = 20".into())),
            x_label: "rank".into(),
            y_label: "matches".into(),
        };
        let s = loglog(&c);
        assert_eq!(s.matches("class=\"pt\"").count(), 2);
        assert!(s.contains(r#"data-y="20""#));
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(730.0), 1000.0);
        assert_eq!(nice_max(180.0), 200.0);
    }
}
