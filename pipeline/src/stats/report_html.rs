//! `report.html`: one self-contained page (inline CSS, inline SVG charts, no
//! scripts that run, no external assets) showing [`RunStats`].
//!
//! Each chart is a `<figure class="chart">` holding its SVG and a
//! `<script type="application/json" class="chart-data">` block that names,
//! for every series, the JSON pointer into `stats.json` its numbers come
//! from (`path`, plus `field` for arrays of objects) and the numbers
//! themselves. The numbers are read from the serialised statistics through
//! those pointers, so the page and `stats.json` cannot disagree.

use std::fmt::Write;

use serde_json::{json, Value};

use super::fmt;
use super::languages::LanguageStats;
use super::model::*;
use super::report_md::{
    complete_text, kind_text, language_cells, languages_note, output_rows_note, reason_text,
    seconds, LANGUAGE_COLUMNS,
};
use super::sketch::Histogram;
use super::svg::{self, esc, BarChart, BarSeries, LineSeries, LogLogChart};

/// A series taken from `stats.json`.
struct Src<'a> {
    name: String,
    path: String,
    field: Option<&'a str>,
}

fn src(name: impl Into<String>, path: impl Into<String>) -> Src<'static> {
    Src {
        name: name.into(),
        path: path.into(),
        field: None,
    }
}

/// The numbers at `path` (an array of numbers, an array of objects with
/// `field`, or an object of numbers), with their labels (object keys or the
/// `key` field) when there are some.
fn values_at(root: &Value, path: &str, field: Option<&str>) -> (Vec<String>, Vec<f64>) {
    let mut labels = Vec::new();
    let mut values = Vec::new();
    match root.pointer(path) {
        Some(Value::Array(items)) => {
            for item in items {
                match field {
                    Some(f) => {
                        values.push(item.get(f).and_then(Value::as_f64).unwrap_or(0.0));
                        if let Some(k) = item
                            .get("key")
                            .or_else(|| item.get("label"))
                            .and_then(Value::as_str)
                        {
                            labels.push(k.to_string());
                        }
                    }
                    None => values.push(item.as_f64().unwrap_or(0.0)),
                }
            }
        }
        Some(Value::Object(map)) => {
            for (k, v) in map {
                labels.push(k.clone());
                values.push(v.as_f64().unwrap_or(0.0));
            }
        }
        _ => {}
    }
    (labels, values)
}

fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn figure(o: &mut String, id: &str, title: &str, note: &str, svg: &str, data: Value) {
    let _ = write!(
        o,
        "<figure class=\"chart\" id=\"chart-{id}\"><figcaption>{}</figcaption>{svg}",
        esc(title)
    );
    if !note.is_empty() {
        let _ = write!(o, "<p class=\"note\">{}</p>", esc(note));
    }
    let _ = writeln!(
        o,
        "<script type=\"application/json\" class=\"chart-data\">{}</script></figure>",
        script_json(&data)
    );
}

/// How a bar chart is titled and drawn.
struct Fig<'a> {
    id: &'a str,
    title: &'a str,
    note: &'a str,
    /// Category labels; `None` takes the labels of the first series.
    categories: Option<Vec<String>>,
    horizontal: bool,
    normalize: bool,
    value_label: &'a str,
}

/// A bar chart whose categories are given and whose series come from `stats.json`.
fn bar_figure(o: &mut String, root: &Value, fig: Fig, series: Vec<Src>) {
    let Fig {
        id,
        title,
        note,
        categories,
        horizontal,
        normalize,
        value_label,
    } = fig;
    let mut cats = categories.unwrap_or_default();
    let mut bar_series = Vec::new();
    let mut data_series = Vec::new();
    for s in &series {
        let (labels, values) = values_at(root, &s.path, s.field);
        if cats.is_empty() {
            cats = labels;
        }
        let mut d = json!({"name": s.name, "path": s.path, "values": values});
        if let Some(f) = s.field {
            d["field"] = json!(f);
        }
        data_series.push(d);
        bar_series.push(BarSeries {
            name: s.name.clone(),
            values,
        });
    }
    if cats.is_empty() {
        return;
    }
    let chart = BarChart {
        categories: cats.clone(),
        series: bar_series,
        normalize,
        value_label: value_label.into(),
    };
    let svg = if horizontal {
        svg::horizontal_bars(&chart)
    } else {
        svg::vertical_bars(&chart)
    };
    let data = json!({"id": id, "kind": "bars", "normalized": normalize, "categories": cats, "series": data_series});
    figure(o, id, title, note, &svg, data);
}

