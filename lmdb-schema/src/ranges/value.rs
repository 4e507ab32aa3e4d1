//! Range values and shared metadata records: encoding and decoding (format in [`super`]).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

use crate::store::StoreError;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(end: IpAddr, out: &mut Vec<u8>) {
    let mut push = |bytes: &[u8]| {
        for b in bytes {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
    };
    match end {
        IpAddr::V4(a) => push(&a.octets()),
        IpAddr::V6(a) => push(&a.octets()),
    }
}

/// Appends the inline (first) form of a range value, ending at `end` with metadata
/// `meta_object`, which must
/// be a compact JSON object (`{}` or `{"k":v,...}`) without an `end` member.
pub fn encode_value(end: IpAddr, meta_object: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"end\":\"");
    push_hex(end, out);
    out.push(b'"');
    // `meta_object` is `{...}`: splice its members after `end`.
    let inner = meta_object.get(1..meta_object.len().saturating_sub(1)).unwrap_or(b"");
    if !inner.iter().all(u8::is_ascii_whitespace) {
        out.push(b',');
        out.extend_from_slice(inner);
    }
    out.push(b'}');
}

/// Appends the packed (third) form of a range value: `"<hex end>#<hex id>"`, the metadata being
/// record `id` of the table (see [`meta_key`]). The hex end leaves out its trailing `f` digits
/// (keeping at least one digit): a reader pads them back. Why: CIDR ends are all-ones in their
/// host bits, so a /24 saves 2 digits and an IPv6 /48 20 — ~12 MB of GeoLite2-City's 3.4M
/// ranges, on the entry LMDB stores per range. One JSON string instead of the second form's
/// array `["<hex end>",<decimal id>]` saves the brackets, and the hex id 0.74 of a digit on
/// average (4.19 hex against 4.93 decimal digits): 158.6 → 149.0 MB for the generated
/// GeoLite2-City set, under 2× its `.mmdb`.
pub fn encode_shared_value(end: IpAddr, id: u32, out: &mut Vec<u8>) {
    out.push(b'"');
    let at = out.len();
    push_hex(end, out);
    while out.len() > at + 1 && out.last() == Some(&b'f') {
        out.pop();
    }
    out.push(b'#');
    let digits = (32 - id.leading_zeros()).div_ceil(4).max(1);
    for shift in (0..digits).rev() {
        out.push(HEX[(id >> (4 * shift) & 15) as usize]);
    }
    out.push(b'"');
}

/// Longest metadata record key: a table name, the separator, 4 bytes of 0xff and a 4-byte id
/// (a schema record's key; an object record's has no 0xff bytes).
pub const META_KEY_MAX: usize = super::MAX_TABLE_NAME + 9;

/// Writes the key of metadata record `id` of `table` into `buf`: the table name, a 0 byte (no
/// table name has one, so these keys never meet the table names beside them), the id
/// big-endian. Returns the key's length.
#[inline]
pub fn meta_key(table: &[u8], id: u32, buf: &mut [u8; META_KEY_MAX]) -> usize {
    let n = table.len().min(super::MAX_TABLE_NAME);
    buf[..n].copy_from_slice(&table[..n]);
    buf[n] = 0;
    buf[n + 1..n + 5].copy_from_slice(&id.to_be_bytes());
    n + 5
}

/// Writes the key of schema record `id` of `table` into `buf`: like [`meta_key`] with 4 bytes of
/// 0xff before the id, so it is longer than every object record's key and meets none of them.
#[inline]
pub fn schema_key(table: &[u8], id: u32, buf: &mut [u8; META_KEY_MAX]) -> usize {
    let n = meta_key(table, u32::MAX, buf);
    buf[n..n + 4].copy_from_slice(&id.to_be_bytes());
    n + 4
}

/// Writes the key of part record `id` of `table` into `buf`: like [`meta_key`] with the bytes
/// ff ff ff fe before the id (apart from both object and schema records).
#[inline]
pub fn part_key(table: &[u8], id: u32, buf: &mut [u8; META_KEY_MAX]) -> usize {
    let n = meta_key(table, u32::MAX - 1, buf);
    buf[n..n + 4].copy_from_slice(&id.to_be_bytes());
    n + 4
}

/// The first and one-past-the-last key of `table`'s metadata records.
pub fn meta_key_bounds(table: &str) -> (Vec<u8>, Vec<u8>) {
    let mut lo = table.as_bytes().to_vec();
    let mut hi = lo.clone();
    lo.push(0);
    hi.push(1);
    (lo, hi)
}

/// Where a range's metadata is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// In the value itself (first form, `{"end":…,…}`).
    Inline,
    /// In the table's metadata record of this id (packed form `"…#id"`, or the older array
    /// `["…",id]`).
    Shared(u32),
}

/// The end address and where the metadata is, for a stored value of the family of `v4`: any
/// of the three forms (the first byte tells).
#[inline]
pub fn decode_value(value: &[u8], v4: bool) -> Result<(IpAddr, Stored), StoreError> {
    let digits = if v4 { 8 } else { 32 };
    let (hex, id) = match value.first() {
        Some(b'"') => decode_packed_value(value, digits)?,
        Some(b'[') => decode_array_value(value, digits)?,
        _ => return Ok((decode_end_inline(value, v4)?, Stored::Inline)),
    };
    let bad = || StoreError::Corrupt(format!("range value {:?} has no 1-{digits} digit hex end", String::from_utf8_lossy(value)));
    if hex.is_empty() || hex.len() > digits {
        return Err(bad());
    }
    let mut end = 0u128;
    for &c in hex {
        end = end << 4 | u128::from(hex_val(c).ok_or_else(bad)?);
    }
    let pad = (digits - hex.len()) * 4;
    // Shifting in the left-out digits as all-ones (pad < 128: at least one digit is there).
    let end = (end << pad) | ((1u128 << pad) - 1);
    let end = if v4 { IpAddr::V4(Ipv4Addr::from(end as u32)) } else { IpAddr::V6(Ipv6Addr::from(end)) };
    Ok((end, Stored::Shared(id)))
}

