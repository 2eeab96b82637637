//! `report.md`: a Markdown summary of [`RunStats`] (tables, no charts).

use std::fmt::Write;

use super::fmt;
use super::languages::{LanguageRow, LanguageStats};
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
    if !s.stages.without_records.is_empty() {
        let _ = writeln!(
            o,
            "Outputs without the records of their stage (left out of the funnel): {}.",
            s.stages.without_records.join(", ")
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
    if let Some(l) = &s.languages {
        languages(&mut o, l);
    }
    captions(&mut o, s);
    if let Some(i) = &s.images {
        images(&mut o, i);
    }
    domains(&mut o, s);
    evaluations(&mut o, s);
    facts(&mut o, s);
    o
}

fn evaluations(o: &mut String, s: &RunStats) {
    if s.evaluations.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Models trained on this data
"
    );
    for e in &s.evaluations {
        let _ = writeln!(
            o,
            "### `{}`
",
            super::evaluations::title(e).replace('`', "'")
        );
        let _ = writeln!(
            o,
            "| task | kind | metric | score |\n| --- | --- | --- | ---: |"
        );
        for r in &e.rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                r.name.replace('|', "\\|"),
                r.kind,
                r.metric,
                super::fmt::share(r.score)
            );
        }
        let _ = writeln!(o, "\nFrom `{}`.\n", e.source);
    }
}

fn funnel(o: &mut String, s: &RunStats) {
    let _ = writeln!(o, "## Funnel\n");
    if s.funnel.is_empty() {
        let _ = writeln!(o, "No stage records were found (`_stages/STAGE/`).\n");
        return;
    }
    let _ = writeln!(
        o,
        "From the stages' records. Failures are `fault_*` counters, filtered items `skip_*` counters.\n"
    );
    let _ = writeln!(
        o,
        "| stage | step | count | drop | why |\n| --- | --- | ---: | ---: | --- |"
    );
    for f in &s.funnel {
        let drop = f.drop.map(fmt::signed).unwrap_or_default();
        let mut why: Vec<String> = f
            .reasons
            .iter()
            .map(|r| format!("{} {}", cell(&reason_text(r)), fmt::int(r.count)))
            .collect();
        if let Some(note) = output_rows_note(f) {
            why.push(cell(&note));
        }
        let _ = writeln!(
            o,
            "| {} | {} | {} | {drop} | {} |",
            f.stage,
            cell(&f.label),
            fmt::int(f.count),
            why.join("; ")
        );
    }
    o.push('\n');
}

/// A drop reason as the reports show it (without its count).
pub fn reason_text(r: &Reason) -> String {
    match r.kind {
        ReasonKind::Fault => format!("failure: {}", r.label),
        ReasonKind::Skip => format!("filtered: {}", r.label),
        _ => r.label.clone(),
    }
}

/// A warning when a step's output files hold another number of rows than its
/// records say.
pub fn output_rows_note(f: &FunnelStep) -> Option<String> {
    match f.output_rows {
        Some(n) if n != f.count => Some(format!(
            "⚠ the output files hold {} rows, the records say {}",
            fmt::int(n),
            fmt::int(f.count)
        )),
        _ => None,
    }
}

/// A counter's kind as the reports show it.
pub fn kind_text(k: CounterClass) -> &'static str {
    match k {
        CounterClass::Fault => "failure",
        CounterClass::Skip => "filtered",
        CounterClass::Measure => "measure",
    }
}

/// Seconds with one decimal.
pub fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

