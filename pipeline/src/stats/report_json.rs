//! `stats.json`: [`RunStats`] as pretty-printed JSON (keys in a fixed order,
//! so the same run gives the same bytes).

use super::model::RunStats;

/// The JSON text of `stats` (with a trailing newline).
pub fn render(stats: &RunStats) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(stats)?;
    s.push('\n');
    Ok(s)
}

/// Parses a `stats.json` text.
pub fn parse(text: &str) -> Result<RunStats, serde_json::Error> {
    serde_json::from_str(text)
}
