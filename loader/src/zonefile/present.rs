//! Wire RDATA → presentation text, the exact inverse of [`super::rdata`]: anything we cannot
//! present in a type's own format comes out as RFC 3597 `\# len hex`. That is also the check of
//! `\#` RDATA given for a type we know ([`check`]): the bytes are valid exactly when they can be
//! presented in the type's own format, i.e. when the text parser could have produced them.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use lmdb_schema::name::wire_to_text;

use super::encoding::{base32hex_encode, base64_encode, hex_encode};
use super::names::wire_name_len;
use super::svcb;
use super::time::format_sig_time;
use super::types::{self, type_name};

/// Why an RDATA is not valid for its type (and so is presented as `\#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// A type without a format of its own: any bytes are valid RDATA of it.
    UnknownType,
    /// The data ends inside a field.
    Short,
    /// A fixed-size RDATA (A, AAAA) of another length than this.
    Length(usize),
    /// An embedded domain name is not a well-formed uncompressed wire name; why.
    Name(&'static str),
    /// This many octets are left after the type's last field.
    Trailing(usize),
    /// Another rule of the type is broken.
    Bad(&'static str),
}

fn octets(n: usize) -> String {
    if n == 1 {
        "1 octet".into()
    } else {
        format!("{n} octets")
    }
}

impl Malformed {
    /// The reason as a parse error message about the `len` octets of `\#` RDATA of `rtype`.
    pub(crate) fn message(self, rtype: u16, len: usize) -> String {
        self.message_as(rtype, len, "RDATA in \\# form")
    }

    /// [`Malformed::message`] for RDATA that came in `form` (wire RDATA of an UPDATE, say).
    pub(crate) fn message_as(self, rtype: u16, len: usize, form: &str) -> String {
        let what = format!("{} {form}", type_name(rtype));
        match self {
            Malformed::UnknownType => format!("{what} is of a type without a format of its own"),
            Malformed::Short => format!("{what} is truncated: it ends inside a field after {}", octets(len)),
            Malformed::Length(want) => format!("{what} has {}, not {want}", octets(len)),
            Malformed::Name(why) => match rtype {
                types::NS | types::CNAME | types::DNAME | types::PTR => format!("{what} is not a valid domain name: {why}"),
                _ => format!("{what} holds an invalid domain name: {why}"),
            },
            Malformed::Trailing(n) => format!("{what} has {} after its last field", octets(n)),
            Malformed::Bad(why) => format!("{what} is not valid: {why}"),
        }
    }
}

const STRING_PAST_END: Malformed = Malformed::Bad("a length-prefixed string runs past the end of the RDATA");

/// Reads fields off the front of an RDATA; every getter fails on short input.
pub(crate) struct Reader<'a> {
    pub data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.data.len() {
            return Err(Malformed::Short);
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        Ok(self.take(N)?.try_into().expect("take(N) gives N octets"))
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Malformed> {
        self.array().map(u16::from_be_bytes)
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Malformed> {
        self.array().map(u32::from_be_bytes)
    }
    pub(crate) fn name(&mut self) -> Result<&'a [u8], Malformed> {
        let len = wire_name_len(self.data).map_err(Malformed::Name)?;
        self.take(len)
    }
    pub(crate) fn char_string(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.u8()? as usize;
        self.take(len).map_err(|_| STRING_PAST_END)
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
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

pub(crate) fn push_quoted(s: &[u8], out: &mut String) {
    out.push('"');
    s.iter().for_each(|&b| push_cs_byte(b, out));
    out.push('"');
}

pub(crate) fn push_name(n: &[u8], out: &mut String) {
    out.push_str(&wire_to_text(n));
}

pub(crate) fn push_num(v: impl std::fmt::Display, out: &mut String) {
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
        Ok(()) => out,
        Err(_) => generic(rdata),
    }
}

/// Checks that `rdata` is valid RDATA of `rtype`: for a type we have a format for, that it
/// decodes field by field to exactly its end (names uncompressed and well-formed, strings framed,
/// fixed lengths right, the type's canonical orderings kept); any bytes for other types.
pub(crate) fn check(rtype: u16, rdata: &[u8]) -> Result<(), Malformed> {
    match typed(rtype, rdata, &mut String::with_capacity(rdata.len() * 2)) {
        Ok(()) | Err(Malformed::UnknownType) => Ok(()),
        Err(e) => Err(e),
    }
}

const BAD_BITMAP: Malformed =
    Malformed::Bad("the type bitmap is not in RFC 4034 form (ascending windows of 1 to 32 octets, no trailing zero octet)");

pub(crate) fn bitmap(mut data: &[u8], out: &mut String) -> Result<(), Malformed> {
    let mut last_window: Option<u8> = None;
    while !data.is_empty() {
        let window = data[0];
        let len = *data.get(1).ok_or(BAD_BITMAP)? as usize;
        // Canonical form only (ascending windows, 1..=32 octets, no trailing zero octet), since
        // anything else would be re-encoded differently.
        if last_window.is_some_and(|w| w >= window) || len == 0 || len > 32 {
            return Err(BAD_BITMAP);
        }
        let bits = data.get(2..2 + len).ok_or(BAD_BITMAP)?;
        if bits[len - 1] == 0 {
            return Err(BAD_BITMAP);
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
    Ok(())
}

fn typed(rtype: u16, rdata: &[u8], out: &mut String) -> Result<(), Malformed> {
    let mut r = Reader { data: rdata };
    match rtype {
        types::A => {
            let a: [u8; 4] = r.rest().try_into().map_err(|_| Malformed::Length(4))?;
            push_num(Ipv4Addr::from(a), out);
        }
        types::AAAA => {
            let a: [u8; 16] = r.rest().try_into().map_err(|_| Malformed::Length(16))?;
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
                return Err(Malformed::Bad("it holds no character-string"));
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
                return Err(Malformed::Bad("the CAA tag is empty or not alphanumeric"));
            }
            out.push(' ');
            tag.iter().for_each(|&b| out.push(b as char));
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
                    return Err(Malformed::Bad("the next hashed owner name is empty"));
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
            svcb::present_params(r.rest(), out)
                .ok_or(Malformed::Bad("the SvcParams are not in RFC 9460 form (keys ascending, each value well-formed for its key)"))?;
        }
        _ => super::fields::present(rtype, &mut r, out)?,
    }
    match r.data.len() {
        0 => Ok(()),
        n => Err(Malformed::Trailing(n)),
    }
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
