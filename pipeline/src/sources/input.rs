//! Where inputs live and how they are opened.
//!
//! An input argument may be a local file, a directory (every non-hidden file
//! below it, sorted), a glob (`data/*.wat.gz`, sorted), an http(s) URL, an
//! object URL (`s3://bucket/key`, `gs://`, `az://`: one object, every object
//! under a prefix, or a glob over keys), or a path list such as Common
//! Crawl's `wat.paths.gz` (local, http or object; a name ending in `.paths`
//! or `.paths.gz`): one entry per line, each a URL, an absolute local path,
//! or a path relative to the base URL (which may be `s3://commoncrawl/`). The
//! expansion is deterministic, so task numbers are stable across runs and
//! machines.
//!
//! [`open`] streams an input and transparently decodes gzip (detected from the
//! magic bytes, not the name) with [`MemberDecoder`]. Remote inputs are read
//! with [`crate::storage::ResumableReader`]: a dropped connection resumes
//! from the last byte received.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::gzip::{is_gzip, GzFaults, MemberDecoder, Rewind};
use super::SourceError;
use crate::storage::url::is_object_url;
use crate::storage::{self, ObjectUrl, RetryPolicy, StorageError};

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
    /// An object in a store (`s3://bucket/key`, `gs://...`, `az://...`).
    Object(String),
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
            Location::Object(u) => u.rsplit('/').next().unwrap_or(u).to_string(),
        }
    }

    /// Whether the input is read over the network.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Path(_))
    }
}

impl From<StorageError> for SourceError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound(u) => SourceError::NotFound(u),
            StorageError::BadUrl { url, message } | StorageError::Request { url, message } => {
                SourceError::Http { url, message }
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Url(u) | Location::Object(u) => f.write_str(u),
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
    if is_object_url(arg) {
        return expand_object(arg, base_url, out);
    }
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

/// An object URL: one object, a glob over keys, or every object under a
/// prefix.
fn expand_object(arg: &str, base_url: &str, out: &mut Vec<Location>) -> Result<(), SourceError> {
    let url = ObjectUrl::parse(arg)?;
    if url.key.contains(['*', '?', '[']) {
        let found = storage::store::glob(&url)?;
        if found.is_empty() {
            return Err(SourceError::NotFound(arg.to_string()));
        }
        out.extend(found.into_iter().map(|u| Location::Object(u.to_string())));
        return Ok(());
    }
    if !url.key.is_empty() && !url.key.ends_with('/') && storage::store::head(&url)?.is_some() {
        let loc = Location::Object(url.to_string());
        if is_path_list(&loc.file_name()) {
            read_path_list(&loc, base_url, out)?;
        } else {
            out.push(loc);
        }
        return Ok(());
    }
    let found = storage::store::list_prefix(&url)?;
    if found.is_empty() {
        return Err(SourceError::NotFound(arg.to_string()));
    }
    out.extend(found.into_iter().map(|u| Location::Object(u.to_string())));
    Ok(())
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
        } else if is_object_url(entry) {
            out.push(Location::Object(entry.to_string()));
        } else if entry.starts_with('/') {
            out.push(Location::Path(PathBuf::from(entry)));
        } else {
            let sep = if base_url.ends_with('/') { "" } else { "/" };
            let full = format!("{base_url}{sep}{entry}");
            out.push(if is_object_url(&full) {
                Location::Object(full)
            } else {
                Location::Url(full)
            });
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
    /// Times a dropped connection was resumed (0 for local files).
    pub resumes: Arc<std::sync::atomic::AtomicU64>,
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
    let mut resumes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let raw: Box<dyn Read + Send> = match location {
        Location::Path(p) => Box::new(fs::File::open(p).map_err(|e| SourceError::Io {
            path: p.clone(),
            source: e,
        })?),
        Location::Url(u) => {
            let r = storage::open_url(u, RetryPolicy::default())?;
            resumes = r.resumes();
            Box::new(r)
        }
        Location::Object(u) => {
            let r = storage::open_object(&ObjectUrl::parse(u)?, RetryPolicy::default())?;
            resumes = r.resumes();
            Box::new(r)
        }
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
        resumes,
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
