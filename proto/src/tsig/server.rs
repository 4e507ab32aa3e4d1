//! The server side of TSIG: verifying requests, signing answers and answer streams.

use super::*;

/// Verifies the TSIG `tsig` (from [`find`]) of the request `message` with `key`, the key the
/// server holds under `tsig.key_name` (`None` if it has none), at `now` (seconds since the
/// epoch). Checks in RFC 8945 §5.2's order: key and algorithm (BADKEY), MAC length (FORMERR,
/// §5.2.2.1), MAC (BADSIG), time (BADTIME). Any truncation the RFC allows is accepted.
pub fn verify_request(message: &[u8], tsig: &TsigRr, key: Option<&Key>, now: u64) -> Result<Verified, Failure> {
    verify_request_with_min_mac(message, tsig, key, now, 0)
}

/// [`verify_request`] with a local policy on truncation: a MAC that verifies but is shorter than
/// `min_mac_len` bytes (capped at the algorithm's full length) gets BADTRUNC (RFC 8945 §5.2.4,
/// checked last, as there). BIND's default is the full length: pass `usize::MAX` for that.
pub fn verify_request_with_min_mac(
    message: &[u8],
    tsig: &TsigRr,
    key: Option<&Key>,
    now: u64,
    min_mac_len: usize,
) -> Result<Verified, Failure> {
    check_key(tsig, key)?;
    let Some(key) = key else {
        return Err(Failure::notauth(BADKEY, FailureReason::UnknownKey));
    };
    check_mac_len(key.algorithm, tsig.mac.len())?;
    let mut ctx = key.context();
    feed_unsigned_part(&mut ctx, message, tsig)?;
    feed_variables(&mut ctx, &tsig.key_name, key.algorithm, tsig.time_signed, tsig.fudge, tsig.error, &tsig.other_data);
    if !mac_matches(ctx.sign().as_ref(), &tsig.mac) {
        return Err(Failure::notauth(BADSIG, FailureReason::BadMac));
    }
    check_time(tsig, now)?;
    let min = min_mac_len.min(key.algorithm.mac_len());
    if tsig.mac.len() < min {
        return Err(Failure::notauth(BADTRUNC, FailureReason::TruncatedMac { len: tsig.mac.len(), min }));
    }
    Ok(Verified { mac: tsig.mac.clone() })
}

/// Signs the answer `message` to a request whose MAC was `request_mac` (RFC 8945 §5.3): appends
/// the TSIG record (key name uncompressed), counts it in ARCOUNT and returns the MAC. The MAC
/// covers the request MAC with its length, the message and the TSIG variables with `error` and
/// `other`; the record's original ID is the message's ID.
///
/// For BADTIME see [`sign_error_response`], which uses this with the request's time signed and
/// the server's time as other data.
pub fn sign_response(message: &mut Vec<u8>, key: &Key, request_mac: &[u8], time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    if signable(message).is_none() || other.len() > usize::from(u16::MAX) {
        return Vec::new();
    }
    let mut ctx = key.context();
    feed_prior_mac(&mut ctx, request_mac);
    ctx.update(message);
    feed_variables(&mut ctx, &key.name, key.algorithm, time, fudge, error, other);
    let mac = ctx.sign().as_ref().to_vec();
    append_rr(message, &key.name, key.algorithm.name_wire(), time, fudge, &mac, error, other);
    mac
}

/// Appends the unsigned TSIG record of a BADKEY or BADSIG answer (RFC 8945 §5.3.2): the
/// request's key and algorithm names, `time` and the request's fudge, an empty MAC, `error`.
pub fn append_unsigned_error(message: &mut Vec<u8>, tsig: &TsigRr, time: u64, error: u16) {
    append_rr(message, &tsig.key_name, &tsig.algorithm_name, time, tsig.fudge, &[], error, &[]);
}

/// Signs the error answer `message` to the request whose TSIG was `request` and whose MAC
/// verified (BADTIME and BADTRUNC, RFC 8945 §5.3.2); returns the MAC. For BADTIME the record
/// carries the request's time signed and the server's time `now` as 6 bytes of other data, as
/// BIND and Knot send, so the client can see the skew; otherwise the time signed is `now`.
pub fn sign_error_response(message: &mut Vec<u8>, key: &Key, request: &TsigRr, now: u64, error: u16) -> Vec<u8> {
    if error == BADTIME {
        sign_response(message, key, &request.mac, request.time_signed, request.fudge, error, &u48(now))
    } else {
        sign_response(message, key, &request.mac, now, request.fudge, error, &[])
    }
}

/// Signs every message of a multi-message answer (AXFR, IXFR over TCP; RFC 8945 §5.3.1).
#[derive(Debug, Clone)]
pub struct StreamSigner {
    key: Key,
    /// The request MAC before the first message, then the MAC of the message signed last.
    prior_mac: Vec<u8>,
    first: bool,
}

impl StreamSigner {
    /// For the answer to the request whose verified MAC was `request_mac`.
    pub fn new(key: Key, request_mac: Vec<u8>) -> Self {
        StreamSigner { key, prior_mac: request_mac, first: true }
    }

    /// Signs the next message (appends its TSIG record). The first is signed as by
    /// [`sign_response`]; each later one over the prior MAC with its length, the message and the
    /// TSIG timers only.
    pub fn sign(&mut self, message: &mut Vec<u8>, time: u64, fudge: u16) {
        if signable(message).is_none() {
            return;
        }
        let mac = if self.first {
            sign_response(message, &self.key, &self.prior_mac, time, fudge, 0, &[])
        } else {
            let mut ctx = self.key.context();
            feed_prior_mac(&mut ctx, &self.prior_mac);
            ctx.update(message);
            feed_timers(&mut ctx, time, fudge);
            let mac = ctx.sign().as_ref().to_vec();
            append_rr(message, &self.key.name, self.key.algorithm.name_wire(), time, fudge, &mac, 0, &[]);
            mac
        };
        self.first = false;
        self.prior_mac = mac;
    }
}
