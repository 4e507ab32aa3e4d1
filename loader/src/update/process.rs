//! One DNS UPDATE (RFC 2136 §3, RFC 3007), inside the caller's write transaction: TSIG, the
//! zone section, the update policy, the prerequisites (checked against the zone as this
//! transaction sees it, so against every update committed before), the update section, and
//! the reply. Changes go through [`ZoneWriter`] like every other change, so an UPDATE bumps
//! the serial and writes its journal entry in the same transaction.
//!
//! The caller commits the transaction when [`Outcome::commit`] is true and discards it
//! otherwise: a refused or failed UPDATE leaves nothing behind.

use std::collections::BTreeMap;
use std::net::IpAddr;

use heed::RwTxn;
use lmdb_schema::journal::serial_gt;
use lmdb_schema::keys::StoredKey;
use lmdb_schema::node::{Rrset, Section};
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::{name, rtype, Store};
use lmdns_proto::tsig::{self, Algorithm, Key, TsigRr, DEFAULT_FUDGE};
use lmdns_proto::wire::{self, Record};

use super::policy::{self, Requester};
use crate::zones::{Rr, ZoneError, ZoneWriter};

pub const OPCODE_UPDATE: u8 = 5;

/// Response codes of RFC 1035 and RFC 2136 §2.2.
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const YXDOMAIN: u8 = 6;
    pub const YXRRSET: u8 = 7;
    pub const NXRRSET: u8 = 8;
    pub const NOTAUTH: u8 = 9;
    pub const NOTZONE: u8 = 10;

    pub fn name(code: u8) -> &'static str {
        match code {
            NOERROR => "NOERROR",
            FORMERR => "FORMERR",
            SERVFAIL => "SERVFAIL",
            NXDOMAIN => "NXDOMAIN",
            NOTIMP => "NOTIMP",
            REFUSED => "REFUSED",
            YXDOMAIN => "YXDOMAIN",
            YXRRSET => "YXRRSET",
            NXRRSET => "NXRRSET",
            NOTAUTH => "NOTAUTH",
            NOTZONE => "NOTZONE",
            _ => "other",
        }
    }
}

const CLASS_IN: u16 = 1;
const CLASS_NONE: u16 = 254;
const CLASS_ANY: u16 = 255;

/// What became of one UPDATE, for the reply, the log line and the caller's commit.
#[derive(Debug)]
pub struct Outcome {
    /// The reply (signed when the request was); empty when the message gets none.
    pub reply: Vec<u8>,
    pub rcode: u8,
    /// The zone, when the zone section named one.
    pub zone: Option<String>,
    /// The verified TSIG key, when signed.
    pub key: Option<String>,
    /// Records added plus records deleted.
    pub changes: usize,
    /// The new serial, when the zone changed.
    pub serial: Option<u32>,
    /// Why it was refused or failed, for the log.
    pub reason: Option<String>,
    /// The transaction holds this UPDATE's changes and must be committed.
    pub commit: bool,
}

/// A failed step: the rcode and why.
struct Fail(u8, String);

fn fail<T>(code: u8, why: impl Into<String>) -> Result<T, Fail> {
    Err(Fail(code, why.into()))
}

impl From<ZoneError> for Fail {
    fn from(e: ZoneError) -> Fail {
        Fail(rcode::SERVFAIL, e.to_string())
    }
}

