//! TSIG (RFC 8945) on raw message bytes, for servers and clients, single messages and
//! multi-message TCP streams.
//!
//! Raw bytes because the server streams AXFR/IXFR messages it writes itself and the transfer
//! client reads messages it never turns into objects. HMAC-SHA1, -SHA256, -SHA384 and -SHA512
//! are implemented (RFC 8945 §6: SHA1 for old peers); HMAC-MD5 is not, so a key of that
//! algorithm is unknown (BADKEY).
//!
//! * [`find`] locates the TSIG record, which must be the last of the additional section (§5.1).
//! * Server: [`verify_request`] (§5.2, checks in the RFC's order), [`sign_response`] (§5.3),
//!   [`append_unsigned_error`] and [`sign_error_response`] (§5.3.2), [`StreamSigner`] (§5.3.1,
//!   every message signed).
//! * Client: [`sign_request`] (§5.1), [`StreamVerifier`] (§5.4 and §5.3.1: up to 99 unsigned
//!   messages between signed ones).
//!
//! MACs are compared in constant time. A truncated MAC (§5.2.2.1) is accepted when it is at
//! least max(10, half the full length) bytes and at most the full length, comparing that
//! prefix; outside those bounds the RFC says FORMERR, which is what [`Failure::formerr`] tells.
//! BADTRUNC (§5.2.4) is for a MAC the RFC allows but local policy finds too short: see
//! [`verify_request_with_min_mac`].
//!
//! Signing functions cannot fail on messages this crate's callers write; on bytes that are not
//! a message (shorter than a header, or an ARCOUNT already at 65,535) they leave the message
//! untouched and return an empty MAC.

use ring::hmac;

use crate::error::WireError;
use crate::name;
use crate::wire::{class, rtype, Header, HEADER_LEN};

mod client;
mod server;

pub use client::{sign_request, verify_response, StreamVerifier};
pub use server::{append_unsigned_error, sign_error_response, sign_response, verify_request, verify_request_with_min_mac, StreamSigner};

/// Fudge we put in what we sign: RFC 8945 §10 recommends 300 seconds.
pub const DEFAULT_FUDGE: u16 = 300;

/// TSIG error codes (RFC 8945 §3, RFC 7873 §8 for BADCOOKIE).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
pub const BADMODE: u16 = 19;
pub const BADNAME: u16 = 20;
pub const BADALG: u16 = 21;
pub const BADTRUNC: u16 = 22;
pub const BADCOOKIE: u16 = 23;

/// Header RCODEs a TSIG failure is answered with.
pub const RCODE_FORMERR: u16 = 1;
pub const RCODE_NOTAUTH: u16 = 9;

/// The mnemonic of a TSIG error code, for logs.
pub fn error_name(code: u16) -> &'static str {
    match code {
        0 => "NOERROR",
        BADSIG => "BADSIG",
        BADKEY => "BADKEY",
        BADTIME => "BADTIME",
        BADMODE => "BADMODE",
        BADNAME => "BADNAME",
        BADALG => "BADALG",
        BADTRUNC => "BADTRUNC",
        BADCOOKIE => "BADCOOKIE",
        _ => "unknown",
    }
}

/// A MAC algorithm we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [Algorithm::HmacSha1, Algorithm::HmacSha256, Algorithm::HmacSha384, Algorithm::HmacSha512];

    /// The algorithm name as an uncompressed wire name, the form it takes in the TSIG RR and in
    /// the MAC input (RFC 8945 §6).
    pub fn name_wire(self) -> &'static [u8] {
        match self {
            Algorithm::HmacSha1 => b"\x09hmac-sha1\x00",
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    /// The name as BIND and Knot configurations spell it.
    pub fn name_text(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm named by `name`, in text (`hmac-sha256`, a final dot allowed) or as an
    /// uncompressed wire name, ignoring case. `None` for anything else, HMAC-MD5 included.
    pub fn from_name(name: impl AsRef<[u8]>) -> Option<Algorithm> {
        let name = name.as_ref();
        if name::is_valid(name) {
            return Algorithm::ALL.into_iter().find(|a| a.name_wire().eq_ignore_ascii_case(name));
        }
        let text = name.strip_suffix(b".").unwrap_or(name);
        Algorithm::ALL.into_iter().find(|a| a.name_text().as_bytes().eq_ignore_ascii_case(text))
    }

    /// Length of the untruncated MAC.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// Shortest truncated MAC RFC 8945 §5.2.2.1 allows: the larger of 10 bytes and half the
    /// full length.
    pub fn min_mac_len(self) -> usize {
        10usize.max(self.mac_len().div_ceil(2))
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_text())
    }
}

