//! Run files: the files of a run directory, on local disk or in an object
//! store, behind one set of functions.
//!
//! A run directory is a local path or an object URL (`s3://bucket/run`,
//! `gs://...`, `az://...`). Either way `pipeline::run_dir::RunDir` joins
//! names onto it in a `PathBuf`, so a stage handles its paths the same way
//! wherever the run lives; every file operation of the stage runner, the
//! records and the part readers and writers goes through this module, which
//! looks at the path: a URL is an object, anything else a local file.
//!
//! On an object store the guarantees of the local run directory hold:
//! - an output is written to a local staging file ([`staging_dir`]) and then
//!   uploaded with one PUT (up to [`SINGLE_PUT_MAX`] bytes) or a multipart
//!   upload completed last, so it appears whole or not at all; a failed
//!   upload is aborted and a staging file left by a killed process is removed
//!   by the next stage run on the machine (the usual stale-temporary policy);
//! - [`create_new`] (the parameter guard) is a conditional PUT
//!   (`If-None-Match: *`); on a store without conditional writes it falls
//!   back to a HEAD then a PUT, which two racing processes can both pass;
//! - readers get a [`RunFile`]: ranged GETs with read-ahead, pinned to the
//!   object's ETag, so memory stays bounded whatever the object's size.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use atomic_output::AtomicError;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutMode, PutPayload, WriteMultipart};

use super::runtime::block_on;
use super::store::{object_path, store_for};
use super::url::{is_object_url, ObjectUrl};

pub use super::ranged::{open, ObjectFile, ObjectRead, RunFile, RunRead};

/// Outputs up to this size go up in one PUT; larger ones by a multipart
/// upload of [`PART_SIZE`] parts.
pub const SINGLE_PUT_MAX: u64 = 16 << 20;

/// Part size of multipart uploads (S3 wants at least 5 MiB).
pub const PART_SIZE: usize = 8 << 20;

/// The object URL of `path`, when it is one (`s3://bucket/key`, ...).
pub fn object_url(path: &Path) -> Option<ObjectUrl> {
    let s = path.to_str()?;
    if !is_object_url(s) {
        return None;
    }
    ObjectUrl::parse(s.trim_end_matches('/')).ok()
}

/// Whether `path` names an object (a URL) rather than a local file.
pub fn is_object(path: &Path) -> bool {
    path.to_str().is_some_and(is_object_url)
}

/// `path` made absolute when local; an object URL as it is (without a
/// trailing `/`).
pub fn absolute(path: &Path) -> PathBuf {
    match path.to_str() {
        Some(s) if is_object_url(s) => PathBuf::from(s.trim_end_matches('/')),
        _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
    }
}

pub(crate) fn io_err(url: &ObjectUrl, e: object_store::Error) -> io::Error {
    let kind = match &e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        object_store::Error::NotImplemented => io::ErrorKind::Unsupported,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{url}: {e}"))
}

fn store_err(e: super::StorageError) -> io::Error {
    io::Error::other(e.to_string())
}

pub(crate) fn store_of(url: &ObjectUrl) -> io::Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    Ok((store_for(url).map_err(store_err)?, object_path(url)))
}

/// Whether a file (or object) exists at `path`. A failed request counts as
/// "no" (logged): what looks missing is redone, never trusted.
pub fn exists(path: &Path) -> bool {
    let Some(url) = object_url(path) else {
        return path.exists();
    };
    match head(&url) {
        Ok(found) => found.is_some(),
        Err(e) => {
            log::warn!("{e}; taken as missing");
            false
        }
    }
}

/// The size and ETag of the object at `url`, `None` when there is none.
pub(crate) fn head(url: &ObjectUrl) -> io::Result<Option<(u64, Option<String>)>> {
    let (store, key) = store_of(url)?;
    match block_on(async move { store.head(&key).await }) {
        Ok(meta) => Ok(Some((meta.size, meta.e_tag))),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(io_err(url, e)),
    }
}

/// The whole file at `path` (errors of kind `NotFound` when missing).
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let Some(url) = object_url(path) else {
        return std::fs::read(path);
    };
    let (store, key) = store_of(&url)?;
    block_on(async move { store.get(&key).await?.bytes().await })
        .map(|b| b.to_vec())
        .map_err(|e| io_err(&url, e))
}

