//! Record-type mnemonics, classes, TTLs and plain numbers.

macro_rules! rr_types {
    ($($name:literal = $val:literal,)*) => {
        /// Type code of a mnemonic already in upper case.
        fn code_of(upper: &str) -> Option<u16> {
            match upper { $($name => Some($val),)* _ => None }
        }
        /// Mnemonic of a type code, if it has one.
        pub fn mnemonic(rtype: u16) -> Option<&'static str> {
            match rtype { $($val => Some($name),)* _ => None }
        }
    };
}

// IANA "Resource Record (RR) TYPEs"; the ones we do not encode still get mnemonics so that files
// using them in `\#` form or in NSEC bitmaps read naturally.
rr_types! {
    "A" = 1, "NS" = 2, "MD" = 3, "MF" = 4, "CNAME" = 5, "SOA" = 6, "MB" = 7, "MG" = 8, "MR" = 9,
    "NULL" = 10, "WKS" = 11, "PTR" = 12, "HINFO" = 13, "MINFO" = 14, "MX" = 15, "TXT" = 16,
    "RP" = 17, "AFSDB" = 18, "X25" = 19, "ISDN" = 20, "RT" = 21, "NSAP" = 22, "NSAP-PTR" = 23,
    "SIG" = 24, "KEY" = 25, "PX" = 26, "GPOS" = 27, "AAAA" = 28, "LOC" = 29, "NXT" = 30,
    "EID" = 31, "NIMLOC" = 32, "SRV" = 33, "ATMA" = 34, "NAPTR" = 35, "KX" = 36, "CERT" = 37,
    "A6" = 38, "DNAME" = 39, "SINK" = 40, "OPT" = 41, "APL" = 42, "DS" = 43, "SSHFP" = 44,
    "IPSECKEY" = 45, "RRSIG" = 46, "NSEC" = 47, "DNSKEY" = 48, "DHCID" = 49, "NSEC3" = 50,
    "NSEC3PARAM" = 51, "TLSA" = 52, "SMIMEA" = 53, "HIP" = 55, "NINFO" = 56, "RKEY" = 57,
    "TALINK" = 58, "CDS" = 59, "CDNSKEY" = 60, "OPENPGPKEY" = 61, "CSYNC" = 62, "ZONEMD" = 63,
    "SVCB" = 64, "HTTPS" = 65, "DSYNC" = 66, "SPF" = 99, "UINFO" = 100, "UID" = 101, "GID" = 102,
    "UNSPEC" = 103, "NID" = 104, "L32" = 105, "L64" = 106, "LP" = 107, "EUI48" = 108,
    "EUI64" = 109, "TKEY" = 249, "TSIG" = 250, "IXFR" = 251, "AXFR" = 252, "MAILB" = 253,
    "MAILA" = 254, "ANY" = 255, "URI" = 256, "CAA" = 257, "AVC" = 258, "DOA" = 259,
    "AMTRELAY" = 260, "RESINFO" = 261, "WALLET" = 262, "TA" = 32768, "DLV" = 32769,
}

pub use lmdb_schema::rtype::*;

/// Types whose RDATA we encode from and present as their own text format; every other type
/// goes through RFC 3597 `\#` in both directions.
pub const SUPPORTED: &[u16] = &[
    A, NS, CNAME, SOA, PTR, HINFO, MX, TXT, AAAA, SRV, NAPTR, DNAME, DS, SSHFP, RRSIG, NSEC, DNSKEY, NSEC3, NSEC3PARAM, TLSA, CDS, CDNSKEY,
    SVCB, HTTPS, SPF, CAA,
    // The rest of what Knot and BIND read in text (see `fields` and `custom`): MD MF MB MG MR
    // MINFO RP AFSDB X25 ISDN RT NSAP NSAP-PTR SIG KEY PX GPOS LOC KX CERT A6 APL IPSECKEY
    // DHCID SMIMEA HIP NINFO RKEY TALINK OPENPGPKEY CSYNC ZONEMD DSYNC NID L32 L64 LP EUI48
    // EUI64 URI AVC AMTRELAY RESINFO WALLET TA DLV.
    3, 4, 7, 8, 9, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29, 36, 37, 38, 42, 45, 49, 53, 55, 56, 57, 58, 61, 62, 63, 66, 104, 105,
    106, 107, 108, 109, 256, 258, 260, 261, 262, 32768, 32769,
    // And what BIND 9.18 alone reads: WKS NXT EID NIMLOC ATMA SINK DOA.
    11, 30, 31, 32, 34, 40, 259,
];

