//! Query processing, one file per concern (after Knot's `nameserver/`):
//! [`writer`] builds the response, [`internet`] answers class IN from the name tree, [`meta`]
//! whoami and IP lookups, [`catalog`] generated catalog zones, [`transfer`] AXFR and IXFR,
//! [`signed`] TSIG, [`expired`] secondary zones past their expiry, [`chaos`] class CH. This module decides which
//! of them a packet gets: errors and refusals first, then the lookup, then the size limit.

pub mod cache;
pub mod catalog;
pub mod chaos;
pub mod cookie;
pub mod dnssec;
pub mod expired;
pub mod geo;
pub mod internet;
pub mod meta;
pub mod names;
pub mod signed;
pub mod transfer;
pub mod warm;
pub mod writer;

use heed::RoTxn;
use lmdb_schema::name_cache::NameCache;
use lmdb_schema::readers::ReadTxn;
use lmdb_schema::rtype;
use lmdb_schema::Store;

use crate::engine::{AnswerConfig, Transport};
use crate::query::{self, Query, Reject, CLASS_IN};
use geo::GeoScratch;
use internet::{Internet, ResolveScratch};
use writer::{Opt, Writer, RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTAUTH, RCODE_NOTIMP, RCODE_REFUSED, RCODE_SERVFAIL};

const CLASS_ANY: u16 = 255;
const OPCODE_QUERY: u8 = 0;
const OPCODE_NOTIFY: u8 = 4;
/// RFC 1035 §4.2.1: the UDP limit without EDNS.
const CLASSIC_UDP: usize = 512;

