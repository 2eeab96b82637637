//! Which shard files a run reads: `--shards` arguments are directories,
//! files, glob patterns (`shards/*.tar`) or brace patterns as webdataset and
//! open_clip users write them (`shards/{00000..00099}.tar`,
//! `{train,extra}/*.parquet`).

use std::path::{Path, PathBuf};

use crate::error::io_err;
use crate::{Error, Result};
use storage::files;

/// How a shard file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardFormat {
    /// Parquet with `caption` and `jpg` columns (the download stage's
    /// default output), read a row group at a time.
    Parquet,
    /// A webdataset tar (`KEY.jpg|png|webp` + `KEY.txt|json` members),
    /// streamed.
    Tar,
}

impl ShardFormat {
    /// The format of a file, by its extension (`.tar` is a tar, anything
    /// else is read as parquet).
    pub fn of(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("tar") => ShardFormat::Tar,
            _ => ShardFormat::Parquet,
        }
    }
}

/// Most paths one brace pattern may expand to.
const MAX_EXPANSION: usize = 1_000_000;

/// Expands brace patterns as bash and Python's `braceexpand` do:
/// `{a,b}` alternatives and `{M..N}` / `{M..N..STEP}` integer ranges, zero
/// padded to the wider bound when a bound starts with `0`; nested braces
/// work, and a brace group that is neither stays as written.
pub fn expand_braces(pattern: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out)?;
    Ok(out)
}

fn expand_into(p: &str, out: &mut Vec<String>) -> Result<()> {
    let Some((open, close)) = top_level_group(p) else {
        out.push(p.to_string());
        return Ok(());
    };
    let (head, body, tail) = (&p[..open], &p[open + 1..close], &p[close + 1..]);
    let alternatives = match split_top_level(body) {
        alts if alts.len() > 1 => alts,
        _ => match range(body)? {
            Some(items) => items,
            None => {
                // Not a pattern: keep the braces literally, expand the rest.
                let mut rest = Vec::new();
                expand_into(tail, &mut rest)?;
                for r in rest {
                    out.push(format!("{head}{{{body}}}{r}"));
                }
                return Ok(());
            }
        },
    };
    let mut tails = Vec::new();
    expand_into(tail, &mut tails)?;
    for alt in alternatives {
        let mut inner = Vec::new();
        expand_into(&alt, &mut inner)?;
        for i in &inner {
            for t in &tails {
                if out.len() >= MAX_EXPANSION {
                    return Err(Error::Config(format!(
                        "{p}: expands to more than {MAX_EXPANSION} paths"
                    )));
                }
                out.push(format!("{head}{i}{t}"));
            }
        }
    }
    Ok(())
}

/// The byte positions of the first `{` and its matching `}`.
fn top_level_group(p: &str) -> Option<(usize, usize)> {
    let open = p.find('{')?;
    let mut depth = 0usize;
    for (i, c) in p[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((open, open + i));
                }
            }
            _ => {}
        }
    }
    None
}

fn split_top_level(body: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(body[start..i].to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(body[start..].to_string());
    parts
}

/// `M..N` or `M..N..STEP` as zero-padded integers; `None` if `body` is not a range.
fn range(body: &str) -> Result<Option<Vec<String>>> {
    let bits: Vec<&str> = body.split("..").collect();
    if !(bits.len() == 2 || bits.len() == 3) {
        return Ok(None);
    }
    let int = |s: &str| -> Option<i64> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (Some(a), Some(b)) = (int(bits[0]), int(bits[1])) else {
        return Ok(None);
    };
    let step = match bits.get(2) {
        Some(s) => match int(s) {
            Some(0) | None => return Ok(None),
            Some(v) => v.unsigned_abs(),
        },
        None => 1,
    };
    let padded =
        |s: &str| s.trim_start_matches('-').len() > 1 && s.trim_start_matches('-').starts_with('0');
    let width = if padded(bits[0]) || padded(bits[1]) {
        bits[0].len().max(bits[1].len())
    } else {
        0
    };
    let count = a.abs_diff(b) / step + 1;
    if count as usize > MAX_EXPANSION {
        return Err(Error::Config(format!(
            "{{{body}}}: expands to more than {MAX_EXPANSION} paths"
        )));
    }
    let dir: i64 = if b >= a { 1 } else { -1 };
    Ok(Some(
        (0..count as i64)
            .map(|k| {
                let v = a + dir * k * step as i64;
                if v < 0 {
                    format!("-{:0w$}", -v, w = width.saturating_sub(1))
                } else {
                    format!("{v:0width$}")
                }
            })
            .collect(),
    ))
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// The shard files of a directory: its `*.parquet` and `*.tar` files, sorted
/// by name, hidden and temporary files skipped. A parquet file beside a tar of
/// the same name is the tar's metadata (the download stage's webdataset
/// output) and is skipped.
pub fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = files::list_files(dir)
        .map_err(io_err(dir))?
        .into_iter()
        .filter(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".parquet") || name.ends_with(".tar")
        })
        .collect();
    let tars: std::collections::HashSet<PathBuf> = found
        .iter()
        .filter(|f| ShardFormat::of(f) == ShardFormat::Tar)
        .map(|f| f.with_extension(""))
        .collect();
    found.retain(|f| {
        ShardFormat::of(f) == ShardFormat::Tar || !tars.contains(&f.with_extension(""))
    });
    if found.is_empty() {
        return Err(Error::NoShardFiles(dir.to_path_buf()));
    }
    found.sort();
    Ok(found)
}

