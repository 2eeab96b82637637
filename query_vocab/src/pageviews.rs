//! Wikipedia pageviews hourly files (`pageviews-YYYYMMDD-HH0000.gz`), lines
//! `project title count bytes`: the title source.
//!
//! A title's views are the sum, over all files and the chosen projects, of the
//! hourly counts that reach `hourly_min` (MetaCLIP: 50); titles whose sum
//! reaches `min_views` (MetaCLIP: 70) are kept. Titles containing `:` are
//! dropped and `_` becomes a space.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Result, VocabError};
use crate::select::Scored;

/// Thresholds and filters of the title source.
#[derive(Debug, Clone)]
pub struct PageviewParams {
    /// Projects whose lines count (`en` desktop, `en.m` mobile).
    pub projects: Vec<String>,
    /// An hourly figure counts only when at least this.
    pub hourly_min: u64,
    /// A title is kept when its counted views sum to at least this.
    pub min_views: u64,
}

/// Totals and faults of reading pageviews.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageviewStats {
    /// Files read.
    pub files: u64,
    /// Compressed bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines of the chosen projects whose hourly count reached the minimum.
    pub counted_lines: u64,
    /// Lines without exactly four fields (skipped).
    pub bad_field_count: u64,
    /// Lines whose count is not a number, or not UTF-8 (skipped).
    pub bad_value: u64,
    /// Counted lines whose title contains ':' (dropped).
    pub titles_with_colon: u64,
}

impl PageviewStats {
    fn add(&mut self, o: &PageviewStats) {
        self.files += o.files;
        self.bytes += o.bytes;
        self.lines += o.lines;
        self.counted_lines += o.counted_lines;
        self.bad_field_count += o.bad_field_count;
        self.bad_value += o.bad_value;
        self.titles_with_colon += o.titles_with_colon;
    }
}

/// Expands files and directories into the pageviews files to read: a
/// directory gives its `pageviews-*` files (recursively), sorted by path.
pub fn collect_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        let meta = std::fs::metadata(input).map_err(|e| VocabError::Pageviews {
            path: input.clone(),
            reason: format!("cannot read: {e}"),
        })?;
        if meta.is_dir() {
            let before = out.len();
            walk(input, &mut out)?;
            if out.len() == before {
                return Err(VocabError::Pageviews {
                    path: input.clone(),
                    reason: "directory holds no pageviews-* files".into(),
                });
            }
        } else {
            out.push(input.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| VocabError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| VocabError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with("pageviews-")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads all files (in parallel) and returns the kept titles, sorted by
/// views (descending) then title.
pub fn read_titles(files: &[PathBuf], p: &PageviewParams) -> Result<(Vec<Scored>, PageviewStats)> {
    let partial: Vec<Result<(HashMap<String, u64>, PageviewStats)>> =
        files.par_iter().map(|f| read_file(f, p)).collect();
    let mut views: HashMap<String, u64> = HashMap::new();
    let mut stats = PageviewStats::default();
    for r in partial {
        let (m, s) = r?;
        stats.add(&s);
        for (title, v) in m {
            *views.entry(title).or_insert(0) += v;
        }
    }
    let mut titles: Vec<Scored> = views
        .into_iter()
        .filter(|(_, v)| *v >= p.min_views)
        .map(|(query, v)| Scored {
            query,
            score: v as f64,
        })
        .collect();
    titles.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.query.cmp(&b.query))
    });
    Ok((titles, stats))
}

/// Reads one file: title → counted views.
pub fn read_file(path: &Path, p: &PageviewParams) -> Result<(HashMap<String, u64>, PageviewStats)> {
    let mut file = File::open(path).map_err(|e| VocabError::io(path, e))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(|e| VocabError::io(path, e))?;
    let head = std::io::Cursor::new(magic[..n].to_vec());
    let raw = head.chain(file);
    let reader: Box<dyn Read> = if magic[..n] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut stats = PageviewStats {
        files: 1,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        ..Default::default()
    };
    let mut views = HashMap::new();
    let mut line = Vec::new();
    let mut lineno = 0u64;
    loop {
        line.clear();
        let got = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| VocabError::Pageviews {
                path: path.to_path_buf(),
                reason: format!("cannot read after line {lineno}: {e}"),
            })?;
        if got == 0 {
            break;
        }
        lineno += 1;
        stats.lines += 1;
        let l = line.strip_suffix(b"\n").unwrap_or(&line);
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            continue;
        }
        let fields: Vec<&[u8]> = l.split(|&b| b == b' ').collect();
        if fields.len() != 4 {
            stats.bad_field_count += 1;
            log::warn!(
                "{}:{lineno}: expected 4 fields (project title count bytes), found {}; skipped",
                path.display(),
                fields.len()
            );
            continue;
        }
        let count = std::str::from_utf8(fields[2])
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        let Some(count) = count else {
            stats.bad_value += 1;
            log::warn!(
                "{}:{lineno}: view count is not a number; skipped",
                path.display()
            );
            continue;
        };
        if count < p.hourly_min || !p.projects.iter().any(|pr| pr.as_bytes() == fields[0]) {
            continue;
        }
        let Ok(title) = std::str::from_utf8(fields[1]) else {
            stats.bad_value += 1;
            log::warn!("{}:{lineno}: title is not UTF-8; skipped", path.display());
            continue;
        };
        stats.counted_lines += 1;
        if title.contains(':') {
            stats.titles_with_colon += 1;
            continue;
        }
        *views.entry(title.replace('_', " ")).or_insert(0) += count;
    }
    Ok((views, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> PageviewParams {
        PageviewParams {
            projects: vec!["en".into(), "en.m".into()],
            hourly_min: 50,
            min_views: 70,
        }
    }

    #[test]
    fn sums_hourly_figures_over_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("pageviews-20240101-000000");
        let b = dir.path().join("pageviews-20240101-010000");
        std::fs::write(
            &a,
            "en Big_Cat 60 0\nen Small 49 0\nde Big_Cat 500 0\nen Talk:X 900 0\n",
        )
        .unwrap();
        std::fs::write(
            &b,
            "en.m Big_Cat 55 0\nen Small 49 0\nen Once 80 0\nbroken line\nen X notanumber 0\n",
        )
        .unwrap();
        let files = collect_files(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(files.len(), 2);
        let (titles, stats) = read_titles(&files, &params()).unwrap();
        let got: Vec<_> = titles.iter().map(|s| (s.query.as_str(), s.score)).collect();
        assert_eq!(got, [("Big Cat", 115.0), ("Once", 80.0)]);
        assert_eq!(stats.bad_field_count, 1);
        assert_eq!(stats.bad_value, 1);
        assert_eq!(stats.titles_with_colon, 1);
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = collect_files(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(err.to_string().contains("no pageviews"));
    }
}
