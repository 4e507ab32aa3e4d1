//! Base16, Base64 and Base32hex (RFC 4648) for DNSSEC and friends. Hand-written because they
//! are small and a decoder that appends to the RDATA buffer saves a copy per record.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex_encode(data: &[u8], out: &mut String) {
    out.reserve(data.len() * 2);
    for &b in data {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
}

#[inline]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Appends hex digits to `out`; `pending` carries an odd leftover nibble between tokens, since
/// hex fields may be split by white space at any point.
pub(crate) fn hex_decode_part(text: &[u8], pending: &mut Option<u8>, out: &mut Vec<u8>) -> Result<(), String> {
    for &c in text {
        let v = hex_val(c).ok_or_else(|| format!("bad hex digit '{}'", c.escape_ascii()))?;
        match pending.take() {
            Some(hi) => out.push(hi << 4 | v),
            None => *pending = Some(v),
        }
    }
    Ok(())
}

pub(crate) fn base64_encode(data: &[u8], out: &mut String) {
    out.reserve(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        out.push(B64[(v >> 18) as usize & 63] as char);
        out.push(B64[(v >> 12) as usize & 63] as char);
        out.push(if n > 1 { B64[(v >> 6) as usize & 63] as char } else { '=' });
        out.push(if n > 2 { B64[v as usize & 63] as char } else { '=' });
    }
}

#[inline]
fn b64_val(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes padded Base64 whose characters may be spread over several tokens (already
/// concatenated into `text`, white space removed).
pub(crate) fn base64_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if !text.len().is_multiple_of(4) {
        return Err("bad base64: length is not a multiple of 4".into());
    }
    let groups = text.len() / 4;
    for (g, quad) in text.chunks(4).enumerate() {
        let last = g + 1 == groups;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("bad base64 padding".into());
        }
        let mut v = 0u32;
        for &c in &quad[..4 - pad] {
            v = v << 6 | b64_val(c).ok_or_else(|| format!("bad base64 character '{}'", c.escape_ascii()))?;
        }
        v <<= 6 * pad as u32;
        out.push((v >> 16) as u8);
        if pad < 2 {
            out.push((v >> 8) as u8);
        }
        if pad < 1 {
            out.push(v as u8);
        }
    }
    Ok(())
}

/// Unpadded Base32hex, lower case (as NSEC3 owner hashes are usually written).
pub(crate) fn base32hex_encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let v = buf.iter().fold(0u64, |acc, &b| acc << 8 | b as u64);
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            out.push(B32HEX[(v >> (35 - 5 * i)) as usize & 31] as char);
        }
    }
}

pub(crate) fn base32hex_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let text = {
        let end = text.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
        &text[..end]
    };
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &c in text {
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'v' => c - b'a' + 10,
            b'A'..=b'V' => c - b'A' + 10,
            _ => return Err(format!("bad base32hex character '{}'", c.escape_ascii())),
        };
        acc = acc << 5 | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be padding: a length like 1, 3 or 6 characters mod 8 cannot come from
    // whole bytes.
    if bits >= 5 || acc != 0 {
        return Err("bad base32hex: trailing bits".into());
    }
    Ok(())
}
