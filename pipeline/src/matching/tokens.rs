//! Whole-token matching of space-padded entries.
//!
//! MetaCLIP's spaced text is `" " + T + " "`, where `T` is the text with a
//! space on both sides of each of `, . ; : ? ! `` and tab/CR/LF turned into
//! spaces. Split `T` at every space into *fields* (empty ones included: two
//! spaces in a row have an empty field between them). An occurrence of
//! `" " + e + " "` starts and ends at a space, so it covers whole fields, and
//! it exists exactly when the fields of `e` (split at its spaces the same way)
//! are a contiguous run of the fields of `T`. So a space-padded entry can be
//! found by looking each field of the text up in a table of the entries'
//! fields and walking a trie of field sequences, instead of running an
//! automaton over every byte: [`TokenIndex`] does that.
//!
//! The fields are slices of the original text: a field ends at a space, tab,
//! CR or LF (which the spacing turns into a space) and around each wrapped
//! punctuation byte, which is a field on its own ([`for_each_field`]).

use rustc_hash::FxHashMap;

/// Marks "no token" / "no node" / "no pattern".
const NONE: u32 = u32::MAX;

/// What a text byte does to the fields: 0 = part of a field, 1 = a field of
/// its own (MetaCLIP's wrapped punctuation), 2 = ends a field (a space, or
/// tab/CR/LF, which the spacing turns into spaces). Only ASCII bytes are
/// special, so multi-byte UTF-8 sequences are never split.
const FIELD_BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let wrap = b",.;:?!`";
    let mut i = 0;
    while i < wrap.len() {
        t[wrap[i] as usize] = 1;
        i += 1;
    }
    t[b' ' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t
};

/// Calls `f` with each field of MetaCLIP's spaced form of `text`, in order:
/// the strings between consecutive spaces of the spaced text, not counting
/// the two padding spaces at its ends. An empty text has one empty field.
///
/// ```
/// let mut fields = Vec::new();
/// pipeline::matching::tokens::for_each_field("a dog.", |f| fields.push(f));
/// assert_eq!(fields, [&b"a"[..], b"dog", b".", b""]);
/// ```
pub fn for_each_field<'a>(text: &'a str, mut f: impl FnMut(&'a [u8])) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match FIELD_BYTES[b as usize] {
            0 => {}
            1 => {
                f(&bytes[start..i]);
                f(&bytes[i..i + 1]);
                start = i + 1;
            }
            _ => {
                f(&bytes[start..i]);
                start = i + 1;
            }
        }
    }
    f(&bytes[start..]);
}

/// The longest entry field [`TokenIndex`] takes, in bytes (see
/// [`TokenIndex::fits`]).
pub const MAX_FIELD: usize = 65_000;

/// Key bytes stored in a [`Slot`] itself; longer keys live in the arena.
const INLINE: usize = 14;
/// `Slot::len` of an empty slot.
const EMPTY: u16 = u16::MAX;

/// One slot of the open-addressing field table: the key (inline when short,
/// so that most lookups touch one cache line) and what the field starts.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
struct Slot {
    /// High 32 bits of the key's hash.
    tag: u32,
    /// The token id (its number among the entries' distinct fields).
    tok: u32,
    /// The pattern of the one-field entry equal to this field, or [`NONE`].
    pattern: u32,
    /// The trie node of this field as the first of a longer entry, or [`NONE`].
    node: u32,
    /// Key length in bytes, or [`EMPTY`].
    len: u16,
    /// The key when `len <= INLINE`; otherwise its arena offset (first 4 bytes, LE).
    key: [u8; INLINE],
}

const EMPTY_SLOT: Slot = Slot {
    tag: 0,
    tok: NONE,
    pattern: NONE,
    node: NONE,
    len: EMPTY,
    key: [0; INLINE],
};

fn hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(bytes);
    h.finish()
}

/// A table of the fields of space-padded entries and a trie over their field
/// sequences: finds every such entry of a text in one lookup per field of
/// the text (plus one per further field of a multi-field entry that starts
/// there).
#[derive(Debug, Clone)]
pub struct TokenIndex {
    /// Open addressing, linear probing, a power of two long.
    slots: Vec<Slot>,
    /// Keys longer than [`INLINE`] bytes.
    arena: Vec<u8>,
    /// Number of distinct fields.
    tokens: u32,
    /// The longest field of any entry, in bytes (longer text fields are not
    /// looked up).
    max_token_len: usize,
    /// Per trie node below depth 1: the pattern whose fields end here, or [`NONE`].
    pattern: Vec<u32>,
    /// Per trie node: whether a longer entry continues from it.
    has_children: Vec<bool>,
    /// `(node << 32) | token` → child node.
    edges: FxHashMap<u64, u32>,
}