/// Processes `message` (an UPDATE from `source`) in `txn`, as of `now` (Unix seconds, for TSIG).
pub fn process(store: &Store, txn: &mut RwTxn<'_>, message: &[u8], source: IpAddr, now: u64) -> Outcome {
    let mut out =
        Outcome { reply: Vec::new(), rcode: rcode::NOERROR, zone: None, key: None, changes: 0, serial: None, reason: None, commit: false };
    let Ok(parsed) = wire::parse(message) else {
        // Not a message we can parse: FORMERR with just the header, if there is one.
        if message.len() >= 12 && message[2] & 0x80 == 0 {
            out.reply = reply_header(message, 0, rcode::FORMERR);
        }
        out.rcode = rcode::FORMERR;
        out.reason = Some("malformed message".into());
        return out;
    };
    if parsed.header.qr() {
        return out;
    }
    let zone_end = zone_section_end(message, &parsed);
    // TSIG first: an answer to a signed request is signed, whatever it says.
    let signer = match tsig::find(message) {
        Ok(None) => None,
        Ok(Some(rr)) => match verify(store, txn, message, &rr, now) {
            Ok(signer) => {
                out.key = Some(name::wire_to_text(&signer.0.name));
                Some(signer)
            }
            Err((error, signed_key)) => {
                out.rcode = rcode::NOTAUTH;
                out.reason = Some(format!("TSIG {}", tsig::error_name(error)));
                out.reply = reply_header(message, zone_end, rcode::NOTAUTH);
                match signed_key {
                    Some(key) => {
                        tsig::sign_error_response(&mut out.reply, &key, &rr, now, error);
                    }
                    None => tsig::append_unsigned_error(&mut out.reply, &rr, now, error),
                }
                return out;
            }
        },
        Err(_) => {
            out.rcode = rcode::FORMERR;
            out.reason = Some("misplaced or malformed TSIG record".into());
            out.reply = reply_header(message, zone_end, rcode::FORMERR);
            return out;
        }
    };
    let key = out.key.clone();
    let who = Requester { key: key.as_deref(), source };
    let result = if parsed.header.opcode() != OPCODE_UPDATE {
        fail(rcode::NOTIMP, "not an UPDATE")
    } else {
        apply(store, txn, &parsed, who, &mut out)
    };
    match result {
        Ok(()) => {}
        Err(Fail(code, why)) => {
            out.rcode = code;
            out.reason = Some(why);
            out.commit = false;
            out.changes = 0;
            out.serial = None;
        }
    }
    out.reply = reply_header(message, zone_end, out.rcode);
    if let Some((key, mac)) = &signer {
        tsig::sign_response(&mut out.reply, key, mac, now, DEFAULT_FUDGE, 0, &[]);
    }
    out
}

/// The verified key and the request MAC; or the TSIG error and, for errors answered signed
/// (BADTIME, BADTRUNC), the key.
pub(crate) fn verify(
    store: &Store,
    txn: &heed::RoTxn,
    message: &[u8],
    rr: &TsigRr,
    now: u64,
) -> Result<(Key, Vec<u8>), (u16, Option<Key>)> {
    let key = StoredKey::lookup(store, txn, &rr.key_name).and_then(|(alg, secret)| {
        let algorithm = Algorithm::from_name(&alg)?;
        Some(Key { name: rr.key_name.clone(), algorithm, secret })
    });
    let key = key.filter(|k| Some(k.algorithm) == rr.algorithm);
    match tsig::verify_request_with_min_mac(message, rr, key.as_ref(), now, usize::MAX) {
        Ok(verified) => Ok((key.expect("verified with a key"), verified.mac)),
        Err(failure) => {
            let signed = matches!(failure.error, tsig::BADTIME | tsig::BADTRUNC).then_some(key).flatten();
            Err((failure.error, signed))
        }
    }
}

/// Where the zone section ends (its bytes are echoed in the reply).
pub(crate) fn zone_section_end(message: &[u8], parsed: &wire::Message) -> usize {
    let mut reader = match wire::Reader::new(message) {
        Ok(r) => r,
        Err(_) => return 12,
    };
    let mut q = wire::Question::default();
    for _ in 0..parsed.questions.len() {
        if reader.next_question(&mut q).is_err() {
            return 12;
        }
    }
    reader.position()
}

/// The reply: the request's header with QR and `code`, its zone section echoed, no records.
pub(crate) fn reply_header(message: &[u8], zone_end: usize, code: u8) -> Vec<u8> {
    let mut reply = message[..zone_end.max(12)].to_vec();
    reply[2] = 0x80 | (message[2] & 0x78);
    reply[3] = code & 0x0F;
    let zocount = u16::from(zone_end > 12);
    reply[4..6].copy_from_slice(&zocount.to_be_bytes());
    reply[6..12].fill(0);
    reply
}

