//! Owner names as LMDB keys.
//!
//! A name key is a 0x00 byte for the root, then the name's labels from the root down, each label
//! lower-cased (ASCII) and followed by a 0x00 separator (so `example.com.` is `\0com\0example\0`;
//! LMDB refuses empty keys, hence the byte for the root). Bytes 0x00 and 0x01 inside a label are escaped as 0x01 0x01 and 0x01 0x02,
//! so that plain byte order of keys is DNS canonical order (RFC 4034 §6.1) and the separator sorts
//! below every label byte. Two consequences the whole design leans on:
//!
//! * the key of every ancestor of a name is a prefix of the name's key, ending at a separator, so
//!   the closest-encloser walk is a loop over prefixes of one buffer;
//! * a zone's names (its subtree) are exactly the keys that start with the apex key, so export,
//!   AXFR and zone replacement are one prefix scan.
//!
//! The root name is the key `\0`.

/// Longest wire-format name (RFC 1035 §2.3.4).
pub const MAX_NAME_WIRE: usize = 255;
/// Longest label.
pub const MAX_LABEL: usize = 63;
/// Longest key a name can produce: every byte escaped, plus separators.
pub const MAX_KEY: usize = 2 * MAX_NAME_WIRE + 1;

/// The key of the root name.
pub const ROOT_KEY: &[u8] = &[0];

const SEP: u8 = 0x00;
const ESC: u8 = 0x01;

/// Appends the key of a label to `out`.
#[inline]
fn push_label(label: &[u8], out: &mut Vec<u8>) {
    for &b in label {
        match b {
            0x00 => out.extend_from_slice(&[ESC, 0x01]),
            0x01 => out.extend_from_slice(&[ESC, 0x02]),
            _ => out.push(b.to_ascii_lowercase()),
        }
    }
    out.push(SEP);
}

/// Error for a wire name that cannot be turned into a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is not terminated by the root label")]
    Unterminated,
    #[error("label longer than 63 octets")]
    LabelTooLong,
    #[error("name longer than 255 octets")]
    NameTooLong,
    #[error("compressed or extended label type in a stored name")]
    BadLabelType,
}

/// Splits an uncompressed wire-format name into its labels, leftmost first.
pub fn wire_labels(wire: &[u8]) -> Result<Vec<&[u8]>, NameError> {
    let mut labels = Vec::new();
    let mut pos = 0;
    loop {
        let len = *wire.get(pos).ok_or(NameError::Unterminated)? as usize;
        if len == 0 {
            if pos + 1 > MAX_NAME_WIRE {
                return Err(NameError::NameTooLong);
            }
            return Ok(labels);
        }
        if len > MAX_LABEL {
            return Err(if len & 0xC0 != 0 { NameError::BadLabelType } else { NameError::LabelTooLong });
        }
        let label = wire.get(pos + 1..pos + 1 + len).ok_or(NameError::Unterminated)?;
        labels.push(label);
        pos += 1 + len;
    }
}

/// The key of an uncompressed wire-format name.
pub fn key_from_wire(wire: &[u8]) -> Result<Vec<u8>, NameError> {
    let labels = wire_labels(wire)?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.push(SEP);
    for label in labels.iter().rev() {
        push_label(label, &mut out);
    }
    Ok(out)
}

/// The key of a name given as labels, leftmost first (as they appear on the wire).
pub fn key_from_labels<'a, I>(labels: I, out: &mut Vec<u8>)
where
    I: DoubleEndedIterator<Item = &'a [u8]>,
{
    out.clear();
    out.push(SEP);
    for label in labels.rev() {
        push_label(label, out);
    }
}

/// The key of a name written as plain dotted labels (`www.example.com`, trailing dot optional;
/// no presentation escapes), as names come from command-line flags and config files.
pub fn key_from_dotted(name: &str) -> Result<Vec<u8>, NameError> {
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        if label.len() > MAX_LABEL {
            return Err(NameError::LabelTooLong);
        }
        wire.push(label.len() as u8);
        wire.extend_from_slice(label.as_bytes());
    }
    wire.push(0);
    key_from_wire(&wire)
}

/// Iterates over the labels of a key, root side first (unescaped).
pub fn key_labels(key: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let body = key.get(1..).unwrap_or_default();
    body.split(|&b| b == SEP).take(label_count(key)).map(unescape_label)
}

