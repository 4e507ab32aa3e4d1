//! The change log: for each commit (by the database change counter), which zones it changed
//! and how. A reader that saw counter N finds everything that changed since by reading the
//! entries after N — never by scanning every zone. The server's NOTIFY sender uses it.
//!
//! ```text
//! key   := change_counter:u64
//! value := ( kind:u8 keylen:u8 apex_key )*
//! ```
//! Only the last [`KEEP`] commits are kept (older ones are deleted by the commit that makes them
//! old); a reader further behind than that rescans the zones once.

/// Commits kept in the log.
pub const KEEP: u64 = 10_000;

/// What happened to a zone in one commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Its content changed and its serial moved.
    Content = 1,
    /// The zone was created.
    Added = 2,
    /// The zone was deleted.
    Deleted = 3,
    /// Only its settings changed (NOTIFY targets, catalog group, ...): same serial.
    Settings = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Content,
            2 => Kind::Added,
            3 => Kind::Deleted,
            4 => Kind::Settings,
            _ => return None,
        })
    }
}

pub fn key(counter: u64) -> [u8; 8] {
    counter.to_be_bytes()
}

/// Appends one zone's change to an encoded value.
pub fn push(value: &mut Vec<u8>, kind: Kind, apex_key: &[u8]) {
    value.push(kind as u8);
    value.push(apex_key.len() as u8);
    value.extend_from_slice(apex_key);
}

/// The changes of one commit; stops at the first that does not decode.
pub fn decode(value: &[u8]) -> impl Iterator<Item = (Kind, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let kind = Kind::from_u8(*value.get(pos)?)?;
        let len = *value.get(pos + 1)? as usize;
        let apex = value.get(pos + 2..pos + 2 + len)?;
        pos += 2 + len;
        Some((kind, apex))
    })
}

/// True if [`decode`] reads `value` to its end: an entry it stops in (a kind this build does not
/// know, a cut entry) may name more zones than a reader sees, so the reader must assume any
/// zone changed.
pub fn decodes_whole(value: &[u8]) -> bool {
    decode(value).map(|(_, apex)| 2 + apex.len()).sum::<usize>() == value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut value = Vec::new();
        push(&mut value, Kind::Content, b"\0test\0");
        push(&mut value, Kind::Deleted, b"\0old\0");
        let got: Vec<_> = decode(&value).collect();
        assert_eq!(got, vec![(Kind::Content, &b"\0test\0"[..]), (Kind::Deleted, &b"\0old\0"[..])]);
        assert_eq!(decode(&value[..value.len() - 1]).count(), 1, "a cut entry is not read");
        assert!(decodes_whole(&value) && decodes_whole(&[]));
        assert!(!decodes_whole(&value[..value.len() - 1]), "cut");
        let mut newer = value.clone();
        newer.extend_from_slice(&[9, 1, 0]);
        assert!(!decodes_whole(&newer), "a kind this build does not know");
    }
}