/// A shared secret key.
#[derive(Clone)]
pub struct Key {
    /// Uncompressed wire name, lower-cased (compared ignoring case anyway).
    pub name: Vec<u8>,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &name::to_text(&self.name))
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl Key {
    /// A key named by a presentation-form name (lower-cased here).
    pub fn new(name: &str, algorithm: Algorithm, secret: Vec<u8>) -> Result<Key, name::TextError> {
        let mut wire = name::from_text(name)?;
        name::make_lowercase(&mut wire);
        Ok(Key { name: wire, algorithm, secret })
    }

    /// Bytes a TSIG record signed with this key takes (no other data): what a writer must keep
    /// free in a message it is going to sign.
    pub fn tsig_len(&self) -> usize {
        self.name.len() + 10 + self.algorithm.name_wire().len() + 16 + self.algorithm.mac_len()
    }

    fn hmac_key(&self) -> hmac::Key {
        hmac::Key::new(self.algorithm.ring(), &self.secret)
    }

    fn context(&self) -> hmac::Context {
        hmac::Context::with_key(&self.hmac_key())
    }
}

/// A parsed TSIG record (RFC 8945 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigRr {
    /// Key name: uncompressed wire form, lower-cased.
    pub key_name: Vec<u8>,
    /// Algorithm name as received: uncompressed wire form, lower-cased.
    pub algorithm_name: Vec<u8>,
    /// The algorithm, when it is one we implement.
    pub algorithm: Option<Algorithm>,
    /// Seconds since the epoch, 48 bits.
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other_data: Vec<u8>,
    /// Offset of the TSIG record in the message: the message without it is `message[..offset]`
    /// with ARCOUNT one less.
    pub offset: usize,
}

/// Finds the TSIG record of `message`. The whole message is walked; a TSIG record anywhere but
/// last in the additional section (a second one included) is an error, as RFC 8945 §5.1 makes
/// it a FORMERR, and so are bytes after the last record.
pub fn find(message: &[u8]) -> Result<Option<TsigRr>, WireError> {
    let header = Header::parse(message)?;
    let mut pos = HEADER_LEN;
    for _ in 0..header.qdcount {
        let after = name::skip(message, pos)?;
        if message.len() < after + 4 {
            return Err(WireError::Truncated { offset: after });
        }
        pos = after + 4;
    }
    let before_additional = usize::from(header.ancount) + usize::from(header.nscount);
    let total = before_additional + usize::from(header.arcount);
    let mut found = None;
    for i in 0..total {
        let start = pos;
        let after = name::skip(message, pos)?;
        let fixed = message.get(after..after + 10).ok_or(WireError::Truncated { offset: after })?;
        let rr_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        let end = after + 10 + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if end > message.len() {
            return Err(WireError::Truncated { offset: after + 8 });
        }
        if rr_type == rtype::TSIG {
            if i + 1 != total || i < before_additional {
                return Err(WireError::MisplacedTsig { offset: start });
            }
            found = Some(parse_rr(message, start, after, end)?);
        }
        pos = end;
    }
    if pos != message.len() {
        return Err(WireError::TrailingBytes { offset: pos, count: message.len() - pos });
    }
    Ok(found)
}

/// Reads the TSIG record at `start` whose owner ends at `after` and RDATA at `end`.
fn parse_rr(message: &[u8], start: usize, after: usize, end: usize) -> Result<TsigRr, WireError> {
    let bad = |reason| WireError::BadTsig { offset: start, reason };
    let fixed = &message[after..after + 10];
    if u16::from_be_bytes([fixed[2], fixed[3]]) != class::ANY {
        return Err(bad("class is not ANY"));
    }
    if fixed[4..8] != [0, 0, 0, 0] {
        return Err(bad("TTL is not 0"));
    }
    let mut key_name = Vec::new();
    name::read(message, start, &mut key_name)?;
    name::make_lowercase(&mut key_name);
    let mut algorithm_name = Vec::new();
    let mut pos = name::read(message, after + 10, &mut algorithm_name).map_err(|_| bad("bad algorithm name"))?;
    name::make_lowercase(&mut algorithm_name);
    let rdata = message.get(..end).ok_or(bad("RDATA too short"))?;
    let mut take = |n: usize| -> Result<&[u8], WireError> {
        let field = rdata.get(pos..pos + n).ok_or(bad("RDATA too short"))?;
        pos += n;
        Ok(field)
    };
    let t = take(6)?;
    let time_signed = t.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    let fudge = be16(take(2)?);
    let mac_len = usize::from(be16(take(2)?));
    let mac = take(mac_len)?.to_vec();
    let original_id = be16(take(2)?);
    let error = be16(take(2)?);
    let other_len = usize::from(be16(take(2)?));
    let other_data = take(other_len)?.to_vec();
    if pos != end {
        return Err(bad("bytes after other data"));
    }
    let algorithm = Algorithm::from_name(&algorithm_name);
    Ok(TsigRr { key_name, algorithm_name, algorithm, time_signed, fudge, mac, original_id, error, other_data, offset: start })
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Why a message's TSIG was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    #[error("the key is not known")]
    UnknownKey,
    #[error("the algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(String),
    #[error("the record names another key or algorithm than the one expected")]
    KeyMismatch,
    #[error("the MAC is longer than the algorithm's")]
    MacTooLong,
    #[error("the MAC is shorter than RFC 8945 allows (at least {min} bytes)")]
    MacTooShort { min: usize },
    #[error("the MAC does not verify")]
    BadMac,
    #[error("signed at {time_signed}, more than the fudge of {fudge} s away from now ({now})")]
    BadTime { time_signed: u64, fudge: u16, now: u64 },
    #[error("the MAC of {len} bytes is shorter than the {min} bytes local policy requires")]
    TruncatedMac { len: usize, min: usize },
    #[error("the message is not signed")]
    Unsigned,
    #[error("more than 99 unsigned messages in a row")]
    TooManyUnsigned,
    #[error("the peer answered with TSIG error {} ({code})", error_name(*code))]
    PeerError { code: u16 },
    #[error("malformed message: {0}")]
    Malformed(WireError),
}