fn hist_labels(h: &Histogram, f: impl Fn(f64) -> String) -> Vec<String> {
    (0..h.edges.len()).map(|i| h.bin_label(i, &f)).collect()
}

fn plain(v: f64) -> String {
    fmt::short(v)
}

fn pixels(v: f64) -> String {
    format!("{}", v as i64)
}

fn card(o: &mut String, value: &str, label: &str) {
    let _ = write!(
        o,
        "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
        esc(value),
        esc(label)
    );
}

const STYLE: &str = "body{font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;color:#1d2430;background:#f6f7f9;margin:0}\
main{max-width:1040px;margin:0 auto;padding:24px 28px 60px}\
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 10px;padding-bottom:4px;border-bottom:2px solid #d9dee6}\
h3{font-size:16px;margin:20px 0 8px}.sub{color:#5a6576;margin:0 0 14px}\
.warn{background:#fff4e0;border-left:4px solid #e8883a;padding:8px 12px;margin:12px 0}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px;margin:10px 0 16px}\
.card{background:#fff;border:1px solid #dfe3ea;border-radius:6px;padding:10px 12px}\
.card .v{font-size:21px;font-weight:600}.card .l{color:#5a6576;font-size:12.5px}\
figure.chart svg{width:100%;height:auto;max-width:860px;display:block}figure.chart{background:#fff;border:1px solid #dfe3ea;border-radius:6px;margin:12px 0;padding:10px 12px;overflow-x:auto}\
figcaption{font-weight:600;margin-bottom:6px}.note{color:#5a6576;font-size:12.5px;margin:4px 0 0}\
svg text{font-family:'DejaVu Sans',system-ui,sans-serif}svg .ax{font-size:11px;fill:#5a6576}svg .lb{font-size:12px;fill:#1d2430}\
svg .lg{font-size:12px;fill:#1d2430}svg .grid{stroke:#e6e9ef}svg .axis{stroke:#8a94a3}\
table{border-collapse:collapse;background:#fff;margin:8px 0 14px;font-size:13px}\
th,td{border:1px solid #dfe3ea;padding:4px 8px;text-align:left;vertical-align:top}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
th{background:#eef1f5}td.t{max-width:520px;overflow-wrap:anywhere}details{margin:8px 0}summary{cursor:pointer;font-weight:600}";

/// The HTML text of the report.
pub fn render(s: &RunStats) -> Result<String, serde_json::Error> {
    let root = serde_json::to_value(s)?;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Dataset statistics: {}</title><style>{STYLE}</style></head><body><main>\n",
        esc(&s.run_dir)
    );
    let _ = writeln!(o, "<h1>Dataset statistics</h1><p class=\"sub\">Run <code>{}</code> · {} · stages found: {}</p>", esc(&s.run_dir), esc(&s.generator), esc(&s.stages.present.join(", ")));
    if !s.stages.missing.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"warn\" id=\"missing-stages\">Not in this run (left out of the report): <b>{}</b>.</p>",
            esc(&s.stages.missing.join(", "))
        );
    }
    if !s.stages.without_records.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"warn\" id=\"without-records\">Outputs without the records of their stage (left out of the funnel): <b>{}</b>.</p>",
            esc(&s.stages.without_records.join(", "))
        );
    }
    funnel(&mut o, s, &root);
    if let Some(v) = &s.vocab {
        vocab(&mut o, v, &root);
    }
    if let Some(l) = &s.languages {
        languages(&mut o, l);
    }
    captions(&mut o, s, &root);
    if let Some(i) = &s.images {
        images(&mut o, i, &root);
    }
    domains(&mut o, s, &root);
    evaluations(&mut o, s);
    facts(&mut o, s);
    o.push_str("</main></body></html>\n");
    Ok(o)
}

