//! NOTIFY in (RFC 1996): a primary tells us a secondary zone changed. Accepted only for a
//! secondary zone, from the address of one of its primaries (any port: NOTIFY comes from
//! wherever the primary sends it), signed with the zone's TSIG key when it has one (RFC 8945);
//! then the zone is refreshed at once. The answer echoes the question with AA set (§4.7), and
//! is signed when the request was.
//!
//! A NOTIFY that never arrives (the writer was down) costs nothing but time: the zone's next
//! refresh finds the change anyway.

use std::net::SocketAddr;

use crossbeam_channel::Sender;
use lmdb_schema::{name, rtype, Store};
use lmdns_proto::tsig::{self, DEFAULT_FUDGE};
use lmdns_proto::wire;

use super::daemon::Event;
use crate::update::process::{self, rcode};

pub const OPCODE_NOTIFY: u8 = 4;
const FLAG_AA: u8 = 0x04;

/// Answers one NOTIFY from `client` (an empty reply: none is sent), and wakes the zone's
/// refresh through `events` when it is accepted.
pub fn answer(store: &Store, message: &[u8], client: SocketAddr, events: &Sender<Event>) -> Vec<u8> {
    let Ok(parsed) = wire::parse(message) else {
        return if message.len() >= 12 && message[2] & 0x80 == 0 { process::reply_header(message, 12, rcode::FORMERR) } else { Vec::new() };
    };
    if parsed.header.qr() {
        return Vec::new();
    }
    let question_end = process::zone_section_end(message, &parsed);
    let now = super::now();
    let reply = |code: u8| {
        let mut r = process::reply_header(message, question_end, code);
        r[2] |= FLAG_AA;
        r
    };
    let [question] = parsed.questions.as_slice() else {
        return reply(rcode::FORMERR);
    };
    if question.qtype != rtype::SOA || question.qclass != 1 {
        return reply(rcode::FORMERR);
    }
    let Ok(apex) = name::key_from_wire(&question.name) else { return reply(rcode::FORMERR) };
    let zone = name::key_to_text(&apex);
    let Ok(txn) = store.read_txn() else { return reply(rcode::SERVFAIL) };
    let state = match super::get(store, &txn, &apex) {
        Ok(Some(state)) => state,
        Ok(None) => {
            tracing::debug!(zone, %client, "NOTIFY for a zone that is not a secondary zone here: NOTAUTH");
            return reply(rcode::NOTAUTH);
        }
        Err(e) => {
            tracing::error!(zone, "NOTIFY: {e:#}");
            return reply(rcode::SERVFAIL);
        }
    };
    // TSIG first: an answer to a signed request is signed, whatever it says.
    let signer = match tsig::find(message) {
        Ok(None) => None,
        Ok(Some(rr)) => match process::verify(store, &txn, message, &rr, now) {
            Ok(signer) => Some(signer),
            Err((error, signed_key)) => {
                tracing::warn!(zone, %client, "NOTIFY refused: TSIG {}", tsig::error_name(error));
                let mut r = reply(rcode::NOTAUTH);
                match signed_key {
                    Some(key) => drop(tsig::sign_error_response(&mut r, &key, &rr, now, error)),
                    None => tsig::append_unsigned_error(&mut r, &rr, now, error),
                }
                return r;
            }
        },
        Err(_) => return reply(rcode::FORMERR),
    };
    let signed_as = signer.as_ref().map(|(k, _)| name::wire_to_text(&k.name));
    let code = if !state.primaries.iter().any(|p| p.ip() == client.ip()) {
        tracing::warn!(zone, %client, "NOTIFY refused: not from a primary of the zone");
        rcode::REFUSED
    } else if state.key.is_some() && signed_as.as_deref().map(str::to_ascii_lowercase) != state.key {
        tracing::warn!(zone, %client, key = state.key.as_deref().unwrap_or("-"), "NOTIFY refused: not signed with the zone's key");
        rcode::NOTAUTH
    } else {
        let serial = parsed.answers.iter().find_map(|r| r.soa_serial());
        tracing::info!(zone, %client, serial, "NOTIFY");
        let _ = events.send(Event::Notify { apex, serial });
        rcode::NOERROR
    };
    let mut r = reply(code);
    if let Some((key, mac)) = &signer {
        tsig::sign_response(&mut r, key, mac, now, DEFAULT_FUDGE, 0, &[]);
    }
    r
}