/// The zone's data at a name, keyed by (type, covered), default RRsets only; and whether the
/// name has geo variants.
fn rrsets(section: Option<&Section>) -> (BTreeMap<(u16, u16), &Rrset>, bool) {
    let mut map = BTreeMap::new();
    let mut variants = false;
    for r in section.map(|s| s.rrsets.as_slice()).unwrap_or_default() {
        if r.condition.is_empty() {
            map.insert((r.rtype, r.covered), r);
        } else {
            variants = true;
        }
    }
    (map, variants)
}

fn apply(store: &Store, txn: &mut RwTxn<'_>, msg: &wire::Message, who: Requester<'_>, out: &mut Outcome) -> Result<(), Fail> {
    // §3.1: one zone, type SOA, our class.
    let [zone] = msg.questions.as_slice() else { return fail(rcode::FORMERR, "the zone section must hold exactly one zone") };
    if zone.qtype != rtype::SOA || zone.qclass != CLASS_IN {
        return fail(rcode::FORMERR, "the zone section must name the zone's SOA in class IN");
    }
    let apex = name::key_from_wire(&zone.name).map_err(|e| Fail(rcode::FORMERR, format!("zone name: {e}")))?;
    out.zone = Some(name::key_to_text(&apex));
    let mut writer = ZoneWriter::new(store, txn);
    let Some(meta) = writer.stored_meta(&apex)? else {
        return fail(rcode::NOTAUTH, "not a zone of this server");
    };
    if store.secondary_zones.get(writer.txn(), &apex).map_err(|e| Fail(rcode::SERVFAIL, e.to_string()))?.is_some() {
        // RFC 2136 §6 lets a secondary forward; we refuse, so the client goes to the primary.
        return fail(rcode::REFUSED, "a secondary zone here: send updates to its primary");
    }
    check_policy(msg, &meta, &apex, who)?;
    check_prerequisites(&writer, msg, &apex)?;
    let updates = prescan(msg, &apex)?;
    for u in &updates {
        out.changes += apply_one(&mut writer, &apex, &meta, u)?;
    }
    let summaries = writer.finish(true).map_err(|e| match e {
        ZoneError::Build(b) => Fail(rcode::REFUSED, b.to_string()),
        other => Fail::from(other),
    })?;
    if let Some(s) = summaries.into_iter().find(|s| s.changed) {
        out.serial = Some(s.serial);
        out.commit = true;
    }
    Ok(())
}

/// RFC 3007 §3: every record of the update section must be granted by the zone's policy. A
/// zone without a policy takes no UPDATE.
fn check_policy(msg: &wire::Message, meta: &ZoneMeta, apex: &[u8], who: Requester<'_>) -> Result<(), Fail> {
    if meta.update_policy.is_empty() {
        return fail(rcode::REFUSED, "the zone has no update policy");
    }
    for rr in &msg.authority {
        let owner = name::key_from_wire(&rr.owner).map_err(|e| Fail(rcode::FORMERR, format!("update name: {e}")))?;
        let allowed = meta.update_policy.iter().any(|rule| policy::allows(rule, who, apex, &owner, rr.rtype));
        if !allowed {
            let by = who.key.map_or_else(|| format!("unsigned from {}", who.source), |k| format!("key {k}"));
            let what = crate::zonefile::type_name(rr.rtype);
            return fail(rcode::REFUSED, format!("{by} may not change {what} at {}", name::wire_to_text(&rr.owner)));
        }
    }
    Ok(())
}

/// The owner key of a record of the message, which must be in the zone.
fn in_zone(rr: &Record, apex: &[u8]) -> Result<Vec<u8>, Fail> {
    let owner = name::key_from_wire(&rr.owner).map_err(|e| Fail(rcode::FORMERR, format!("name: {e}")))?;
    if !name::is_at_or_below(&owner, apex) {
        return fail(rcode::NOTZONE, format!("{} is outside the zone", name::wire_to_text(&rr.owner)));
    }
    Ok(owner)
}

