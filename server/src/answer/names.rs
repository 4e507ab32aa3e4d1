//! Name compression in answers (RFC 1035 §4.1.4), as Knot compresses: owners and the names in
//! the RDATA of the RFC 1035 types (NS, CNAME, SOA, MX, PTR, MINFO, MB, MG, MR, MD, MF; RFC
//! 3597 §4 forbids it for every other type) point at the longest suffix already in the
//! response.
//!
//! A response holds a few dozen names at most, so [`Names`] keeps the start of each name written
//! in a fixed array (no allocation per query) and a new name is compared, label by label from
//! the root, with each of them: for the 13-NS referral of a TLD that is 13 × 14 short compares,
//! cheaper than hashing every suffix. Labels compare byte for byte (case-sensitively), so the
//! case of the data survives: `NS1.Example.com` never points at a question asked as
//! `ns1.example.com`. Every candidate is read back from the bytes in the buffer, following its
//! pointers as a decoder would, so a pointer always decodes to exactly the name it replaces.

use lmdb_schema::name::MAX_NAME_WIRE;

use crate::query::QueryName;

/// Largest offset a compression pointer can hold.
pub const MAX_POINTER: usize = 0x3FFF;
/// Names remembered per response. Past that, later names still compress against these; only
/// the names beyond the first `MAX_NAMES` are not offered as targets.
const MAX_NAMES: usize = 64;
/// A valid name has at most 127 labels besides the root.
const MAX_LABELS: usize = 128;

/// The names of the response so far that later names may point into.
#[derive(Clone, Copy)]
pub struct Names {
    starts: [u16; MAX_NAMES],
    len: usize,
    /// Where the question ends, and whether [`Names::write`] pointed into it: such a name takes
    /// its case from the question, so the answer may be reused only for the same case.
    question_end: usize,
    into_question: bool,
}

impl Default for Names {
    fn default() -> Self {
        Names { starts: [0; MAX_NAMES], len: 0, question_end: 0, into_question: false }
    }
}

impl Names {
    pub fn clear(&mut self) {
        self.len = 0;
        self.into_question = false;
    }

    /// Notes where the question ends (see [`Names::into_question`]).
    pub fn set_question_end(&mut self, end: usize) {
        self.question_end = end;
    }

    /// Whether a name written by [`Names::write`] points into the question: the answer's data
    /// then reads in the question's case, and holds only for a question of the same bytes.
    pub fn into_question(&self) -> bool {
        self.into_question
    }

    /// Offers the name starting at `at` as a target (ignored when out of a pointer's reach).
    #[inline]
    pub fn remember(&mut self, at: usize) {
        if at <= MAX_POINTER && self.len < MAX_NAMES {
            self.starts[self.len] = at as u16;
            self.len += 1;
        }
    }