fn evaluations(o: &mut String, s: &RunStats) {
    if s.evaluations.is_empty() {
        return;
    }
    o.push_str("<section id=\"evaluations\"><h2>Models trained on this data</h2>\n");
    for e in &s.evaluations {
        let _ = writeln!(
            o,
            "<h3>{}</h3>\n<table><tr><th>task</th><th>kind</th><th>metric</th>\
             <th class=\"n\">score</th></tr>",
            esc(&super::evaluations::title(e))
        );
        for r in &e.rows {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.name),
                esc(&r.kind),
                esc(&r.metric),
                esc(&super::fmt::share(r.score))
            );
        }
        let _ = writeln!(o, "</table><p>From <code>{}</code>.</p>", esc(&e.source));
    }
    o.push_str("</section>\n");
}

fn languages(o: &mut String, l: &LanguageStats) {
    o.push_str("<section id=\"languages\"><h2>Languages</h2>\n<table><tr>");
    for (i, c) in LANGUAGE_COLUMNS.iter().enumerate() {
        let class = if i == 0 { "" } else { " class=\"n\"" };
        let _ = write!(o, "<th{class}>{c}</th>");
    }
    o.push_str("</tr>\n");
    for r in &l.rows {
        o.push_str("<tr>");
        for (i, c) in language_cells(r).iter().enumerate() {
            let class = if i == 0 { "" } else { " class=\"n\"" };
            let _ = write!(o, "<td{class}>{}</td>", esc(c));
        }
        o.push_str("</tr>\n");
    }
    let _ = writeln!(o, "</table><p>{}</p></section>", esc(&languages_note(l)));
}

fn funnel(o: &mut String, s: &RunStats, root: &Value) {
    o.push_str("<section id=\"funnel\"><h2>Funnel</h2>\n");
    if s.funnel.is_empty() {
        o.push_str("<p>No stage records were found (<code>_stages/STAGE/</code>).</p></section>\n");
        return;
    }
    let labels: Vec<String> = s.funnel.iter().map(|f| f.label.clone()).collect();
    bar_figure(
        o,
        root,
        Fig {
            id: "funnel",
            title: "From crawled records to downloaded images",
            note: "",
            categories: Some(labels),
            horizontal: true,
            normalize: false,
            value_label: "",
        },
        vec![Src {
            name: "count".into(),
            path: "/funnel".into(),
            field: Some("count"),
        }],
    );
    o.push_str("<p>From the stages' records. Failures are <code>fault_*</code> counters, filtered items <code>skip_*</code> counters.</p>\n");
    o.push_str("<table><tr><th>stage</th><th>step</th><th class=\"n\">count</th><th class=\"n\">drop</th><th>why</th></tr>\n");
    for f in &s.funnel {
        let mut why: Vec<String> = f
            .reasons
            .iter()
            .map(|r| format!("{} <b>{}</b>", esc(&reason_text(r)), fmt::int(r.count)))
            .collect();
        if let Some(note) = output_rows_note(f) {
            why.push(format!("<span class=\"warn\">{}</span>", esc(&note)));
        }
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&f.stage),
            esc(&f.label),
            fmt::int(f.count),
            f.drop.map(fmt::signed).unwrap_or_default(),
            why.join("<br>")
        );
    }
    o.push_str("</table></section>\n");
}