/// Answers `packet` into `out`. Returns false if it gets no reply.
#[allow(clippy::too_many_arguments)]
pub fn respond(
    store: &Store,
    config: &AnswerConfig,
    txn: &ReadTxn,
    names: &NameCache,
    scratch: &mut ResolveScratch,
    geo: &mut GeoScratch,
    packet: &[u8],
    source: std::net::IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Option<Answered> {
    respond_within(store, config, txn, names, scratch, geo, packet, source, transport, out, 0)
}

/// [`respond`], with `reserve` bytes of the size limit kept free (for the TSIG of a signed
/// answer).
#[allow(clippy::too_many_arguments)]
fn respond_within(
    store: &Store,
    config: &AnswerConfig,
    txn: &ReadTxn,
    names: &NameCache,
    scratch: &mut ResolveScratch,
    geo: &mut GeoScratch,
    packet: &[u8],
    source: std::net::IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    reserve: usize,
) -> Option<Answered> {
    scratch.clear_apex();
    let query = match query::parse(packet, &mut scratch.current) {
        Ok(query) => query,
        Err(reject) => {
            // Nothing of the previous query may describe this one (the query log reads the
            // client subnet from here).
            geo.start_query(source, None, false);
            return rejected(reject, packet, out);
        }
    };
    let client_subnet = query.edns.and_then(|e| e.client_subnet).filter(|_| config.ecs);
    geo.start_query(source, client_subnet, config.ecs);
    // The ECS echo starts with scope 0; it is finished below once the answer is known.
    // DNS COOKIE: a fresh server cookie for every query that has a client cookie; one that
    // returned a valid server cookie has proven its address (the UDP path lets it past RRL).
    let (cookie, valid_cookie) = match (query.edns.and_then(|e| e.cookie), &config.cookie_secret) {
        (Some(c), Some(secret)) => {
            let now = cookie::now();
            (Some((c.client, secret.server_cookie(&c.client, source, now))), secret.is_valid(&c, source, now))
        }
        _ => (None, false),
    };
    scratch.valid_cookie = valid_cookie;
    let opt = query.edns.map(|e| Opt {
        payload: config.max_udp_size.max(CLASSIC_UDP as u16),
        client_subnet: client_subnet.map(|s| (s, 0)),
        dnssec_ok: e.dnssec_ok,
        cookie,
        nsid: config.nsid.as_deref().filter(|_| e.nsid),
    });
    let mut w = Writer::start(out, packet, &query);
    // --allow-query: decided on the source alone, before anything touches the database.
    if !config.allow_query.allows(source) {
        return Some(w.finish(&query, RCODE_REFUSED as u16, false, false, opt));
    }
    if let Some(edns) = query.edns {
        if edns.version > 0 {
            return Some(w.finish(&query, RCODE_BADVERS, false, false, opt));
        }
    }
    match query.opcode() {
        OPCODE_QUERY => {}
        // A primary-only server takes no NOTIFY: NOTAUTH, as Knot answers for zones it does not
        // serve as a secondary.
        OPCODE_NOTIFY => {
            return Some(w.finish(&query, RCODE_NOTAUTH as u16, false, false, opt));
        }
        // UPDATE goes to the writer (`transport::update`); answered here only when no writer
        // could be reached: a primary that takes no UPDATE now refuses it (RFC 2136 §3.1).
        crate::transport::update::OPCODE_UPDATE => {
            return Some(w.finish(&query, RCODE_REFUSED as u16, false, false, opt));
        }
        _ => {
            return Some(w.finish(&query, RCODE_NOTIMP as u16, false, false, opt));
        }
    }
    if query.qclass == chaos::CLASS_CH {
        let rcode = chaos::answer(&config.chaos, &scratch.current, query.qtype, &mut w);
        return Some(w.finish(&query, rcode as u16, false, false, opt));
    }
    let udp = transport == Transport::Udp;
    let refused = match query.qtype {
        // QCLASS * (255) asks for any class; IN is the only one we hold.
        _ if query.qclass != CLASS_IN && query.qclass != CLASS_ANY => Some(RCODE_REFUSED),
        // AXFR never runs over UDP (RFC 5936 §4.2).
        rtype::AXFR if udp => Some(RCODE_NOTIMP),
        rtype::IXFR if udp => return Some(udp_ixfr(store, config, txn, packet, source, &query, w, opt)),
        // Over TCP the transport hands transfers to `transfer::prepare`, which streams them.
        rtype::AXFR | rtype::IXFR => Some(RCODE_REFUSED),
        rtype::MAILA | rtype::MAILB => Some(RCODE_NOTIMP),
        rtype::OPT => Some(RCODE_FORMERR),
        _ => None,
    };
    if let Some(rcode) = refused {
        return Some(w.finish(&query, rcode as u16, false, false, opt));
    }
    if query.tsig.is_some() {
        return Some(respond_signed(store, config, txn, names, scratch, geo, packet, source, transport, out, &query, opt));
    }

    let question_end = query.question_end;
    let limit = if udp { udp_limit(&query, config) } else { u16::MAX as usize } - reserve;
    // A repeated question whose answer cannot depend on who asks is answered from the cache
    // (see `cacheable`; `consult` is false while a hit rate too low to pay for the lookups
    // keeps the cache aside).
    let use_cache = cacheable(&query, config) && scratch.cache.consult();
    if use_cache {
        scratch.cache.key(scratch.current.ancestor_key(scratch.current.label_count()), &query, limit, !udp);
        if let Some(answered) = scratch.cached(store, txn, packet, question_end, w.buf) {
            if let Some((client, server)) = cookie {
                // The cached answer's cookie is its last bytes: this client's goes there.
                let n = w.buf.len();
                w.buf[n - server.len()..].copy_from_slice(&server);
                w.buf[n - server.len() - client.len()..n - server.len()].copy_from_slice(&client);
            }
            return Some(answered);
        }
    }
    if let Some(cat) = catalog::find(&config.catalogs, &scratch.current) {
        return Some(match catalog::answer(store, txn, cat, &scratch.current, query.qtype, &mut w) {
            Ok(rcode) => {
                let tc = fit(&mut w, limit - opt.map_or(0, |o| o.wire_len()), question_end, &[]);
                w.finish(&query, rcode, true, tc, opt)
            }
            Err(internet::LookupFailed) => {
                record_lookup_fault(&scratch.current);
                w.truncate_to_question(question_end);
                w.finish(&query, RCODE_SERVFAIL as u16, false, false, opt)
            }
        });
    }
    if let Some(meta) = meta::classify(config, &scratch.current) {
        let (rcode, aa) = match meta {
            meta::MetaQuestion::Whoami => meta::whoami(config, txn, geo, source, query.qtype, &mut w),
            meta::MetaQuestion::Lookup { apex_labels, address } => {
                meta::lookup(config, txn, geo, apex_labels, address, &scratch.current, query.qtype, &mut w)
            }
        };
        let opt = with_scope(opt, geo);
        let tc = fit(&mut w, limit - opt.map_or(0, |o| o.wire_len()), question_end, &[]);
        return Some(w.finish(&query, rcode, aa, tc, opt));
    }
    let internet = Internet { store, txn, names, source, dnssec: query.edns.is_some_and(|e| e.dnssec_ok) };
    Some(match internet.answer(scratch, geo, query.qtype, &mut w) {
        // --any-to-tcp, once the name is known to be ours (others keep their REFUSED): question
        // only, TC=1, AA clear; the TCP retry gets the RFC 8482 answer.
        Ok(outcome) if udp && config.any_to_tcp && query.qtype == rtype::ANY && outcome.rcode != RCODE_REFUSED as u16 => {
            w.truncate_to_question(question_end);
            w.finish(&query, 0, false, true, opt)
        }
        Ok(outcome) => {
            let opt = with_scope(opt, geo);
            let tc = fit(&mut w, limit - opt.map_or(0, |o| o.wire_len()), question_end, scratch.additional_marks());
            let answered = w.finish(&query, outcome.rcode, outcome.aa, tc, opt);
            // geo.decided: the client's metadata chose (or could have chosen) this answer;
            // per_client: the client's address is in it (a zone's whoami name).
            if use_cache && geo.decided.is_none() && !outcome.per_client {
                let case_bound = w.case_bound();
                scratch.remember(txn.id(), w.buf, answered, case_bound);
            }
            answered
        }
        Err(internet::LookupFailed) => {
            if !scratch.servfail_expired {
                record_lookup_fault(&scratch.current);
            }
            w.truncate_to_question(question_end);
            w.finish(&query, RCODE_SERVFAIL as u16, false, false, opt)
        }
    })
}

/// Counts and (at most once a minute) logs a SERVFAIL the database caused.
#[cold]
fn record_lookup_fault(name: &query::QueryName) {
    crate::ops::faults::record(crate::ops::faults::Fault::Lookup, || {
        format!("while answering for {}", lmdb_schema::name::key_to_text(&name.key))
    });
}

/// The answer to a packet that did not parse: none, FORMERR or NOTIMP.
fn rejected(reject: Reject, packet: &[u8], out: &mut Vec<u8>) -> Option<Answered> {
    match reject {
        Reject::Drop => None,
        Reject::FormErr { question_end } => {
            writer::formerr(out, packet, question_end);
            Some(Answered { rcode: RCODE_FORMERR as u16, ..Answered::default() })
        }
        Reject::NotImp { question_end } => {
            writer::header_only(out, packet, question_end, RCODE_NOTIMP);
            Some(Answered { rcode: RCODE_NOTIMP as u16, ..Answered::default() })
        }
    }
}

/// IXFR over UDP (RFC 1995 §2): our SOA when the client is current, else an empty TC=1 answer
/// so it asks again over TCP. The same checks as over TCP (`transfer::prepare`).
#[allow(clippy::too_many_arguments)]
fn udp_ixfr(
    store: &Store,
    config: &AnswerConfig,
    txn: &RoTxn,
    packet: &[u8],
    source: std::net::IpAddr,
    query: &Query,
    mut w: Writer<'_>,
    opt: Option<Opt<'_>>,
) -> Answered {
    let question_end = query.question_end;
    match transfer::prepare(store, txn, config, packet, source) {
        transfer::Prepared::Answer(bytes) => {
            let rcode = bytes.get(3).map_or(RCODE_SERVFAIL as u16, |b| u16::from(b & 0x0F));
            w.buf.clear();
            w.buf.extend_from_slice(&bytes);
            Answered { qtype: query.qtype, rcode, ..Answered::default() }
        }
        transfer::Prepared::Transfer(mut t) if t.is_current() => {
            let mut message = Vec::new();
            match t.next(&mut message) {
                Ok(true) if message.len() <= udp_limit(query, config) => {
                    w.buf.clear();
                    w.buf.extend_from_slice(&message);
                    Answered { qtype: query.qtype, rcode: 0, aa: true, answers: 1, ..Answered::default() }
                }
                _ => {
                    w.truncate_to_question(question_end);
                    w.finish(query, 0, true, true, opt)
                }
            }
        }
        transfer::Prepared::Transfer(_) => {
            w.truncate_to_question(question_end);
            w.finish(query, 0, true, true, opt)
        }
    }
}

/// A query that carries a TSIG: verified, answered as if unsigned (with room kept for the TSIG
/// record), and the answer signed. Failures get NOTAUTH with the TSIG error.
#[allow(clippy::too_many_arguments)]
fn respond_signed(
    store: &Store,
    config: &AnswerConfig,
    txn: &ReadTxn,
    names: &NameCache,
    scratch: &mut ResolveScratch,
    geo: &mut GeoScratch,
    packet: &[u8],
    source: std::net::IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    query: &Query,
    opt: Option<Opt<'_>>,
) -> Answered {
    match signed::verify(store, txn, packet) {
        Ok(signer) => {
            // The request without its TSIG (the last record), ARCOUNT one less.
            let tsig_at = query.tsig.unwrap_or(packet.len());
            let mut unsigned = packet[..tsig_at].to_vec();
            let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
            unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());
            let reserve = 16 + signer.key.name.len() + signer.key.algorithm.name_wire().len() + signer.key.algorithm.mac_len();
            let answered = respond_within(store, config, txn, names, scratch, geo, &unsigned, source, transport, out, reserve);
            let answered = answered.unwrap_or(Answered { qtype: query.qtype, rcode: RCODE_SERVFAIL as u16, ..Answered::default() });
            signer.sign(out);
            answered
        }
        Err(signed::Rejected::FormErr) => {
            writer::formerr(out, packet, Some(query.question_end));
            Answered { qtype: query.qtype, rcode: RCODE_FORMERR as u16, ..Answered::default() }
        }
        Err(signed::Rejected::NotAuth { tsig, error, signer }) => {
            signed::log_failure(source, &tsig, error);
            let mut w = Writer::start(out, packet, query);
            let answered = w.finish(query, RCODE_NOTAUTH as u16, false, false, opt);
            signed::append_error(out, &tsig, error, signer.as_deref());
            answered
        }
    }
}

