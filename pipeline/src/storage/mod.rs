//! Object storage and remote inputs: the `storage` crate (one layer under
//! the stages, see its docs and `docs/storage.md`), and how the input
//! readers of [`crate::sources`] name a run file.

pub use ::storage::*;

use std::path::Path;

use crate::sources::input::Location;

/// The input location of the run file `path` (an object, or a local file),
/// for the readers of [`crate::sources`].
pub fn location(path: &Path) -> Location {
    match files::object_url(path) {
        Some(url) => Location::Object(url.to_string()),
        None => Location::Path(path.to_path_buf()),
    }
}