/// Writes `bytes` to `path` whole or not at all (a local temporary renamed
/// into place, or one PUT).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let Some(url) = object_url(path) else {
        return atomic_output::write_atomically(path, bytes).map_err(|e| e.source);
    };
    put(&url, bytes.to_vec().into(), PutMode::Overwrite)
}

fn put(url: &ObjectUrl, payload: PutPayload, mode: PutMode) -> io::Result<()> {
    let (store, key) = store_of(url)?;
    block_on(async move { store.put_opts(&key, payload, mode.into()).await })
        .map(|_| ())
        .map_err(|e| io_err(url, e))
}

/// Writes `bytes` to `path` only if nothing is there: `Ok(false)` when a
/// file (or object) already exists. Of several processes racing, exactly
/// one gets `true` (on object stores without conditional writes, see the
/// module docs).
pub fn create_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let Some(url) = object_url(path) else {
        return create_new_local(path, bytes);
    };
    match put(&url, bytes.to_vec().into(), PutMode::Create) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            log::warn!("{url}: the store has no conditional writes; checking, then writing");
            if head(&url)?.is_some() {
                return Ok(false);
            }
            write(path, bytes).map(|()| true)
        }
        Err(e) => Err(e),
    }
}

/// A temporary written in full, then hard-linked into place (which fails if
/// the name exists).
fn create_new_local(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = atomic_output::temp_path_for(&path.with_extension(format!("new.{}", next_id())));
    std::fs::write(&tmp, bytes)?;
    if let Ok(f) = File::open(&tmp) {
        let _ = f.sync_all();
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

fn next_id() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Where outputs bound for an object store are written before their upload:
/// `$WITCURATE_STAGING_DIR`, else `witcurate-staging` in the system's
/// temporary directory. It holds at most one file per output being written
/// at the moment.
pub fn staging_dir() -> PathBuf {
    std::env::var_os("WITCURATE_STAGING_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("witcurate-staging"))
}

/// Writes an output whole or not at all: `write` gets a local temporary path;
/// when it succeeds the file is renamed to `path` (see
/// [`atomic_output::commit_atomically`]), or, for an object, uploaded (see
/// the module docs); the temporary is removed either way.
pub fn commit<E, F>(path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<AtomicError>,
{
    let Some(url) = object_url(path) else {
        return atomic_output::commit_atomically(path, write);
    };
    let dir = staging_dir();
    std::fs::create_dir_all(&dir).map_err(|e| AtomicError::new(&dir, e))?;
    let tmp = atomic_output::temp_path_for(&dir.join(format!("{}-{}", next_id(), url.file_name())));
    let result = write(&tmp)
        .and_then(|()| upload(&tmp, &url).map_err(|e| E::from(AtomicError::new(path, e))));
    let _ = std::fs::remove_file(&tmp);
    result
}

/// Writes a directory of files: `write` gets a local temporary directory
/// path to create and fill. On disk the directory is renamed into place
/// whole (see [`atomic_output::commit_atomically`]). For an object URL
/// there is no atomic way to publish many objects: whatever a killed
/// earlier attempt left under `path/` is removed first, the directory is
/// staged locally, then each file goes up whole (sorted by name) as
/// `path/NAME`; the caller must write its completion marker after this
/// returns, and take the directory as done only when the marker exists.
pub fn commit_dir<E, F>(path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<AtomicError>,
{
    let Some(url) = object_url(path) else {
        if path.is_dir() {
            // A directory left by a run killed between its renames.
            std::fs::remove_dir_all(path).map_err(|e| AtomicError::new(path, e))?;
        }
        return atomic_output::commit_atomically(path, write);
    };
    remove_all(path).map_err(|e| AtomicError::new(path, e))?;
    let dir = staging_dir();
    std::fs::create_dir_all(&dir).map_err(|e| AtomicError::new(&dir, e))?;
    let tmp = atomic_output::temp_path_for(&dir.join(format!("{}-{}", next_id(), url.file_name())));
    let result = write(&tmp).and_then(|()| {
        upload_tree(&tmp, &tmp, &url).map_err(|e| E::from(AtomicError::new(path, e)))
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Uploads every file under the local directory `dir` to `to/RELATIVE`.
fn upload_tree(root: &Path, dir: &Path, to: &ObjectUrl) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let local = entry.path();
        if entry.file_type()?.is_dir() {
            upload_tree(root, &local, to)?;
            continue;
        }
        let relative = local
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let target = ObjectUrl::parse(&format!(
            "{}/{relative}",
            to.to_string().trim_end_matches('/')
        ))
        .map_err(|e| io::Error::other(e.to_string()))?;
        upload(&local, &target)?;
    }
    Ok(())
}

/// Copies the local file `from` to `to` whole or not at all: for an object,
/// an upload as [`commit`]'s (no staging copy); for a local path, a copy
/// under a temporary name renamed into place.
pub fn put_file(from: &Path, to: &Path) -> io::Result<()> {
    match object_url(to) {
        Some(url) => upload(from, &url),
        None => atomic_output::commit_atomically(to, |tmp| {
            std::fs::copy(from, tmp)
                .map(|_| ())
                .map_err(|e| AtomicError::new(tmp, e))
        })
        .map_err(|e| e.source),
    }
}

/// Copies the file (or object) `from` to the local path `to`, streaming.
pub fn get_file(from: &Path, to: &Path) -> io::Result<()> {
    let mut reader = open(from)?.reader()?;
    atomic_output::commit_atomically(to, |tmp| {
        let mut out = File::create(tmp).map_err(|e| AtomicError::new(tmp, e))?;
        io::copy(&mut reader, &mut out)
            .map(|_| ())
            .map_err(|e| AtomicError::new(tmp, e))
    })
    .map_err(|e| e.source)
}

/// Uploads the local file `from` as the object `to`: one PUT when small,
/// else a multipart upload that is completed last (and aborted on failure).
fn upload(from: &Path, to: &ObjectUrl) -> io::Result<()> {
    let size = std::fs::metadata(from)?.len();
    if size <= SINGLE_PUT_MAX {
        return put(to, std::fs::read(from)?.into(), PutMode::Overwrite);
    }
    let (store, key) = store_of(to)?;
    let from = from.to_path_buf();
    block_on(async move {
        use tokio::io::AsyncReadExt;
        let upload = store.put_multipart(&key).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let sent = async {
            let mut file =
                tokio::fs::File::open(&from)
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "staging",
                        source: Box::new(e),
                    })?;
            let mut buf = vec![0u8; PART_SIZE];
            loop {
                let n = file
                    .read(&mut buf)
                    .await
                    .map_err(|e| object_store::Error::Generic {
                        store: "staging",
                        source: Box::new(e),
                    })?;
                if n == 0 {
                    return Ok(());
                }
                // At most two parts in flight: memory stays bounded.
                writer.wait_for_capacity(2).await?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match sent {
            Ok(()) => writer.finish().await.map(|_| ()),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    })
    .map_err(|e| io_err(to, e))
}

/// Removes the file (or object) at `path`; nothing there is not an error.
pub fn remove_file(path: &Path) -> io::Result<()> {
    let result = match object_url(path) {
        None => std::fs::remove_file(path),
        Some(url) => {
            let (store, key) = store_of(&url)?;
            block_on(async move { store.delete(&key).await }).map_err(|e| io_err(&url, e))
        }
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Removes `path` whether a file or a directory (with everything in it);
/// for an object URL, the object and every object under `path/`.
pub fn remove_all(path: &Path) -> io::Result<()> {
    let Some(url) = object_url(path) else {
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        return match removed {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        };
    };
    remove_file(path)?;
    let (store, prefix) = store_of(&url)?;
    block_on(async move {
        let keys: Vec<_> = store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .try_collect()
            .await?;
        for key in keys {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .map_err(|e| io_err(&url, e))
}

/// Creates a local directory and its parents; objects need no directories.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    if is_object(path) {
        return Ok(());
    }
    std::fs::create_dir_all(path)
}

/// Removes the temporary files killed writers left in a local directory
/// (see [`atomic_output::clean_stale_temps`]); an object store has none
/// (uploads are whole), but the local staging directory is cleaned instead.
pub fn clean_stale_temps(dir: &Path) -> Result<usize, AtomicError> {
    if is_object(dir) {
        let staging = staging_dir();
        return if staging.is_dir() {
            atomic_output::clean_stale_temps(&staging)
        } else {
            Ok(0)
        };
    }
    atomic_output::clean_stale_temps(dir)
}

/// Removes the stale temporaries of one local output (see
/// [`atomic_output::clean_stale_temps_of`]); nothing for an object.
pub fn clean_stale_temps_of(path: &Path) -> Result<usize, AtomicError> {
    if is_object(path) {
        return Ok(0);
    }
    atomic_output::clean_stale_temps_of(path)
}

/// What is at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A file (an object).
    File,
    /// A directory (objects under `path/`).
    Dir,
}

/// Whether `path` is a file, a directory, or nothing (`None`).
pub fn kind(path: &Path) -> io::Result<Option<Kind>> {
    let Some(url) = object_url(path) else {
        return Ok(if path.is_dir() {
            Some(Kind::Dir)
        } else if path.exists() {
            Some(Kind::File)
        } else {
            None
        });
    };
    if head(&url)?.is_some() {
        return Ok(Some(Kind::File));
    }
    // A directory: some object under `key/` (one LIST request).
    let (store, prefix) = store_of(&url)?;
    let first = block_on(async move { store.list(Some(&prefix)).try_next().await })
        .map_err(|e| io_err(&url, e))?;
    Ok(first.map(|_| Kind::Dir))
}

/// The files directly in the directory `dir` (for an object URL: the
/// objects whose keys are `dir/NAME`), sorted by name; hidden names (a
/// leading `.`) are left out. A missing directory has none.
pub fn list_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    list(dir, false)
}

/// The directories directly in `dir` (for an object URL: the prefixes
/// `dir/NAME/` holding objects), sorted by name; hidden names left out.
pub fn list_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    list(dir, true)
}

/// The files (or with `dirs`, the directories) directly in `dir`.
fn list(dir: &Path, dirs: bool) -> io::Result<Vec<PathBuf>> {
    let mut names: Vec<String> = match object_url(dir) {
        None => match std::fs::read_dir(dir) {
            Ok(entries) => {
                let mut names = Vec::new();
                for entry in entries {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() == dirs {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                names
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        },
        Some(url) => {
            let (store, prefix) = store_of(&url)?;
            let listed = block_on(async move { store.list_with_delimiter(Some(&prefix)).await })
                .map_err(|e| io_err(&url, e))?;
            let paths: Vec<ObjectPath> = if dirs {
                listed.common_prefixes
            } else {
                listed.objects.into_iter().map(|m| m.location).collect()
            };
            paths
                .iter()
                .filter_map(|p| p.filename().map(String::from))
                .collect()
        }
    };
    names.retain(|n| !n.starts_with('.'));
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::ChunkReader;

    #[test]
    fn urls_are_objects_and_everything_else_local() {
        let run = Path::new("s3://bucket/runs/a/");
        assert!(is_object(run));
        assert_eq!(absolute(run), PathBuf::from("s3://bucket/runs/a"));
        let part = absolute(run).join("pairs").join("part-00000.parquet");
        let url = object_url(&part).unwrap();
        assert_eq!(
            (url.bucket.as_str(), url.key.as_str()),
            ("bucket", "runs/a/pairs/part-00000.parquet")
        );
        assert_eq!(url.file_name(), "part-00000.parquet");
        for local in ["run", "/tmp/s3://x", "./gs:/b"] {
            assert!(object_url(Path::new(local)).is_none(), "{local}");
        }
        assert!(absolute(Path::new("run")).is_absolute());
    }

    #[test]
    fn local_files_behave_as_before() {
        let dir = std::env::temp_dir().join(format!("witcurate-files-{}", std::process::id()));
        let out = dir.join("a/part-00001.parquet");
        write(&out, b"one").unwrap();
        assert!(exists(&out) && !exists(&dir.join("a/missing")));
        assert_eq!(read(&out).unwrap(), b"one");
        assert!(!create_new(&out, b"two").unwrap());
        assert!(create_new(&dir.join("a/new.json"), b"two").unwrap());
        std::fs::write(dir.join("a/.hidden"), b"").unwrap();
        std::fs::create_dir_all(dir.join("a/sub")).unwrap();
        assert_eq!(
            list_files(&dir.join("a")).unwrap(),
            vec![dir.join("a/new.json"), out.clone()]
        );
        assert_eq!(kind(&dir.join("a")).unwrap(), Some(Kind::Dir));
        assert_eq!(kind(&out).unwrap(), Some(Kind::File));
        let f = open(&out).unwrap();
        assert_eq!(f.get_bytes(1, 2).unwrap().as_ref(), b"ne");
        remove_all(&dir).unwrap();
        assert_eq!(kind(&dir).unwrap(), None);
        assert!(list_files(&dir).unwrap().is_empty());
    }
}
