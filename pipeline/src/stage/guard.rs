//! The parameter guard: the first run of a stage records the parameters its
//! outputs depend on; every later run compares its own with the record and
//! stops on a difference, naming each differing value.
//!
//! Taking the guard is atomic: the record is created only if none exists
//! (locally a temporary hard-linked into place, on an object store a
//! conditional PUT; see [`crate::storage::files::create_new`]), so of two
//! processes with different parameters only one can record them; the other
//! then reads the record and stops.

use std::fmt;
use std::path::Path;

use serde_json::Value;

use crate::storage::files;

use super::StageError;

/// The values that differ between recorded and requested parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamsDiff(pub Vec<(String, Value, Value)>);

impl fmt::Display for ParamsDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(k, then, now)| format!("{k}: {} then, {} now", short(then), short(now)))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 120 {
        let head: String = s.chars().take(117).collect();
        format!("{head}...")
    } else {
        s
    }
}

/// The differing leaves of `then` and `now`, named by their dotted paths.
pub fn diff(then: &Value, now: &Value) -> ParamsDiff {
    let mut out = Vec::new();
    diff_into("", then, now, &mut out);
    ParamsDiff(out)
}

fn diff_into(prefix: &str, then: &Value, now: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (then, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff_into(
                    &name,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if then != now => out.push((
            if prefix.is_empty() {
                "parameters".into()
            } else {
                prefix.to_string()
            },
            then.clone(),
            now.clone(),
        )),
        _ => {}
    }
}

/// Records `params` at `path` if nothing is recorded yet (atomically), else
/// checks that the record equals `params`.
pub fn take(stage: &str, path: &Path, params: &Value) -> Result<(), StageError> {
    loop {
        match files::read(path) {
            Ok(bytes) => {
                let recorded: Value =
                    serde_json::from_slice(&bytes).map_err(|e| StageError::Corrupt {
                        path: path.to_path_buf(),
                        detail: format!("not the JSON of a parameters record: {e}"),
                    })?;
                let d = diff(&recorded, params);
                if d.0.is_empty() {
                    return Ok(());
                }
                return Err(StageError::ParamsMismatch {
                    stage: stage.to_string(),
                    path: path.to_path_buf(),
                    diff: d,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if record_new(path, params)? {
                    return Ok(());
                }
                // Another process recorded first: compare with its record.
            }
            Err(e) => return Err(StageError::io(path, e)),
        }
    }
}

/// Writes the record if none exists; `false` when another process won.
fn record_new(path: &Path, params: &Value) -> Result<bool, StageError> {
    let json = serde_json::to_vec_pretty(params).expect("parameters serialise");
    files::create_new(path, &json).map_err(|e| StageError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_accepts_equal_and_names_each_difference() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/params.json");
        let a = json!({"t": 5, "cap": "soft", "image": {"size": 64, "mode": "border"}});
        take("balance", &path, &a).unwrap();
        take("balance", &path, &a).unwrap();
        let b = json!({"t": 6, "cap": "soft", "image": {"size": 128, "mode": "border"}});
        let err = take("balance", &path, &b).unwrap_err().to_string();
        assert!(err.contains("t: 5 then, 6 now"), "{err}");
        assert!(err.contains("image.size: 64 then, 128 now"), "{err}");
        assert!(!err.contains("cap"), "{err}");
        assert!(err.contains("--force"), "{err}");
        std::fs::write(&path, b"{oops").unwrap();
        assert!(matches!(
            take("balance", &path, &a),
            Err(StageError::Corrupt { .. })
        ));
    }

    #[test]
    fn concurrent_takers_with_different_parameters_cannot_both_win() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("params.json");
            let results: Vec<bool> = std::thread::scope(|s| {
                let hs: Vec<_> = (0..4)
                    .map(|i| {
                        let path = &path;
                        s.spawn(move || take("match", path, &json!({"vocab": i})).is_ok())
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(results.iter().filter(|&&ok| ok).count(), 1, "{results:?}");
        }
    }
}