    /// Forgets the names at or after `len` (the buffer was cut back there).
    pub fn truncate(&mut self, len: usize) {
        let mut kept = 0;
        for i in 0..self.len {
            if usize::from(self.starts[i]) < len {
                self.starts[kept] = self.starts[i];
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Appends `name` (uncompressed wire form) with its longest suffix already in `buf` written
    /// as a pointer, and returns where the name can be read from: its first label written, or
    /// the pointer's target when the whole name was already there. A `name` that does not frame
    /// is copied as is (callers write names the loader validated; this must not panic either way).
    pub fn write(&mut self, buf: &mut Vec<u8>, name: &[u8]) -> usize {
        let mut starts = [0u8; MAX_LABELS];
        let Some(n) = label_starts(name, &mut starts) else {
            let at = buf.len();
            buf.extend_from_slice(name);
            return at;
        };
        let (matched, target) = self.longest_suffix(buf, name, &starts[..n]);
        if matched > 0 {
            self.into_question |= usize::from(target) < self.question_end;
        }
        self.emit(buf, name, &starts[..n], matched, target)
    }

    /// Writes the labels of `name` (label starts `starts`) not in its `matched` trailing labels,
    /// then a pointer to `target` (the whole name when nothing matched: the root, or nothing to
    /// point at); remembers the name when it wrote labels. Returns where the name starts (or the
    /// pointer's target, for a name written as a pointer alone).
    fn emit(&mut self, buf: &mut Vec<u8>, name: &[u8], starts: &[u8], matched: usize, target: u16) -> usize {
        let n = starts.len();
        let at = buf.len();
        if matched == 0 {
            buf.extend_from_slice(name);
        } else {
            buf.extend_from_slice(&name[..usize::from(starts[n - matched])]);
            buf.extend_from_slice(&(0xC000 | target).to_be_bytes());
        }
        if matched < n {
            self.remember(at);
            at
        } else if n == 0 {
            at
        } else {
            usize::from(target)
        }
    }

    /// Appends `name`, whose last `floor_labels` labels are the name at `floor_at` (the zone
    /// apex in the question, whatever its case): compressed against the longest suffix in the
    /// response as [`Names::write`] does, but never less than down to that name. For the NSEC
    /// and NSEC3 owners of a denial proof, which are often the question itself or below a name
    /// already written. Returns where the name starts (or the pointer's target).
    pub fn write_within(&mut self, buf: &mut Vec<u8>, name: &[u8], floor_labels: usize, floor_at: u16) -> usize {
        let mut starts = [0u8; MAX_LABELS];
        let n = match label_starts(name, &mut starts) {
            Some(n) if n >= floor_labels && usize::from(floor_at) <= MAX_POINTER => n,
            _ => return self.write(buf, name),
        };
        let (mut matched, mut target) = self.longest_suffix(buf, name, &starts[..n]);
        if matched < floor_labels {
            (matched, target) = (floor_labels, floor_at);
        }
        // matched == 0 only for the root zone's apex: the root label itself.
        self.emit(buf, name, &starts[..n], matched, target)
    }

    /// The most trailing labels of `name` (label starts `starts`) found at the end of a
    /// remembered name, and the offset of that suffix.
    fn longest_suffix(&self, buf: &[u8], name: &[u8], starts: &[u8]) -> (usize, u16) {
        let n = starts.len();
        let (mut best, mut target) = (0, 0);
        let mut positions = [0u16; MAX_LABELS];
        for &start in &self.starts[..self.len] {
            let Some(e) = label_positions(buf, usize::from(start), &mut positions) else { continue };
            let mut m = 0;
            while m < n && m < e {
                let a = usize::from(starts[n - 1 - m]);
                let b = usize::from(positions[e - 1 - m]);
                let len = 1 + usize::from(name[a]);
                if buf.get(b..b + len) != Some(&name[a..a + len]) {
                    break;
                }
                m += 1;
            }
            if m > best && usize::from(positions[e - m]) <= MAX_POINTER {
                best = m;
                target = positions[e - m];
                if best == n {
                    break;
                }
            }
        }
        (best, target)
    }
}

/// Fills `starts` with the offset of each non-root label of `name` and returns their count, or
/// None unless `name` is exactly one valid uncompressed name.
fn label_starts(name: &[u8], starts: &mut [u8; MAX_LABELS]) -> Option<usize> {
    if name.len() > MAX_NAME_WIRE {
        return None;
    }
    let (mut pos, mut n) = (0, 0);
    loop {
        let len = usize::from(*name.get(pos)?);
        if len == 0 {
            return (pos + 1 == name.len()).then_some(n);
        }
        if len > 63 || n == MAX_LABELS {
            return None;
        }
        starts[n] = pos as u8;
        n += 1;
        pos += 1 + len;
    }
}

/// The offset of each label of the (possibly compressed) name at `at` in `msg`, leftmost first,
/// as a decoder reads it; None if it does not decode. Every pointer must point backwards, so
/// this ends on any bytes.
fn label_positions(msg: &[u8], mut at: usize, out: &mut [u16; MAX_LABELS]) -> Option<usize> {
    let (mut n, mut wire) = (0, 1);
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(n),
            1..=63 => {
                msg.get(at + usize::from(len))?;
                wire += 1 + usize::from(len);
                if n == MAX_LABELS || wire > MAX_NAME_WIRE {
                    return None;
                }
                out[n] = at as u16;
                n += 1;
                at += 1 + usize::from(len);
            }
            0xC0..=0xFF => {
                let target = usize::from(u16::from_be_bytes([len & 0x3F, *msg.get(at + 1)?]));
                if target >= at {
                    return None;
                }
                at = target;
            }
            _ => return None,
        }
    }
}

/// Copies the (possibly compressed) name at `at` in `msg` into `out` uncompressed; returns its
/// length, or None if it does not decode.
pub fn expand(msg: &[u8], at: usize, out: &mut [u8; MAX_NAME_WIRE]) -> Option<usize> {
    let mut positions = [0u16; MAX_LABELS];
    let n = label_positions(msg, at, &mut positions)?;
    let mut len = 0;
    for &p in &positions[..n] {
        let p = usize::from(p);
        let label = &msg[p..p + 1 + usize::from(msg[p])];
        out[len..len + label.len()].copy_from_slice(label);
        len += label.len();
    }
    out[len] = 0;
    Some(len + 1)
}

/// Reads the (possibly compressed) name at `pos` in a response we are writing into `name`: a
/// CNAME target or an NS/MX name whose addresses go in the additional section. Label offsets are
/// where each label sits (pointer targets), so they can be pointed at in turn.
pub fn read_name(msg: &[u8], pos: usize, name: &mut QueryName) -> Option<()> {
    let mut positions = [0u16; MAX_LABELS];
    let n = label_positions(msg, pos, &mut positions)?;
    name.key.clear();
    name.label_offsets.clear();
    name.key_ends.clear();
    name.label_offsets.extend_from_slice(&positions[..n]);
    // The name key, root first: the encoding of `lmdb_schema::name`, as for the question.
    name.build_key(msg);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        lmdb_schema::name::key_to_wire(&lmdb_schema::name::key_from_dotted(text).unwrap())
    }