/// `yes (N tasks)` or `no`.
pub fn complete_text(r: &StageRecords) -> String {
    match r.complete_tasks {
        Some(n) => format!("yes ({} tasks)", fmt::int(n)),
        None => "no".into(),
    }
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
            .map(|a| format!(", after: {} (from {})", fmt::int(a), v.after_from))
            .unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "- {} = {}, from {}",
        super::counters::label("balance", "t"),
        fmt::int(v.t),
        v.t_from
    );
    let _ = writeln!(
        o,
        "- entries over t before balancing: {}, holding {} of matches{}\n",
        fmt::int(v.capped_entries),
        fmt::pct(v.capped_matches, v.total_matches_before),
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
    if !v.what_if.is_empty() {
        let _ = writeln!(o, "### What if t were…\n");
        let _ = writeln!(
            o,
            "From the counts before balancing: entries over t, matches left when every entry \
             is capped at t (Σ min(count, t); pairs kept are at most this), and the tail share \
             (matches held by entries with count < t).\n"
        );
        let _ = writeln!(
            o,
            "| t | entries over t | matches left | share left | tail share |\n| ---: | ---: | ---: | ---: | ---: |"
        );
        for w in &v.what_if {
            let mark = if w.t == v.t { " (this run)" } else { "" };
            let _ = writeln!(
                o,
                "| {}{mark} | {} | {} | {:.1}% | {:.1}% |",
                fmt::int(w.t),
                fmt::int(w.capped_entries),
                fmt::int(w.matches_kept),
                100.0 * w.kept_share,
                100.0 * w.tail_share
            );
        }
        o.push('\n');
    }
    if !v.cumulative.is_empty() {
        let n = v.matched_entries.max(1) as f64;
        let at = |f: f64| {
            v.cumulative
                .iter()
                .find(|p| p[0] as f64 >= f * n)
                .map(|p| fmt::pct(p[1], v.total_matches_before))
                .unwrap_or_default()
        };
        let _ = writeln!(
            o,
            "Cumulative matches: the top 1% of matched entries hold {}, the top 10% {}, \
             the top 50% {}.\n",
            at(0.01),
            at(0.1),
            at(0.5)
        );
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

/// Optional numbers as table cells (empty when absent).
pub fn opt_int(n: Option<u64>) -> String {
    n.map(fmt::int).unwrap_or_default()
}

/// An optional share as a percentage cell.
pub fn opt_share(x: Option<f64>) -> String {
    x.map(|x| format!("{:.2}%", 100.0 * x)).unwrap_or_default()
}

/// The sentence under the languages table.
pub fn languages_note(l: &LanguageStats) -> String {
    let mut note = format!(
        "Texts in languages without a vocabulary (not matched): {}.",
        fmt::int(l.texts_without_vocab)
    );
    match (&l.balance_from, l.reference_tail_share) {
        (Some(f), Some(p)) => note.push_str(&format!(
            " Balancing from {f}: English's t gives a tail share of {:.2}%; every other \
             language gets the t whose tail share is nearest it.",
            100.0 * p
        )),
        (Some(f), None) => note.push_str(&format!(" Balancing from {f}.")),
        (None, _) => note.push_str(" Not balanced yet."),
    }
    note
}

/// The columns of the languages table.
pub const LANGUAGE_COLUMNS: [&str; 10] = [
    "language",
    "texts",
    "vocabulary",
    "matched",
    "kept",
    "t",
    "tail share",
    "matches",
    "entries matched",
    "entries capped",
];

/// One row of the languages table, as text cells (empty when unknown).
pub fn language_cells(r: &LanguageRow) -> [String; 10] {
    [
        r.lang.clone(),
        fmt::int(r.texts),
        opt_int(r.vocab_entries),
        opt_int(r.matched),
        opt_int(r.kept),
        opt_int(r.t),
        opt_share(r.tail_share),
        opt_int(r.matches),
        opt_int(r.entries_matched),
        opt_int(r.entries_capped),
    ]
}

fn languages(o: &mut String, l: &LanguageStats) {
    let _ = writeln!(o, "## Languages\n");
    let _ = writeln!(
        o,
        "| {} |\n| --- |{}",
        LANGUAGE_COLUMNS.join(" | "),
        " ---: |".repeat(LANGUAGE_COLUMNS.len() - 1)
    );
    for r in &l.rows {
        let _ = writeln!(o, "| {} |", language_cells(r).join(" | "));
    }
    let _ = writeln!(o, "\n{}\n", languages_note(l));
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
            "| stage | counted | count | task time | per task-second | reduce time |\n| --- | --- | ---: | ---: | ---: | ---: |"
        );
        for t in &s.throughput {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                t.stage,
                cell(&t.what),
                fmt::int(t.count),
                seconds(t.task_seconds),
                fmt::short(t.per_task_second),
                t.reduce_seconds.map(seconds).unwrap_or_default()
            );
        }
        o.push('\n');
    }
    stage_records(o, s);
    if let Some(b) = &s.vocab_build {
        let _ = writeln!(o, "### Vocabulary build (`{}`)\n", b.file);
        let _ = writeln!(o, "| key | value |\n| --- | --- |");
        for (k, v) in b.values.iter().take(60) {
            let _ = writeln!(o, "| {} | {} |", cell(k), cell(v));
        }
        o.push('\n');
    }
}

fn stage_records(o: &mut String, s: &RunStats) {
    if s.stage_records.is_empty() {
        return;
    }
    let _ = writeln!(o, "### Stage records (`_stages/STAGE/`)\n");
    let _ = writeln!(
        o,
        "| stage | task records | complete | task time | reduce time | failures | filtered |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |"
    );
    for (stage, r) in in_stage_order(&s.stage_records) {
        let _ = writeln!(
            o,
            "| {stage} | {} | {} | {} | {} | {} | {} |",
            fmt::int(r.task_records),
            complete_text(r),
            seconds(r.task_seconds),
            r.reduce_seconds.map(seconds).unwrap_or_default(),
            fmt::int(r.failures),
            fmt::int(r.filtered)
        );
    }
    o.push('\n');
    for (stage, r) in in_stage_order(&s.stage_records) {
        let _ = writeln!(o, "#### {stage}\n");
        for p in &r.problems {
            let _ = writeln!(o, "- problem: {}", cell(p));
        }
        if !r.problems.is_empty() {
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "| record | counter | kind | what | value |\n| --- | --- | --- | --- | ---: |"
        );
        let rows = r
            .tasks
            .iter()
            .map(|c| ("tasks", c))
            .chain(r.reduce.iter().flatten().map(|c| ("reduce", c)));
        for (part, c) in rows {
            let _ = writeln!(
                o,
                "| {part} | {} | {} | {} | {} |",
                cell(&c.name),
                kind_text(c.kind),
                cell(&c.label),
                fmt::int(c.value)
            );
        }
        o.push('\n');
    }
}
