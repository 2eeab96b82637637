//! Samples of a webdataset tar: consecutive members sharing a key form a
//! sample (`KEY.jpg`, `KEY.txt`, `KEY.json`, ...), as the download stage's
//! `--output-format webdataset`, img2dataset and open_clip write them.
//!
//! The key is the member's path up to the first `.` of its file name, the
//! rest (lower-cased) its extension. The image is the first `jpg`, `jpeg`,
//! `png` or `webp` member; the caption is the `txt` member, else the
//! `caption` (or `text`) field of the `json` member.

use std::io::{Read, Seek};
use std::path::PathBuf;

use super::shards::Sample;
use super::tar::TarReader;
use crate::error::io_err;
use crate::Result;

/// Image extensions, in the order open_clip tries them.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

/// `(key, extension)` of a member path, or `None` for a name without one.
pub fn split_key(name: &str) -> Option<(&str, String)> {
    let base_start = name.rfind('/').map_or(0, |i| i + 1);
    let dot = name[base_start..].find('.')? + base_start;
    if dot == base_start {
        return None; // hidden files (`._x`, `.DS_Store`)
    }
    Some((&name[..dot], name[dot + 1..].to_ascii_lowercase()))
}

#[derive(Default)]
struct Group {
    key: String,
    members: usize,
    image: Option<Vec<u8>>,
    has_image: bool,
    txt: Option<Vec<u8>>,
    json: Option<Vec<u8>>,
}

fn caption_of(g: &Group) -> Option<String> {
    if let Some(t) = &g.txt {
        return Some(String::from_utf8_lossy(t).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(g.json.as_ref()?).ok()?;
    ["caption", "text"]
        .iter()
        .find_map(|k| v.get(k).and_then(|c| c.as_str()).map(str::to_string))
}

/// The samples of one tar, read one at a time.
pub struct TarSamples<R: Read + Seek = std::io::BufReader<std::fs::File>> {
    path: PathBuf,
    reader: TarReader<R>,
    file: u32,
    images: bool,
    /// Samples (key groups) seen so far, usable or not.
    index: u32,
    current: Group,
    /// A member of the next group, read while looking for the current one's end.
    pending: Option<(String, String)>,
    done: bool,
    /// Only samples with these keys (or whose key's file name is one).
    selected: Option<std::collections::HashSet<String>>,
}

impl<R: Read + Seek> TarSamples<R> {
    /// Samples of the tar at `path` read from `r`, tagged with shard file
    /// index `file`; with `images == false` image data is skipped unread.
    pub fn new(path: PathBuf, r: R, file: u32, images: bool) -> Self {
        TarSamples {
            path,
            reader: TarReader::new(r),
            file,
            images,
            index: 0,
            current: Group::default(),
            pending: None,
            done: false,
            selected: None,
        }
    }

    /// Keeps only the samples whose key, or the file name part of it, is in
    /// `keys` (a crawl run's selection of this shard).
    pub fn with_selection(mut self, keys: std::collections::HashSet<String>) -> Self {
        self.selected = Some(keys);
        self
    }

    /// Reads the current member's data into the current group if it is wanted.
    fn take(&mut self, ext: &str) -> Result<()> {
        let g = &mut self.current;
        g.members += 1;
        let data = |r: &mut TarReader<R>| r.read_data().map_err(io_err(&self.path));
        if IMAGE_EXTENSIONS.contains(&ext) && !g.has_image {
            g.has_image = true;
            if self.images {
                g.image = Some(data(&mut self.reader)?);
            }
        } else if ext == "txt" && g.txt.is_none() {
            g.txt = Some(data(&mut self.reader)?);
        } else if ext == "json" && g.json.is_none() {
            g.json = Some(data(&mut self.reader)?);
        }
        Ok(())
    }

    /// Ends the current group: its sample, if usable.
    fn finish(&mut self) -> Option<Sample> {
        let g = std::mem::take(&mut self.current);
        if g.members == 0 {
            return None;
        }
        let n = self.index;
        self.index += 1;
        if let Some(sel) = &self.selected {
            let name = g.key.rsplit('/').next().unwrap_or(&g.key);
            if !sel.contains(&g.key) && !sel.contains(name) {
                return None;
            }
        }
        let caption = caption_of(&g)?;
        if caption.trim().is_empty() || !g.has_image {
            return None;
        }
        let jpg = g.image.unwrap_or_default();
        if self.images && jpg.is_empty() {
            return None;
        }
        Some(Sample {
            caption,
            jpg,
            origin: (self.file, 0, n),
        })
    }

    /// The next usable sample, or `None` at the end of the tar.
    pub fn next_sample(&mut self) -> Result<Option<Sample>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let (key, ext) = match self.pending.take() {
                Some(p) => p,
                None => match self.reader.next_member().map_err(io_err(&self.path))? {
                    None => {
                        self.done = true;
                        return Ok(self.finish());
                    }
                    Some(m) if !m.is_file => continue,
                    Some(m) => match split_key(&m.name) {
                        Some((k, e)) => (k.to_string(), e),
                        None => continue,
                    },
                },
            };
            if self.current.members > 0 && key != self.current.key {
                // The member starts the next sample: keep it (its data is
                // still unread) and hand out the finished one.
                self.pending = Some((key, ext));
                match self.finish() {
                    Some(s) => return Ok(Some(s)),
                    None => continue,
                }
            }
            self.current.key = key;
            self.take(&ext)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = ::tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn read(bytes: Vec<u8>, images: bool) -> Vec<Sample> {
        let mut t = TarSamples::new("x.tar".into(), Cursor::new(bytes), 3, images);
        let mut out = Vec::new();
        while let Some(s) = t.next_sample().unwrap() {
            out.push(s);
        }
        out
    }

    #[test]
    fn groups_members_by_key() {
        let bytes = tar(&[
            ("000.jpg", b"J0"),
            ("000.txt", b"zero"),
            ("000.json", br#"{"caption":"ignored: txt wins"}"#),
            ("001.json", br#"{"caption":"one"}"#),
            ("001.png", b"P1"),
            ("002.txt", b"no image"),
            ("003.webp", b"no caption"),
            ("dir/004.jpg", b"J4"),
            ("dir/004.txt", b"four"),
            ("005.jpg", b"J5"),
            ("005.txt", b"   "),
            ("006.JPG", b"J6"),
            ("006.json", br#"{"text":"six"}"#),
        ]);
        let s = read(bytes.clone(), true);
        let got: Vec<(&str, &[u8], u32)> = s
            .iter()
            .map(|s| (s.caption.as_str(), s.jpg.as_slice(), s.origin.2))
            .collect();
        assert_eq!(
            got,
            [
                ("zero", &b"J0"[..], 0),
                ("one", b"P1", 1),
                ("four", b"J4", 4),
                ("six", b"J6", 6)
            ]
        );
        assert!(s.iter().all(|s| s.origin.0 == 3));
        // Captions only: the same samples, no image bytes.
        let c = read(bytes, false);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|s| s.jpg.is_empty()));
        assert_eq!(split_key("a/b.c/x.y.z"), Some(("a/b.c/x", "y.z".into())));
        assert_eq!(split_key("a/._x.jpg"), None);
    }
}