/// What kind of response a query got, in the categories response rate limiting and metrics
/// count separately (as BIND's and Knot's RRL do).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseKind {
    /// NOERROR with data in the answer section.
    Answer,
    /// NOERROR, authoritative, empty answer.
    NoData,
    NxDomain,
    /// NOERROR, not authoritative, NS in authority.
    Referral,
    /// Any other RCODE (FORMERR, SERVFAIL, NOTIMP, REFUSED, BADVERS, ...).
    Error,
}

/// Facts about a response written, for transports, logs and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answered {
    pub qtype: u16,
    /// Full RCODE (extended bits included).
    pub rcode: u16,
    pub aa: bool,
    pub tc: bool,
    pub answers: u16,
    pub authority: u16,
    /// Answered from the answer cache (`lmdns_answer_cache_hits_total`).
    pub cached: bool,
}

impl Answered {
    pub fn kind(&self) -> ResponseKind {
        match self.rcode {
            0 if self.answers > 0 => ResponseKind::Answer,
            0 if !self.aa && self.authority > 0 => ResponseKind::Referral,
            0 => ResponseKind::NoData,
            3 => ResponseKind::NxDomain,
            _ => ResponseKind::Error,
        }
    }
}

/// The OPT record with the ECS scope this answer holds for.
fn with_scope<'c>(opt: Option<Opt<'c>>, geo: &GeoScratch) -> Option<Opt<'c>> {
    opt.map(|o| Opt { client_subnet: o.client_subnet.map(|(s, _)| (s, geo.scope())), ..o })
}