/// The paths matching the glob `p`: local files, or objects of a store
/// (`s3://bucket/shards/*.parquet`).
fn glob_paths(p: &str) -> Result<Vec<PathBuf>> {
    let bad = |e: &dyn std::fmt::Display| Error::Config(format!("--shards {p}: {e}"));
    if let Some(url) = files::object_url(Path::new(p)) {
        let objects = storage::store::glob(&url).map_err(|e| bad(&e))?;
        return Ok(objects
            .into_iter()
            .map(|o| PathBuf::from(o.to_string()))
            .collect());
    }
    let paths = glob::glob(p).map_err(|e| bad(&e))?;
    Ok(paths.filter_map(|r| r.ok()).collect())
}

fn not_found(what: &str) -> Error {
    Error::Io {
        path: PathBuf::from(what),
        error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
    }
}

/// The shard files named by `--shards` arguments, in argument order (each
/// directory's and each glob's files sorted), each file once.
pub fn resolve(specs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let add = |p: &Path, found: &mut Vec<PathBuf>| -> Result<()> {
        match files::kind(p).map_err(io_err(p))? {
            Some(files::Kind::Dir) => found.extend(list_dir(p)?),
            Some(files::Kind::File) => found.push(p.to_path_buf()),
            None => return Err(not_found(&p.display().to_string())),
        }
        Ok(())
    };
    for spec in specs {
        // A path that exists is taken as written, braces and all.
        if files::kind(spec).map_err(io_err(spec))?.is_some() {
            add(spec, &mut files)?;
            continue;
        }
        let text = spec
            .to_str()
            .ok_or_else(|| not_found(&spec.display().to_string()))?;
        for p in expand_braces(text)? {
            if is_glob(&p) && !files::exists(Path::new(&p)) {
                let mut matched = glob_paths(&p)?;
                if matched.is_empty() {
                    return Err(Error::Config(format!("--shards {p}: matches no file")));
                }
                matched.sort();
                for m in matched {
                    add(&m, &mut files)?;
                }
            } else {
                add(Path::new(&p), &mut files)?;
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(f.clone()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(p: &str) -> Vec<String> {
        expand_braces(p).unwrap()
    }

    #[test]
    fn braces_expand_like_braceexpand() {
        assert_eq!(
            ex("s/{00000..00002}.tar"),
            ["s/00000.tar", "s/00001.tar", "s/00002.tar"]
        );
        assert_eq!(ex("{8..11}"), ["8", "9", "10", "11"]);
        assert_eq!(ex("{08..10}"), ["08", "09", "10"]);
        assert_eq!(ex("{3..1}"), ["3", "2", "1"]);
        assert_eq!(ex("{0..6..3}"), ["0", "3", "6"]);
        assert_eq!(
            ex("{a,b}/{1..2}.tar"),
            ["a/1.tar", "a/2.tar", "b/1.tar", "b/2.tar"]
        );
        assert_eq!(ex("x{a,b{1..2}}y"), ["xay", "xb1y", "xb2y"]);
        assert_eq!(ex("plain/{x}/{a..c}"), ["plain/{x}/{a..c}"]);
        assert_eq!(ex("no braces"), ["no braces"]);
        assert_eq!(ex("{unclosed"), ["{unclosed"]);
        assert!(expand_braces("{0..99999999}").is_err());
    }

    #[test]
    fn directories_globs_and_braces_resolve_to_files() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("shards");
        std::fs::create_dir(&s).unwrap();
        for n in [
            "00000.tar",
            "00000.parquet",
            "00001.tar",
            "00001.parquet",
            "00002.parquet",
        ] {
            std::fs::write(s.join(n), b"").unwrap();
        }
        std::fs::write(s.join(".00003.tar.tmp-h-1"), b"").unwrap();
        std::fs::write(s.join("00000_stats.json"), b"").unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
                .collect()
        };
        // A tar's metadata parquet is skipped; a lone parquet is a shard.
        assert_eq!(
            names(resolve(std::slice::from_ref(&s)).unwrap()),
            ["00000.tar", "00001.tar", "00002.parquet"]
        );
        let brace = s.join("{00000..00001}.tar");
        assert_eq!(
            names(resolve(&[brace]).unwrap()),
            ["00000.tar", "00001.tar"]
        );
        let glob = s.join("*.parquet");
        assert_eq!(
            names(resolve(&[glob, s.join("00002.parquet")]).unwrap()),
            ["00000.parquet", "00001.parquet", "00002.parquet"]
        );
        let e = resolve(&[s.join("{00000..00005}.tar")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("00002.tar"), "{e}");
        let e = resolve(&[s.join("*.zip")]).unwrap_err().to_string();
        assert!(e.contains("matches no file"), "{e}");
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = resolve(&[empty]).unwrap_err().to_string();
        assert!(e.contains("empty: no shard files"), "{e}");
    }
}