/// A TSIG check that failed, with what to answer (RFC 8945 §5.2, §5.3.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TSIG: {reason}")]
pub struct Failure {
    /// TSIG error code: [`BADSIG`], [`BADKEY`], [`BADTIME`] or [`BADTRUNC`] (or, for a peer's
    /// answer, the code it carried); 0 when `formerr`.
    pub error: u16,
    /// The message is malformed: answer FORMERR, without a TSIG record.
    pub formerr: bool,
    pub reason: FailureReason,
}

impl Failure {
    fn notauth(error: u16, reason: FailureReason) -> Failure {
        Failure { error, formerr: false, reason }
    }

    fn formerr(reason: FailureReason) -> Failure {
        Failure { error: 0, formerr: true, reason }
    }

    fn malformed(e: WireError) -> Failure {
        Failure::formerr(FailureReason::Malformed(e))
    }

    /// RCODE of the answer: FORMERR or NOTAUTH.
    pub fn rcode(&self) -> u16 {
        if self.formerr {
            RCODE_FORMERR
        } else {
            RCODE_NOTAUTH
        }
    }

    /// Whether the error answer is signed: BADTIME and BADTRUNC are (the MAC was good), BADKEY
    /// and BADSIG must not be (RFC 8945 §5.3.2).
    pub fn signed_answer(&self) -> bool {
        !self.formerr && (self.error == BADTIME || self.error == BADTRUNC)
    }
}

/// A request whose TSIG verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The request MAC as received (truncated if it was): the response is signed over it.
    pub mac: Vec<u8>,
}

/// BADKEY unless `tsig` names `key` and its algorithm.
fn check_key(tsig: &TsigRr, key: Option<&Key>) -> Result<(), Failure> {
    let Some(key) = key else {
        return Err(Failure::notauth(BADKEY, FailureReason::UnknownKey));
    };
    match tsig.algorithm {
        None => Err(Failure::notauth(BADKEY, FailureReason::UnsupportedAlgorithm(name::to_text(&tsig.algorithm_name)))),
        Some(a) if a != key.algorithm || !name::eq_ignore_case(&tsig.key_name, &key.name) => {
            Err(Failure::notauth(BADKEY, FailureReason::KeyMismatch))
        }
        Some(_) => Ok(()),
    }
}

/// RFC 8945 §5.2.2.1 rules 1 and 3: a MAC longer than the algorithm's or shorter than it
/// allows is a FORMERR.
fn check_mac_len(algorithm: Algorithm, len: usize) -> Result<(), Failure> {
    if len > algorithm.mac_len() {
        return Err(Failure::formerr(FailureReason::MacTooLong));
    }
    if len < algorithm.min_mac_len() {
        return Err(Failure::formerr(FailureReason::MacTooShort { min: algorithm.min_mac_len() }));
    }
    Ok(())
}

fn check_time(tsig: &TsigRr, now: u64) -> Result<(), Failure> {
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge) {
        return Err(Failure::notauth(BADTIME, FailureReason::BadTime { time_signed: tsig.time_signed, fudge: tsig.fudge, now }));
    }
    Ok(())
}

