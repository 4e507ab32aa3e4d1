//! Domain names on the wire (RFC 1035 §3.1, §4.1.4) and in presentation form.
//!
//! Every function here bounds its work by the 255-octet name limit and a pointer-hop limit, so
//! hostile input costs at most a few hundred steps per name and never panics.

use crate::error::WireError;

/// Longest name in wire form, root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// The DNS header is 12 octets; nothing a pointer may legitimately target lies inside it.
const HEADER_LEN: usize = 12;
/// A legal name has at most 127 labels, hence at most 127 pointers on its way; more is a loop
/// or an attack.
const MAX_HOPS: usize = 127;

/// A presentation-form name that cannot be written in wire form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid domain name: {0}")]
pub struct TextError(pub &'static str);

/// Appends the name starting at `pos` in `msg` to `out` in uncompressed wire form, case kept.
///
/// Pointers must point strictly backwards (to before the pointer itself) and outside the header;
/// together with the length limit this rejects every loop. Returns the position just after the
/// name's bytes at `pos` (after the first pointer, if any).
pub fn read(msg: &[u8], pos: usize, out: &mut Vec<u8>) -> Result<usize, WireError> {
    let start_len = out.len();
    let mut cur = pos;
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = *msg.get(cur).ok_or(WireError::Truncated { offset: cur })?;
        match len & 0xC0 {
            0x00 => {
                let len = usize::from(len);
                let label = msg.get(cur..cur + 1 + len).ok_or(WireError::Truncated { offset: cur })?;
                if out.len() - start_len + label.len() > MAX_NAME_LEN {
                    out.truncate(start_len);
                    return Err(WireError::NameTooLong { offset: pos });
                }
                out.extend_from_slice(label);
                cur += 1 + len;
                if len == 0 {
                    return Ok(end.unwrap_or(cur));
                }
            }
            0xC0 => {
                let low = *msg.get(cur + 1).ok_or(WireError::Truncated { offset: cur })?;
                let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                hops += 1;
                if target >= cur || target < HEADER_LEN || hops > MAX_HOPS {
                    out.truncate(start_len);
                    return Err(WireError::BadPointer { offset: cur });
                }
                end.get_or_insert(cur + 2);
                cur = target;
            }
            // 0x40 and 0x80 are the extended label types of RFC 6891 §5 / RFC 2673, unused.
            _ => {
                out.truncate(start_len);
                return Err(WireError::BadLabelType { offset: cur });
            }
        }
    }
}

/// Skips the possibly compressed name at `pos`, checking its framing but not where its pointer
/// leads; returns the position after it.
pub fn skip(msg: &[u8], pos: usize) -> Result<usize, WireError> {
    let mut cur = pos;
    loop {
        let len = *msg.get(cur).ok_or(WireError::Truncated { offset: cur })?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok(cur + 1),
            0x00 => {
                cur += 1 + usize::from(len);
                if cur - pos > MAX_NAME_LEN {
                    return Err(WireError::NameTooLong { offset: pos });
                }
            }
            0xC0 => {
                return if cur + 2 <= msg.len() { Ok(cur + 2) } else { Err(WireError::Truncated { offset: cur }) };
            }
            _ => return Err(WireError::BadLabelType { offset: cur }),
        }
    }
}