/// §3.2: the prerequisites, in order, against the zone as it is now.
fn check_prerequisites(writer: &ZoneWriter<'_, '_>, msg: &wire::Message, apex: &[u8]) -> Result<(), Fail> {
    // Value-dependent "RRset exists" prerequisites are compared per RRset, once all are read.
    let mut expected: BTreeMap<(Vec<u8>, u16), Vec<Vec<u8>>> = BTreeMap::new();
    for rr in &msg.answers {
        if rr.ttl != 0 {
            return fail(rcode::FORMERR, "a prerequisite has a TTL other than 0");
        }
        let owner = in_zone(rr, apex)?;
        let section = writer.section_at(apex, &owner)?;
        let (sets, _) = rrsets(section.as_ref());
        let shown = || name::wire_to_text(&rr.owner);
        match (rr.class, rr.rtype) {
            (CLASS_ANY | CLASS_NONE, _) if !rr.rdata.is_empty() => {
                return fail(rcode::FORMERR, "a prerequisite of class ANY or NONE has RDATA")
            }
            (CLASS_ANY, rtype::ANY) if sets.is_empty() => return fail(rcode::NXDOMAIN, format!("{} is not in use", shown())),
            (CLASS_ANY, t) if t != rtype::ANY && !sets.keys().any(|(st, _)| *st == t) => {
                return fail(rcode::NXRRSET, format!("{} has no {t} RRset", shown()))
            }
            (CLASS_NONE, rtype::ANY) if !sets.is_empty() => return fail(rcode::YXDOMAIN, format!("{} is in use", shown())),
            (CLASS_NONE, t) if t != rtype::ANY && sets.keys().any(|(st, _)| *st == t) => {
                return fail(rcode::YXRRSET, format!("{} has a {t} RRset", shown()))
            }
            (CLASS_ANY | CLASS_NONE, _) => {}
            (CLASS_IN, _) => expected.entry((owner, rr.rtype)).or_default().push(rr.rdata.clone()),
            _ => return fail(rcode::FORMERR, format!("a prerequisite of class {}", rr.class)),
        }
    }
    for ((owner, t), mut want) in expected {
        let section = writer.section_at(apex, &owner)?;
        let (sets, _) = rrsets(section.as_ref());
        let mut have: Vec<Vec<u8>> = sets.iter().filter(|((st, _), _)| *st == t).flat_map(|(_, r)| r.rdatas.clone()).collect();
        // Names in RDATA compare without case (RFC 2136 §3.2.3 compares RRsets as sets).
        for v in have.iter_mut().chain(want.iter_mut()) {
            v.make_ascii_lowercase();
        }
        have.sort();
        have.dedup();
        want.sort();
        want.dedup();
        if have != want {
            return fail(rcode::NXRRSET, format!("the {t} RRset of {} is not the one required", name::key_to_text(&owner)));
        }
    }
    Ok(())
}

/// One checked record of the update section.
struct Update {
    owner_key: Vec<u8>,
    owner: Vec<u8>,
    class: u16,
    rtype: u16,
    ttl: u32,
    rdata: Vec<u8>,
}

/// §3.4.1: every update record is checked before any is applied.
fn prescan(msg: &wire::Message, apex: &[u8]) -> Result<Vec<Update>, Fail> {
    let meta_type = |t: u16| {
        matches!(t, rtype::AXFR | rtype::IXFR | rtype::MAILA | rtype::MAILB | rtype::OPT | rtype::TSIG)
            || (128..=255).contains(&t) && t != rtype::ANY
    };
    let mut updates = Vec::with_capacity(msg.authority.len());
    for rr in &msg.authority {
        let owner_key = in_zone(rr, apex)?;
        match rr.class {
            CLASS_IN => {
                if rr.rtype == rtype::ANY || meta_type(rr.rtype) {
                    return fail(rcode::FORMERR, format!("cannot add records of type {}", rr.rtype));
                }
                crate::zonefile::check_rdata(rr.rtype, &rr.rdata)
                    .map_err(|e| Fail(rcode::FORMERR, format!("{}: {e}", name::wire_to_text(&rr.owner))))?;
            }
            CLASS_ANY => {
                if rr.ttl != 0 || !rr.rdata.is_empty() || meta_type(rr.rtype) {
                    return fail(rcode::FORMERR, "a delete of class ANY needs TTL 0 and no RDATA");
                }
            }
            CLASS_NONE => {
                if rr.ttl != 0 || rr.rtype == rtype::ANY || meta_type(rr.rtype) {
                    return fail(rcode::FORMERR, "a delete of class NONE needs TTL 0 and a record type");
                }
            }
            other => return fail(rcode::FORMERR, format!("an update of class {other}")),
        }
        updates.push(Update { owner_key, owner: rr.owner.clone(), class: rr.class, rtype: rr.rtype, ttl: rr.ttl, rdata: rr.rdata.clone() });
    }
    Ok(updates)
}

