//! Outputs that appear whole or not at all.
//!
//! Every output is written under a hidden temporary sibling
//! (`.NAME.tmp-HOST-PID`, see [`temp_path_for`]), fsynced, and renamed into
//! place, so a reader never sees half a file and a killed writer leaves only
//! temporary files. [`clean_stale_temps`] removes those leftovers safely even
//! while other processes, possibly on other machines sharing the directory,
//! are still writing theirs.

#![warn(missing_docs)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// An I/O error on a named path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct AtomicError {
    /// The file or directory involved.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

impl AtomicError {
    /// Wraps an I/O error with the path it happened on.
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }
}

/// The temporary path an output is written under before it is committed:
/// a hidden sibling (`.NAME.tmp-HOST-PID`) in the same directory, so the final
/// rename is atomic and readers listing `*.parquet` never see it. The host
/// name lets [`clean_stale_temps`] tell this machine's leftovers from files
/// other machines sharing the directory are still writing.
pub fn temp_path_for(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    final_path.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        host_name(),
        std::process::id()
    ))
}

/// This machine's name, reduced to `[A-Za-z0-9_]` (used in temporary names).
pub fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// Writes an output atomically: `write` receives a temporary path in the same
/// directory (created if missing), and on success the file is fsynced and
/// renamed to `final_path`. On failure the temporary file is removed and
/// nothing appears at `final_path`.
pub fn commit_atomically<E, F>(final_path: &Path, write: F) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
    E: From<AtomicError>,
{
    if let Some(dir) = final_path.parent() {
        if !dir.as_os_str().is_empty() {
            fs::create_dir_all(dir).map_err(|e| AtomicError::new(dir, e))?;
        }
    }
    let tmp = temp_path_for(final_path);
    match write(&tmp) {
        Ok(()) => {
            if let Ok(f) = fs::File::open(&tmp) {
                let _ = f.sync_all();
            }
            fs::rename(&tmp, final_path).map_err(|e| AtomicError::new(final_path, e))?;
            Ok(())
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes bytes to `final_path` atomically (see [`commit_atomically`]).
pub fn write_atomically(final_path: &Path, bytes: &[u8]) -> Result<(), AtomicError> {
    commit_atomically(final_path, |tmp| {
        fs::write(tmp, bytes).map_err(|e| AtomicError::new(tmp, e))
    })
}

/// How long a temporary file must have gone unmodified before
/// [`clean_stale_temps`] treats it as left behind by a killed task.
pub const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Removes temporary files left in `dir` by killed tasks (`.NAME.tmp-HOST-PID`).
///
/// Several processes (task slices, possibly on several machines sharing the
/// directory) may be writing at the same time, so a temporary file is removed
/// only when it is stale: written by a process of this machine that is no
/// longer alive, or written elsewhere and not modified for [`STALE_TEMP_AGE`].
/// Returns how many were removed.
pub fn clean_stale_temps(dir: &Path) -> Result<usize, AtomicError> {
    clean_temps(dir, None, STALE_TEMP_AGE)
}

/// Removes the stale temporary files of one output (see [`clean_stale_temps`]),
/// leaving the other files of its directory alone: for outputs written into a
/// directory the run does not own (say, `eval --json FILE`).
pub fn clean_stale_temps_of(final_path: &Path) -> Result<usize, AtomicError> {
    let Some(name) = final_path.file_name() else {
        return Ok(0);
    };
    let dir = match final_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    clean_temps(dir, Some(&prefix), STALE_TEMP_AGE)
}

/// Whether process `pid` of this machine is running: it exists and is not a
/// zombie. A killed writer whose parent died too stays a zombie for as long as
/// nothing reaps it (in a container whose first process never waits, that is
/// forever), yet it writes nothing more.
fn process_is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // `PID (COMM) STATE ...`; COMM may hold spaces and parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_none_or(|state| !matches!(state, 'Z' | 'X' | 'x')),
        Err(_) => false,
    }
}

fn clean_temps(
    dir: &Path,
    prefix: Option<&str>,
    age: std::time::Duration,
) -> Result<usize, AtomicError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(AtomicError::new(dir, e)),
    };
    let now = std::time::SystemTime::now();
    let this_host = host_name();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| AtomicError::new(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, owner)) = name.rsplit_once(".tmp-") else {
            continue;
        };
        if !name.starts_with('.') || prefix.is_some_and(|p| !name.starts_with(p)) {
            continue;
        }
        // `HOST-PID`, or a bare `PID` (taken as this machine's).
        let (host, pid) = match owner.rsplit_once('-') {
            Some((host, pid)) => (Some(host), pid),
            None => (None, owner),
        };
        let local = host.is_none_or(|h| h == this_host);
        let alive = pid.parse::<u32>().is_ok_and(process_is_running);
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|d| d >= age);
        let stale = if local { !alive } else { old };
        if stale {
            let path = entry.path();
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match result {
                Ok(()) => removed += 1,
                // Another process cleaned it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(AtomicError::new(path, e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_commit_leaves_nothing_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/part-00000.parquet");
        let r: Result<(), AtomicError> = commit_atomically(&target, |tmp| {
            fs::write(tmp, b"half").unwrap();
            Err(AtomicError::new(tmp, io::Error::other("the writer failed")))
        });
        assert!(r.is_err());
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
        write_atomically(&target, b"whole").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"whole");
    }

    #[test]
    fn stale_temps_are_cleaned_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_name();
        let old = std::time::SystemTime::now() - STALE_TEMP_AGE * 2;
        let age = |p: &Path| {
            fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        // Left by a dead process of this machine: removed at once.
        let dead = dir
            .path()
            .join(format!(".part-00001.parquet.tmp-{host}-4294967"));
        fs::write(&dead, b"x").unwrap();
        // Being written by this (live) process: kept, however old.
        let live = temp_path_for(&dir.path().join("part-00002.parquet"));
        fs::write(&live, b"x").unwrap();
        age(&live);
        // Another machine's, recent: kept; old: removed.
        let remote = dir.path().join(".part-00003.parquet.tmp-othermachine-12");
        fs::write(&remote, b"x").unwrap();
        let remote_old = dir.path().join(".part-00004.parquet.tmp-othermachine-13");
        fs::write(&remote_old, b"x").unwrap();
        age(&remote_old);
        fs::write(dir.path().join("part-00000.parquet"), b"x").unwrap();
        assert_eq!(clean_stale_temps(dir.path()).unwrap(), 2);
        assert!(!dead.exists() && !remote_old.exists());
        assert!(live.exists() && remote.exists());
        assert!(dir.path().join("part-00000.parquet").exists());
    }

    #[test]
    fn temps_of_a_zombie_writer_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        // A child that has exited but is not yet reaped is a zombie.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let zombie = |pid: u32| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
        };
        for _ in 0..500 {
            if zombie(pid) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(zombie(pid), "the child did not become a zombie");
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        let left = dir
            .path()
            .join(format!(".report.html.tmp-{}-{pid}", host_name()));
        fs::write(&left, b"half").unwrap();
        assert_eq!(clean_stale_temps(dir.path()).unwrap(), 1);
        assert!(!left.exists());
        assert!(process_is_running(std::process::id()));
        child.wait().unwrap();
    }

    #[test]
    fn stale_temps_of_one_output() {
        let dir = tempfile::tempdir().unwrap();
        let host = host_name();
        let mine = dir.path().join(format!(".eval.json.tmp-{host}-4294967"));
        let other = dir.path().join(format!(".notes.txt.tmp-{host}-4294967"));
        fs::write(&mine, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        assert_eq!(
            clean_stale_temps_of(&dir.path().join("eval.json")).unwrap(),
            1
        );
        assert!(!mine.exists() && other.exists());
    }
}
