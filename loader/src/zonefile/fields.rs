//! The record types whose RDATA is a plain sequence of fields (numbers, names, strings, a
//! trailing hex or Base64 blob, a type bitmap), each described once by a list of [`F`]; text →
//! wire and wire → text both walk that list, so the two stay exact inverses. Types with a
//! shape of their own (LOC, APL, IPSECKEY, HIP, ...) are in [`super::custom`].

use std::fmt::Write;

use super::custom;
use super::encoding::{base64_encode, hex_encode};
use super::lexer::unescape_into;
use super::names::lossy;
use super::present::{bitmap, push_name, push_num, push_quoted, Malformed, Reader};
use super::rdata::{parse_ipv4, Cursor, RErr};
use super::time::{format_sig_time, parse_sig_time};
use super::types::{type_from_bytes, type_name};

/// One field of an RDATA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum F {
    /// An uncompressed domain name, case as written.
    Name,
    U8,
    U16,
    U32,
    /// A DNSSEC algorithm: number or mnemonic in text, a number out.
    Alg,
    /// A record type: mnemonic or `TYPEnnn`.
    Type,
    /// A CERT type (RFC 4398 §2.1): number or mnemonic.
    CertType,
    /// A DSYNC scheme: number or `NOTIFY` (1), as BIND prints it.
    Scheme,
    /// An RRSIG-style time, `YYYYMMDDHHmmSS` or seconds.
    Time,
    /// One <character-string>.
    Str,
    /// One <character-string> if any token is left (ISDN's subaddress).
    StrOpt,
    /// One or more <character-string>s to the end (TXT-like).
    Strs,
    /// The rest of the RDATA as one unframed string, quoted (URI's target).
    Quoted,
    /// The rest as hex, at least one octet.
    Hex,
    /// The rest as Base64, at least one octet.
    B64,
    /// The rest as Base64, or `-` for none (DOA).
    B64Dash,
    /// The rest as an NSEC-style type bitmap.
    Bitmap,
    V4,
    /// Four 16-bit hex groups, `2001:db8:0:1` style (RFC 6742 NID, L64).
    Ilnp64,
    /// `00-00-5e-00-53-2a` (RFC 7043).
    Eui48,
    Eui64,
}

use F::*;

/// The field list of `rtype`, if it is one of ours.
pub(crate) fn spec(rtype: u16) -> Option<&'static [F]> {
    Some(match rtype {
        3 | 4 | 7 | 8 | 9 | 23 => &[Name],                       // MD MF MB MG MR NSAP-PTR
        14 | 17 | 58 => &[Name, Name],                           // MINFO RP TALINK
        18 | 21 | 36 | 107 => &[U16, Name],                      // AFSDB RT KX LP
        26 => &[U16, Name, Name],                                // PX
        19 => &[Str],                                            // X25
        20 => &[Str, StrOpt],                                    // ISDN
        27 => &[Str, Str, Str],                                  // GPOS
        25 | 57 => &[U16, U8, Alg, B64],                         // KEY RKEY
        24 => &[Type, Alg, U8, U32, Time, Time, U16, Name, B64], // SIG
        37 => &[CertType, U16, Alg, B64],                        // CERT
        49 | 61 => &[B64],                                       // DHCID OPENPGPKEY
        53 => &[U8, U8, U8, Hex],                                // SMIMEA
        62 => &[U32, U16, Bitmap],                               // CSYNC
        63 => &[U32, U8, U8, Hex],                               // ZONEMD
        66 => &[Type, Scheme, U16, Name],                        // DSYNC
        104 | 106 => &[U16, Ilnp64],                             // NID L64
        105 => &[U16, V4],                                       // L32
        108 => &[Eui48],
        109 => &[Eui64],
        256 => &[U16, U16, Quoted],            // URI
        56 | 258 | 261 | 262 => &[Strs],       // NINFO AVC RESINFO WALLET
        32768 | 32769 => &[U16, Alg, U8, Hex], // TA DLV
        31 | 32 => &[Hex],                     // EID NIMLOC
        40 => &[U8, U8, U8, B64],              // SINK
        259 => &[U32, U32, U8, Str, B64Dash],  // DOA
        _ => return None,
    })
}