fn vocab(o: &mut String, v: &VocabStats, root: &Value) {
    o.push_str("<section id=\"vocab\"><h2>Vocabulary</h2><div class=\"cards\">");
    if let Some(e) = v.entries {
        card(o, &fmt::int(e), "entries");
        card(
            o,
            &fmt::int(v.never_matched.unwrap_or(0)),
            &format!(
                "entries never matched ({})",
                fmt::pct(v.never_matched.unwrap_or(0), e)
            ),
        );
        card(
            o,
            &fmt::int(v.matched_entries),
            &format!(
                "entries that matched a text ({})",
                fmt::pct(v.matched_entries, e)
            ),
        );
    }
    if v.entries.is_none() {
        card(
            o,
            &fmt::int(v.matched_entries),
            "entries that matched a text",
        );
    }
    card(
        o,
        &fmt::int(v.total_matches_before),
        "matches before balancing",
    );
    if let Some(a) = v.total_matches_after {
        card(o, &fmt::int(a), "matches after balancing");
    }
    card(
        o,
        &fmt::int(v.t),
        &format!(
            "{}, from {}",
            super::counters::label("balance", "t"),
            v.t_from
        ),
    );
    card(
        o,
        &fmt::int(v.capped_entries),
        &format!(
            "entries over t, holding {} of matches",
            fmt::pct(v.capped_matches, v.total_matches_before)
        ),
    );
    if let Some(a) = v.over_t_after {
        card(o, &fmt::int(a), "entries over t after balancing (soft cap)");
    }
    o.push_str("</div>\n");
    if !v.per_source.is_empty() {
        bar_figure(
            o,
            root,
            Fig {
                id: "vocab-sources",
                title: "Entries per source, and how many matched a text",
                note: "",
                categories: None,
                horizontal: true,
                normalize: false,
                value_label: "",
            },
            vec![
                src("entries", "/vocab/per_source"),
                src("matched", "/vocab/matched_per_source"),
            ],
        );
    }
    let mut series = vec![LineSeries {
        name: "before balancing".into(),
        points: v
            .rank_frequency
            .before
            .iter()
            .map(|p| [p[0] as f64, p[1] as f64])
            .collect(),
    }];
    let mut data = vec![
        json!({"name": "before balancing", "path": "/vocab/rank_frequency/before", "points": v.rank_frequency.before}),
    ];
    if let Some(after) = &v.rank_frequency.after {
        series.push(LineSeries {
            name: "after balancing".into(),
            points: after.iter().map(|p| [p[0] as f64, p[1] as f64]).collect(),
        });
        data.push(json!({"name": "after balancing", "path": "/vocab/rank_frequency/after", "points": after}));
    }
    if !v.rank_frequency.before.is_empty() {
        let chart = LogLogChart {
            series,
            marker: Some((v.t as f64, format!("t = {}", fmt::int(v.t)))),
            x_label: "entry rank (1 = most matched)".into(),
            y_label: "matches".into(),
        };
        figure(
            o,
            "rank-frequency",
            "Matches per entry by rank (log-log)",
            "Each entry's number of matching texts, entries sorted by it. Balancing flattens the head down towards t.",
            &svg::loglog(&chart),
            json!({"id": "rank-frequency", "kind": "loglog", "series": data, "marker": {"path": "/vocab/t", "value": v.t}}),
        );
    }
    let stages: Vec<&String> = v.matches_per_text.keys().collect();
    if let Some(first) = stages.first() {
        let h = &v.matches_per_text[*first];
        bar_figure(
            o,
            root,
            Fig {
                id: "matches-per-text",
                title: "Entries matched per text",
                note: "Share of texts in each stage.",
                categories: Some(hist_labels(h, plain)),
                horizontal: false,
                normalize: true,
                value_label: "share of texts",
            },
            stages
                .iter()
                .map(|st| src(st.as_str(), format!("/vocab/matches_per_text/{st}/counts")))
                .collect(),
        );
    }
    if !v.top_entries.is_empty() {
        o.push_str("<h3>Top entries</h3><table><tr><th class=\"n\">id</th><th>entry</th><th>source</th><th class=\"n\">before</th><th class=\"n\">after</th></tr>\n");
        for e in &v.top_entries {
            let _ = writeln!(
                o,
                "<tr><td class=\"n\">{}</td><td class=\"t\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                e.id,
                esc(e.query.as_deref().unwrap_or("?")),
                esc(e.source.as_deref().unwrap_or("")),
                fmt::int(e.before),
                e.after.map(fmt::int).unwrap_or_default()
            );
        }
        o.push_str("</table>\n");
    }
    if !v.cumulative.is_empty() {
        let points: Vec<[f64; 2]> = v
            .cumulative
            .iter()
            .map(|p| [p[0] as f64, p[1] as f64])
            .collect();
        let chart = LogLogChart {
            series: vec![LineSeries {
                name: "matches held by the top entries".into(),
                points,
            }],
            marker: None,
            x_label: "top entries (by matches)".into(),
            y_label: "matches held (cumulative)".into(),
        };
        figure(
            o,
            "cumulative",
            "Cumulative matches held by the most matched entries",
            "How concentrated the pool is before balancing: the matches held by the top k entries.",
            &svg::loglog(&chart),
            json!({"id": "cumulative", "kind": "loglog", "series": [{"name": "cumulative", "path": "/vocab/cumulative", "points": v.cumulative}]}),
        );
    }
    if !v.what_if.is_empty() {
        o.push_str("<h3>What if t were…</h3><p class=\"note\">From the counts before balancing: entries over t, the matches left when every entry is capped at t (Σ min(count, t); pairs kept are at most this), and the tail share (matches held by entries with count &lt; t).</p><table id=\"what-if\"><tr><th class=\"n\">t</th><th class=\"n\">entries over t</th><th class=\"n\">matches left</th><th class=\"n\">share left</th><th class=\"n\">tail share</th></tr>\n");
        for w in &v.what_if {
            let _ = writeln!(
                o,
                "<tr{}><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}%</td></tr>",
                if w.t == v.t { " class=\"current\"" } else { "" },
                fmt::int(w.t),
                fmt::int(w.capped_entries),
                fmt::int(w.matches_kept),
                100.0 * w.kept_share,
                100.0 * w.tail_share
            );
        }
        o.push_str("</table>\n");
    }
    o.push_str("</section>\n");
}

