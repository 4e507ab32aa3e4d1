//! Domain names: presentation text → uncompressed wire format, and back out of RDATA.

use super::lexer::escape_at;
use lmdb_schema::name::{MAX_LABEL, MAX_NAME_WIRE};

/// Appends the wire form of the presentation name `raw` (escapes undecoded) to `out`.
///
/// `@` is the origin; a name without a trailing unescaped dot is relative to `origin`. An empty
/// `origin` means none is known, so only absolute names are accepted.
pub(crate) fn name_to_wire(raw: &[u8], origin: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let base = out.len();
    if raw == b"@" {
        if origin.is_empty() {
            return Err("'@' used but no origin is known".into());
        }
        out.extend_from_slice(origin);
        return Ok(());
    }
    if raw == b"." {
        out.push(0);
        return Ok(());
    }
    if raw.is_empty() {
        return Err("empty name".into());
    }
    let mut label_at = out.len();
    out.push(0);
    let mut i = 0;
    let mut absolute = false;
    while i < raw.len() {
        let b = raw[i];
        if b == b'.' {
            close_label(out, label_at, raw)?;
            i += 1;
            if i == raw.len() {
                absolute = true;
                break;
            }
            label_at = out.len();
            out.push(0);
            continue;
        }
        if b == b'\\' {
            let (byte, used) = escape_at(raw, i)?;
            out.push(byte);
            i += used;
        } else {
            out.push(b);
            i += 1;
        }
        // Bail out early so a huge token cannot make us buffer much more than a name.
        if out.len() - base > MAX_NAME_WIRE + MAX_LABEL + 1 {
            out.truncate(base);
            return Err(format!("name '{}' is longer than 255 octets", lossy(raw)));
        }
    }
    if absolute {
        out.push(0);
    } else {
        close_label(out, label_at, raw)?;
        if origin.is_empty() {
            out.truncate(base);
            return Err(format!("relative name '{}' but no origin is known", lossy(raw)));
        }
        out.extend_from_slice(origin);
    }
    if out.len() - base > MAX_NAME_WIRE {
        out.truncate(base);
        return Err(format!("name '{}' is longer than 255 octets", lossy(raw)));
    }
    Ok(())
}

fn close_label(out: &mut [u8], label_at: usize, raw: &[u8]) -> Result<(), String> {
    let len = out.len() - label_at - 1;
    if len == 0 {
        return Err(format!("empty label in name '{}'", lossy(raw)));
    }
    if len > MAX_LABEL {
        return Err(format!("label longer than 63 octets in name '{}'", lossy(raw)));
    }
    out[label_at] = len as u8;
    Ok(())
}

pub(crate) fn lossy(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    if s.chars().count() > 80 {
        let mut t: String = s.chars().take(77).collect();
        t.push_str("...");
        t
    } else {
        s.into_owned()
    }
}

/// Length of the uncompressed wire name at the start of `wire`, or why it is not a well-formed
/// one: a compression pointer or other label type, a label over 63 octets, more than 255 octets
/// in all, or no root label before the data ends.
pub(crate) fn wire_name_len(wire: &[u8]) -> Result<usize, &'static str> {
    let mut pos = 0;
    loop {
        let Some(&len) = wire.get(pos) else { return Err("it runs past the end of the RDATA") };
        let len = len as usize;
        if len == 0 {
            return if pos < MAX_NAME_WIRE { Ok(pos + 1) } else { Err("it is longer than 255 octets") };
        }
        if len >= 0xC0 {
            return Err("it uses a compression pointer");
        }
        if len > MAX_LABEL {
            return Err("a label is longer than 63 octets");
        }
        pos += 1 + len;
        if pos >= MAX_NAME_WIRE {
            return Err("it is longer than 255 octets");
        }
    }
}
