//! Name compression for messages we write (RFC 1035 §4.1.4).
//!
//! The [`Compressor`] remembers where every name suffix it wrote starts and writes a later
//! occurrence of the same suffix as a pointer. Names match byte for byte — case-sensitively — so
//! the case of the data survives compression (`Example.com` never points at `example.com`).
//! Only names in owner/question position and in the RDATA of the RFC 1035 types (NS, MD, MF,
//! CNAME, SOA, MB, MG, MR, PTR, MINFO, MX) are compressed or offered as targets: RFC 3597 §4
//! forbids compressing names in the RDATA of any other type.
//!
//! It is built for the AXFR writer of a million-record zone: the table grows to what the largest
//! message needs and then never allocates again, `clear` is O(1) (a generation counter), each
//! name is hashed in one pass (every suffix's hash chained from the root up), probes are bounded,
//! and every candidate is confirmed against the bytes already in the buffer, so a hash collision
//! can cost a comparison but never produce a wrong pointer.

use crate::name;
use crate::wire::rtype;

/// Offsets a pointer can hold (14 bits).
const MAX_POINTER: usize = 0x3FFF;
/// A label takes at least two bytes, so at most this many suffixes start below 0x4000; the
/// table never holds more, and at its largest it has twice as many slots.
const MAX_ENTRIES: usize = MAX_POINTER.div_ceil(2);
const MAX_SLOTS: usize = 2 * MAX_ENTRIES;
const INITIAL_SLOTS: usize = 256;
/// Probes per lookup or insert. Zone data can be chosen by whoever owns a zone, and 32-bit
/// hashes collide on purpose easily: bounding the probe run keeps the cost per name constant.
/// Giving up only loses a compression opportunity, never correctness.
const MAX_PROBES: usize = 32;
const MAX_LABELS: usize = 128;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// A slot is live only when this equals the compressor's generation.
    generation: u32,
    hash: u32,
    /// Offset from the message start; `REMOVED` marks an entry dropped by `truncate`, which a
    /// lookup must probe past.
    offset: u16,
}

const REMOVED: u16 = u16::MAX;

/// Remembers the names written in the current message and writes repeats as pointers.
#[derive(Clone)]
pub struct Compressor {
    slots: Vec<Slot>,
    generation: u32,
    entries: usize,
}

impl Default for Compressor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").field("entries", &self.entries).field("slots", &self.slots.len()).finish()
    }
}

impl Compressor {
    /// An empty compressor; its table grows with the messages written and then stays.
    pub fn new() -> Self {
        Compressor { slots: vec![Slot::default(); INITIAL_SLOTS], generation: 1, entries: 0 }
    }