/// Whether the answer to `query` may come from the answer cache and go into it: not when it
/// depends on who asks (ECS on and a client subnet sent), nor when it carries our NSID (the
/// cached copy would carry it to every client). Shared with the warm pass, which must aim at
/// the same questions.
fn cacheable(query: &Query, config: &AnswerConfig) -> bool {
    query.edns.is_none_or(|e| !(config.ecs && e.client_subnet.is_some() || e.nsid && config.nsid.is_some()))
}

/// The largest UDP response this client may get: its EDNS payload size capped by ours, never
/// below 512 (RFC 6891 §6.2.3), or 512 without EDNS.
fn udp_limit(query: &Query, config: &AnswerConfig) -> usize {
    match query.edns {
        Some(edns) => (edns.payload as usize).clamp(CLASSIC_UDP, (config.max_udp_size as usize).max(CLASSIC_UDP)),
        None => CLASSIC_UDP,
    }
}

/// Makes the response fit `limit` bytes. Additional records are dropped first, whole RRsets at a
/// time, without TC (RFC 2181 §9) unless in-domain glue of a referral goes (RFC 9471 §3.1: TC,
/// keeping the glue that fits, as Knot answers); if answer and authority alone do not fit, TC is
/// set and the whole RRsets that fit are kept, each with its RRSIGs (as Knot and NSD keep them;
/// never a partial RRset or one without its signatures, RFC 4035 §3.1.1). Returns TC.
fn fit(w: &mut Writer<'_>, limit: usize, question_end: usize, marks: &[internet::Mark]) -> bool {
    if w.written() <= limit {
        return false;
    }
    // marks[0] is the end of the authority section; each later mark ends an additional RRset.
    match marks.iter().rposition(|m| m.len <= limit) {
        Some(i) => {
            w.rollback_additional(marks[i].len, marks[i].additional);
            marks[i + 1..].iter().any(|m| m.required)
        }
        None => {
            w.truncate_to_fit(limit, question_end);
            true
        }
    }
}