fn captions(o: &mut String, s: &RunStats, root: &Value) {
    let ordered = in_stage_order(&s.captions);
    let Some((_, first)) = ordered.first().copied() else {
        return;
    };
    o.push_str("<section id=\"captions\"><h2>Captions</h2><div class=\"cards\">");
    for (stage, c) in &ordered {
        card(
            o,
            &format!(
                "{:.1} chars · {:.1} tokens",
                c.chars.mean(),
                c.tokens.mean()
            ),
            &format!("mean caption length, {stage} ({} texts)", fmt::int(c.texts)),
        );
    }
    o.push_str("</div>\n");
    let stages: Vec<&String> = ordered.iter().map(|(k, _)| *k).collect();
    for (id, what, h, label) in [
        (
            "caption-chars",
            "chars",
            &first.chars,
            "Caption length in characters",
        ),
        (
            "caption-tokens",
            "tokens",
            &first.tokens,
            "Caption length in tokens (whitespace-separated words)",
        ),
    ] {
        bar_figure(
            o,
            root,
            Fig {
                id,
                title: label,
                note: "Share of captions in each stage.",
                categories: Some(hist_labels(h, plain)),
                horizontal: false,
                normalize: true,
                value_label: "share of captions",
            },
            stages
                .iter()
                .map(|st| src(st.as_str(), format!("/captions/{st}/{what}/counts")))
                .collect(),
        );
    }
    for (i, (stage, c)) in ordered.iter().enumerate() {
        let _ = writeln!(
            o,
            "<details{}><summary>Most common texts: {}</summary>",
            if i == 0 { " open" } else { "" },
            esc(stage)
        );
        top_table(o, "text", &c.top_texts);
        o.push_str("</details>\n");
    }
    o.push_str("</section>\n");
}

