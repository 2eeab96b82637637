//! A streaming reader of tar archives, member by member, that owns its input
//! (so a sample stream can hold it between calls) and reads or skips each
//! member's data on request.
//!
//! Reads what webdataset writers produce: POSIX ustar headers (name and
//! prefix), GNU long names (`L` entries) and pax extended headers (`x`
//! entries with a `path` record). Sizes may be octal or GNU base-256.
//! Headers are checked against their checksum, so a file that is not a tar
//! is reported as such instead of being read as garbage.

use std::io::{self, Read, Seek, SeekFrom};

const BLOCK: usize = 512;

/// One member of the archive: its name and size; its data is read with
/// [`TarReader::read_data`] or skipped by the next [`TarReader::next_member`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The member's path inside the archive.
    pub name: String,
    /// Data bytes.
    pub size: u64,
    /// Where its data starts in the archive (bytes from the start).
    pub offset: u64,
    /// Whether it is a regular file (directories, links and the like are
    /// listed but hold no data worth reading).
    pub is_file: bool,
}

/// Reads a tar archive from `R` member by member.
#[derive(Debug)]
pub struct TarReader<R> {
    r: R,
    /// Bytes of the current member's data (and padding) not yet consumed.
    unread: u64,
    /// Data bytes of the current member still readable by `read_data`.
    data_left: u64,
    offset: u64,
    done: bool,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// A NUL-terminated header field as text.
fn field(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A numeric header field: octal text, or GNU base-256 when the top bit is set.
fn number(b: &[u8]) -> Option<u64> {
    if b[0] & 0x80 != 0 {
        let mut v: u64 = (b[0] & 0x7f) as u64;
        for &c in &b[1..] {
            v = v.checked_mul(256)?.checked_add(c as u64)?;
        }
        return Some(v);
    }
    let s = field(b);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn checksum_ok(h: &[u8; BLOCK]) -> bool {
    let Some(stored) = number(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if (148..156).contains(&i) {
                b' ' as u64
            } else {
                c as u64
            }
        })
        .sum();
    sum == stored
}

/// The `path` record of a pax extended header (`LEN path=VALUE\n` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&c| c == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp || len > rest.len() {
            return None;
        }
        let record = &rest[sp + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(v) = record.strip_prefix(b"path=") {
            return Some(String::from_utf8_lossy(v).into_owned());
        }
        rest = &rest[len..];
    }
    None
}

impl<R: Read + Seek> TarReader<R> {
    /// A reader positioned at the start of an archive.
    pub fn new(r: R) -> Self {
        TarReader {
            r,
            unread: 0,
            data_left: 0,
            offset: 0,
            done: false,
        }
    }

    fn skip_rest(&mut self) -> io::Result<()> {
        if self.unread > 0 {
            self.r.seek(SeekFrom::Current(self.unread as i64))?;
            self.offset += self.unread;
            self.unread = 0;
            self.data_left = 0;
        }
        Ok(())
    }

    /// Reads a header block; `None` at the end of the archive (a zero block
    /// or, tolerated, the end of the file).
    fn header(&mut self) -> io::Result<Option<[u8; BLOCK]>> {
        let mut h = [0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.r.read(&mut h[got..])? {
                0 if got == 0 => return Ok(None),
                0 => {
                    return Err(invalid(format!(
                        "truncated tar header at byte {}",
                        self.offset
                    )))
                }
                n => got += n,
            }
        }
        let at = self.offset;
        self.offset += BLOCK as u64;
        if h.iter().all(|&c| c == 0) {
            return Ok(None);
        }
        if !checksum_ok(&h) {
            return Err(invalid(format!(
                "not a tar archive, or a damaged one (bad header checksum at byte {at})"
            )));
        }
        Ok(Some(h))
    }

    fn read_all(&mut self, size: u64) -> io::Result<Vec<u8>> {
        let mut v = Vec::with_capacity(size.min(1 << 26) as usize);
        (&mut self.r).take(size).read_to_end(&mut v)?;
        if (v.len() as u64) < size {
            return Err(invalid(format!(
                "truncated tar member data at byte {}",
                self.offset
            )));
        }
        let pad = padded(size) - size;
        self.r.seek(SeekFrom::Current(pad as i64))?;
        self.offset += padded(size);
        Ok(v)
    }

