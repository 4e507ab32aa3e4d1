//! RDATA presentation text → wire format, one function per shape of record.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::encoding::{base32hex_decode, base64_decode, hex_decode};
use super::lexer::{unescape_into, Tok};
use super::names::{lossy, name_to_wire};
use super::present;
use super::svcb;
use super::types::{self, parse_duration, parse_uint, type_from_bytes};

/// An RDATA error: the line of the offending token and the reason.
pub(crate) type RErr = (usize, String);

/// The RDATA tokens of one record, consumed left to right.
pub(crate) struct Cursor<'s> {
    pub src: &'s [u8],
    pub toks: &'s [Tok],
    pub i: usize,
    pub origin: &'s [u8],
    /// Line reported when a token is missing: the record's last line.
    pub end_line: usize,
}

impl<'s> Cursor<'s> {
    pub fn new(src: &'s [u8], toks: &'s [Tok], origin: &'s [u8], entry_line: usize) -> Self {
        let end_line = toks.last().map_or(entry_line, |t| t.line as usize);
        Cursor { src, toks, i: 0, origin, end_line }
    }

    #[inline]
    pub fn next(&mut self, what: &str) -> Result<Tok, RErr> {
        match self.toks.get(self.i) {
            Some(&t) => {
                self.i += 1;
                Ok(t)
            }
            None => Err((self.end_line, format!("missing {what}"))),
        }
    }

    #[inline]
    pub fn peek(&self) -> Option<Tok> {
        self.toks.get(self.i).copied()
    }

    #[inline]
    pub fn text(&self, t: Tok) -> &'s [u8] {
        t.text(self.src)
    }

    pub fn done(&self) -> Result<(), RErr> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err((t.line as usize, format!("trailing garbage '{}'", lossy(self.text(t))))),
        }
    }

    pub fn uint(&mut self, what: &str, max: u64) -> Result<u64, RErr> {
        let t = self.next(what)?;
        let text = self.text(t);
        parse_uint(text, max).ok_or_else(|| (t.line as usize, format!("bad {what} '{}' (a number up to {max})", lossy(text))))
    }

    pub fn u8(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let v = self.uint(what, u8::MAX as u64)?;
        out.push(v as u8);
        Ok(())
    }

    pub fn u16(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let v = self.uint(what, u16::MAX as u64)?;
        out.extend_from_slice(&(v as u16).to_be_bytes());
        Ok(())
    }

    pub fn u32(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let v = self.uint(what, u32::MAX as u64)?;
        out.extend_from_slice(&(v as u32).to_be_bytes());
        Ok(())
    }

    /// A 32-bit duration in seconds, TTL units allowed (SOA timers).
    pub fn duration(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let t = self.next(what)?;
        let v = parse_duration(self.text(t), u32::MAX as u64).map_err(|e| (t.line as usize, format!("bad {what}: {e}")))?;
        out.extend_from_slice(&(v as u32).to_be_bytes());
        Ok(())
    }

    pub fn name(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let t = self.next(what)?;
        name_to_wire(self.text(t), self.origin, out).map_err(|e| (t.line as usize, format!("bad {what}: {e}")))
    }

    /// A <character-string>: length octet then at most 255 bytes.
    pub fn char_string(&mut self, what: &str, out: &mut Vec<u8>) -> Result<(), RErr> {
        let t = self.next(what)?;
        self.char_string_tok(t, out)
    }

    pub fn char_string_tok(&self, t: Tok, out: &mut Vec<u8>) -> Result<(), RErr> {
        let at = out.len();
        out.push(0);
        unescape_into(self.text(t), out).map_err(|e| (t.line as usize, e))?;
        let len = out.len() - at - 1;
        if len > 255 {
            return Err((t.line as usize, "character string longer than 255 octets".into()));
        }
        out[at] = len as u8;
        Ok(())
    }

    /// DNSSEC algorithm: a number or its RFC 8624 mnemonic.
    pub fn algorithm(&mut self, out: &mut Vec<u8>) -> Result<(), RErr> {
        let t = self.next("algorithm")?;
        let text = self.text(t);
        let v = parse_uint(text, 255).or_else(|| algorithm_code(text));
        match v {
            Some(v) => {
                out.push(v as u8);
                Ok(())
            }
            None => Err((t.line as usize, format!("bad algorithm '{}'", lossy(text)))),
        }
    }

    /// All remaining tokens as one hex string (white space may split it anywhere).
    pub fn hex_rest(&mut self, out: &mut Vec<u8>) -> Result<(), RErr> {
        let mut line = self.end_line;
        let mut joined = Vec::new();
        while let Some(t) = self.peek() {
            self.i += 1;
            line = t.line as usize;
            let text = self.text(t);
            // Checked per token so that the error names the line of the bad digit.
            if let Some(c) = text.iter().find(|c| !c.is_ascii_hexdigit()) {
                return Err((line, format!("bad hex digit '{}'", c.escape_ascii())));
            }
            joined.extend_from_slice(text);
        }
        hex_decode(&joined, out).map_err(|e| (line, e))
    }

    /// All remaining tokens as one Base64 string.
    pub fn base64_rest(&mut self, out: &mut Vec<u8>) -> Result<(), RErr> {
        let Some(first) = self.peek() else { return Ok(()) };
        let mut joined = Vec::new();
        while let Some(t) = self.peek() {
            self.i += 1;
            joined.extend_from_slice(self.text(t));
        }
        base64_decode(&joined, out).map_err(|e| (first.line as usize, e))
    }

    /// The rest as an NSEC-style type bitmap (RFC 4034 §4.1.2).
    pub fn type_bitmap(&mut self, out: &mut Vec<u8>) -> Result<(), RErr> {
        let mut list: Vec<u16> = Vec::with_capacity(self.toks.len() - self.i);
        while let Some(t) = self.peek() {
            self.i += 1;
            let text = self.text(t);
            let code = type_from_bytes(text).ok_or_else(|| (t.line as usize, format!("unknown type '{}' in type bitmap", lossy(text))))?;
            list.push(code);
        }
        list.sort_unstable();
        list.dedup();
        let mut k = 0;
        while k < list.len() {
            let window = list[k] >> 8;
            let mut bits = [0u8; 32];
            let mut len = 0;
            while k < list.len() && list[k] >> 8 == window {
                let low = (list[k] & 0xff) as usize;
                bits[low / 8] |= 0x80 >> (low % 8);
                len = low / 8 + 1;
                k += 1;
            }
            out.push(window as u8);
            out.push(len as u8);
            out.extend_from_slice(&bits[..len]);
        }
        Ok(())
    }
}