/// Upper-cases a short token onto the stack; `None` if it is too long to be a mnemonic.
#[inline]
fn upper<'b>(text: &[u8], buf: &'b mut [u8; 16]) -> Option<&'b str> {
    if text.len() > buf.len() {
        return None;
    }
    let out = &mut buf[..text.len()];
    for (o, &b) in out.iter_mut().zip(text) {
        *o = b.to_ascii_uppercase();
    }
    std::str::from_utf8(out).ok()
}

/// Type code of a mnemonic (any case) or of `TYPEnnn`.
pub(crate) fn type_from_bytes(text: &[u8]) -> Option<u16> {
    let mut buf = [0u8; 16];
    let up = upper(text, &mut buf)?;
    if let Some(code) = code_of(up) {
        return Some(code);
    }
    let digits = up.strip_prefix("TYPE")?;
    parse_uint(digits.as_bytes(), u16::MAX as u64).map(|v| v as u16)
}

/// Mnemonic, or `TYPEnnn` for types without one.
pub fn type_name(rtype: u16) -> String {
    match mnemonic(rtype) {
        Some(m) => m.to_string(),
        None => format!("TYPE{rtype}"),
    }
}

/// What a token in the class-or-TTL position turned out to be.
pub(crate) enum ClassTok {
    In,
    /// A class we recognise but do not serve; the text is for the error message.
    Other,
    NotAClass,
}

pub(crate) fn classify_class(text: &[u8]) -> ClassTok {
    let mut buf = [0u8; 16];
    let Some(up) = upper(text, &mut buf) else { return ClassTok::NotAClass };
    match up {
        "IN" => ClassTok::In,
        "CH" | "CS" | "HS" | "NONE" => ClassTok::Other,
        _ => match up.strip_prefix("CLASS").and_then(|d| parse_uint(d.as_bytes(), u16::MAX as u64)) {
            Some(1) => ClassTok::In,
            Some(_) => ClassTok::Other,
            None => ClassTok::NotAClass,
        },
    }
}

/// A decimal number of at most `max`; no sign, no spaces, at least one digit.
#[inline]
pub(crate) fn parse_uint(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in text {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    (v <= max).then_some(v)
}

/// Largest TTL (RFC 2181 §8).
pub const MAX_TTL: u64 = (1 << 31) - 1;

/// A duration in seconds: plain digits, or number+unit groups (`1h30m`, `1W`), the last group
/// possibly without a unit. Errors above `max`.
pub(crate) fn parse_duration(text: &[u8], max: u64) -> Result<u64, String> {
    let bad = || format!("bad TTL '{}'", super::names::lossy(text));
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut i = 0;
    while i < text.len() {
        let start = i;
        let mut n: u64 = 0;
        while i < text.len() && text[i].is_ascii_digit() {
            n = n.saturating_mul(10).saturating_add((text[i] - b'0') as u64);
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let mult = match text.get(i).map(u8::to_ascii_lowercase) {
            None => 1,
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            Some(b'w') => 604_800,
            Some(_) => return Err(bad()),
        };
        if i < text.len() {
            i += 1;
        }
        total = total.saturating_add(n.saturating_mul(mult));
    }
    if total > max {
        return Err(format!("TTL '{}' is over {max}", super::names::lossy(text)));
    }
    Ok(total)
}