fn top_table(o: &mut String, what: &str, t: &TopList) {
    if t.max_undercount > 0 {
        let _ = writeln!(
            o,
            "<p class=\"note\">Counts are lower bounds, at most {} below the truth (bounded-memory summary).</p>",
            fmt::int(t.max_undercount)
        );
    }
    let _ = writeln!(
        o,
        "<table><tr><th>{what}</th><th class=\"n\">count</th><th class=\"n\">share</th></tr>"
    );
    for h in &t.top {
        let _ = writeln!(
            o,
            "<tr><td class=\"t\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&h.key),
            fmt::int(h.count),
            fmt::pct(h.count, t.total)
        );
    }
    o.push_str("</table>\n");
}

fn images(o: &mut String, i: &ImageStats, root: &Value) {
    o.push_str("<section id=\"images\"><h2>Images</h2><div class=\"cards\">");
    card(o, &fmt::int(i.rows), "downloads attempted");
    card(
        o,
        &fmt::int(i.successes),
        &format!("succeeded ({})", fmt::pct(i.successes, i.rows)),
    );
    card(o, &fmt::bytes(i.bytes_total), "stored image bytes");
    card(
        o,
        &fmt::int(i.duplicate_sha256),
        &format!(
            "duplicate images by sha256 ({} distinct{})",
            fmt::int(i.distinct_sha256),
            if i.sha256_exact { "" } else { ", estimated" }
        ),
    );
    o.push_str("</div>\n");
    bar_figure(
        o,
        root,
        Fig {
            id: "image-status",
            title: "Download status",
            note: "",
            categories: None,
            horizontal: true,
            normalize: false,
            value_label: "",
        },
        vec![src("rows", "/images/status")],
    );
    bar_figure(
        o,
        root,
        Fig {
            id: "image-formats",
            title: "Stored image formats",
            note: "",
            categories: None,
            horizontal: true,
            normalize: false,
            value_label: "",
        },
        vec![src("images", "/images/formats")],
    );
    for (id, title, key, h, f) in [
        (
            "image-width",
            "Width (pixels)",
            "width",
            &i.width_before,
            pixels as fn(f64) -> String,
        ),
        (
            "image-height",
            "Height (pixels)",
            "height",
            &i.height_before,
            pixels,
        ),
        (
            "image-aspect",
            "Aspect ratio (width / height)",
            "aspect",
            &i.aspect_before,
            plain,
        ),
    ] {
        bar_figure(
            o,
            root,
            Fig {
                id,
                title,
                note: "Share of downloaded images, before and after resizing.",
                categories: Some(hist_labels(h, f)),
                horizontal: false,
                normalize: true,
                value_label: "share of images",
            },
            vec![
                src("before resizing", format!("/images/{key}_before/counts")),
                src("after resizing", format!("/images/{key}_after/counts")),
            ],
        );
    }
    bar_figure(
        o,
        root,
        Fig {
            id: "image-bytes",
            title: "Stored image size (bytes)",
            note: "",
            categories: Some(hist_labels(&i.bytes, fmt::bytes_edge)),
            horizontal: false,
            normalize: false,
            value_label: "images",
        },
        vec![src("images", "/images/bytes/counts")],
    );
    o.push_str("</section>\n");
}

fn domains(o: &mut String, s: &RunStats, root: &Value) {
    if s.domains.is_empty() {
        return;
    }
    o.push_str("<section id=\"domains\"><h2>Top domains</h2>\n");
    for (stage, t) in first_and_last(&s.domains) {
        let note = if t.max_undercount > 0 {
            format!(
                "Counts are lower bounds, at most {} below the truth.",
                fmt::int(t.max_undercount)
            )
        } else {
            String::new()
        };
        bar_figure(
            o,
            root,
            Fig {
                id: &format!("domains-{stage}"),
                title: &format!(
                    "Image domains by pair count: {stage} ({} pairs)",
                    fmt::int(t.total)
                ),
                note: &note,
                categories: None,
                horizontal: true,
                normalize: false,
                value_label: "",
            },
            vec![Src {
                name: "pairs".into(),
                path: format!("/domains/{stage}/top"),
                field: Some("count"),
            }],
        );
    }
    o.push_str("</section>\n");
}

