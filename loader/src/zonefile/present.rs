//! Wire RDATA → presentation text, the exact inverse of [`super::rdata`]: anything we cannot
//! present in a type's own format comes out as RFC 3597 `\# len hex`, which reads back as the
//! same bytes.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use lmdb_schema::name::wire_to_text;

use super::encoding::{base32hex_encode, base64_encode, hex_encode};
use super::names::wire_name_len;
use super::svcb;
use super::time::format_sig_time;
use super::types::{self, type_name};

/// Reads fields off the front of an RDATA; every getter fails on short input.
struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn name(&mut self) -> Option<&'a [u8]> {
        let len = wire_name_len(self.data)?;
        self.take(len)
    }
    fn char_string(&mut self) -> Option<&'a [u8]> {
        let len = self.u8()? as usize;
        self.take(len)
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Appends one byte of a quoted character-string.
#[inline]
pub(crate) fn push_cs_byte(b: u8, out: &mut String) {
    match b {
        b'"' | b'\\' => {
            out.push('\\');
            out.push(b as char);
        }
        0x20..=0x7E => out.push(b as char),
        _ => {
            let _ = write!(out, "\\{b:03}");
        }
    }
}

fn push_quoted(s: &[u8], out: &mut String) {
    out.push('"');
    s.iter().for_each(|&b| push_cs_byte(b, out));
    out.push('"');
}

fn push_name(n: &[u8], out: &mut String) {
    out.push_str(&wire_to_text(n));
}

fn push_num(v: impl std::fmt::Display, out: &mut String) {
    let _ = write!(out, "{v}");
}

/// RFC 3597 generic presentation.
pub(crate) fn generic(rdata: &[u8]) -> String {
    let mut out = format!("\\# {}", rdata.len());
    if !rdata.is_empty() {
        out.push(' ');
        hex_encode(rdata, &mut out);
    }
    out
}

/// Presentation of an RDATA; `\#` for unknown types and undecodable data.
pub fn rdata_to_text(rtype: u16, rdata: &[u8]) -> String {
    let mut out = String::with_capacity(rdata.len() * 2 + 8);
    match typed(rtype, rdata, &mut out) {
        Some(()) => out,
        None => generic(rdata),
    }
}

fn bitmap(mut data: &[u8], out: &mut String) -> Option<()> {
    let mut last_window: Option<u8> = None;
    while !data.is_empty() {
        let window = data[0];
        let len = *data.get(1)? as usize;
        // Canonical form only (ascending windows, 1..=32 octets, no trailing zero octet), since
        // anything else would be re-encoded differently.
        if last_window.is_some_and(|w| w >= window) || len == 0 || len > 32 {
            return None;
        }
        let bits = data.get(2..2 + len)?;
        if bits[len - 1] == 0 {
            return None;
        }
        last_window = Some(window);
        for (i, &byte) in bits.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    out.push(' ');
                    out.push_str(&type_name((window as u16) << 8 | (i * 8 + bit) as u16));
                }
            }
        }
        data = &data[2 + len..];
    }
    Some(())
}

