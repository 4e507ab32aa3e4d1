//! Old record types BIND still reads in text: ATMA (ATM Forum), NXT (RFC 2535, before NSEC)
//! and WKS (RFC 1035 §3.4.2). Services and protocols are numbers or the few names BIND finds
//! in any /etc/services; they are printed as numbers, as BIND prints them.

use std::fmt::Write;
use std::net::Ipv4Addr;

use super::encoding::{hex_decode, hex_encode};
use super::names::lossy;
use super::present::{push_name, Malformed, Reader};
use super::rdata::{parse_ipv4, Cursor, RErr};
use super::types::{parse_uint, type_from_bytes, type_name};

const SERVICES: &[(&str, u16)] = &[
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("https", 443),
];

pub(crate) fn encode(rtype: u16, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    match rtype {
        34 => {
            let t = c.next("ATMA address")?;
            let text = c.text(t);
            if let Some(digits) = text.strip_prefix(b"+") {
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return Err((t.line as usize, format!("bad ATMA E.164 address '{}'", lossy(text))));
                }
                out.push(1);
                out.extend_from_slice(digits);
            } else {
                out.push(0);
                let digits: Vec<u8> = text.iter().copied().filter(|&b| b != b'.').collect();
                let at = out.len();
                hex_decode(&digits, out).map_err(|e| (t.line as usize, format!("bad ATMA AESA address: {e}")))?;
                if out.len() == at {
                    return Err((t.line as usize, "bad ATMA AESA address: no hex digits".into()));
                }
            }
        }
        30 => {
            c.name("NXT next name", out)?;
            let mut bits = [0u8; 16];
            while let Some(t) = c.peek() {
                c.i += 1;
                let code = type_from_bytes(c.text(t)).filter(|&v| v < 128);
                let code = code.ok_or_else(|| (t.line as usize, format!("bad NXT type '{}' (types 0 to 127 only)", lossy(c.text(t)))))?;
                bits[code as usize / 8] |= 0x80 >> (code % 8);
            }
            let len = bits.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            out.extend_from_slice(&bits[..len]);
        }
        _ => {
            let t = c.next("WKS address")?;
            let a = parse_ipv4(c.text(t)).ok_or_else(|| (t.line as usize, format!("bad IPv4 address '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&a.octets());
            let t = c.next("WKS protocol")?;
            let text = c.text(t);
            let proto = parse_uint(text, 255).or_else(|| match text.to_ascii_lowercase().as_slice() {
                b"tcp" => Some(6),
                b"udp" => Some(17),
                _ => None,
            });
            out.push(proto.ok_or_else(|| (t.line as usize, format!("bad WKS protocol '{}' (a number, tcp or udp)", lossy(text))))? as u8);
            let mut bits = vec![0u8; 8192];
            while let Some(t) = c.peek() {
                c.i += 1;
                let text = c.text(t);
                let port = parse_uint(text, 65535)
                    .map(|v| v as u16)
                    .or_else(|| SERVICES.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text)).map(|&(_, p)| p));
                let port = port.ok_or_else(|| (t.line as usize, format!("bad WKS service '{}'", lossy(text))))?;
                bits[port as usize / 8] |= 0x80 >> (port % 8);
            }
            let len = bits.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            out.extend_from_slice(&bits[..len]);
        }
    }
    Ok(())
}

/// Numbers of the bits set in a bitmap, bit 0 the high bit of the first octet; the bitmap must
/// not end in a zero octet (the encoder never writes one).
fn set_bits(bits: &[u8]) -> Result<impl Iterator<Item = usize> + '_, Malformed> {
    if bits.last() == Some(&0) {
        return Err(Malformed::Bad("the bitmap ends in a zero octet"));
    }
    Ok(bits.iter().enumerate().flat_map(|(i, &b)| (0..8).filter(move |k| b & (0x80 >> k) != 0).map(move |k| i * 8 + k)))
}

pub(crate) fn present(rtype: u16, r: &mut Reader<'_>, out: &mut String) -> Result<(), Malformed> {
    match rtype {
        34 => match r.u8()? {
            0 if !r.data.is_empty() => hex_encode(r.rest(), out),
            1 if !r.data.is_empty() && r.data.iter().all(u8::is_ascii_digit) => {
                out.push('+');
                r.rest().iter().for_each(|&b| out.push(b as char));
            }
            _ => return Err(Malformed::Bad("the ATMA address is neither AESA (0) nor E.164 (1) digits")),
        },
        30 => {
            push_name(r.name()?, out);
            let bits = r.rest();
            if bits.len() > 16 {
                return Err(Malformed::Bad("the NXT bitmap is longer than 16 octets"));
            }
            for t in set_bits(bits)? {
                out.push(' ');
                out.push_str(&type_name(t as u16));
            }
        }
        _ => {
            let a = r.array::<4>()?;
            let _ = write!(out, "{} {}", Ipv4Addr::from(a), r.u8()?);
            for port in set_bits(r.rest())? {
                let _ = write!(out, " {port}");
            }
        }
    }
    Ok(())
}
