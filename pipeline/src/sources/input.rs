//! Where inputs live and how they are opened.
//!
//! An input argument may be a local file, a directory (every non-hidden file
//! below it, sorted), a glob (`data/*.wat.gz`, sorted), an http(s) URL, or a
//! path list such as Common Crawl's `wat.paths.gz` (local or remote; a name
//! ending in `.paths` or `.paths.gz`): one entry per line, each a URL, an
//! absolute local path, or a path relative to the base URL. The expansion is
//! deterministic, so task numbers are stable across runs and machines.
//!
//! [`open`] streams an input and transparently decodes gzip (detected from the
//! magic bytes, not the name) with [`MemberDecoder`].

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::gzip::{is_gzip, GzFaults, MemberDecoder, Rewind};
use super::{http, SourceError};

/// Common Crawl's download host, the default base of relative path-list entries.
pub const COMMONCRAWL_BASE_URL: &str = "https://data.commoncrawl.org/";

/// One input file.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// A local file.
    Path(PathBuf),
    /// An http(s) URL.
    Url(String),
}

impl Location {
    /// The file name part (last path segment, without query), for format detection.
    pub fn file_name(&self) -> String {
        match self {
            Location::Path(p) => p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::Url(u) => {
                let path = u.split(['?', '#']).next().unwrap_or(u);
                path.rsplit('/').next().unwrap_or(path).to_string()
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) => f.write_str(u),
        }
    }
}

fn is_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn is_path_list(name: &str) -> bool {
    name.ends_with(".paths") || name.ends_with(".paths.gz")
}

/// Expands input arguments into the ordered list of input files (duplicates
/// removed, first occurrence kept). `base_url` resolves relative entries of
/// path lists.
pub fn expand(args: &[String], base_url: &str) -> Result<Vec<Location>, SourceError> {
    let mut out = Vec::new();
    for arg in args {
        expand_one(arg, base_url, &mut out)?;
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|l| seen.insert(l.clone()));
    Ok(out)
}

fn expand_one(arg: &str, base_url: &str, out: &mut Vec<Location>) -> Result<(), SourceError> {
    if is_url(arg) {
        let loc = Location::Url(arg.to_string());
        if is_path_list(&loc.file_name()) {
            read_path_list(&loc, base_url, out)?;
        } else {
            out.push(loc);
        }
        return Ok(());
    }
    let path = Path::new(arg);
    if path.is_dir() {
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files.sort();
        out.extend(files.into_iter().map(Location::Path));
        return Ok(());
    }
    if path.is_file() {
        let loc = Location::Path(path.to_path_buf());
        if is_path_list(&loc.file_name()) {
            read_path_list(&loc, base_url, out)?;
        } else {
            out.push(loc);
        }
        return Ok(());
    }
    if arg.contains(['*', '?', '[']) {
        let paths = glob::glob(arg).map_err(|e| SourceError::Glob {
            pattern: arg.to_string(),
            message: e.to_string(),
        })?;
        let mut files = Vec::new();
        for entry in paths {
            let p = entry.map_err(|e| SourceError::Io {
                path: e.path().to_path_buf(),
                source: io::Error::new(e.error().kind(), e.error().to_string()),
            })?;
            if p.is_file() {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err(SourceError::NotFound(arg.to_string()));
        }
        files.sort();
        out.extend(files.into_iter().map(Location::Path));
        return Ok(());
    }
    Err(SourceError::NotFound(arg.to_string()))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), SourceError> {
    let entries = fs::read_dir(dir).map_err(|e| SourceError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    for entry in entries {
        let entry = entry.map_err(|e| SourceError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files)?;
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

fn read_path_list(
    list: &Location,
    base_url: &str,
    out: &mut Vec<Location>,
) -> Result<(), SourceError> {
    let opened = open(list)?;
    let name = list.to_string();
    for line in opened.reader.lines() {
        let line = line.map_err(|e| SourceError::Read {
            input: name.clone(),
            source: e,
        })?;
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        if is_url(entry) {
            out.push(Location::Url(entry.to_string()));
        } else if entry.starts_with('/') {
            out.push(Location::Path(PathBuf::from(entry)));
        } else {
            let sep = if base_url.ends_with('/') { "" } else { "/" };
            out.push(Location::Url(format!("{base_url}{sep}{entry}")));
        }
    }
    Ok(())
}

/// An opened input: decoded bytes plus what the decoder saw.
pub struct Opened {
    /// The decoded stream.
    pub reader: Box<dyn BufRead + Send>,
    /// Gzip damage counters (all zero for plain inputs).
    pub gz_faults: Arc<GzFaults>,
    /// Whether the input was gzip.
    pub gzip: bool,
    /// Raw (compressed) bytes read so far.
    pub raw_bytes: Arc<std::sync::atomic::AtomicU64>,
}

/// Counts the raw bytes flowing through a reader.
struct Counting<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input for streaming, decoding gzip when the bytes are gzip.
pub fn open(location: &Location) -> Result<Opened, SourceError> {
    let raw: Box<dyn Read + Send> = match location {
        Location::Path(p) => Box::new(fs::File::open(p).map_err(|e| SourceError::Io {
            path: p.clone(),
            source: e,
        })?),
        Location::Url(u) => Box::new(http::get(u)?),
    };
    let raw_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = Counting {
        inner: raw,
        count: raw_bytes.clone(),
    };
    let mut rewind = Rewind::new(counted);
    let head = rewind.peek(2).map_err(|e| SourceError::Read {
        input: location.to_string(),
        source: e,
    })?;
    let gz_faults = Arc::new(GzFaults::default());
    let gzip = is_gzip(&head);
    let reader: Box<dyn BufRead + Send> = if gzip {
        let decoder = MemberDecoder::new(rewind, location.to_string(), gz_faults.clone());
        Box::new(BufReader::with_capacity(256 << 10, decoder))
    } else {
        Box::new(rewind)
    };
    Ok(Opened {
        reader,
        gz_faults,
        gzip,
        raw_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_dirs_globs_and_path_lists_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("b.wat"), b"x").unwrap();
        fs::write(d.join("a.wat"), b"x").unwrap();
        fs::write(d.join("sub/c.warc"), b"x").unwrap();
        fs::write(d.join(".hidden"), b"x").unwrap();
        let list = d.join("wat.paths");
        fs::write(
            &list,
            format!(
                "crawl/x.wat.gz\n\nhttp://h/y.wat\n{}\n",
                d.join("a.wat").display()
            ),
        )
        .unwrap();
        let args = vec![
            d.join("sub").display().to_string(),
            format!("{}/*.wat", d.display()),
            list.display().to_string(),
        ];
        let got = expand(&args, "http://base").unwrap();
        assert_eq!(
            got,
            vec![
                Location::Path(d.join("sub/c.warc")),
                Location::Path(d.join("a.wat")),
                Location::Path(d.join("b.wat")),
                Location::Url("http://base/crawl/x.wat.gz".into()),
                Location::Url("http://h/y.wat".into()),
            ]
        );
        assert!(matches!(
            expand(&[d.join("none").display().to_string()], "x"),
            Err(SourceError::NotFound(_))
        ));
    }

    #[test]
    fn file_names_of_urls_drop_queries() {
        let l = Location::Url("https://h/a/b.warc.gz?x=1".into());
        assert_eq!(l.file_name(), "b.warc.gz");
    }
}