/// Code of a DNSSEC algorithm mnemonic.
pub(crate) fn algorithm_code(text: &[u8]) -> Option<u64> {
    const ALGS: &[(&str, u64)] = &[
        ("RSAMD5", 1),
        ("DH", 2),
        ("DSA", 3),
        ("RSASHA1", 5),
        ("DSA-NSEC3-SHA1", 6),
        ("RSASHA1-NSEC3-SHA1", 7),
        ("RSASHA256", 8),
        ("RSASHA512", 10),
        ("ECC-GOST", 12),
        ("ECDSAP256SHA256", 13),
        ("ECDSAP384SHA384", 14),
        ("ED25519", 15),
        ("ED448", 16),
        ("INDIRECT", 252),
        ("PRIVATEDNS", 253),
        ("PRIVATEOID", 254),
    ];
    ALGS.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(text)).map(|&(_, v)| v)
}

fn utf8(text: &[u8]) -> &str {
    std::str::from_utf8(text).unwrap_or("\u{fffd}")
}

pub(crate) fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    utf8(text).parse().ok()
}

pub(crate) fn parse_ipv6(text: &[u8]) -> Option<Ipv6Addr> {
    utf8(text).parse().ok()
}

/// Encodes the RDATA of `rtype` from the cursor's tokens, appending to `out`, and checks that
/// every token was used.
///
/// RFC 3597 `\#` RDATA of a type we know must be valid RDATA of that type (§5): it is stored as
/// given only if it is what the type's own text format could have produced. Names in it keep
/// their case, as names in text RDATA do.
pub(crate) fn encode(rtype: u16, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    let start = out.len();
    // `\#` not followed by a length is no RFC 3597 RDATA: in a TXT it is the string "#", as
    // BIND reads `TXT \# text` ("#" "text").
    let generic_length = c.toks.get(c.i + 1).is_some_and(|l| types::parse_uint(c.text(*l), 65535).is_some());
    if let Some(t) = c.peek() {
        if !t.quoted && c.text(t) == b"\\#" && (generic_length || !matches!(rtype, types::TXT | types::SPF)) {
            c.i += 1;
            generic(c, out)?;
            let data = &out[start..];
            present::check(rtype, data).map_err(|m| (t.line as usize, m.message(rtype, data.len())))?;
            return finish(c, out, start);
        }
    }
    match rtype {
        types::A => {
            let t = c.next("IPv4 address")?;
            let a = parse_ipv4(c.text(t)).ok_or_else(|| (t.line as usize, format!("bad IPv4 address '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&a.octets());
        }
        types::AAAA => {
            let t = c.next("IPv6 address")?;
            let a = parse_ipv6(c.text(t)).ok_or_else(|| (t.line as usize, format!("bad IPv6 address '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&a.octets());
        }
        types::NS | types::CNAME | types::DNAME | types::PTR => c.name("target name", out)?,
        types::SOA => {
            c.name("SOA primary name server", out)?;
            c.name("SOA mailbox", out)?;
            c.u32("SOA serial", out)?;
            c.duration("SOA refresh", out)?;
            c.duration("SOA retry", out)?;
            c.duration("SOA expire", out)?;
            c.duration("SOA minimum", out)?;
        }
        types::MX => {
            c.u16("MX preference", out)?;
            c.name("MX exchange", out)?;
        }
        types::TXT | types::SPF => {
            c.char_string("text", out)?;
            while let Some(t) = c.peek() {
                c.i += 1;
                c.char_string_tok(t, out)?;
            }
        }
        types::HINFO => {
            c.char_string("HINFO CPU", out)?;
            c.char_string("HINFO OS", out)?;
        }
        types::SRV => {
            c.u16("SRV priority", out)?;
            c.u16("SRV weight", out)?;
            c.u16("SRV port", out)?;
            c.name("SRV target", out)?;
        }
        types::CAA => {
            c.u8("CAA flags", out)?;
            let t = c.next("CAA tag")?;
            let tag = c.text(t);
            if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err((t.line as usize, format!("bad CAA tag '{}'", lossy(tag))));
            }
            out.push(tag.len() as u8);
            out.extend_from_slice(tag);
            let v = c.next("CAA value")?;
            unescape_into(c.text(v), out).map_err(|e| (v.line as usize, e))?;
        }
        types::NAPTR => {
            c.u16("NAPTR order", out)?;
            c.u16("NAPTR preference", out)?;
            c.char_string("NAPTR flags", out)?;
            c.char_string("NAPTR services", out)?;
            c.char_string("NAPTR regexp", out)?;
            c.name("NAPTR replacement", out)?;
        }
        types::SSHFP => {
            c.u8("SSHFP algorithm", out)?;
            c.u8("SSHFP fingerprint type", out)?;
            c.hex_rest(out)?;
        }
        types::TLSA => {
            c.u8("TLSA usage", out)?;
            c.u8("TLSA selector", out)?;
            c.u8("TLSA matching type", out)?;
            c.hex_rest(out)?;
        }
        types::DS | types::CDS => {
            c.u16("key tag", out)?;
            c.algorithm(out)?;
            c.u8("digest type", out)?;
            c.hex_rest(out)?;
        }
        types::DNSKEY | types::CDNSKEY => {
            c.u16("DNSKEY flags", out)?;
            c.u8("DNSKEY protocol", out)?;
            c.algorithm(out)?;
            c.base64_rest(out)?;
        }
        types::RRSIG => {
            let t = c.next("type covered")?;
            let covered = type_from_bytes(c.text(t)).ok_or_else(|| (t.line as usize, format!("unknown type '{}'", lossy(c.text(t)))))?;
            out.extend_from_slice(&covered.to_be_bytes());
            c.algorithm(out)?;
            c.u8("labels", out)?;
            c.u32("original TTL", out)?;
            for what in ["signature expiration", "signature inception"] {
                let t = c.next(what)?;
                let v = super::time::parse_sig_time(c.text(t)).map_err(|e| (t.line as usize, format!("bad {what}: {e}")))?;
                out.extend_from_slice(&v.to_be_bytes());
            }
            c.u16("key tag", out)?;
            c.name("signer name", out)?;
            c.base64_rest(out)?;
        }
        types::NSEC => {
            c.name("next domain name", out)?;
            c.type_bitmap(out)?;
        }
        types::NSEC3 | types::NSEC3PARAM => {
            c.u8("hash algorithm", out)?;
            c.u8("flags", out)?;
            c.u16("iterations", out)?;
            let t = c.next("salt")?;
            let salt = c.text(t);
            let at = out.len();
            out.push(0);
            if salt != b"-" {
                hex_decode(salt, out).map_err(|e| (t.line as usize, format!("bad salt: {e}")))?;
                if out.len() - at - 1 > 255 {
                    return Err((t.line as usize, "bad salt: odd number of hex digits or too long".into()));
                }
            }
            out[at] = (out.len() - at - 1) as u8;
            if rtype == types::NSEC3 {
                let t = c.next("next hashed owner name")?;
                let at = out.len();
                out.push(0);
                base32hex_decode(c.text(t), out).map_err(|e| (t.line as usize, e))?;
                let len = out.len() - at - 1;
                if len == 0 || len > 255 {
                    return Err((t.line as usize, "bad next hashed owner name length".into()));
                }
                out[at] = len as u8;
                c.type_bitmap(out)?;
            }
        }
        types::SVCB | types::HTTPS => {
            c.u16("SvcPriority", out)?;
            c.name("TargetName", out)?;
            svcb::encode_params(c, out)?;
        }
        _ => {
            if !super::fields::encode(rtype, c, out)? {
                let line = c.peek().map_or(c.end_line, |t| t.line as usize);
                return Err((line, format!("type {} needs RFC 3597 '\\# length hex' RDATA", types::type_name(rtype))));
            }
        }
    }
    finish(c, out, start)
}

fn finish(c: &Cursor<'_>, out: &[u8], start: usize) -> Result<(), RErr> {
    c.done()?;
    if out.len() - start > 65535 {
        return Err((c.end_line, "RDATA longer than 65535 octets".into()));
    }
    Ok(())
}

/// RFC 3597 `\# length hex...` (the `\#` already consumed).
fn generic(c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), RErr> {
    let t = c.next("RDATA length after '\\#'")?;
    let len = parse_uint(c.text(t), 65535).ok_or_else(|| (t.line as usize, format!("bad RDATA length '{}'", lossy(c.text(t)))))? as usize;
    let start = out.len();
    c.hex_rest(out)?;
    if out.len() - start != len {
        return Err((t.line as usize, format!("RDATA length {len} does not match the {} octets of hex given", out.len() - start)));
    }
    Ok(())
}
