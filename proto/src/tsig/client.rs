//! The client side of TSIG: signing what we send (NOTIFY, SOA queries, transfer requests) and
//! checking the answers, one message or a whole transfer.

use super::*;

/// At most this many unsigned messages in a row: RFC 8945 §5.3.1 has a client accept up to 99
/// between signed ones.
const MAX_UNSIGNED_RUN: usize = 99;

/// Signs the request `message` (RFC 8945 §5.1: the message, then the TSIG variables with error
/// 0 and no other data), appends the TSIG record, counts it in ARCOUNT and returns the MAC, which
/// the answer's MAC covers. The record's original ID is the message's ID.
pub fn sign_request(message: &mut Vec<u8>, key: &Key, time: u64, fudge: u16) -> Vec<u8> {
    if signable(message).is_none() {
        return Vec::new();
    }
    let mut ctx = key.context();
    ctx.update(message);
    feed_variables(&mut ctx, &key.name, key.algorithm, time, fudge, 0, &[]);
    let mac = ctx.sign().as_ref().to_vec();
    append_rr(message, &key.name, key.algorithm.name_wire(), time, fudge, &mac, 0, &[]);
    mac
}

/// Checks a single-message answer to a request signed with `key` (`request_mac` is what
/// [`sign_request`] returned).
pub fn verify_response(message: &[u8], key: &Key, request_mac: &[u8], now: u64) -> Result<(), Failure> {
    let mut v = StreamVerifier::new(key.clone(), request_mac.to_vec());
    v.verify(message, now)?;
    v.finish()
}

/// Checks the answer to a request we signed, message by message: a single answer or every
/// message of a zone transfer over TCP (RFC 8945 §5.3.1, §5.4).
///
/// The first message must be signed, over the request MAC, the message and the TSIG variables.
/// Each later signed one is checked over the prior MAC, the unsigned messages since (at most 99,
/// fed to the MAC as they arrive, never buffered) and the message with the TSIG timers only.
/// [`finish`](StreamVerifier::finish) fails if the last message was not signed. An answer whose
/// TSIG carries an error is reported as that error ([`FailureReason::PeerError`]): BADKEY and
/// BADSIG come with an empty MAC, BADTIME signed (checked first). After a failure every call
/// fails the same way.
#[derive(Clone)]
pub struct StreamVerifier {
    key: Key,
    hkey: hmac::Key,
    /// The MAC input since the last signed message (prior MAC and unsigned messages); `None`
    /// before the first message.
    pending: Option<hmac::Context>,
    request_mac: Vec<u8>,
    messages: usize,
    unsigned_run: usize,
    failed: Option<Failure>,
}

impl std::fmt::Debug for StreamVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamVerifier")
            .field("key", &self.key)
            .field("messages", &self.messages)
            .field("unsigned_run", &self.unsigned_run)
            .field("failed", &self.failed)
            .finish()
    }
}

impl StreamVerifier {
    /// For the answer to a request signed with `key`; `request_mac` is what [`sign_request`]
    /// returned.
    pub fn new(key: Key, request_mac: Vec<u8>) -> Self {
        let hkey = key.hmac_key();
        StreamVerifier { key, hkey, pending: None, request_mac, messages: 0, unsigned_run: 0, failed: None }
    }

    /// Checks the next message (one DNS message, without a TCP length prefix).
    pub fn verify(&mut self, message: &[u8], now: u64) -> Result<(), Failure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        let result = self.check(message, now);
        if let Err(f) = &result {
            self.failed = Some(f.clone());
        }
        result
    }

    /// Succeeds when at least one message was checked, every one passed and the last was signed.
    pub fn finish(&self) -> Result<(), Failure> {
        if let Some(f) = &self.failed {
            return Err(f.clone());
        }
        if self.messages == 0 || self.unsigned_run > 0 {
            return Err(Failure::notauth(BADSIG, FailureReason::Unsigned));
        }
        Ok(())
    }

    /// Messages checked so far.
    pub fn messages(&self) -> usize {
        self.messages
    }

    fn check(&mut self, message: &[u8], now: u64) -> Result<(), Failure> {
        let tsig = find(message).map_err(Failure::malformed)?;
        let Some(tsig) = tsig else {
            let Some(ctx) = self.pending.as_mut() else {
                return Err(Failure::notauth(BADSIG, FailureReason::Unsigned));
            };
            if self.unsigned_run >= MAX_UNSIGNED_RUN {
                return Err(Failure::notauth(BADSIG, FailureReason::TooManyUnsigned));
            }
            ctx.update(message);
            self.unsigned_run += 1;
            self.messages += 1;
            return Ok(());
        };
        // BADKEY and BADSIG answers cannot be signed (RFC 8945 §5.3.2): the code is all there is.
        if tsig.error != 0 && tsig.mac.is_empty() {
            return Err(Failure::notauth(tsig.error, FailureReason::PeerError { code: tsig.error }));
        }
        check_key(&tsig, Some(&self.key))?;
        check_mac_len(self.key.algorithm, tsig.mac.len())?;
        let first = self.pending.is_none();
        let mut ctx = match self.pending.take() {
            Some(ctx) => ctx,
            None => {
                let mut ctx = hmac::Context::with_key(&self.hkey);
                feed_prior_mac(&mut ctx, &self.request_mac);
                ctx
            }
        };
        feed_unsigned_part(&mut ctx, message, &tsig)?;
        if first {
            feed_variables(&mut ctx, &tsig.key_name, self.key.algorithm, tsig.time_signed, tsig.fudge, tsig.error, &tsig.other_data);
        } else {
            feed_timers(&mut ctx, tsig.time_signed, tsig.fudge);
        }
        if !mac_matches(ctx.sign().as_ref(), &tsig.mac) {
            return Err(Failure::notauth(BADSIG, FailureReason::BadMac));
        }
        if tsig.error != 0 {
            return Err(Failure::notauth(tsig.error, FailureReason::PeerError { code: tsig.error }));
        }
        check_time(&tsig, now)?;
        let mut next = hmac::Context::with_key(&self.hkey);
        feed_prior_mac(&mut next, &tsig.mac);
        self.pending = Some(next);
        self.unsigned_run = 0;
        self.messages += 1;
        Ok(())
    }
}