fn unescape_label(escaped: &[u8]) -> Vec<u8> {
    let mut label = Vec::with_capacity(escaped.len());
    let mut i = 0;
    while i < escaped.len() {
        if escaped[i] == ESC && i + 1 < escaped.len() {
            label.push(escaped[i + 1] - 1);
            i += 2;
        } else {
            label.push(escaped[i]);
            i += 1;
        }
    }
    label
}

/// Number of labels of the name a key encodes (the root has 0).
#[inline]
pub fn label_count(key: &[u8]) -> usize {
    key.iter().filter(|&&b| b == SEP).count().saturating_sub(1)
}

/// The key of the ancestor with `labels` labels: a prefix of `key`.
/// Returns the whole key when it has no more than `labels` labels.
#[inline]
pub fn ancestor(key: &[u8], labels: usize) -> &[u8] {
    let mut seen = 0;
    for (i, &b) in key.iter().enumerate() {
        if b == SEP {
            if seen == labels {
                return &key[..=i];
            }
            seen += 1;
        }
    }
    key
}

/// The key of the parent name, or `None` for the root.
#[inline]
pub fn parent(key: &[u8]) -> Option<&[u8]> {
    if key.len() <= 1 {
        return None;
    }
    let body = &key[..key.len() - 1];
    body.iter().rposition(|&b| b == SEP).map(|i| &key[..=i])
}

/// True if `key` is `ancestor_key` or below it.
#[inline]
pub fn is_at_or_below(key: &[u8], ancestor_key: &[u8]) -> bool {
    key.starts_with(ancestor_key)
}

/// The key of `*.<name>` for the name with key `key`.
pub fn wildcard_child(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    out.extend_from_slice(key);
    out.extend_from_slice(b"*\0");
    out
}

/// True if the leftmost label of the name is `*`.
#[inline]
pub fn is_wildcard(key: &[u8]) -> bool {
    key.len() >= 3 && key.ends_with(b"*\0") && key[key.len() - 3] == SEP
}

/// [`key_to_wire`] into a reused buffer (cleared first), without allocating per label: for
/// loops over many names (zone transfers).
pub fn key_to_wire_into(key: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // After the root byte, labels are stored root first, each followed by a separator (escaped
    // label bytes are never 0x00): walk them from the end, leftmost label first on the wire.
    let body = key.get(1..).unwrap_or_default();
    let mut end = body.len();
    while end > 0 {
        let label_end = end - 1;
        let start = body[..label_end].iter().rposition(|&b| b == SEP).map_or(0, |i| i + 1);
        let len_at = out.len();
        out.push(0);
        let escaped = &body[start..label_end];
        let mut i = 0;
        while i < escaped.len() {
            if escaped[i] == ESC && i + 1 < escaped.len() {
                out.push(escaped[i + 1] - 1);
                i += 2;
            } else {
                out.push(escaped[i]);
                i += 1;
            }
        }
        out[len_at] = (out.len() - len_at - 1) as u8;
        end = start;
    }
    out.push(0);
}

/// The wire form of the name a key encodes (lower case).
pub fn key_to_wire(key: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(key.len() + 1);
    key_to_wire_into(key, &mut wire);
    wire
}

