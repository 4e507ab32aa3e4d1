//! SVCB/HTTPS SvcParams (RFC 9460 §2.1, appendix A) in both directions.

use super::encoding::{base64_decode, base64_encode};
use super::lexer::unescape_into;
use super::names::lossy;
use super::present::push_cs_byte;
use super::rdata::{parse_ipv4, parse_ipv6, Cursor, RErr};
use super::types::parse_uint;

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
// 7 (dohpath) and unknown keys carry opaque bytes.
const OHTTP: u16 = 8;

const KEY_NAMES: [&str; 9] = ["mandatory", "alpn", "no-default-alpn", "port", "ipv4hint", "ech", "ipv6hint", "dohpath", "ohttp"];

fn key_code(text: &[u8]) -> Option<u16> {
    if let Some(i) = KEY_NAMES.iter().position(|n| n.as_bytes() == text) {
        return Some(i as u16);
    }
    let digits = text.strip_prefix(b"key")?;
    // RFC 9460 writes keyNNNNN without leading zeros, but Knot and NSD read `key0001` as key 1;
    // so do we (it is then read and printed as `alpn`).
    parse_uint(digits, 65535).map(|v| v as u16)
}

fn push_key_name(key: u16, out: &mut String) {
    match KEY_NAMES.get(key as usize) {
        Some(n) => out.push_str(n),
        None => {
            out.push_str("key");
            out.push_str(&key.to_string());
        }
    }
}

/// Splits a decoded value-list on unescaped commas; `\,` and `\\` escape within an item.
fn split_list(value: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' => {
                let b = *value.get(i + 1).ok_or("dangling '\\' in value list")?;
                items.last_mut().expect("items is never empty").push(b);
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            b => {
                items.last_mut().expect("items is never empty").push(b);
                i += 1;
            }
        }
    }
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in value list".into());
    }
    Ok(items)
}

fn need(key: u16, v: Option<&[u8]>) -> Result<&[u8], String> {
    v.filter(|v| !v.is_empty()).ok_or_else(|| format!("SvcParam {} needs a value", KEY_NAMES[key as usize]))
}

fn encode_value(key: u16, value: Option<&[u8]>, out: &mut Vec<u8>) -> Result<(), String> {
    match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in split_list(need(key, value)?)? {
                keys.push(key_code(&item).ok_or_else(|| format!("unknown key '{}' in mandatory", lossy(&item)))?);
            }
            keys.sort_unstable();
            if keys.windows(2).any(|w| w[0] == w[1]) {
                return Err("duplicate key in mandatory".into());
            }
            keys.iter().for_each(|k| out.extend_from_slice(&k.to_be_bytes()));
        }
        ALPN => {
            for item in split_list(need(key, value)?)? {
                if item.len() > 255 {
                    return Err("alpn id longer than 255 octets".into());
                }
                out.push(item.len() as u8);
                out.extend_from_slice(&item);
            }
        }
        NO_DEFAULT_ALPN | OHTTP => {
            if value.is_some_and(|v| !v.is_empty()) {
                return Err(format!("SvcParam {} takes no value", KEY_NAMES[key as usize]));
            }
        }
        PORT => {
            let v = need(key, value)?;
            let port = parse_uint(v, 65535).ok_or_else(|| format!("bad port '{}'", lossy(v)))?;
            out.extend_from_slice(&(port as u16).to_be_bytes());
        }
        IPV4HINT => {
            for item in split_list(need(key, value)?)? {
                let a = parse_ipv4(&item).ok_or_else(|| format!("bad IPv4 address '{}'", lossy(&item)))?;
                out.extend_from_slice(&a.octets());
            }
        }
        IPV6HINT => {
            for item in split_list(need(key, value)?)? {
                let a = parse_ipv6(&item).ok_or_else(|| format!("bad IPv6 address '{}'", lossy(&item)))?;
                out.extend_from_slice(&a.octets());
            }
        }
        ECH => base64_decode(value.unwrap_or(b""), out).map_err(|e| format!("ech: {e}"))?,
        _ => out.extend_from_slice(value.unwrap_or(b"")),
    }
    Ok(())
}

