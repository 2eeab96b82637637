//! `report.md`: a Markdown summary of [`RunStats`] (tables, no charts).

use std::fmt::Write;

use super::fmt;
use super::model::*;
use super::sketch::Histogram;

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' | '\t' => out.push(' '),
            '`' | '*' | '_' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    if out.chars().count() > 80 {
        let cut: String = out.chars().take(79).collect();
        format!("{}…", cut.trim_end_matches('\\'))
    } else {
        out
    }
}

fn hist_line(h: &Histogram) -> String {
    match (h.min, h.max) {
        (Some(min), Some(max)) => format!(
            "n = {}, mean {:.1}, median bin {}, min {}, max {}",
            fmt::int(h.n),
            h.mean(),
            fmt::short(h.quantile_bin(0.5).unwrap_or(0.0)),
            fmt::short(min),
            fmt::short(max)
        ),
        _ => "no values".into(),
    }
}

/// The Markdown text of the report.
pub fn render(s: &RunStats) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Dataset statistics: `{}`\n", s.run_dir);
    let _ = writeln!(o, "Stages found: {}.", s.stages.present.join(", "));
    if !s.stages.missing.is_empty() {
        let _ = writeln!(
            o,
            "Stages missing (left out of this report): {}.",
            s.stages.missing.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "\nAlso written: `stats.json` (every number) and `report.html` (with charts).\n"
    );
    funnel(&mut o, s);
    if let Some(v) = &s.vocab {
        vocab(&mut o, v);
    }
    captions(&mut o, s);
    if let Some(i) = &s.images {
        images(&mut o, i);
    }
    domains(&mut o, s);
    facts(&mut o, s);
    o
}

fn funnel(o: &mut String, s: &RunStats) {
    let _ = writeln!(o, "## Funnel\n");
    if s.funnel.is_empty() {
        let _ = writeln!(o, "No stage with pairs was found.\n");
        return;
    }
    let _ = writeln!(
        o,
        "| step | count | drop | why |\n| --- | ---: | ---: | --- |"
    );
    for f in &s.funnel {
        let count = if f.estimated {
            format!("≈{}", fmt::int(f.count))
        } else {
            fmt::int(f.count)
        };
        let drop = f.drop.map(fmt::signed).unwrap_or_default();
        let why: Vec<String> = f
            .reasons
            .iter()
            .map(|r| format!("{} {}", cell(&r.class), fmt::int(r.count)))
            .collect();
        let _ = writeln!(o, "| {} | {count} | {drop} | {} |", f.label, why.join("; "));
    }
    o.push('\n');
}

fn vocab(o: &mut String, v: &VocabStats) {
    let _ = writeln!(o, "## Vocabulary\n");
    if let Some(e) = v.entries {
        let _ = writeln!(
            o,
            "- entries: {} ({}), matched anything: {} ({}), never matched: {}",
            fmt::int(e),
            v.file.as_deref().unwrap_or(""),
            fmt::int(v.matched_entries),
            fmt::pct(v.matched_entries, e),
            fmt::int(v.never_matched.unwrap_or(0))
        );
    } else {
        let _ = writeln!(
            o,
            "- vocabulary not found; entries that matched: {}",
            fmt::int(v.matched_entries)
        );
    }
    let _ = writeln!(
        o,
        "- matches before balancing: {} (from {}){}",
        fmt::int(v.total_matches_before),
        v.counts_from,
        v.total_matches_after
            .map(|a| format!(", after: {}", fmt::int(a)))
            .unwrap_or_default()
    );
    let _ = writeln!(o, "- t = {} ({})", fmt::int(v.t), v.t_from);
    let _ = writeln!(
        o,
        "- entries over t before balancing: {}, holding {} of matches{}\n",
        fmt::int(v.capped_entries),
        fmt::share(v.capped_share),
        v.over_t_after
            .map(|a| format!("; entries over t after balancing: {}", fmt::int(a)))
            .unwrap_or_default()
    );
    if !v.per_source.is_empty() {
        let _ = writeln!(
            o,
            "| source | entries | matched | never matched |\n| --- | ---: | ---: | ---: |"
        );
        for (src, n) in &v.per_source {
            let m = v.matched_per_source.get(src).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "| {src} | {} | {} | {} |",
                fmt::int(*n),
                fmt::int(m),
                fmt::int(n - m)
            );
        }
        o.push('\n');
    }
    for (stage, h) in &v.matches_per_text {
        let _ = writeln!(o, "Entries matched per text ({stage}): {}\n", hist_line(h));
    }
    if !v.top_entries.is_empty() {
        let _ = writeln!(o, "### Top entries\n");
        let _ = writeln!(
            o,
            "| id | entry | source | before | after |\n| ---: | --- | --- | ---: | ---: |"
        );
        for e in &v.top_entries {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                e.id,
                cell(e.query.as_deref().unwrap_or("?")),
                e.source.as_deref().unwrap_or(""),
                fmt::int(e.before),
                e.after.map(fmt::int).unwrap_or_default()
            );
        }
        o.push('\n');
    }
}