    /// Forgets every name: call it before writing each new message. O(1).
    pub fn clear(&mut self) {
        self.entries = 0;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // After 2^32 messages a stale slot's generation could come round again.
            self.slots.fill(Slot::default());
            self.generation = 1;
        }
    }

    /// Forgets the names written at or after `msg_offset` (relative to the message start), for a
    /// caller that cuts the buffer back, e.g. to move a record that did not fit to the next
    /// message. Not needed for correctness (every candidate is checked against the bytes in the
    /// buffer), only to keep pointing at what is still there. O(table size): for the rare case.
    pub fn truncate(&mut self, msg_offset: usize) {
        for slot in &mut self.slots {
            if slot.generation == self.generation && slot.offset != REMOVED && usize::from(slot.offset) >= msg_offset {
                slot.offset = REMOVED;
            }
        }
    }

    /// Appends `name` (uncompressed wire form) to `buf`, its longest suffix already written in
    /// this message as a pointer. `msg_start` is where the message begins in `buf` (after a TCP
    /// length prefix, say); offsets are relative to it. A `name` that is not exactly one valid
    /// uncompressed name is copied as is and not remembered: callers write names they validated
    /// when storing them, and this must not panic on them either way.
    pub fn write_name(&mut self, buf: &mut Vec<u8>, msg_start: usize, name: &[u8]) {
        let mut starts = [0u8; MAX_LABELS];
        let Some(labels) = label_starts(name, &mut starts) else {
            buf.extend_from_slice(name);
            return;
        };
        let starts = &starts[..labels];
        let mut hashes = [0u32; MAX_LABELS];
        let mut h = ROOT_HASH;
        for (i, &s) in starts.iter().enumerate().rev() {
            let s = usize::from(s);
            h = hash_label(h, &name[s..s + 1 + usize::from(name[s])]);
            hashes[i] = h;
        }
        for (i, &s) in starts.iter().enumerate() {
            let s = usize::from(s);
            if let Some(target) = self.find(buf, msg_start, &name[s..], hashes[i]) {
                buf.extend_from_slice(&(0xC000 | target).to_be_bytes());
                return;
            }
            if let Some(here) = buf.len().checked_sub(msg_start) {
                self.insert(here, hashes[i]);
            }
            buf.extend_from_slice(&name[s..s + 1 + usize::from(name[s])]);
        }
        buf.push(0);
    }

    /// Appends the RDATA of a `rtype` record to `buf` (not its RDLENGTH, which the caller writes
    /// before it) and returns how many bytes it took: the RDLENGTH to write. The names of the
    /// RFC 1035 types are compressed; RDATA of other types, and RDATA of those types that does
    /// not frame, is copied verbatim. Compression only shortens, so the result is at most
    /// `rdata.len()`; fitting that in 16 bits and in the message is the caller's part.
    pub fn write_rdata(&mut self, buf: &mut Vec<u8>, msg_start: usize, rtype: u16, rdata: &[u8]) -> usize {
        let at = buf.len();
        match compressible_layout(rtype, rdata) {
            Some(layout) => {
                let mut pos = 0;
                for part in layout.iter() {
                    match *part {
                        Piece::Name(len) => {
                            self.write_name(buf, msg_start, &rdata[pos..pos + len]);
                            pos += len;
                        }
                        Piece::Bytes(len) => {
                            buf.extend_from_slice(&rdata[pos..pos + len]);
                            pos += len;
                        }
                    }
                }
            }
            None => buf.extend_from_slice(rdata),
        }
        buf.len() - at
    }

    fn insert(&mut self, offset: usize, hash: u32) {
        if offset > MAX_POINTER || self.entries >= MAX_ENTRIES {
            return;
        }
        if 2 * (self.entries + 1) > self.slots.len() && self.slots.len() < MAX_SLOTS {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..MAX_PROBES {
            if self.slots[i].generation != self.generation {
                self.slots[i] = Slot { generation: self.generation, hash, offset: offset as u16 };
                self.entries += 1;
                return;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).min(MAX_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        let mask = self.slots.len() - 1;
        self.entries = 0;
        for slot in old.into_iter().filter(|s| s.generation == self.generation) {
            let mut i = slot.hash as usize & mask;
            for _ in 0..MAX_PROBES {
                if self.slots[i].generation != self.generation {
                    self.slots[i] = slot;
                    self.entries += 1;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }

    fn find(&self, buf: &[u8], msg_start: usize, suffix: &[u8], hash: u32) -> Option<u16> {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        for _ in 0..MAX_PROBES {
            let slot = self.slots[i];
            if slot.generation != self.generation {
                return None;
            }
            if slot.hash == hash && slot.offset != REMOVED && matches_at(buf, msg_start, usize::from(slot.offset), suffix) {
                return Some(slot.offset);
            }
            i = (i + 1) & mask;
        }
        None
    }
}

/// Whether the (possibly compressed) name at `offset` in the message equals `suffix` byte for
/// byte. Only bytes already written are read, and every pointer followed must point backwards,
/// so this cannot loop even if the caller wrote garbage into `buf`.
fn matches_at(buf: &[u8], msg_start: usize, offset: usize, suffix: &[u8]) -> bool {
    let Some(msg) = buf.get(msg_start..) else { return false };
    let mut at = offset;
    let mut i = 0;
    loop {
        let Some(&len) = msg.get(at) else { return false };
        if len & 0xC0 == 0xC0 {
            let Some(&low) = msg.get(at + 1) else { return false };
            let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
            if target >= at {
                return false;
            }
            at = target;
            continue;
        }
        let Some(&want) = suffix.get(i) else { return false };
        if len != want {
            return false;
        }
        if len == 0 {
            return true;
        }
        let n = usize::from(len);
        if msg.get(at + 1..at + 1 + n) != suffix.get(i + 1..i + 1 + n) {
            return false;
        }
        at += 1 + n;
        i += 1 + n;
    }
}

/// Fills `starts` with the offset of each non-root label of a valid uncompressed name and
/// returns how many there are, or `None` if `name` is not exactly one valid name.
fn label_starts(name: &[u8], starts: &mut [u8; MAX_LABELS]) -> Option<usize> {
    if !name::is_valid(name) {
        return None;
    }
    let mut pos = 0;
    let mut n = 0;
    while name[pos] != 0 {
        // A valid name is at most 255 bytes with at most 127 labels.
        starts[n] = pos as u8;
        n += 1;
        pos += 1 + usize::from(name[pos]);
    }
    Some(n)
}

const ROOT_HASH: u32 = 0x811C_9DC5;

fn hash_label(mut h: u32, label: &[u8]) -> u32 {
    // FNV-1a over the label, chained onto the suffix's hash: one pass per name gives every
    // suffix its hash.
    for &b in label {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h ^ (h >> 15)
}

/// One piece of RDATA: a name (uncompressed, this many bytes) that may be compressed, or bytes
/// copied as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Name(usize),
    Bytes(usize),
}

/// The pieces of RDATA of an RFC 1035 type with embedded names, or `None` for other types and
/// for RDATA that does not frame (which is then copied verbatim). Shared with the server's
/// answer writer, so both compress exactly the same names.
pub fn compressible_layout(rtype: u16, rdata: &[u8]) -> Option<Layout> {
    let mut out = Layout::default();
    let name_at = |pos: usize| name::uncompressed_len(rdata.get(pos..)?);
    match rtype {
        rtype::NS | rtype::MD | rtype::MF | rtype::CNAME | rtype::MB | rtype::MG | rtype::MR | rtype::PTR => {
            out.push(Piece::Name(name_at(0)?));
        }
        rtype::SOA => {
            let a = name_at(0)?;
            let b = name_at(a)?;
            out.push(Piece::Name(a));
            out.push(Piece::Name(b));
            out.push(Piece::Bytes(20));
        }
        rtype::MINFO => {
            let a = name_at(0)?;
            out.push(Piece::Name(a));
            out.push(Piece::Name(name_at(a)?));
        }
        rtype::MX => {
            out.push(Piece::Bytes(2));
            out.push(Piece::Name(name_at(2)?));
        }
        _ => return None,
    }
    (out.total() == rdata.len()).then_some(out)
}

/// At most three pieces (SOA: two names and the counters); no allocation.
#[derive(Default)]
pub struct Layout {
    pieces: [Option<Piece>; 3],
}

impl Layout {
    fn push(&mut self, p: Piece) {
        if let Some(slot) = self.pieces.iter_mut().find(|s| s.is_none()) {
            *slot = Some(p);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Piece> {
        self.pieces.iter().flatten()
    }

    fn total(&self) -> usize {
        self.iter()
            .map(|p| match *p {
                Piece::Name(n) | Piece::Bytes(n) => n,
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::from_text;

    fn n(t: &str) -> Vec<u8> {
        from_text(t).unwrap()
    }

    #[test]
    fn compresses_suffixes_with_pointers_backwards() {
        let mut c = Compressor::new();
        let mut buf = vec![0xAA, 0xBB]; // a TCP length prefix
        buf.extend_from_slice(&[0; 12]);
        c.write_name(&mut buf, 2, &n("www.example.com"));
        c.write_name(&mut buf, 2, &n("mail.example.com"));
        c.write_name(&mut buf, 2, &n("www.example.com"));
        c.write_name(&mut buf, 2, &n("com"));
        let msg = &buf[2..];
        assert_eq!(&msg[12..29], b"\x03www\x07example\x03com\x00");
        assert_eq!(&msg[29..36], b"\x04mail\xC0\x10");
        assert_eq!(&msg[36..38], b"\xC0\x0C");
        assert_eq!(&msg[38..40], b"\xC0\x18");
    }

    #[test]
    fn case_is_never_merged() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        c.write_name(&mut buf, 0, &n("Example.COM"));
        c.write_name(&mut buf, 0, &n("example.com"));
        c.write_name(&mut buf, 0, &n("www.EXAMPLE.com"));
        // Only the byte-identical suffix `com.` (at 33) is shared.
        assert_eq!(&buf[25..], b"\x07example\x03com\x00\x03www\x07EXAMPLE\xC0\x21");
    }

    #[test]
    fn clear_and_truncate_forget() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        c.write_name(&mut buf, 0, &n("a.example"));
        c.clear();
        let mut buf = vec![0; 12];
        c.write_name(&mut buf, 0, &n("b.example"));
        assert_eq!(&buf[12..], b"\x01b\x07example\x00");
        let cut = buf.len();
        c.write_name(&mut buf, 0, &n("c.test"));
        buf.truncate(cut);
        c.truncate(cut);
        buf.extend_from_slice(b"\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        c.write_name(&mut buf, 0, &n("c.test"));
        assert_eq!(&buf[cut + 9..], b"\x01c\x04test\x00");
    }

    #[test]
    fn rdata_of_rfc1035_types_only() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        c.write_name(&mut buf, 0, &n("example.com"));
        let mut mx = vec![0, 10];
        mx.extend_from_slice(&n("mail.example.com"));
        assert_eq!(c.write_rdata(&mut buf, 0, rtype::MX, &mx), 9);
        assert_eq!(&buf[25..], b"\x00\x0a\x04mail\xC0\x0C");
        let mut soa = n("ns.example.com");
        soa.extend_from_slice(&n("mail.example.com"));
        soa.extend_from_slice(&[7; 20]);
        let at = buf.len();
        assert_eq!(c.write_rdata(&mut buf, 0, rtype::SOA, &soa), 5 + 2 + 20);
        assert_eq!(&buf[at..at + 7], b"\x02ns\xC0\x0C\xC0\x1B");
        // SRV (RFC 2782) and an MX that does not frame are copied verbatim.
        let mut srv = vec![0, 1, 0, 2, 0, 3];
        srv.extend_from_slice(&n("example.com"));
        let at = buf.len();
        assert_eq!(c.write_rdata(&mut buf, 0, rtype::SRV, &srv), srv.len());
        assert_eq!(&buf[at..], &srv[..]);
        let at = buf.len();
        assert_eq!(c.write_rdata(&mut buf, 0, rtype::MX, b"\x00\x0a\x07example"), 10);
        assert_eq!(&buf[at..], b"\x00\x0a\x07example");
        // Names inside verbatim RDATA are never offered as pointer targets.
        let at = buf.len();
        c.write_name(&mut buf, 0, &n("x.example"));
        assert_eq!(&buf[at..], b"\x01x\x07example\x00");
    }

    #[test]
    fn table_grows_and_keeps_every_name() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        let names: Vec<_> = (0..3000).map(|i| n(&format!("h{i}.example"))).collect();
        for name in &names {
            c.write_name(&mut buf, 0, name);
        }
        // The table now holds every suffix below 0x4000; repeats of those are pointers.
        let mut count = 0;
        let mut pos = 12;
        for name in &names {
            if pos > 0x3FFF {
                break;
            }
            let at = buf.len();
            c.write_name(&mut buf, 0, name);
            assert_eq!(buf[at..].len(), 2, "{}", crate::name::to_text(name));
            assert_eq!(usize::from(u16::from_be_bytes([buf[at] & 0x3F, buf[at + 1]])), pos);
            pos += name.len() - 9 + if count == 0 { 9 } else { 2 };
            count += 1;
        }
        assert!(count > 1000);
    }

    #[test]
    fn colliding_hashes_cost_bounded_probes() {
        // Fill one probe run with a single hash: later inserts give up, lookups stay bounded and
        // still only ever return verified offsets.
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        for i in 0..100 {
            let at = buf.len();
            buf.extend_from_slice(&n(&format!("n{i}.test")));
            c.insert(at, 7);
        }
        assert!(c.entries <= MAX_PROBES);
        assert_eq!(c.find(&buf, 0, &n("n0.test"), 7), Some(12));
        assert_eq!(c.find(&buf, 0, &n("n99.test"), 7), None);
    }

    #[test]
    fn invalid_names_are_copied() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        c.write_name(&mut buf, 0, b"\x05ab");
        c.write_name(&mut buf, 0, b"\x05ab");
        assert_eq!(&buf[12..], b"\x05ab\x05ab");
    }

    #[test]
    fn no_pointers_past_0x3fff() {
        let mut c = Compressor::new();
        let mut buf = vec![0; 0x4000];
        c.write_name(&mut buf, 0, &n("late.example"));
        c.write_name(&mut buf, 0, &n("late.example"));
        assert_eq!(buf.len(), 0x4000 + 2 * 14);
        // Earlier names are still reachable from late in the message.
        let mut buf = vec![0; 12];
        c.clear();
        c.write_name(&mut buf, 0, &n("early.example"));
        buf.resize(0x8000, 0);
        c.write_name(&mut buf, 0, &n("early.example"));
        assert_eq!(&buf[0x8000..], b"\xC0\x0C");
    }

    #[test]
    fn collisions_are_verified() {
        // Force every name into one probe chain by inserting with a fixed hash, then look up a
        // different name with that hash: the bytes differ, so no pointer.
        let mut c = Compressor::new();
        let mut buf = vec![0; 12];
        buf.extend_from_slice(&n("x.example"));
        c.insert(12, 42);
        assert_eq!(c.find(&buf, 0, &n("y.example"), 42), None);
        assert_eq!(c.find(&buf, 0, &n("x.example"), 42), Some(12));
    }
}