/// Length of the uncompressed name at the start of `wire`, or `None` if it is not one
/// (compressed, over-long, or running past the end).
pub fn uncompressed_len(wire: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let len = usize::from(*wire.get(pos)?);
        if len > MAX_LABEL_LEN {
            return None;
        }
        pos += 1 + len;
        if pos > MAX_NAME_LEN || pos > wire.len() {
            return None;
        }
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Whether `wire` is exactly one uncompressed name.
pub fn is_valid(wire: &[u8]) -> bool {
    uncompressed_len(wire) == Some(wire.len())
}

/// Lower-cases the ASCII letters of a wire name in place (RFC 4343: only A–Z fold). Length
/// octets are below 64, so they never fall in the letter range.
pub fn make_lowercase(wire: &mut [u8]) {
    wire.make_ascii_lowercase();
}

/// `wire` lower-cased into a new vector.
pub fn to_lowercase(wire: &[u8]) -> Vec<u8> {
    wire.to_ascii_lowercase()
}

/// Case-insensitive equality of two wire names (RFC 4343).
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Parses a presentation-form name (`www.example.com`, `www.example.com.`, `\.`, `\032`) into
/// uncompressed wire form. Names are taken as absolute whether or not they end with a dot.
pub fn from_text(text: &str) -> Result<Vec<u8>, TextError> {
    if text == "." {
        return Ok(vec![0]);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + 2);
    let mut label_start = 0;
    out.push(0);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'.' => {
                close_label(&mut out, label_start)?;
                label_start = out.len();
                out.push(0);
                i += 1;
                if i == bytes.len() {
                    // The trailing dot: the root label is already pushed.
                    return finish_text(out);
                }
                continue;
            }
            b'\\' => {
                let rest = &bytes[i + 1..];
                match rest {
                    [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
                        let value = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
                        let value = u8::try_from(value).map_err(|_| TextError("escape \\DDD above 255"))?;
                        out.push(value);
                        i += 4;
                    }
                    [a, ..] if !a.is_ascii_digit() => {
                        out.push(*a);
                        i += 2;
                    }
                    _ => return Err(TextError("incomplete escape")),
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
        if out.len() - label_start - 1 > MAX_LABEL_LEN {
            return Err(TextError("label longer than 63 octets"));
        }
    }
    close_label(&mut out, label_start)?;
    out.push(0);
    finish_text(out)
}

fn close_label(out: &mut [u8], label_start: usize) -> Result<(), TextError> {
    let len = out.len() - label_start - 1;
    if len == 0 {
        return Err(TextError("empty label"));
    }
    // Checked by the caller after every octet.
    out[label_start] = len as u8;
    Ok(())
}

fn finish_text(out: Vec<u8>) -> Result<Vec<u8>, TextError> {
    if out.len() > MAX_NAME_LEN {
        return Err(TextError("name longer than 255 octets"));
    }
    Ok(out)
}

/// Presentation form of an uncompressed wire name, with a trailing dot and RFC 1035 §5.1
/// escapes; a malformed name is rendered as far as it parses, followed by `?`.
pub fn to_text(wire: &[u8]) -> String {
    let mut out = String::with_capacity(wire.len() + 1);
    let mut pos = 0;
    loop {
        let Some(&len) = wire.get(pos) else {
            out.push('?');
            return out;
        };
        if len == 0 {
            if out.is_empty() {
                out.push('.');
            }
            return out;
        }
        let Some(label) = wire.get(pos + 1..pos + 1 + usize::from(len)).filter(|_| len <= 63) else {
            out.push('?');
            return out;
        };
        for &c in label {
            match c {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    out.push('\\');
                    out.push(char::from(c));
                }
                0x21..=0x7E => out.push(char::from(c)),
                _ => out.push_str(&format!("\\{c:03}")),
            }
        }
        out.push('.');
        pos += 1 + usize::from(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg_with(body: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn reads_plain_and_compressed() {
        let mut m = msg_with(b"\x07example\x03com\x00");
        m.extend_from_slice(b"\x03www\xC0\x0C");
        let mut out = Vec::new();
        assert_eq!(read(&m, 12, &mut out).unwrap(), 25);
        assert_eq!(out, b"\x07example\x03com\x00");
        out.clear();
        assert_eq!(read(&m, 25, &mut out).unwrap(), 31);
        assert_eq!(out, b"\x03www\x07example\x03com\x00");
        assert_eq!(skip(&m, 25).unwrap(), 31);
    }

    #[test]
    fn rejects_bad_pointers() {
        let mut out = Vec::new();
        // Self-pointer, forward pointer, pointer into the header.
        assert!(matches!(read(&msg_with(b"\xC0\x0C"), 12, &mut out), Err(WireError::BadPointer { .. })));
        assert!(matches!(read(&msg_with(b"\xC0\x10\x00\x00\x00"), 12, &mut out), Err(WireError::BadPointer { .. })));
        assert!(matches!(read(&msg_with(b"\xC0\x02"), 12, &mut out), Err(WireError::BadPointer { .. })));
        // A loop through a label: 12: "\x01a" then pointer back to 12.
        assert!(read(&msg_with(b"\x01a\xC0\x0C"), 12, &mut out).is_err());
        assert!(out.is_empty());
        assert!(matches!(read(&msg_with(b"\x40a"), 12, &mut out), Err(WireError::BadLabelType { .. })));
        assert!(matches!(read(&msg_with(b"\x03ab"), 12, &mut out), Err(WireError::Truncated { .. })));
        assert!(matches!(read(&msg_with(b"\xC0"), 12, &mut out), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn rejects_long_names_even_through_pointers() {
        // 4 labels of 63 = 256 octets + root > 255.
        let mut body = Vec::new();
        for _ in 0..3 {
            body.push(63);
            body.extend_from_slice(&[b'a'; 63]);
        }
        body.push(0);
        let mut m = msg_with(&body);
        let p = m.len();
        m.push(63);
        m.extend_from_slice(&[b'b'; 63]);
        m.extend_from_slice(&[0xC0, 12]);
        let mut out = Vec::new();
        assert!(read(&m, 12, &mut out).is_ok());
        out.clear();
        assert!(matches!(read(&m, p, &mut out), Err(WireError::NameTooLong { .. })));
        assert!(out.is_empty());
    }

    #[test]
    fn text_round_trip() {
        for t in ["example.com.", "a.b.", ".", "x\\.y.z.", "sp\\032ace.", "q\\\"uote."] {
            let w = from_text(t).unwrap();
            assert!(is_valid(&w), "{t}");
            assert_eq!(to_text(&w), t);
        }
        assert_eq!(from_text("example.com").unwrap(), from_text("example.com.").unwrap());
        assert_eq!(from_text("\\065").unwrap(), b"\x01A\x00");
        for bad in ["", "a..b", ".a", "\\", "\\25", "\\256.", &"a".repeat(64), &"a.".repeat(128)] {
            assert!(from_text(bad).is_err(), "{bad:?}");
        }
        assert!(from_text(&format!("{}.", vec!["a".repeat(63); 3].join("."))).is_ok());
    }

    #[test]
    fn uncompressed_checks() {
        assert_eq!(uncompressed_len(b"\x01a\x00rest"), Some(3));
        assert_eq!(uncompressed_len(b"\x01a"), None);
        assert_eq!(uncompressed_len(b"\xC0\x0C"), None);
        assert!(!is_valid(b"\x01a\x00\x00"));
        assert!(eq_ignore_case(b"\x01A\x00", b"\x01a\x00"));
        assert_eq!(to_text(b"\x05ab"), "?");
    }
}