/// Whether `received` equals the first bytes of `computed`, in time that depends only on the
/// lengths (which are public).
fn mac_matches(computed: &[u8], received: &[u8]) -> bool {
    let Some(prefix) = computed.get(..received.len()) else {
        return false;
    };
    let diff = prefix.iter().zip(received).fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

/// Feeds a MAC preceded by its 2-byte length (the "request MAC" and "prior MAC" components).
fn feed_prior_mac(ctx: &mut hmac::Context, mac: &[u8]) {
    let mac = &mac[..mac.len().min(usize::from(u16::MAX))];
    ctx.update(&(mac.len() as u16).to_be_bytes());
    ctx.update(mac);
}

/// Feeds `message` as it was before its TSIG record was added: cut at the record, ARCOUNT one
/// less, the ID the signer used (RFC 8945 §4.3.2 with §5.4.1's original ID).
fn feed_unsigned_part(ctx: &mut hmac::Context, message: &[u8], tsig: &TsigRr) -> Result<(), Failure> {
    let malformed = || Failure::malformed(WireError::Truncated { offset: tsig.offset });
    let body = message.get(HEADER_LEN..tsig.offset).ok_or_else(malformed)?;
    let mut header = Header::parse(message).map_err(Failure::malformed)?;
    header.id = tsig.original_id;
    header.arcount = header.arcount.checked_sub(1).ok_or_else(malformed)?;
    ctx.update(&header.to_bytes());
    ctx.update(body);
    Ok(())
}

/// Feeds the TSIG variables (RFC 8945 §4.3.3): names in canonical (lower-case, uncompressed)
/// form, class ANY, TTL 0.
#[allow(clippy::too_many_arguments)]
fn feed_variables(ctx: &mut hmac::Context, key_name: &[u8], algorithm: Algorithm, time: u64, fudge: u16, error: u16, other: &[u8]) {
    feed_lowercase(ctx, key_name);
    ctx.update(&class::ANY.to_be_bytes());
    ctx.update(&[0, 0, 0, 0]);
    ctx.update(algorithm.name_wire());
    feed_timers(ctx, time, fudge);
    ctx.update(&error.to_be_bytes());
    let other = &other[..other.len().min(usize::from(u16::MAX))];
    ctx.update(&(other.len() as u16).to_be_bytes());
    ctx.update(other);
}

/// Feeds the TSIG timers (RFC 8945 §4.3.1 for later messages of a stream).
fn feed_timers(ctx: &mut hmac::Context, time: u64, fudge: u16) {
    ctx.update(&u48(time));
    ctx.update(&fudge.to_be_bytes());
}

fn feed_lowercase(ctx: &mut hmac::Context, name: &[u8]) {
    for chunk in name.chunks(64) {
        let mut lower = [0u8; 64];
        let lower = &mut lower[..chunk.len()];
        lower.copy_from_slice(chunk);
        lower.make_ascii_lowercase();
        ctx.update(lower);
    }
}

/// A time as the 48-bit field of the record; later times wrap, as they will in 8.9 million years.
fn u48(time: u64) -> [u8; 6] {
    let b = time.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Appends a TSIG record to `message` and counts it in ARCOUNT. `false` (nothing written) when
/// `message` has no header or ARCOUNT is full.
#[allow(clippy::too_many_arguments)]
fn append_rr(
    message: &mut Vec<u8>,
    key_name: &[u8],
    algorithm_name: &[u8],
    time: u64,
    fudge: u16,
    mac: &[u8],
    error: u16,
    other: &[u8],
) -> bool {
    let Some(arcount) = signable(message) else { return false };
    let original_id = u16::from_be_bytes([message[0], message[1]]);
    let rdlength = algorithm_name.len() + 16 + mac.len() + other.len();
    let (Ok(rdlength), Ok(mac_len), Ok(other_len)) = (u16::try_from(rdlength), u16::try_from(mac.len()), u16::try_from(other.len())) else {
        return false;
    };
    message.reserve(key_name.len() + 10 + usize::from(rdlength));
    message.extend_from_slice(key_name);
    message.extend_from_slice(&rtype::TSIG.to_be_bytes());
    message.extend_from_slice(&class::ANY.to_be_bytes());
    message.extend_from_slice(&[0, 0, 0, 0]);
    message.extend_from_slice(&rdlength.to_be_bytes());
    message.extend_from_slice(algorithm_name);
    message.extend_from_slice(&u48(time));
    message.extend_from_slice(&fudge.to_be_bytes());
    message.extend_from_slice(&mac_len.to_be_bytes());
    message.extend_from_slice(mac);
    message.extend_from_slice(&original_id.to_be_bytes());
    message.extend_from_slice(&error.to_be_bytes());
    message.extend_from_slice(&other_len.to_be_bytes());
    message.extend_from_slice(other);
    message[10..12].copy_from_slice(&(arcount + 1).to_be_bytes());
    true
}

/// ARCOUNT of a message a TSIG record can be added to.
fn signable(message: &[u8]) -> Option<u16> {
    let h = Header::parse(message).ok()?;
    (h.arcount < u16::MAX).then_some(h.arcount)
}

#[cfg(test)]
mod tests;
