//! The parameters guard of a stage. The first run of a stage in a run
//! directory records the parameters its outputs depend on (`.params.json`
//! beside them); every later run compares its own parameters with the record
//! and stops on a difference, because mixing outputs made with different
//! parameters would silently corrupt the results.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::task::{write_atomically, TaskError};

/// Why the guard refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// Outputs exist that were made with other parameters.
    #[error("{path}: {detail}")]
    Mismatch {
        /// The parameters file of the existing outputs.
        path: PathBuf,
        /// What differs, and what to do.
        detail: String,
    },
    /// The recorded parameters could not be read as JSON.
    #[error("{path}: {source}")]
    Json {
        /// The parameters file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Reading the record failed.
    #[error("{path}: {source}")]
    Io {
        /// The parameters file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing the record failed.
    #[error(transparent)]
    Write(#[from] TaskError),
}

/// Records `params` at `path` if nothing is recorded yet, else checks that the
/// record equals `params`. On a difference, `explain(recorded)` says what
/// differs and what the user can do; it becomes the error's detail.
pub fn check_or_record<P>(
    path: &Path,
    params: &P,
    explain: impl FnOnce(&P) -> String,
) -> Result<(), ParamsError>
where
    P: Serialize + DeserializeOwned + PartialEq,
{
    match std::fs::read(path) {
        Ok(bytes) => {
            let recorded: P = serde_json::from_slice(&bytes).map_err(|e| ParamsError::Json {
                path: path.to_path_buf(),
                source: e,
            })?;
            if &recorded == params {
                Ok(())
            } else {
                Err(ParamsError::Mismatch {
                    path: path.to_path_buf(),
                    detail: explain(&recorded),
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let json = serde_json::to_vec_pretty(params).expect("parameters serialise");
            write_atomically(path, &json)?;
            Ok(())
        }
        Err(e) => Err(ParamsError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Params {
        cap: u64,
    }

    #[test]
    fn records_then_accepts_equal_and_refuses_other_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".params.json");
        check_or_record(&path, &Params { cap: 5 }, |_| unreachable!()).unwrap();
        assert!(path.exists());
        check_or_record(&path, &Params { cap: 5 }, |_| unreachable!()).unwrap();
        let err = check_or_record(&path, &Params { cap: 6 }, |old| format!("was {}", old.cap))
            .unwrap_err();
        assert!(
            matches!(&err, ParamsError::Mismatch { detail, .. } if detail == "was 5"),
            "{err}"
        );
        std::fs::write(&path, b"{not json").unwrap();
        let err = check_or_record(&path, &Params { cap: 5 }, |_| String::new()).unwrap_err();
        assert!(matches!(err, ParamsError::Json { .. }), "{err}");
    }
}
