//! Record types with a text form of their own shape: LOC (RFC 1876), APL (RFC 3123), IPSECKEY
//! (RFC 4025), HIP (RFC 8005), A6 (RFC 2874), NSAP (RFC 1706), AMTRELAY (RFC 8777); ATMA,
//! NXT (RFC 2535) and WKS (RFC 1035) in [`super::legacy`]. Each
//! presenter accepts exactly what its encoder can produce, so `\#` RDATA is checked by it.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::encoding::{base64_encode, hex_decode, hex_encode};
use super::names::lossy;
use super::present::{push_name, Malformed, Reader};
use super::rdata::{parse_ipv4, parse_ipv6, Cursor, RErr};

const LOC: u16 = 29;
const APL: u16 = 42;
const IPSECKEY: u16 = 45;
const HIP: u16 = 55;
const A6: u16 = 38;
const NSAP: u16 = 22;
const AMTRELAY: u16 = 260;
const ATMA: u16 = 34;
const NXT: u16 = 30;
const WKS: u16 = 11;

pub(crate) fn encode(rtype: u16, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<bool, RErr> {
    match rtype {
        LOC => loc_encode(c, out)?,
        APL => apl_encode(c, out)?,
        IPSECKEY => {
            c.u8("IPSECKEY precedence", out)?;
            let gw_type = c.uint("IPSECKEY gateway type", 3)? as u8;
            out.push(gw_type);
            c.algorithm(out)?;
            gateway(c, gw_type, out)?;
            c.base64_rest(out)?;
        }
        AMTRELAY => {
            c.u8("AMTRELAY precedence", out)?;
            let d = c.uint("AMTRELAY discovery bit (0 or 1)", 1)? as u8;
            let relay_type = c.uint("AMTRELAY relay type", 3)? as u8;
            out.push(d << 7 | relay_type);
            gateway(c, relay_type, out)?;
        }
        HIP => {
            let at = out.len();
            out.extend_from_slice(&[0, 0, 0, 0]);
            c.u8("HIP PK algorithm", out)?;
            let alg = out.pop().expect("just pushed");
            out[at + 1] = alg;
            let t = c.next("HIP HIT")?;
            hex_decode(c.text(t), out).map_err(|e| (t.line as usize, format!("bad HIT: {e}")))?;
            let hit_len = out.len() - at - 4;
            if hit_len == 0 || hit_len > 255 {
                return Err((t.line as usize, "bad HIT: want 1 to 255 octets of hex".into()));
            }
            out[at] = hit_len as u8;
            let t = c.next("HIP public key")?;
            let pk_at = out.len();
            super::encoding::base64_decode(c.text(t), out).map_err(|e| (t.line as usize, e))?;
            let pk_len = out.len() - pk_at;
            if pk_len == 0 || pk_len > 65535 {
                return Err((t.line as usize, "bad HIP public key length".into()));
            }
            out[at + 2..at + 4].copy_from_slice(&(pk_len as u16).to_be_bytes());
            while c.peek().is_some() {
                c.name("HIP rendezvous server", out)?;
            }
        }
        A6 => {
            let plen = c.uint("A6 prefix length", 128)? as usize;
            out.push(plen as u8);
            // RFC 2874 §3.1: a prefix of 128 bits leaves no suffix to write.
            if plen < 128 {
                let t = c.next("A6 address suffix")?;
                let a = parse_ipv6(c.text(t)).ok_or_else(|| (t.line as usize, format!("bad IPv6 address '{}'", lossy(c.text(t)))))?;
                out.extend_from_slice(&a.octets()[plen / 8..]);
            }
            if plen > 0 {
                c.name("A6 prefix name", out)?;
            }
        }
        NSAP => {
            let t = c.next("NSAP address")?;
            let text = c.text(t);
            let Some(hex) = text.strip_prefix(b"0x").or_else(|| text.strip_prefix(b"0X")) else {
                return Err((t.line as usize, format!("bad NSAP address '{}' (want 0x and hex digits)", lossy(text))));
            };
            let digits: Vec<u8> = hex.iter().copied().filter(|&b| b != b'.').collect();
            let at = out.len();
            hex_decode(&digits, out).map_err(|e| (t.line as usize, format!("bad NSAP address: {e}")))?;
            if out.len() == at {
                return Err((t.line as usize, "bad NSAP address: want an even number of hex digits".into()));
            }
        }
        ATMA | NXT | WKS => super::legacy::encode(rtype, c, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// IPSECKEY / AMTRELAY gateway of `kind`: 0 none (`.`), 1 IPv4, 2 IPv6, 3 a name.
fn gateway(c: &mut Cursor<'_>, kind: u8, out: &mut Vec<u8>) -> Result<(), RErr> {
    let t = c.next("gateway")?;
    let text = c.text(t);
    let bad = |what: &str| (t.line as usize, format!("bad gateway '{}': {what}", lossy(text)));
    match kind {
        0 if text == b"." => {}
        0 => return Err(bad("gateway type 0 takes '.'")),
        1 => out.extend_from_slice(&parse_ipv4(text).ok_or_else(|| bad("not an IPv4 address"))?.octets()),
        2 => out.extend_from_slice(&parse_ipv6(text).ok_or_else(|| bad("not an IPv6 address"))?.octets()),
        _ => {
            c.i -= 1;
            c.name("gateway name", out)?;
        }
    }
    Ok(())
}

fn present_gateway(kind: u8, r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    match kind {
        0 => out.push('.'),
        1 => {
            let _ = write!(out, "{}", Ipv4Addr::from(r.array::<4>()?));
        }
        2 => {
            let _ = write!(out, "{}", Ipv6Addr::from(r.array::<16>()?));
        }
        3 => push_name(r.name()?, out),
        _ => return Err(Malformed::Bad("the gateway type is not 0, 1, 2 or 3")),
    }
    Ok(())
}

pub(crate) fn present(rtype: u16, r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    match rtype {
        LOC => loc_present(r, out)?,
        APL => apl_present(r, out)?,
        IPSECKEY => {
            let (prec, kind, alg) = (r.u8()?, r.u8()?, r.u8()?);
            let _ = write!(out, "{prec} {kind} {alg} ");
            present_gateway(kind, r, out)?;
            let key = r.rest();
            if !key.is_empty() {
                out.push(' ');
                base64_encode(key, out);
            }
        }
        AMTRELAY => {
            let (prec, dt) = (r.u8()?, r.u8()?);
            if dt & 0x7f > 3 {
                return Err(Malformed::Bad("the relay type is not 0, 1, 2 or 3"));
            }
            let _ = write!(out, "{prec} {} {} ", dt >> 7, dt & 0x7f);
            present_gateway(dt & 0x7f, r, out)?;
        }
        HIP => {
            let (hit_len, alg, pk_len) = (r.u8()? as usize, r.u8()?, r.u16()? as usize);
            let (hit, pk) = (r.take(hit_len)?, r.take(pk_len)?);
            if hit.is_empty() || pk.is_empty() {
                return Err(Malformed::Bad("the HIT or the public key is empty"));
            }
            let _ = write!(out, "{alg} ");
            hex_encode(hit, out);
            out.push(' ');
            base64_encode(pk, out);
            while !r.data.is_empty() {
                out.push(' ');
                push_name(r.name()?, out);
            }
        }
        A6 => {
            let plen = r.u8()? as usize;
            if plen > 128 {
                return Err(Malformed::Bad("the prefix length is over 128"));
            }
            let suffix = r.take(16 - plen / 8)?;
            let mut a = [0u8; 16];
            a[plen / 8..].copy_from_slice(suffix);
            push_num_str(plen, out);
            if plen < 128 {
                let _ = write!(out, " {}", Ipv6Addr::from(a));
            }
            if plen > 0 {
                out.push(' ');
                push_name(r.name()?, out);
            }
        }
        NSAP => {
            let data = r.rest();
            if data.is_empty() {
                return Err(Malformed::Short);
            }
            out.push_str("0x");
            hex_encode(data, out);
        }
        ATMA | NXT | WKS => super::legacy::present(rtype, r, out)?,
        _ => return Err(Malformed::UnknownType),
    }
    Ok(())
}

fn push_num_str(v: usize, out: &mut String) {
    let _ = write!(out, "{v}");
}

// --- APL -------------------------------------------------------------------------------------

fn apl_encode(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    while let Some(t) = c.peek() {
        c.i += 1;
        let text = c.text(t);
        let bad = |why: &str| (t.line as usize, format!("bad APL item '{}': {why}", lossy(text)));
        let (neg, item) = match text.strip_prefix(b"!") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let s = std::str::from_utf8(item).map_err(|_| bad("not ASCII"))?;
        let (family, rest) = s.split_once(':').ok_or_else(|| bad("want [!]family:address/prefix"))?;
        let (addr, prefix) = rest.split_once('/').ok_or_else(|| bad("want [!]family:address/prefix"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("the prefix is not a number"))?;
        let bytes: Vec<u8> = match family {
            "1" => {
                let a: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
                if prefix > 32 {
                    return Err(bad("prefix over 32"));
                }
                a.octets().to_vec()
            }
            "2" => {
                let a: Ipv6Addr = addr.parse().map_err(|_| bad("not an IPv6 address"))?;
                if prefix > 128 {
                    return Err(bad("prefix over 128"));
                }
                a.octets().to_vec()
            }
            _ => return Err(bad("the family is not 1 (IPv4) or 2 (IPv6)")),
        };
        // RFC 3123 §4: trailing zero octets of the address are left out.
        let len = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        out.extend_from_slice(&[0, family.as_bytes()[0] - b'0']);
        out.push(prefix);
        out.push((neg as u8) << 7 | len as u8);
        out.extend_from_slice(&bytes[..len]);
    }
    Ok(())
}

fn apl_present(r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    while !r.data.is_empty() {
        let (family, prefix, nlen) = (r.u16()?, r.u8()?, r.u8()?);
        let len = (nlen & 0x7f) as usize;
        let part = r.take(len)?;
        if part.last() == Some(&0) {
            return Err(Malformed::Bad("an APL address ends in a zero octet"));
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if nlen & 0x80 != 0 {
            out.push('!');
        }
        match family {
            1 if len <= 4 && prefix <= 32 => {
                let mut a = [0u8; 4];
                a[..len].copy_from_slice(part);
                let _ = write!(out, "1:{}/{prefix}", Ipv4Addr::from(a));
            }
            2 if len <= 16 && prefix <= 128 => {
                let mut a = [0u8; 16];
                a[..len].copy_from_slice(part);
                let _ = write!(out, "2:{}/{prefix}", Ipv6Addr::from(a));
            }
            _ => return Err(Malformed::Bad("an APL item is not IPv4 or IPv6 of a valid length and prefix")),
        }
    }
    Ok(())
}

// --- LOC -------------------------------------------------------------------------------------

/// 2^31: the equator and the prime meridian (RFC 1876 §2).
const LOC_ZERO: i64 = 1 << 31;
/// 100,000 m below the WGS 84 spheroid, in centimetres: altitude 0 on the wire.
const ALT_BASE: i64 = 10_000_000;

/// `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.
fn loc_encode(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    let lat = loc_angle(c, b'N', b'S', 90)?;
    let lon = loc_angle(c, b'E', b'W', 180)?;
    let t = c.next("LOC altitude")?;
    let alt = loc_metres(c.text(t), true).filter(|&cm| (-ALT_BASE..=u32::MAX as i64 - ALT_BASE).contains(&cm));
    let alt = alt.ok_or_else(|| (t.line as usize, format!("bad LOC altitude '{}'", lossy(c.text(t)))))?;
    // Defaults of RFC 1876 §3: size 1 m, horizontal precision 10 km, vertical 10 m.
    let mut prec = [0x12u8, 0x16, 0x13];
    for (i, what) in ["LOC size", "LOC horizontal precision", "LOC vertical precision"].iter().enumerate() {
        let Some(t) = c.peek() else { break };
        c.i += 1;
        let cm = loc_metres(c.text(t), false).filter(|&cm| cm <= 9_000_000_000);
        let cm = cm.ok_or_else(|| (t.line as usize, format!("bad {what} '{}' (0 to 90000000m)", lossy(c.text(t)))))?;
        prec[i] = precision_byte(cm as u64);
    }
    out.push(0);
    out.extend_from_slice(&prec);
    out.extend_from_slice(&((LOC_ZERO + lat) as u32).to_be_bytes());
    out.extend_from_slice(&((LOC_ZERO + lon) as u32).to_be_bytes());
    out.extend_from_slice(&((alt + ALT_BASE) as u32).to_be_bytes());
    Ok(())
}

/// Degrees, optional minutes and seconds, then the hemisphere: thousandths of a second of arc,
/// signed.
fn loc_angle(c: &mut Cursor<'_>, pos: u8, neg: u8, max_deg: i64) -> Result<i64, RErr> {
    let what = if pos == b'N' { "LOC latitude" } else { "LOC longitude" };
    let mut parts: Vec<&[u8]> = Vec::with_capacity(3);
    let (line, hemi) = loop {
        let t = c.next(what)?;
        let text = c.text(t);
        if text.len() == 1 && (text[0].eq_ignore_ascii_case(&pos) || text[0].eq_ignore_ascii_case(&neg)) {
            break (t.line as usize, text[0].to_ascii_uppercase());
        }
        if parts.len() == 3 {
            return Err((t.line as usize, format!("bad {what}: want d [m [s]] {}|{}", pos as char, neg as char)));
        }
        parts.push(text);
    };
    let bad = || (line, format!("bad {what} '{}'", parts.iter().map(|p| lossy(p)).collect::<Vec<_>>().join(" ")));
    let deg = parts.first().and_then(|p| super::types::parse_uint(p, max_deg as u64)).ok_or_else(bad)? as i64;
    let min = match parts.get(1) {
        Some(p) => super::types::parse_uint(p, 59).ok_or_else(bad)? as i64,
        None => 0,
    };
    let ms = match parts.get(2) {
        Some(p) => decimal(p, 3).filter(|&v| v < 60_000).ok_or_else(bad)?,
        None => 0,
    };
    let v = deg * 3_600_000 + min * 60_000 + ms;
    if v > max_deg * 3_600_000 {
        return Err(bad());
    }
    Ok(if hemi == neg { -v } else { v })
}

/// `123`, `1.5`, `0.05` with at most `places` decimals, scaled by 10^places.
fn decimal(text: &[u8], places: u32) -> Option<i64> {
    let s = std::str::from_utf8(text).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || frac.len() > places as usize || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) || int.len() > 12 {
        return None;
    }
    let mut v: i64 = int.parse().ok()?;
    for i in 0..places as usize {
        v = v * 10 + frac.as_bytes().get(i).map_or(0, |d| (d - b'0') as i64);
    }
    Some(v)
}

/// Metres with an optional `m` and up to two decimals, in centimetres.
fn loc_metres(text: &[u8], signed: bool) -> Option<i64> {
    let text = text.strip_suffix(b"m").or_else(|| text.strip_suffix(b"M")).unwrap_or(text);
    match text.strip_prefix(b"-") {
        Some(rest) if signed => decimal(rest, 2).map(|v| -v),
        Some(_) => None,
        None => decimal(text, 2),
    }
}

/// RFC 1876 size/precision octet: mantissa and power of ten of centimetres, rounded down as
/// BIND does.
fn precision_byte(cm: u64) -> u8 {
    let mut exp = 0u32;
    while exp < 9 && cm >= 10u64.pow(exp + 1) {
        exp += 1;
    }
    ((cm / 10u64.pow(exp)).min(9) as u8) << 4 | exp as u8
}

fn precision_cm(b: u8) -> Result<u64, Malformed> {
    let (m, e) = (b >> 4, b & 15);
    // Mantissa 0 with another exponent than 0 reads back as 0x00: not canonical.
    if m > 9 || e > 9 || (m == 0 && e != 0) {
        return Err(Malformed::Bad("a LOC size or precision is not a digit times a power of ten up to 9e9 cm"));
    }
    Ok(m as u64 * 10u64.pow(e as u32))
}

fn push_metres(cm: i64, out: &mut String) {
    let sign = if cm < 0 { "-" } else { "" };
    let _ = write!(out, "{sign}{}.{:02}m", cm.abs() / 100, cm.abs() % 100);
}

fn loc_present(r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    if r.u8()? != 0 {
        return Err(Malformed::Bad("the LOC version is not 0"));
    }
    let prec = [precision_cm(r.u8()?)?, precision_cm(r.u8()?)?, precision_cm(r.u8()?)?];
    let lat = r.u32()? as i64 - LOC_ZERO;
    let lon = r.u32()? as i64 - LOC_ZERO;
    let alt = r.u32()? as i64 - ALT_BASE;
    if lat.abs() > 90 * 3_600_000 || lon.abs() > 180 * 3_600_000 {
        return Err(Malformed::Bad("the LOC latitude or longitude is out of range"));
    }
    for (v, pos, neg) in [(lat, 'N', 'S'), (lon, 'E', 'W')] {
        let a = v.abs();
        let _ = write!(out, "{} {} {}.{:03} {} ", a / 3_600_000, a / 60_000 % 60, a / 1000 % 60, a % 1000, if v < 0 { neg } else { pos });
    }
    push_metres(alt, out);
    for p in prec {
        out.push(' ');
        push_metres(p as i64, out);
    }
    Ok(())
}