impl TokenIndex {
    /// Whether `entry` can go into the index: none of its fields is longer
    /// than [`MAX_FIELD`] bytes.
    pub fn fits(entry: &str) -> bool {
        entry.split(' ').all(|f| f.len() <= MAX_FIELD)
    }

    /// Builds the index of `entries`: `(pattern, entry)` pairs, where the
    /// entry is the text between the padding spaces and `pattern` is what
    /// [`TokenIndex::find`] reports. Patterns must be distinct entries, and
    /// each must [fit](TokenIndex::fits).
    pub fn new<'a>(entries: impl IntoIterator<Item = (u32, &'a str)>) -> Self {
        let entries: Vec<(u32, &str)> = entries.into_iter().collect();
        // Distinct fields, to size the table.
        let mut distinct: rustc_hash::FxHashSet<&[u8]> = Default::default();
        distinct.reserve(entries.len());
        for (_, e) in &entries {
            assert!(Self::fits(e), "an entry field is longer than MAX_FIELD");
            distinct.extend(e.as_bytes().split(|&b| b == b' '));
        }
        let cap = (distinct.len() * 3 / 2 + 16).next_power_of_two();
        drop(distinct);
        let mut ix = TokenIndex {
            slots: vec![EMPTY_SLOT; cap],
            arena: Vec::new(),
            tokens: 0,
            max_token_len: 0,
            pattern: Vec::new(),
            has_children: Vec::new(),
            edges: FxHashMap::default(),
        };
        for (p, entry) in entries {
            let mut fields = entry.as_bytes().split(|&b| b == b' ');
            let first = ix.insert(fields.next().expect("split yields a field"));
            let mut rest = fields.peekable();
            if rest.peek().is_none() {
                ix.slots[first].pattern = p;
                continue;
            }
            let mut node = match ix.slots[first].node {
                NONE => {
                    let n = ix.new_node();
                    ix.slots[first].node = n;
                    n
                }
                n => n,
            };
            for field in rest {
                let slot = ix.insert(field);
                let tok = ix.slots[slot].tok;
                ix.has_children[node as usize] = true;
                let key = (u64::from(node) << 32) | u64::from(tok);
                node = match ix.edges.get(&key) {
                    Some(&n) => n,
                    None => {
                        let n = ix.new_node();
                        ix.edges.insert(key, n);
                        n
                    }
                };
            }
            ix.pattern[node as usize] = p;
        }
        ix.edges.shrink_to_fit();
        ix
    }

    /// The slot of `key`, or the empty slot where it would go.
    #[inline]
    fn probe(&self, key: &[u8]) -> usize {
        self.probe_hashed(key, hash(key))
    }

    /// The first slot [`TokenIndex::probe`] looks at for hash `h`.
    #[inline]
    fn home(&self, h: u64) -> usize {
        h as usize & (self.slots.len() - 1)
    }

    /// [`TokenIndex::probe`] with the key's hash already computed.
    #[inline(always)]
    fn probe_hashed(&self, key: &[u8], h: u64) -> usize {
        let tag = (h >> 32) as u32;
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        // Short keys are compared as whole zero-padded arrays (no call to
        // memcmp); a stored short key is zero-padded the same way.
        let mut short = [0u8; INLINE];
        let is_short = key.len() <= INLINE;
        if is_short {
            short[..key.len()].copy_from_slice(key);
        }
        loop {
            let s = &self.slots[i];
            if s.len == EMPTY {
                return i;
            }
            if s.tag == tag && s.len as usize == key.len() {
                if is_short {
                    if s.key == short {
                        return i;
                    }
                } else {
                    let off = u32::from_le_bytes(s.key[..4].try_into().expect("4 bytes")) as usize;
                    if &self.arena[off..off + key.len()] == key {
                        return i;
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The slot of `key`, inserted (with a new token id) when absent.
    fn insert(&mut self, key: &[u8]) -> usize {
        let i = self.probe(key);
        if self.slots[i].len != EMPTY {
            return i;
        }
        let mut slot = EMPTY_SLOT;
        slot.tag = (hash(key) >> 32) as u32;
        slot.tok = self.tokens;
        slot.len = key.len() as u16;
        if key.len() <= INLINE {
            slot.key[..key.len()].copy_from_slice(key);
        } else {
            let off = u32::try_from(self.arena.len()).expect("entry fields under 4 GiB");
            slot.key[..4].copy_from_slice(&off.to_le_bytes());
            self.arena.extend_from_slice(key);
        }
        self.slots[i] = slot;
        self.tokens += 1;
        self.max_token_len = self.max_token_len.max(key.len());
        i
    }

    fn new_node(&mut self) -> u32 {
        self.pattern.push(NONE);
        self.has_children.push(false);
        (self.pattern.len() - 1) as u32
    }

    /// Whether the index holds no entry.
    pub fn is_empty(&self) -> bool {
        self.tokens == 0
    }

    /// Approximate heap bytes.
    pub fn memory_usage(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.pattern.capacity() * 5
            + self.edges.capacity() * (8 + 4 + 1)
    }

    /// Calls `report` with the pattern of every indexed entry whose
    /// space-padded form occurs in MetaCLIP's spaced form of `text` (once
    /// per occurrence). `scratch` is reusable.
    ///
    /// The table is larger than the caches, so a lookup is mostly a wait for
    /// memory: the fields' slots are hashed and prefetched first, then probed,
    /// so that the waits of a text's fields overlap.
    pub fn find(&self, text: &str, scratch: &mut FindScratch, mut report: impl FnMut(u32)) {
        let FindScratch { fields, slots } = scratch;
        fields.clear();
        let base = text.as_ptr() as usize;
        for_each_field(text, |f| {
            if f.len() <= self.max_token_len {
                let h = hash(f);
                prefetch(&self.slots[self.home(h)]);
                fields.push((f.as_ptr() as usize - base, f.len() as u32, h));
            } else {
                fields.push((0, u32::MAX, 0));
            }
        });
        slots.clear();
        let bytes = text.as_bytes();
        for &(start, len, h) in fields.iter() {
            slots.push(if len == u32::MAX {
                NONE
            } else {
                let i = self.probe_hashed(&bytes[start..start + len as usize], h);
                if self.slots[i].len == EMPTY {
                    NONE
                } else {
                    i as u32
                }
            });
        }
        for (i, &slot) in slots.iter().enumerate() {
            if slot == NONE {
                continue;
            }
            let s = &self.slots[slot as usize];
            if s.pattern != NONE {
                report(s.pattern);
            }
            let mut node = s.node;
            let mut next = i + 1;
            while node != NONE && self.has_children[node as usize] {
                match slots.get(next) {
                    Some(&t) if t != NONE => {
                        let tok = self.slots[t as usize].tok;
                        let key = (u64::from(node) << 32) | u64::from(tok);
                        node = self.edges.get(&key).copied().unwrap_or(NONE);
                        next += 1;
                        if node != NONE && self.pattern[node as usize] != NONE {
                            report(self.pattern[node as usize]);
                        }
                    }
                    _ => break,
                }
            }
        }
    }
}

/// Reusable buffers of [`TokenIndex::find`].
#[derive(Debug, Default)]
pub struct FindScratch {
    /// Per field of the text: start, length (`u32::MAX`: too long to be an
    /// entry field), hash.
    fields: Vec<(usize, u32, u64)>,
    /// Per field: its slot, or [`NONE`].
    slots: Vec<u32>,
}

/// Asks the CPU to start loading `slot`'s cache line.
#[inline(always)]
fn prefetch(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((slot as *const Slot).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::rule::metaclip_spacing;

    fn fields(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_field(text, |f| out.push(String::from_utf8(f.to_vec()).unwrap()));
        out
    }

    #[test]
    fn fields_are_those_of_the_spaced_text() {
        for t in [
            "",
            "a",
            "a dog.",
            "..",
            " x\t,y ",
            "café`s",
            "a  b",
            "日本.語",
        ] {
            let spaced = metaclip_spacing(t);
            let inner = &spaced[1..spaced.len() - 1];
            let want: Vec<String> = inner.split(' ').map(String::from).collect();
            assert_eq!(fields(t), want, "{t:?}");
        }
    }

    #[test]
    fn finds_field_sequences() {
        let es = ["dog", "hot dog", "hot", " dog", "a  b", "."];
        let ix = TokenIndex::new(es.iter().enumerate().map(|(i, e)| (i as u32, *e)));
        let find = |t: &str| {
            let mut v = Vec::new();
            ix.find(t, &mut FindScratch::default(), |p| v.push(p));
            v.sort_unstable();
            v
        };
        assert_eq!(find("a hot dog."), vec![0, 1, 2, 5]);
        assert_eq!(find("hot  dog"), vec![0, 2, 3]);
        assert_eq!(find("a  b"), vec![4]);
        assert_eq!(find("hotdog"), Vec::<u32>::new());
    }
}