    /// The next member (skipping the unread data of the previous one), or
    /// `None` at the end of the archive.
    pub fn next_member(&mut self) -> io::Result<Option<Member>> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut long_name: Option<String> = None;
        loop {
            let Some(h) = self.header()? else {
                self.done = true;
                return Ok(None);
            };
            let size = number(&h[124..136]).ok_or_else(|| {
                invalid(format!(
                    "bad member size in the tar header before byte {}",
                    self.offset
                ))
            })?;
            match h[156] {
                // GNU long name of the next member.
                b'L' => {
                    let data = self.read_all(size)?;
                    long_name = Some(field(&data));
                }
                // pax extended header of the next member.
                b'x' => {
                    let data = self.read_all(size)?;
                    if let Some(p) = pax_path(&data) {
                        long_name = Some(p);
                    }
                }
                // pax global header: nothing a reader of samples needs.
                b'g' => {
                    self.read_all(size)?;
                }
                kind => {
                    let name = long_name.take().unwrap_or_else(|| {
                        let name = field(&h[0..100]);
                        let prefix = if &h[257..262] == b"ustar" {
                            field(&h[345..500])
                        } else {
                            String::new()
                        };
                        if prefix.is_empty() {
                            name
                        } else {
                            format!("{prefix}/{name}")
                        }
                    });
                    let is_file = matches!(kind, b'0' | 0 | b'7');
                    // Only regular files carry data (a hard link's size is 0 anyway).
                    let size = if is_file || kind == b'5' { size } else { 0 };
                    self.unread = padded(size);
                    self.data_left = size;
                    return Ok(Some(Member {
                        name,
                        size,
                        offset: self.offset,
                        is_file,
                    }));
                }
            }
        }
    }

    /// The data of the member last returned by [`TarReader::next_member`]
    /// (once; a second call returns nothing).
    pub fn read_data(&mut self) -> io::Result<Vec<u8>> {
        let size = self.data_left;
        if size == 0 {
            return Ok(Vec::new());
        }
        self.unread = 0;
        self.data_left = 0;
        self.read_all(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = ::tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = ::tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_names_and_data_and_skips_unread_data() {
        let long = format!("{}/000001.jpg", "d".repeat(150));
        let big = vec![7u8; 1500];
        let bytes = archive(&[
            ("000000.jpg", &big),
            ("000000.txt", b"a caption"),
            (&long, b"x"),
        ]);
        let mut r = TarReader::new(Cursor::new(bytes));
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(
            (m.name.as_str(), m.size, m.is_file),
            ("000000.jpg", 1500, true)
        );
        // Not read: skipped.
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(
            (m.name.as_str(), m.offset),
            ("000000.txt", 512 + 1536 + 512)
        );
        assert_eq!(r.read_data().unwrap(), b"a caption");
        assert!(r.read_data().unwrap().is_empty());
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, long);
        assert_eq!(r.read_data().unwrap(), b"x");
        assert!(r.next_member().unwrap().is_none());
        assert!(r.next_member().unwrap().is_none());
    }

    #[test]
    fn reads_pax_paths() {
        let mut b = ::tar::Builder::new(Vec::new());
        let long = format!("{}/k.txt", "p".repeat(200));
        b.append_pax_extensions([("path", long.as_bytes())])
            .unwrap();
        let mut h = ::tar::Header::new_ustar();
        h.set_size(2);
        h.set_path("short.txt").unwrap();
        h.set_cksum();
        b.append(&h, &b"hi"[..]).unwrap();
        let mut r = TarReader::new(Cursor::new(b.into_inner().unwrap()));
        let m = r.next_member().unwrap().unwrap();
        assert_eq!(m.name, long);
        assert_eq!(r.read_data().unwrap(), b"hi");
    }

    #[test]
    fn rejects_what_is_not_a_tar_and_truncation() {
        let mut r = TarReader::new(Cursor::new(vec![b'x'; 2048]));
        let e = r.next_member().unwrap_err().to_string();
        assert!(e.contains("not a tar archive"), "{e}");
        let mut bytes = archive(&[("a.jpg", &[1u8; 1000])]);
        bytes.truncate(700);
        let mut r = TarReader::new(Cursor::new(bytes));
        r.next_member().unwrap().unwrap();
        assert!(r.read_data().is_err());
        // The end of the file in place of the end-of-archive blocks is tolerated.
        let mut bytes = archive(&[("a.txt", b"abc")]);
        bytes.truncate(1024);
        let mut r = TarReader::new(Cursor::new(bytes));
        r.next_member().unwrap().unwrap();
        assert!(r.next_member().unwrap().is_none());
    }
}