/// §3.4.2: one update record; returns how many records changed.
fn apply_one(writer: &mut ZoneWriter<'_, '_>, apex: &[u8], meta: &ZoneMeta, u: &Update) -> Result<usize, Fail> {
    let at_apex = u.owner_key == apex;
    let section = writer.section_at(apex, &u.owner_key)?;
    let (sets, variants) = rrsets(section.as_ref());
    let has_variants_of =
        |t: u16| section.as_ref().is_some_and(|s| s.rrsets.iter().any(|r| !r.condition.is_empty() && (t == rtype::ANY || r.rtype == t)));
    if has_variants_of(u.rtype) || (u.class == CLASS_ANY && u.rtype == rtype::ANY && variants) {
        return fail(
            rcode::REFUSED,
            format!("{} has geo variants, which UPDATE cannot express; change them with lmdns-loader", name::wire_to_text(&u.owner)),
        );
    }
    match (u.class, u.rtype) {
        (CLASS_IN, t) => {
            if t == rtype::SOA {
                // Only at the apex, and only a newer serial replaces the SOA.
                let new = lmdb_schema::zone::soa_from_rdata(&u.rdata).map(|f| f.serial);
                if !at_apex || !new.is_some_and(|s| serial_gt(s, meta.soa.serial)) {
                    return Ok(0);
                }
            }
            let cname_here = sets.contains_key(&(rtype::CNAME, 0));
            let other_data = sets.keys().any(|(st, _)| !matches!(*st, rtype::CNAME | rtype::RRSIG | rtype::NSEC | rtype::NSEC3));
            // A CNAME beside other data, or other data beside a CNAME: the update is ignored.
            if (t == rtype::CNAME && other_data)
                || (t != rtype::CNAME && !matches!(t, rtype::RRSIG | rtype::NSEC | rtype::NSEC3) && cname_here)
            {
                return Ok(0);
            }
            if t == rtype::CNAME && cname_here {
                // Replaces the CNAME there.
                writer.delete(&u.owner, rtype::CNAME, None, b"")?;
            }
            let rr = Rr { owner: u.owner.clone(), ttl: u.ttl, rtype: t, rdata: u.rdata.clone(), condition: Vec::new() };
            Ok(usize::from(writer.add(&rr).map_err(|e| match e {
                ZoneError::Build(b) => Fail(rcode::REFUSED, b.to_string()),
                other => Fail::from(other),
            })?))
        }
        (CLASS_ANY, rtype::ANY) => {
            let mut removed = 0;
            for (st, _) in sets.keys() {
                if at_apex && matches!(*st, rtype::SOA | rtype::NS) {
                    continue;
                }
                removed += writer.delete(&u.owner, *st, None, b"")?;
            }
            Ok(removed)
        }
        (CLASS_ANY, t) => {
            if at_apex && matches!(t, rtype::SOA | rtype::NS) {
                return Ok(0);
            }
            Ok(writer.delete(&u.owner, t, None, b"")?)
        }
        (_, t) => {
            // CLASS NONE: one record.
            if t == rtype::SOA {
                return Ok(0);
            }
            if at_apex && t == rtype::NS && sets.get(&(rtype::NS, 0)).is_some_and(|r| r.rdatas.len() <= 1) {
                return Ok(0);
            }
            Ok(writer.delete(&u.owner, t, Some(&u.rdata), b"")?)
        }
    }
}