/// The hex end and id of a packed value `"<hex end>#<hex id>"` (what loaders write now).
fn decode_packed_value(value: &[u8], digits: usize) -> Result<(&[u8], u32), StoreError> {
    let bad = || {
        StoreError::Corrupt(format!("range value {:?} is not \"<1-{digits} hex digits>#<1-8 hex digits>\"", String::from_utf8_lossy(value)))
    };
    let inner = value.strip_prefix(b"\"").and_then(|v| v.strip_suffix(b"\"")).ok_or_else(bad)?;
    let (hex, id) = inner.split_at(inner.iter().position(|&c| c == b'#').ok_or_else(bad)?);
    let id = &id[1..];
    if id.is_empty() || id.len() > 8 {
        return Err(bad());
    }
    let id = id.iter().try_fold(0u32, |n, &c| Some(n << 4 | u32::from(hex_val(c)?))).ok_or_else(bad)?;
    Ok((hex, id))
}

/// The hex end and id of a second-form value `["<hex end>",<decimal id>]`, which loaders wrote
/// before the packed form: such tables keep answering until they are re-imported.
fn decode_array_value(value: &[u8], digits: usize) -> Result<(&[u8], u32), StoreError> {
    let bad = || StoreError::Corrupt(format!("range value {:?} is not [\"<1-{digits} hex digits>\",<id>]", String::from_utf8_lossy(value)));
    if value.get(1) != Some(&b'"') {
        return Err(bad());
    }
    let quote = value.iter().skip(2).take(digits + 1).position(|&c| c == b'"').ok_or_else(bad)?;
    let hex = &value[2..2 + quote];
    let rest = value.get(2 + quote..).filter(|r| r.starts_with(b"\",") && r.ends_with(b"]")).ok_or_else(bad)?;
    let number = &rest[2..rest.len() - 1];
    if number.is_empty() || number.len() > 10 || !number.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let id = number.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok((hex, u32::try_from(id).map_err(|_| bad())?))
}

/// The `end` address stored in `value` (any form) for a range of the family of `v4`.
pub fn decode_end(value: &[u8], v4: bool) -> Result<IpAddr, StoreError> {
    decode_value(value, v4).map(|(end, _)| end)
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

fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

/// The `end` address of an inline-form value.
fn decode_end_inline(value: &[u8], v4: bool) -> Result<IpAddr, StoreError> {
    let digits = if v4 { 8 } else { 32 };
    // Fast path: the writer puts `{"end":"<hex>"` first.
    let fast = value
        .strip_prefix(b"{\"end\":\"")
        .and_then(|rest| rest.get(..digits + 1))
        .filter(|hex_quote| hex_quote[digits] == b'"')
        .map(|hex_quote| &hex_quote[..digits]);
    let hex: Vec<u8>;
    let hex = match fast {
        Some(h) => h,
        None => {
            let parsed: Map<String, Value> =
                serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(format!("range value is not a JSON object: {e}")))?;
            match parsed.get("end") {
                Some(Value::String(s)) => {
                    hex = s.as_bytes().to_vec();
                    &hex
                }
                _ => return Err(StoreError::Corrupt("range value has no string \"end\"".into())),
            }
        }
    };
    let bad = || StoreError::Corrupt(format!("range end {:?} is not {digits} hex digits", String::from_utf8_lossy(hex)));
    Ok(if v4 {
        IpAddr::V4(Ipv4Addr::from(decode_hex::<4>(hex).ok_or_else(bad)?))
    } else {
        IpAddr::V6(Ipv6Addr::from(decode_hex::<16>(hex).ok_or_else(bad)?))
    })
}

/// The metadata of a stored value: the JSON object without its `end` member.
pub fn parse_metadata(value: &[u8]) -> Result<Map<String, Value>, StoreError> {
    let mut map: Map<String, Value> =
        serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(format!("range value is not a JSON object: {e}")))?;
    map.remove("end");
    Ok(map)
}

/// The metadata members of a stored value as compact JSON object text, without parsing when
/// the value has the writer's layout (`{"end":"<hex>",<members>}`); `{}` for no metadata.
pub fn metadata_json(value: &[u8]) -> Result<Cow<'_, str>, StoreError> {
    let s = std::str::from_utf8(value).map_err(|_| StoreError::Corrupt("range value is not UTF-8".into()))?;
    for digits in [8usize, 32] {
        let prefix_len = 8 + digits + 1; // {"end":" + hex + "
        if s.len() > prefix_len && s.starts_with("{\"end\":\"") && s.as_bytes()[prefix_len - 1] == b'"' {
            let hex_ok = s.as_bytes()[8..8 + digits].iter().all(|c| c.is_ascii_hexdigit());
            if hex_ok {
                let rest = &s[prefix_len..];
                if rest == "}" {
                    return Ok("{}".into());
                }
                if let Some(members) = rest.strip_prefix(',') {
                    return Ok(format!("{{{members}").into());
                }
            }
        }
    }
    let map = parse_metadata(value)?;
    Ok(serde_json::to_string(&map).unwrap_or_else(|_| "{}".into()).into())
}