/// Reads `key[=value]` tokens to the end of the record and appends them in key order.
pub(crate) fn encode_params(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    let mut params: Vec<(u16, Vec<u8>, usize)> = Vec::new();
    while let Ok(t) = c.next("SvcParam") {
        let line = t.line as usize;
        let text = c.text(t);
        let (key_text, raw_value) = match text.iter().position(|&b| b == b'=') {
            Some(p) => (&text[..p], Some(&text[p + 1..])),
            None => (text, None),
        };
        let key = key_code(key_text).ok_or_else(|| (line, format!("unknown SvcParamKey '{}'", lossy(key_text))))?;
        // `key="quoted value"` lexes as `key=` followed by a quoted token.
        let raw_value = match raw_value {
            Some(v) if v.is_empty() && c.peek().is_some_and(|n| n.quoted) => {
                let n = c.next("SvcParam value")?;
                Some(c.text(n))
            }
            v => v,
        };
        let value = match raw_value {
            Some(raw) => {
                let mut v = Vec::with_capacity(raw.len());
                unescape_into(raw, &mut v).map_err(|e| (line, e))?;
                Some(v)
            }
            None => None,
        };
        let mut wire = Vec::new();
        encode_value(key, value.as_deref(), &mut wire).map_err(|e| (line, e))?;
        if wire.len() > 65535 {
            return Err((line, "SvcParam value longer than 65535 octets".into()));
        }
        params.push((key, wire, line));
    }
    params.sort_by_key(|p| p.0);
    if let Some(w) = params.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err((w[1].2, "duplicate SvcParamKey".into()));
    }
    for (key, wire, _) in params {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&(wire.len() as u16).to_be_bytes());
        out.extend_from_slice(&wire);
    }
    Ok(())
}

/// Appends ` key=value...` for the SvcParams in `wire`; `None` if they are not well-formed
/// (out of order, bad lengths), so the caller falls back to `\#`.
pub(crate) fn present_params(mut wire: &[u8], out: &mut String) -> Option<()> {
    let mut last: Option<u16> = None;
    while !wire.is_empty() {
        let key = u16::from_be_bytes([*wire.first()?, *wire.get(1)?]);
        let len = u16::from_be_bytes([*wire.get(2)?, *wire.get(3)?]) as usize;
        let value = wire.get(4..4 + len)?;
        wire = &wire[4 + len..];
        if last.is_some_and(|l| l >= key) {
            return None;
        }
        last = Some(key);
        out.push(' ');
        push_key_name(key, out);
        match key {
            MANDATORY => {
                if value.is_empty() || value.len() % 2 != 0 {
                    return None;
                }
                let keys: Vec<u16> = value.chunks(2).map(|k| u16::from_be_bytes([k[0], k[1]])).collect();
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return None;
                }
                out.push('=');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_key_name(*k, out);
                }
            }
            ALPN => {
                if value.is_empty() {
                    return None;
                }
                out.push_str("=\"");
                let mut v = value;
                let mut first = true;
                while let Some((&len, rest)) = v.split_first() {
                    let item = rest.get(..len as usize).filter(|i| !i.is_empty())?;
                    v = &rest[len as usize..];
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    for &b in item {
                        if b == b',' || b == b'\\' {
                            push_cs_byte(b'\\', out);
                        }
                        push_cs_byte(b, out);
                    }
                }
                out.push('"');
            }
            NO_DEFAULT_ALPN | OHTTP => {
                if !value.is_empty() {
                    return None;
                }
            }
            PORT => {
                let p: [u8; 2] = value.try_into().ok()?;
                out.push('=');
                out.push_str(&u16::from_be_bytes(p).to_string());
            }
            IPV4HINT | IPV6HINT => {
                let size = if key == IPV4HINT { 4 } else { 16 };
                if value.is_empty() || value.len() % size != 0 {
                    return None;
                }
                out.push('=');
                for (i, a) in value.chunks(size).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if size == 4 {
                        out.push_str(&std::net::Ipv4Addr::from(<[u8; 4]>::try_from(a).ok()?).to_string());
                    } else {
                        out.push_str(&std::net::Ipv6Addr::from(<[u8; 16]>::try_from(a).ok()?).to_string());
                    }
                }
            }
            ECH => {
                if !value.is_empty() {
                    out.push('=');
                    base64_encode(value, out);
                }
            }
            _ => {
                if !value.is_empty() {
                    out.push_str("=\"");
                    value.iter().for_each(|&b| push_cs_byte(b, out));
                    out.push('"');
                }
            }
        }
    }
    Some(())
}