/// Presentation form of an uncompressed wire name (absolute, with trailing dot), escaping
/// special and non-printable bytes as RFC 1035 §5.1 says.
pub fn wire_to_text(wire: &[u8]) -> String {
    let mut out = String::with_capacity(wire.len() + 1);
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        let label = &wire[pos + 1..(pos + 1 + len as usize).min(wire.len())];
        push_label_text(label, &mut out);
        out.push('.');
        pos += 1 + len as usize;
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Appends a label in presentation form.
pub fn push_label_text(label: &[u8], out: &mut String) {
    use std::fmt::Write;
    for &b in label {
        match b {
            b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                out.push('\\');
                out.push(b as char);
            }
            0x21..=0x7E => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
}

/// Presentation form of the name a key encodes.
pub fn key_to_text(key: &[u8]) -> String {
    wire_to_text(&key_to_wire(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> Vec<u8> {
        let mut w = Vec::new();
        for label in text.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
            w.push(label.len() as u8);
            w.extend_from_slice(label.as_bytes());
        }
        w.push(0);
        w
    }

    fn key(text: &str) -> Vec<u8> {
        key_from_wire(&wire(text)).unwrap()
    }

    #[test]
    fn key_to_wire_into_equals_key_to_wire() {
        let mut out = vec![9, 9, 9];
        for text in [".", "com.", "www.example.com.", "a.b.c.d.e.f.", "*.wild.example."] {
            let k = key(text);
            key_to_wire_into(&k, &mut out);
            assert_eq!(out, key_to_wire(&k), "{text}");
        }
        let escaped = key_from_wire(b"\x03a\x00\x01\x01b\x00").unwrap();
        key_to_wire_into(&escaped, &mut out);
        assert_eq!(out, b"\x03a\x00\x01\x01b\x00");
    }

    #[test]
    fn key_reverses_labels_and_lowercases() {
        assert_eq!(key("www.Example.COM."), b"\0com\0example\0www\0");
        assert_eq!(key("."), ROOT_KEY);
    }

    #[test]
    fn ancestors_are_prefixes() {
        let k = key("a.b.example.com.");
        assert_eq!(ancestor(&k, 2), key("example.com.").as_slice());
        assert_eq!(ancestor(&k, 0), ROOT_KEY);
        assert_eq!(ancestor(&k, 9), k.as_slice());
        assert_eq!(parent(&k), Some(key("b.example.com.").as_slice()));
        assert_eq!(parent(&key("com.")), Some(ROOT_KEY));
        assert_eq!(parent(ROOT_KEY), None);
        assert_eq!(label_count(&k), 4);
    }

    #[test]
    fn byte_order_is_canonical_order() {
        // The example from RFC 4034 §6.1, already in canonical order.
        let names: Vec<Vec<u8>> = vec![
            wire("example."),
            wire("a.example."),
            wire("yljkjljk.a.example."),
            wire("Z.a.example."),
            wire("zABC.a.EXAMPLE."),
            wire("z.example."),
            b"\x01\x01\x01z\x07example\x00".to_vec(),
            wire("*.z.example."),
            b"\x01\xc8\x01z\x07example\x00".to_vec(),
        ];
        let keys: Vec<Vec<u8>> = names.iter().map(|n| key_from_wire(n).unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn zero_bytes_escape_and_round_trip() {
        let w = b"\x03a\x00\x01\x03com\x00".to_vec();
        let k = key_from_wire(&w).unwrap();
        assert_eq!(k, b"\0com\0a\x01\x01\x01\x02\0");
        assert_eq!(label_count(&k), 2);
        assert_eq!(key_to_wire(&k), w);
        assert_eq!(wire_to_text(&w), "a\\000\\001.com.");
    }

    #[test]
    fn dotted_names() {
        assert_eq!(key_from_dotted("WhoAmI.Example.com.").unwrap(), key("whoami.example.com."));
        assert_eq!(key_from_dotted("example.com").unwrap(), key("example.com."));
        assert_eq!(key_from_dotted(".").unwrap(), ROOT_KEY);
        assert_eq!(key_from_dotted(&"a".repeat(64)), Err(NameError::LabelTooLong));
    }

    #[test]
    fn wildcards() {
        let k = key("example.com.");
        let w = wildcard_child(&k);
        assert_eq!(w, key("*.example.com."));
        assert!(is_wildcard(&w));
        assert!(!is_wildcard(&key("a*.example.com.")));
        assert!(is_wildcard(b"\0*\0"));
        assert!(!is_wildcard(b"*\0"));
    }

    #[test]
    fn bad_wire_names() {
        assert_eq!(key_from_wire(b"\x03com"), Err(NameError::Unterminated));
        assert_eq!(key_from_wire(b"\xc0\x0c"), Err(NameError::BadLabelType));
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(key_from_wire(&long), Err(NameError::NameTooLong));
    }

    #[test]
    fn worst_case_key_fits_lmdb_default_limit() {
        // 255-octet name made of 0x00 bytes: every byte escapes to two.
        let mut w = Vec::new();
        for _ in 0..3 {
            w.push(63);
            w.extend_from_slice(&[0u8; 63]);
        }
        w.push(61);
        w.extend_from_slice(&[0u8; 61]);
        w.push(0);
        assert_eq!(w.len(), 255);
        assert!(key_from_wire(&w).unwrap().len() <= 511);
    }
}