const CERT_TYPES: &[(&str, u16)] = &[
    ("PKIX", 1),
    ("SPKI", 2),
    ("PGP", 3),
    ("IPKIX", 4),
    ("ISPKI", 5),
    ("IPGP", 6),
    ("ACPKIX", 7),
    ("IACPKIX", 8),
    ("URI", 253),
    ("OID", 254),
];

/// Encodes RDATA of `rtype` if it is a type of this module or [`custom`]; Ok(false) if not.
pub(crate) fn encode(rtype: u16, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<bool, RErr> {
    let Some(fields) = spec(rtype) else { return custom::encode(rtype, c, out) };
    let what = type_name(rtype);
    for &f in fields {
        encode_field(f, &what, c, out)?;
    }
    Ok(true)
}

fn encode_field(f: F, what: &str, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    match f {
        Name => c.name(&format!("{what} name"), out)?,
        U8 => c.u8(&format!("{what} field (0-255)"), out)?,
        U16 => c.u16(&format!("{what} field (0-65535)"), out)?,
        U32 => c.u32(&format!("{what} field (0-4294967295)"), out)?,
        Alg => c.algorithm(out)?,
        Type => {
            let t = c.next("record type")?;
            let code = type_from_bytes(c.text(t)).ok_or_else(|| (t.line as usize, format!("unknown type '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&code.to_be_bytes());
        }
        CertType => {
            let t = c.next("CERT type")?;
            let text = c.text(t);
            let v = super::types::parse_uint(text, 65535)
                .map(|v| v as u16)
                .or_else(|| CERT_TYPES.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text)).map(|&(_, v)| v));
            let v = v.ok_or_else(|| (t.line as usize, format!("bad CERT type '{}'", lossy(text))))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Scheme => {
            let t = c.next("DSYNC scheme")?;
            let text = c.text(t);
            let v = super::types::parse_uint(text, 255).or_else(|| text.eq_ignore_ascii_case(b"NOTIFY").then_some(1));
            out.push(v.ok_or_else(|| (t.line as usize, format!("bad DSYNC scheme '{}' (a number or NOTIFY)", lossy(text))))? as u8);
        }
        Time => {
            let t = c.next("signature time")?;
            let v = parse_sig_time(c.text(t)).map_err(|e| (t.line as usize, format!("bad signature time: {e}")))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        Str => c.char_string(&format!("{what} string"), out)?,
        StrOpt => {
            if let Some(t) = c.peek() {
                c.i += 1;
                c.char_string_tok(t, out)?;
            }
        }
        Strs => {
            c.char_string(&format!("{what} string"), out)?;
            while let Some(t) = c.peek() {
                c.i += 1;
                c.char_string_tok(t, out)?;
            }
        }
        Quoted => {
            let t = c.next(&format!("{what} target"))?;
            unescape_into(c.text(t), out).map_err(|e| (t.line as usize, e))?;
        }
        Hex | B64 => {
            let at = out.len();
            let line = c.peek().map_or(c.end_line, |t| t.line as usize);
            if f == Hex {
                c.hex_rest(out)?;
            } else {
                c.base64_rest(out)?;
            }
            if out.len() == at {
                return Err((line, format!("missing {what} {}", if f == Hex { "hex data" } else { "Base64 data" })));
            }
        }
        B64Dash => match c.peek() {
            Some(t) if c.text(t) == b"-" && c.toks.len() == c.i + 1 => c.i += 1,
            _ => encode_field(B64, what, c, out)?,
        },
        Bitmap => c.type_bitmap(out)?,
        V4 => {
            let t = c.next("IPv4 address")?;
            let a = parse_ipv4(c.text(t)).ok_or_else(|| (t.line as usize, format!("bad IPv4 address '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&a.octets());
        }
        Ilnp64 => {
            let t = c.next("locator")?;
            let text = c.text(t);
            let bad = || (t.line as usize, format!("bad 64-bit locator '{}' (want four hex groups, 2001:db8:0:1)", lossy(text)));
            let groups: Vec<&[u8]> = text.split(|&b| b == b':').collect();
            if groups.len() != 4 {
                return Err(bad());
            }
            for g in groups {
                let s = std::str::from_utf8(g).map_err(|_| bad())?;
                if s.is_empty() || s.len() > 4 {
                    return Err(bad());
                }
                let v = u16::from_str_radix(s, 16).map_err(|_| bad())?;
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        Eui48 | Eui64 => {
            let n = if f == Eui48 { 6 } else { 8 };
            let t = c.next("EUI address")?;
            let text = c.text(t);
            let bad = || (t.line as usize, format!("bad EUI-{} address '{}' (want {n} hex pairs joined by '-')", n * 8, lossy(text)));
            let parts: Vec<&[u8]> = text.split(|&b| b == b'-').collect();
            if parts.len() != n || parts.iter().any(|p| p.len() != 2) {
                return Err(bad());
            }
            for p in parts {
                let s = std::str::from_utf8(p).map_err(|_| bad())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| bad())?);
            }
        }
    }
    Ok(())
}

/// Presents RDATA of `rtype` (the reader at its start); [`Malformed::UnknownType`] for types
/// neither here nor in [`custom`].
pub(crate) fn present(rtype: u16, r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    let Some(fields) = spec(rtype) else { return custom::present(rtype, r, out) };
    for &f in fields {
        // Optional and bitmap fields bring their own separator (or none).
        if !out.is_empty() && !matches!(f, StrOpt | Bitmap) {
            out.push(' ');
        }
        present_field(f, r, out)?;
    }
    Ok(())
}

fn present_field(f: F, r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    match f {
        Name => push_name(r.name()?, out),
        U8 | Alg | Scheme => push_num(r.u8()?, out),
        U16 | CertType => push_num(r.u16()?, out),
        U32 => push_num(r.u32()?, out),
        Type => out.push_str(&type_name(r.u16()?)),
        Time => out.push_str(&format_sig_time(r.u32()?)),
        Str => push_quoted(r.char_string()?, out),
        StrOpt => {
            if !r.data.is_empty() {
                out.push(' ');
                push_quoted(r.char_string()?, out);
            }
        }
        Strs => {
            if r.data.is_empty() {
                return Err(Malformed::Bad("it holds no character-string"));
            }
            push_quoted(r.char_string()?, out);
            while !r.data.is_empty() {
                out.push(' ');
                push_quoted(r.char_string()?, out);
            }
        }
        Quoted => push_quoted(r.rest(), out),
        Hex | B64 => {
            let data = r.rest();
            if data.is_empty() {
                return Err(Malformed::Short);
            }
            if f == Hex {
                hex_encode(data, out);
            } else {
                base64_encode(data, out);
            }
        }
        B64Dash => match r.data.is_empty() {
            true => out.push('-'),
            false => present_field(B64, r, out)?,
        },
        Bitmap => bitmap(r.rest(), out)?,
        V4 => push_num(std::net::Ipv4Addr::from(r.array::<4>()?), out),
        Ilnp64 => {
            let a = r.array::<8>()?;
            let g = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            let _ = write!(out, "{:04x}:{:04x}:{:04x}:{:04x}", g(0), g(2), g(4), g(6));
        }
        Eui48 | Eui64 => {
            let n = if f == Eui48 { 6 } else { 8 };
            let bytes = r.take(n)?;
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                let _ = write!(out, "{b:02x}");
            }
        }
    }
    Ok(())
}