fn facts(o: &mut String, s: &RunStats) {
    o.push_str("<section id=\"facts\"><h2>Run facts</h2>\n");
    o.push_str("<table><tr><th>stage</th><th class=\"n\">files</th><th class=\"n\">rows</th><th class=\"n\">bytes</th><th>problems</th></tr>\n");
    for (stage, f) in in_stage_order(&s.stage_files) {
        let problems: Vec<String> = f
            .problems
            .iter()
            .map(|(k, v)| format!("{} {v}", esc(k)))
            .collect();
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(stage),
            fmt::int(f.files),
            fmt::int(f.rows),
            fmt::bytes(f.file_bytes),
            problems.join(", ")
        );
    }
    o.push_str("</table>\n");
    if !s.throughput.is_empty() {
        o.push_str("<table><tr><th>stage</th><th>counted</th><th class=\"n\">count</th><th class=\"n\">task time</th><th class=\"n\">per task-second</th><th class=\"n\">reduce time</th></tr>\n");
        for t in &s.throughput {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&t.stage),
                esc(&t.what),
                fmt::int(t.count),
                seconds(t.task_seconds),
                fmt::short(t.per_task_second),
                t.reduce_seconds.map(seconds).unwrap_or_default()
            );
        }
        o.push_str("</table>\n");
    }
    if !s.stage_records.is_empty() {
        o.push_str("<h3>Stage records (<code>_stages/STAGE/</code>)</h3>\n");
        o.push_str("<table id=\"stage-records\"><tr><th>stage</th><th class=\"n\">task records</th><th>complete</th><th class=\"n\">task time</th><th class=\"n\">reduce time</th><th class=\"n\">failures</th><th class=\"n\">filtered</th></tr>\n");
        for (stage, r) in in_stage_order(&s.stage_records) {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(stage),
                fmt::int(r.task_records),
                esc(&complete_text(r)),
                seconds(r.task_seconds),
                r.reduce_seconds.map(seconds).unwrap_or_default(),
                fmt::int(r.failures),
                fmt::int(r.filtered)
            );
        }
        o.push_str("</table>\n");
    }
    for (stage, r) in in_stage_order(&s.stage_records) {
        let n = r.tasks.len() + r.reduce.as_ref().map_or(0, Vec::len);
        let _ = writeln!(
            o,
            "<details><summary>{} — {} counter{}{}</summary>",
            esc(stage),
            n,
            if n == 1 { "" } else { "s" },
            if r.problems.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} problem{}",
                    r.problems.len(),
                    if r.problems.len() == 1 { "" } else { "s" }
                )
            }
        );
        for p in &r.problems {
            let _ = writeln!(o, "<p class=\"warn\">{}</p>", esc(p));
        }
        o.push_str("<table><tr><th>record</th><th>counter</th><th>kind</th><th>what</th><th class=\"n\">value</th></tr>\n");
        let rows = r
            .tasks
            .iter()
            .map(|c| ("tasks", c))
            .chain(r.reduce.iter().flatten().map(|c| ("reduce", c)));
        for (part, c) in rows {
            let _ = writeln!(
                o,
                "<tr><td>{part}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&c.name),
                kind_text(c.kind),
                esc(&c.label),
                fmt::int(c.value)
            );
        }
        o.push_str("</table></details>\n");
    }
    if let Some(b) = &s.vocab_build {
        let _ = writeln!(
            o,
            "<details><summary>vocabulary build — {}</summary><table><tr><th>key</th><th>value</th></tr>",
            esc(&b.file)
        );
        for (k, v) in &b.values {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"t\">{}</td></tr>",
                esc(k),
                esc(v)
            );
        }
        o.push_str("</table></details>\n");
    }
    o.push_str("</section>\n");
}
