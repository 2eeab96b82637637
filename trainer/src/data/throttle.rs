//! Rate-limited, counted warnings: a bad sample in a billion is worth a log
//! line, a billion bad samples are not worth a billion.

use std::sync::atomic::{AtomicU64, Ordering};

/// Warnings shown per kind before the rest are only counted.
pub const SHOWN_PER_KIND: u64 = 10;

/// A kind of warning (say, "undecodable image") whose first
/// [`SHOWN_PER_KIND`] occurrences are logged and every occurrence counted.
#[derive(Debug)]
pub struct Throttled {
    what: &'static str,
    shown: u64,
    count: AtomicU64,
}

impl Throttled {
    /// A counter for warnings about `what` (a plural noun phrase, used in
    /// the messages), showing the first [`SHOWN_PER_KIND`].
    pub const fn new(what: &'static str) -> Self {
        Self::with_limit(what, SHOWN_PER_KIND)
    }

    /// As [`Throttled::new`], showing the first `shown`.
    pub const fn with_limit(what: &'static str, shown: u64) -> Self {
        Throttled {
            what,
            shown,
            count: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence and logs `message()` if it is among the first
    /// shown (the message is not built otherwise); returns whether it was.
    pub fn warn(&self, message: impl FnOnce() -> String) -> bool {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if n > self.shown {
            return false;
        }
        log::warn!("{}", message());
        if n == self.shown {
            log::warn!(
                "further {} are counted but not shown (the total is reported at the end)",
                self.what
            );
        }
        true
    }

    /// Occurrences so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `"N WHAT (M shown)"`, or `None` if there were none.
    pub fn summary(&self) -> Option<String> {
        let n = self.count();
        (n > 0).then(|| format!("{n} {} ({} shown)", self.what, n.min(self.shown)))
    }
}

/// The data path's warnings, shared by the stream and the loader.
#[derive(Debug)]
pub struct DataWarnings {
    /// Samples whose image could not be decoded (or caption encoded).
    pub unusable_samples: Throttled,
    /// Shard parts (row groups, tar files) that could not be read.
    pub unreadable_parts: Throttled,
}

impl Default for DataWarnings {
    fn default() -> Self {
        DataWarnings {
            unusable_samples: Throttled::new("unusable samples"),
            unreadable_parts: Throttled::new("unreadable shard parts"),
        }
    }
}

impl DataWarnings {
    /// One line per kind that occurred.
    pub fn summaries(&self) -> Vec<String> {
        [&self.unusable_samples, &self.unreadable_parts]
            .into_iter()
            .filter_map(Throttled::summary)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_everything_and_builds_only_the_shown_messages() {
        let t = Throttled::with_limit("bad things", 3);
        let shown = (0..1000).filter(|_| t.warn(|| "bad".into())).count();
        assert_eq!(shown, 3);
        assert_eq!(t.count(), 1000);
        assert_eq!(t.summary().unwrap(), "1000 bad things (3 shown)");
        assert!(Throttled::new("x").summary().is_none());
    }
}