    #[test]
    fn points_at_the_longest_suffix_of_any_earlier_name() {
        let mut names = Names::default();
        let mut buf = vec![0; 12];
        buf.extend_from_slice(&wire("example.net."));
        names.remember(12);
        // 13 NS names of one TLD: the first shares `net.` with the question, the rest also
        // `gtld-servers.net.` with the first.
        let first = names.write(&mut buf, &wire("a.gtld-servers.net."));
        assert_eq!(&buf[first..], b"\x01a\x0cgtld-servers\xC0\x14");
        let second = names.write(&mut buf, &wire("b.gtld-servers.net."));
        assert_eq!(&buf[second..], &[1, b'b', 0xC0, first as u8 + 2][..]);
        // A repeat is one pointer, and reads back as the earlier name.
        let at = buf.len();
        assert_eq!(names.write(&mut buf, &wire("b.gtld-servers.net.")), second);
        assert_eq!(buf.len(), at + 2);
        let mut out = [0u8; MAX_NAME_WIRE];
        let len = expand(&buf, at, &mut out).unwrap();
        assert_eq!(&out[..len], &wire("b.gtld-servers.net.")[..]);
        let mut name = QueryName::default();
        read_name(&buf, second, &mut name).unwrap();
        assert_eq!(name.key, lmdb_schema::name::key_from_dotted("b.gtld-servers.net.").unwrap());
        assert_eq!(name.label_offsets, vec![second as u16, first as u16 + 2, 20]);
    }

    #[test]
    fn case_differs_means_no_pointer() {
        let mut names = Names::default();
        let mut buf = vec![0; 12];
        buf.extend_from_slice(b"\x07Example\x03NET\x00");
        names.remember(12);
        let at = names.write(&mut buf, &wire("ns.example.net."));
        assert_eq!(&buf[at..], &wire("ns.example.net.")[..]);
    }

    #[test]
    fn root_and_bad_names() {
        let mut names = Names::default();
        let mut buf = vec![0; 12];
        assert_eq!(names.write(&mut buf, b"\0"), 12);
        assert_eq!(names.write(&mut buf, b"\x05ab"), 13);
        assert_eq!(&buf[12..], b"\0\x05ab");
        // Garbage and forward pointers in the buffer never decode.
        let mut positions = [0u16; MAX_LABELS];
        assert_eq!(label_positions(b"\xC0\x00", 0, &mut positions), None);
        assert_eq!(label_positions(b"\x01a\xC0\x05", 0, &mut positions), None);
        assert_eq!(label_positions(b"\x50a", 0, &mut positions), None);
    }

    #[test]
    fn proof_owners_point_at_the_question_or_at_least_the_apex() {
        let mut names = Names::default();
        let mut buf = vec![0; 12];
        buf.extend_from_slice(&wire("www.lab."));
        names.remember(12);
        // The NSEC owner is the question itself: one pointer.
        let at = buf.len();
        assert_eq!(names.write_within(&mut buf, &wire("www.lab."), 1, 16), 12);
        assert_eq!(&buf[at..], b"\xC0\x0C");
        // Asked in another case, the question does not match: down to the apex pointer only.
        let mut buf = vec![0; 12];
        buf.extend_from_slice(b"\x03WWW\x03LAB\x00");
        names.clear();
        names.remember(12);
        let at = buf.len();
        assert_eq!(names.write_within(&mut buf, &wire("www.lab."), 1, 16), at);
        assert_eq!(&buf[at..], b"\x03www\xC0\x10");
    }

    #[test]
    fn truncate_forgets_names_cut_off() {
        let mut names = Names::default();
        let mut buf = vec![0; 12];
        names.write(&mut buf, &wire("a.example."));
        let cut = buf.len();
        names.write(&mut buf, &wire("b.test."));
        buf.truncate(cut);
        names.truncate(cut);
        let at = names.write(&mut buf, &wire("c.test."));
        assert_eq!(&buf[at..], &wire("c.test.")[..]);
    }

    #[test]
    fn key_matches_the_question_reader() {
        let mut buf = vec![0; 12];
        buf.extend_from_slice(b"\x03A\x00b\x02\x01x\x07Example\x00");
        let (mut a, mut b) = (QueryName::default(), QueryName::default());
        crate::query::read_name(&buf, 12, &mut a).unwrap();
        read_name(&buf, 12, &mut b).unwrap();
        assert_eq!((a.key, a.label_offsets, a.key_ends), (b.key, b.label_offsets, b.key_ends));
    }
}