fn typed(rtype: u16, rdata: &[u8], out: &mut String) -> Option<()> {
    let mut r = Reader { data: rdata };
    match rtype {
        types::A => {
            let a: [u8; 4] = r.take(4)?.try_into().ok()?;
            push_num(Ipv4Addr::from(a), out);
        }
        types::AAAA => {
            let a: [u8; 16] = r.take(16)?.try_into().ok()?;
            push_num(Ipv6Addr::from(a), out);
        }
        types::NS | types::CNAME | types::DNAME | types::PTR => push_name(r.name()?, out),
        types::SOA => {
            push_name(r.name()?, out);
            out.push(' ');
            push_name(r.name()?, out);
            for _ in 0..5 {
                out.push(' ');
                push_num(r.u32()?, out);
            }
        }
        types::MX => {
            push_num(r.u16()?, out);
            out.push(' ');
            push_name(r.name()?, out);
        }
        types::TXT | types::SPF => {
            if rdata.is_empty() {
                return None;
            }
            while !r.data.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                push_quoted(r.char_string()?, out);
            }
        }
        types::HINFO => {
            push_quoted(r.char_string()?, out);
            out.push(' ');
            push_quoted(r.char_string()?, out);
        }
        types::SRV => {
            for _ in 0..3 {
                push_num(r.u16()?, out);
                out.push(' ');
            }
            push_name(r.name()?, out);
        }
        types::CAA => {
            push_num(r.u8()?, out);
            let tag = r.char_string()?;
            if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return None;
            }
            out.push(' ');
            out.push_str(std::str::from_utf8(tag).ok()?);
            out.push(' ');
            push_quoted(r.rest(), out);
        }
        types::NAPTR => {
            push_num(r.u16()?, out);
            out.push(' ');
            push_num(r.u16()?, out);
            for _ in 0..3 {
                out.push(' ');
                push_quoted(r.char_string()?, out);
            }
            out.push(' ');
            push_name(r.name()?, out);
        }
        types::SSHFP => {
            let _ = write!(out, "{} {}", r.u8()?, r.u8()?);
            hex_field(r.rest(), out);
        }
        types::TLSA => {
            let _ = write!(out, "{} {} {}", r.u8()?, r.u8()?, r.u8()?);
            hex_field(r.rest(), out);
        }
        types::DS | types::CDS => {
            let _ = write!(out, "{} {} {}", r.u16()?, r.u8()?, r.u8()?);
            hex_field(r.rest(), out);
        }
        types::DNSKEY | types::CDNSKEY => {
            let _ = write!(out, "{} {} {}", r.u16()?, r.u8()?, r.u8()?);
            let key = r.rest();
            if !key.is_empty() {
                out.push(' ');
                base64_encode(key, out);
            }
        }
        types::RRSIG => {
            let covered = r.u16()?;
            let _ = write!(out, "{} {} {} {}", type_name(covered), r.u8()?, r.u8()?, r.u32()?);
            let (exp, inc) = (r.u32()?, r.u32()?);
            let _ = write!(out, " {} {} {} ", format_sig_time(exp), format_sig_time(inc), r.u16()?);
            push_name(r.name()?, out);
            let sig = r.rest();
            if !sig.is_empty() {
                out.push(' ');
                base64_encode(sig, out);
            }
        }
        types::NSEC => {
            push_name(r.name()?, out);
            bitmap(r.rest(), out)?;
        }
        types::NSEC3 | types::NSEC3PARAM => {
            let _ = write!(out, "{} {} {} ", r.u8()?, r.u8()?, r.u16()?);
            let salt = r.char_string()?;
            if salt.is_empty() {
                out.push('-');
            } else {
                hex_encode(salt, out);
            }
            if rtype == types::NSEC3 {
                let next = r.char_string()?;
                if next.is_empty() {
                    return None;
                }
                out.push(' ');
                base32hex_encode(next, out);
                bitmap(r.rest(), out)?;
            }
        }
        types::SVCB | types::HTTPS => {
            push_num(r.u16()?, out);
            out.push(' ');
            push_name(r.name()?, out);
            svcb::present_params(r.rest(), out)?;
        }
        _ => return None,
    }
    r.data.is_empty().then_some(())
}

fn hex_field(data: &[u8], out: &mut String) {
    if !data.is_empty() {
        out.push(' ');
        hex_encode(data, out);
    }
}

/// `owner. TTL IN TYPE rdata`, one master-file line.
pub fn record_line(owner: &[u8], ttl: u32, rtype: u16, rdata: &[u8]) -> String {
    format!("{} {} IN {} {}", wire_to_text(owner), ttl, type_name(rtype), rdata_to_text(rtype, rdata))
}
