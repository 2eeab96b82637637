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

use std::sync::Arc;

use super::counted::ReadStats;
use super::shards::{ImageAt, Images, Sample};
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
    /// The image member's data offset and size.
    image_at: (u64, u64),
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
    images: Images,
    /// Where image bytes read are counted.
    stats: Option<Arc<ReadStats>>,
    /// Samples (key groups) seen so far, usable or not.
    index: u32,
    current: Group,
    /// A member of the next group (key, extension, data offset and size),
    /// read while looking for the current one's end.
    pending: Option<(String, String, (u64, u64))>,
    done: bool,
    /// Only samples with these keys (or whose key's file name is one).
    selected: Option<std::collections::HashSet<String>>,
}

impl<R: Read + Seek> TarSamples<R> {
    /// Samples of the tar at `path` read from `r`, tagged with shard file
    /// index `file`; image data is read, or skipped unread (with
    /// [`Images::Defer`] its place is kept in [`Sample::deferred`]).
    pub fn new(path: PathBuf, r: R, file: u32, images: Images) -> Self {
        TarSamples {
            path,
            reader: TarReader::new(r),
            file,
            images,
            stats: None,
            index: 0,
            current: Group::default(),
            pending: None,
            done: false,
            selected: None,
        }
    }

    /// Counts the image bytes it reads in `stats` (as part of the bytes its
    /// reader counted).
    pub(crate) fn counting(mut self, stats: Arc<ReadStats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Keeps only the samples whose key, or the file name part of it, is in
    /// `keys` (a crawl run's selection of this shard).
    pub fn with_selection(mut self, keys: std::collections::HashSet<String>) -> Self {
        self.selected = Some(keys);
        self
    }

    /// Reads the current member's data into the current group if it is wanted.
    fn take(&mut self, ext: &str, at: (u64, u64)) -> Result<()> {
        let g = &mut self.current;
        g.members += 1;
        let data = |r: &mut TarReader<R>| r.read_data().map_err(io_err(&self.path));
        if IMAGE_EXTENSIONS.contains(&ext) && !g.has_image {
            g.has_image = true;
            g.image_at = at;
            if self.images == Images::Read {
                let bytes = data(&mut self.reader)?;
                if let Some(s) = &self.stats {
                    s.add_image_share(bytes.len() as u64);
                }
                g.image = Some(bytes);
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
        // Decided on the member headers, whether the image is read or not.
        if caption.trim().is_empty() || !g.has_image || g.image_at.1 == 0 {
            return None;
        }
        let (offset, len) = g.image_at;
        Some(Sample {
            caption,
            jpg: g.image.unwrap_or_default(),
            origin: (self.file, 0, n),
            deferred: (self.images == Images::Defer).then_some(ImageAt::Range { offset, len }),
        })
    }

    /// The next usable sample, or `None` at the end of the tar.
    pub fn next_sample(&mut self) -> Result<Option<Sample>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let (key, ext, at) = match self.pending.take() {
                Some(p) => p,
                None => match self.reader.next_member().map_err(io_err(&self.path))? {
                    None => {
                        self.done = true;
                        return Ok(self.finish());
                    }
                    Some(m) if !m.is_file => continue,
                    Some(m) => match split_key(&m.name) {
                        Some((k, e)) => (k.to_string(), e, (m.offset, m.size)),
                        None => continue,
                    },
                },
            };
            if self.current.members > 0 && key != self.current.key {
                // The member starts the next sample: keep it (its data is
                // still unread) and hand out the finished one.
                self.pending = Some((key, ext, at));
                match self.finish() {
                    Some(s) => return Ok(Some(s)),
                    None => continue,
                }
            }
            self.current.key = key;
            self.take(&ext, at)?;
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

    fn read(bytes: Vec<u8>, images: Images) -> Vec<Sample> {
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
        let s = read(bytes.clone(), Images::Read);
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
        let c = read(bytes.clone(), Images::Skip);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|s| s.jpg.is_empty() && s.deferred.is_none()));
        // Deferred: the same samples, each with the place of its image.
        let d = read(bytes.clone(), Images::Defer);
        assert_eq!(d.len(), 4);
        for (d, s) in d.iter().zip(&s) {
            assert!(d.jpg.is_empty());
            let Some(ImageAt::Range { offset, len }) = d.deferred else {
                panic!("{d:?}")
            };
            assert_eq!(&bytes[offset as usize..(offset + len) as usize], s.jpg);
        }
        assert_eq!(split_key("a/b.c/x.y.z"), Some(("a/b.c/x", "y.z".into())));
        assert_eq!(split_key("a/._x.jpg"), None);
    }
}
