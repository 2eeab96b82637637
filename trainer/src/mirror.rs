//! A training run directory on object storage (`--out s3://bucket/run`).
//!
//! Checkpoints are written and loaded by candle from local files, so the
//! trainer works in a local copy of the run directory (in the storage
//! layer's staging area) and mirrors it: at the start the copy gets the
//! store's log and its newest complete checkpoint (enough to resume); each
//! checkpoint then goes up as it is written, its files whole, its
//! `checkpoint.json` (what makes a checkpoint complete) last, and the log
//! after it. [`local_checkpoint`] fetches a checkpoint to read (`eval`).

use std::path::{Path, PathBuf};

use storage::files;

use crate::checkpoint::{META_FILE, MODEL_FILE, OPTIMIZER_FILE, TOKENIZER_FILE};
use crate::error::io_err;
use crate::train::LOG_FILE;
use crate::{Error, Result};

/// A run directory on object storage and its local working copy.
#[derive(Debug)]
pub struct Mirror {
    remote: PathBuf,
    local: PathBuf,
}

impl Mirror {
    /// The mirror of `out` when it is an object URL (`None` for a local
    /// directory), its local copy filled from the store.
    pub fn open(out: &Path) -> Result<Option<Self>> {
        let Some(url) = files::object_url(out) else {
            return Ok(None);
        };
        let remote = files::absolute(out);
        let local = files::staging_dir()
            .join("train")
            .join(&url.bucket)
            .join(&url.key);
        if local.exists() {
            std::fs::remove_dir_all(&local).map_err(io_err(&local))?;
        }
        std::fs::create_dir_all(&local).map_err(io_err(&local))?;
        let mirror = Mirror { remote, local };
        mirror.pull()?;
        Ok(Some(mirror))
    }

    /// The local working copy.
    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Where a file of the local copy lives in the store.
    pub fn remote_of(&self, local: &Path) -> PathBuf {
        match local.strip_prefix(&self.local) {
            Ok(rel) => self.remote.join(rel),
            Err(_) => local.to_path_buf(),
        }
    }

    /// The log and the newest complete checkpoint, from the store.
    fn pull(&self) -> Result<()> {
        self.get(Path::new(LOG_FILE), true)?;
        if let Some(dir) = newest_checkpoint(&self.remote)? {
            let name = PathBuf::from(dir.file_name().expect("a step directory"));
            for f in [MODEL_FILE, OPTIMIZER_FILE, TOKENIZER_FILE, META_FILE] {
                self.get(&name.join(f), false)?;
            }
        }
        Ok(())
    }

    /// Copies `rel` from the store into the local copy (`optional`: nothing
    /// there is not an error).
    fn get(&self, rel: &Path, optional: bool) -> Result<()> {
        let (from, to) = (self.remote.join(rel), self.local.join(rel));
        match files::get_file(&from, &to) {
            Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(io_err(&from)),
        }
    }

    /// Uploads the local checkpoint `dir` (its `checkpoint.json` last), then
    /// the log, and removes the older checkpoints of the local copy (the
    /// store has them): the copy holds one checkpoint between saves.
    pub fn push_checkpoint(&self, dir: &Path) -> Result<()> {
        for f in [MODEL_FILE, OPTIMIZER_FILE, TOKENIZER_FILE, META_FILE] {
            let local = dir.join(f);
            let remote = self.remote_of(&local);
            files::put_file(&local, &remote).map_err(io_err(&remote))?;
        }
        let log = self.local.join(LOG_FILE);
        let remote = self.remote_of(&log);
        files::put_file(&log, &remote).map_err(io_err(&remote))?;
        for old in files::list_dirs(&self.local).map_err(io_err(&self.local))? {
            if old != dir
                && old
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
            {
                std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
            }
        }
        Ok(())
    }
}

/// The newest complete checkpoint (`step-N/` with its `checkpoint.json`) of
/// the run directory `run` on object storage.
fn newest_checkpoint(run: &Path) -> Result<Option<PathBuf>> {
    let dirs = files::list_dirs(run).map_err(io_err(run))?;
    Ok(dirs
        .into_iter()
        .rev()
        .filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("step-"))
        })
        .find(|d| files::exists(&d.join(META_FILE))))
}

/// The checkpoint `path` names, readable from local disk: `path` itself when
/// local; for an object URL (a checkpoint, or a run directory: its newest
/// complete checkpoint), a copy of its model, tokenizer and metadata in the
/// staging area, and the checkpoint's own URL.
pub fn local_checkpoint(path: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let Some(url) = files::object_url(path) else {
        return Ok((path.to_path_buf(), None));
    };
    let path = files::absolute(path);
    let dir = if files::exists(&path.join(META_FILE)) {
        path
    } else {
        newest_checkpoint(&path)?.ok_or_else(|| Error::Checkpoint {
            path: path.clone(),
            message: format!(
                "neither a checkpoint (no {META_FILE}) nor a run directory holding one"
            ),
        })?
    };
    let name = dir.file_name().expect("a checkpoint directory").to_owned();
    let local = files::staging_dir()
        .join("checkpoints")
        .join(&url.bucket)
        .join(&url.key)
        .join(name);
    for f in [MODEL_FILE, TOKENIZER_FILE, META_FILE] {
        let from = dir.join(f);
        files::get_file(&from, &local.join(f)).map_err(io_err(&from))?;
    }
    Ok((local, Some(dir)))
}