fn captions(o: &mut String, s: &RunStats) {
    if s.captions.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Captions\n");
    let _ = writeln!(o, "Tokens are whitespace-separated words.\n");
    let _ = writeln!(
        o,
        "| stage | texts | characters | tokens |\n| --- | ---: | --- | --- |"
    );
    for (stage, c) in in_stage_order(&s.captions) {
        let _ = writeln!(
            o,
            "| {stage} | {} | {} | {} |",
            fmt::int(c.texts),
            hist_line(&c.chars),
            hist_line(&c.tokens)
        );
    }
    o.push('\n');
    for (stage, c) in in_stage_order(&s.captions) {
        let _ = writeln!(o, "### Most common texts ({stage})\n");
        top_table(o, "text", &c.top_texts, 10);
    }
}

fn top_table(o: &mut String, what: &str, t: &TopList, n: usize) {
    if t.max_undercount > 0 {
        let _ = writeln!(
            o,
            "Counts are lower bounds, at most {} below the truth.\n",
            fmt::int(t.max_undercount)
        );
    }
    let _ = writeln!(o, "| {what} | count | share |\n| --- | ---: | ---: |");
    for h in t.top.iter().take(n) {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            cell(&h.key),
            fmt::int(h.count),
            fmt::pct(h.count, t.total)
        );
    }
    o.push('\n');
}

fn images(o: &mut String, i: &ImageStats) {
    let _ = writeln!(o, "## Images\n");
    let _ = writeln!(
        o,
        "- downloads: {} attempted, {} succeeded ({})",
        fmt::int(i.rows),
        fmt::int(i.successes),
        fmt::pct(i.successes, i.rows)
    );
    let status: Vec<String> = i
        .status
        .iter()
        .map(|(k, v)| format!("{} {}", cell(k), fmt::int(*v)))
        .collect();
    let _ = writeln!(o, "- status: {}", status.join(", "));
    let formats: Vec<String> = i
        .formats
        .iter()
        .map(|(k, v)| format!("{k} {}", fmt::int(*v)))
        .collect();
    let _ = writeln!(o, "- formats: {}", formats.join(", "));
    let _ = writeln!(
        o,
        "- stored bytes: {} in total; per image {}",
        fmt::bytes(i.bytes_total),
        hist_line(&i.bytes)
    );
    let _ = writeln!(
        o,
        "- duplicate images (same sha256 of the original bytes): {} ({} distinct{})\n",
        fmt::int(i.duplicate_sha256),
        fmt::int(i.distinct_sha256),
        if i.sha256_exact { "" } else { ", estimated" }
    );
    let _ = writeln!(
        o,
        "| | before resizing | after resizing |\n| --- | --- | --- |"
    );
    let _ = writeln!(
        o,
        "| width | {} | {} |",
        hist_line(&i.width_before),
        hist_line(&i.width_after)
    );
    let _ = writeln!(
        o,
        "| height | {} | {} |",
        hist_line(&i.height_before),
        hist_line(&i.height_after)
    );
    let _ = writeln!(
        o,
        "| aspect (w/h) | {} | {} |\n",
        hist_line(&i.aspect_before),
        hist_line(&i.aspect_after)
    );
}

fn domains(o: &mut String, s: &RunStats) {
    for (stage, t) in first_and_last(&s.domains) {
        let _ = writeln!(o, "## Top domains ({stage})\n");
        top_table(o, "domain", t, 15);
    }
}

fn facts(o: &mut String, s: &RunStats) {
    let _ = writeln!(o, "## Run facts\n");
    let _ = writeln!(
        o,
        "| stage | files | rows | bytes | problems |\n| --- | ---: | ---: | ---: | --- |"
    );
    for (stage, f) in in_stage_order(&s.stage_files) {
        let problems: Vec<String> = f.problems.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            o,
            "| {stage} | {} | {} | {} | {} |",
            fmt::int(f.files),
            fmt::int(f.rows),
            fmt::bytes(f.file_bytes),
            problems.join(", ")
        );
    }
    o.push('\n');
    if !s.throughput.is_empty() {
        let _ = writeln!(
            o,
            "| stage | rows | task time | rows per task-second |\n| --- | ---: | ---: | ---: |"
        );
        for t in &s.throughput {
            let _ = writeln!(
                o,
                "| {} | {} | {:.1} s ({}) | {} |",
                t.stage,
                fmt::int(t.rows),
                t.task_seconds,
                t.duration_key,
                fmt::short(t.rows_per_task_second)
            );
        }
        o.push('\n');
    }
    for (stage, r) in in_stage_order(&s.stage_reports) {
        let _ = writeln!(o, "### {stage} ({} JSON files)\n", r.files.len());
        if r.facts.is_empty() && r.counters.is_empty() {
            continue;
        }
        let _ = writeln!(o, "| key | value |\n| --- | --- |");
        for (k, v) in r.facts.iter().take(60) {
            let _ = writeln!(o, "| {} | {} |", cell(k), cell(v));
        }
        for (k, c) in r.counters.iter().take(60) {
            let _ = writeln!(o, "| {} | {} |", cell(k), counter_text(c));
        }
        o.push('\n');
    }
}

/// A counter as shown in reports: the sum, and the range when files differ.
pub fn counter_text(c: &CounterSummary) -> String {
    let num = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            fmt::signed(v as i64)
        } else {
            format!("{v:.3}")
        }
    };
    if c.files <= 1 || c.min == c.max {
        if c.files > 1 {
            format!("{} (each of {} files: {})", num(c.sum), c.files, num(c.min))
        } else {
            num(c.sum)
        }
    } else {
        format!(
            "{} (sum of {} files, {}–{})",
            num(c.sum),
            c.files,
            num(c.min),
            num(c.max)
        )
    }
}
