//! A transfer checked and applied, inside the writer's transaction, through the same
//! [`ZoneWriter`] as every other change (so with its journal entry and change-log line), and the
//! zone's secondary state (serial, timers, errors, expiry) updated in the same transaction.
//!
//! Checks before anything is committed: every record's RDATA as `zone import` checks it, every
//! owner inside the zone, the zone's name rules (CNAME alone, SOA and NS at the apex: the
//! zone tree's own checks), and a serial that moves forward (RFC 1982). An incremental transfer
//! must also fit our copy exactly — each sequence starting at the serial we hold and every
//! record it deletes present — or it is dropped for an AXFR, as RFC 1995 §5 suggests.

use heed::RwTxn;
use lmdb_schema::journal::serial_gt;
use lmdb_schema::meta_keys;
use lmdb_schema::secondary::{self, SecondaryZone};
use lmdb_schema::zone::{soa_from_rdata, GeoPolicy, SoaFields};
use lmdb_schema::{geo_rr, name, rtype, Store};
use lmdns_proto::wire::Record;

use super::client::{Received, Sink, Style};
use super::timers::Timers;
use crate::zones::{geo, ImportSerial, Rr, ZoneError, ZoneTree, ZoneWriter};

const CLASS_IN: u16 = 1;

/// A record of a transfer, as stored: data (default or a geo variant), or the zone's policy.
enum Item {
    Rr(Rr),
    Policy(GeoPolicy),
}

fn describe(r: &Record) -> String {
    format!("{} {}", name::wire_to_text(&r.owner), crate::zonefile::type_name(r.rtype))
}

/// Checks one transferred record and turns it into what is stored.
fn convert(r: Record, apex_key: &[u8]) -> Result<Item, String> {
    let at = || describe(&r);
    if r.class != CLASS_IN {
        return Err(format!("{}: class {} (only IN is served)", at(), r.class));
    }
    let owner = name::key_from_wire(&r.owner).map_err(|e| format!("{}: {e}", at()))?;
    if !name::is_at_or_below(&owner, apex_key) {
        return Err(format!("{} is outside the zone {}", at(), name::key_to_text(apex_key)));
    }
    match r.rtype {
        rtype::LMDNS_VARIANT => {
            let (rtype, condition, rdata) =
                geo_rr::decode_variant(&r.rdata).ok_or_else(|| format!("{}: a variant that does not frame", at()))?;
            geo::check_condition_bytes(condition).map_err(|e| format!("{}: {e}", at()))?;
            crate::zonefile::check_rdata(rtype, rdata).map_err(|e| format!("{}: {e}", at()))?;
            Ok(Item::Rr(Rr { owner: r.owner.clone(), ttl: r.ttl, rtype, rdata: rdata.to_vec(), condition: condition.to_vec() }))
        }
        rtype::LMDNS_POLICY => {
            if owner != apex_key {
                return Err(format!("{}: a policy away from the apex", at()));
            }
            let policy: GeoPolicy = serde_json::from_slice(&r.rdata).map_err(|e| format!("{}: {e}", at()))?;
            geo::check_policy(&policy).map_err(|e| format!("{}: {e}", at()))?;
            Ok(Item::Policy(policy))
        }
        t => {
            crate::zonefile::check_rdata(t, &r.rdata).map_err(|e| format!("{}: {e}", at()))?;
            Ok(Item::Rr(Rr { owner: r.owner, ttl: r.ttl, rtype: t, rdata: r.rdata, condition: Vec::new() }))
        }
    }
}

/// Collects a transfer as it arrives: a whole zone straight into a zone tree (a large zone is
/// held once, as the tree), a difference as its records (checked, in order).
pub struct Collector {
    apex_key: Vec<u8>,
    style: Option<Style>,
    tree: Option<ZoneTree>,
    policy: Option<GeoPolicy>,
    items: Vec<Item>,
    /// Records received (for the log).
    pub records: u64,
}

impl Collector {
    pub fn new(apex_key: &[u8]) -> Collector {
        Collector { apex_key: apex_key.to_vec(), style: None, tree: None, policy: None, items: Vec::new(), records: 0 }
    }
}

impl Sink for Collector {
    fn begin(&mut self, style: Style, soa: &Record) -> Result<(), String> {
        *self = Collector::new(&self.apex_key);
        self.style = Some(style);
        // A whole zone starts with its SOA; difference sequences carry their own SOAs, the
        // opening one is only the envelope.
        if style == Style::Full {
            self.tree = Some(ZoneTree::new(&name::key_to_wire(&self.apex_key)).map_err(|e| e.to_string())?);
            self.record(soa.clone())?;
        }
        Ok(())
    }

    fn record(&mut self, record: Record) -> Result<(), String> {
        self.records += 1;
        let at = describe(&record);
        let item = convert(record, &self.apex_key)?;
        match (&mut self.tree, item) {
            (Some(tree), Item::Rr(rr)) => {
                tree.insert(&rr).map_err(|e| format!("{at}: {e}"))?;
            }
            (Some(_), Item::Policy(p)) => {
                if self.policy.replace(p).is_some() {
                    return Err(format!("{at}: a second policy"));
                }
            }
            (None, item) => self.items.push(item),
        }
        Ok(())
    }
}

/// Why a transfer was not applied.
#[derive(Debug)]
pub enum Rejected {
    /// A difference that does not fit our copy: try a full transfer.
    Inconsistent(String),
    /// The transfer breaks a rule (serial, zone checks): nothing is applied.
    Refused(String),
}

impl From<ZoneError> for Rejected {
    fn from(e: ZoneError) -> Rejected {
        Rejected::Refused(e.to_string())
    }
}

/// What a transfer changed.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub style: Style,
    pub serial: u32,
    pub records: u64,
    /// The zone's content changed (false: it was current, or identical).
    pub changed: bool,
}

/// Applies a collected transfer to the zone at `apex_key`, whose copy here has serial `ours`
/// (None: no copy yet).
pub fn apply(
    store: &Store,
    txn: &mut RwTxn<'_>,
    apex_key: &[u8],
    collected: Collector,
    received: Received,
    ours: Option<u32>,
) -> Result<Applied, Rejected> {
    let serial = received.serial;
    let mut applied = Applied { style: received.style, serial, records: 0, changed: false };
    if let Some(ours) = ours {
        if serial == ours || received.style == Style::UpToDate {
            return Ok(Applied { serial: ours, ..applied });
        }
        if !serial_gt(serial, ours) {
            return Err(Rejected::Refused(format!("the primary's serial {serial} is not ahead of ours, {ours} (RFC 1982)")));
        }
    } else if received.style != Style::Full {
        return Err(Rejected::Inconsistent("a difference, and we hold no copy".into()));
    }
    let mut writer = ZoneWriter::for_transfer(store, txn);
    match received.style {
        Style::Full => {
            let tree = collected.tree.ok_or_else(|| Rejected::Refused("an empty transfer".into()))?;
            writer.replace_zone(tree, Some(collected.policy), ImportSerial::MustAdvance)?;
        }
        Style::Incremental => apply_sequences(&mut writer, apex_key, collected.items, ours.unwrap_or(0), serial)?,
        Style::UpToDate => unreachable!("handled above"),
    }
    let summaries = writer.finish(false)?;
    if let Some(s) = summaries.iter().find(|s| s.changed) {
        applied.changed = true;
        applied.records = s.records;
        applied.serial = s.serial;
    }
    Ok(applied)
}

/// Applies RFC 1995 difference sequences (`old SOA, deleted..., new SOA, added...` each).
fn apply_sequences(writer: &mut ZoneWriter<'_, '_>, apex_key: &[u8], items: Vec<Item>, ours: u32, last: u32) -> Result<(), Rejected> {
    let soa_serial = |item: &Item| match item {
        Item::Rr(rr) if rr.rtype == rtype::SOA => soa_from_rdata(&rr.rdata).map(|f| f.serial),
        _ => None,
    };
    let inconsistent = |why: String| Rejected::Inconsistent(why);
    let mut current = ours;
    let mut items = items.into_iter().peekable();
    while let Some(old) = items.next() {
        let from = soa_serial(&old).ok_or_else(|| inconsistent("a difference sequence that does not start with an SOA".into()))?;
        if from != current {
            return Err(inconsistent(format!("a difference from serial {from}; our copy is at {current}")));
        }
        let mut policy_removed = false;
        while let Some(item) = items.next_if(|i| soa_serial(i).is_none()) {
            match item {
                Item::Rr(rr) => {
                    if writer.delete_in(apex_key, &rr.owner, rr.rtype, Some(&rr.rdata), &rr.condition)? == 0 {
                        let what = format!("{} {}", name::wire_to_text(&rr.owner), crate::zonefile::type_name(rr.rtype));
                        return Err(inconsistent(format!("{what} to delete (serial {from}) is not in our copy")));
                    }
                }
                Item::Policy(_) => policy_removed = true,
            }
        }
        let new = items.next().ok_or_else(|| inconsistent(format!("the difference from serial {from} has no new SOA")))?;
        let to = soa_serial(&new).expect("stopped at an SOA");
        let mut policy_added = None;
        while let Some(item) = items.next_if(|i| soa_serial(i).is_none()) {
            match item {
                Item::Rr(rr) => {
                    writer.add_in(apex_key, &rr)?;
                }
                Item::Policy(p) => policy_added = Some(p),
            }
        }
        if let Item::Rr(soa) = new {
            writer.add_in(apex_key, &soa)?;
        }
        if policy_added.is_some() || policy_removed {
            writer.set_policy(&name::key_to_wire(apex_key), policy_added)?;
        }
        current = to;
    }
    if current != last {
        return Err(inconsistent(format!("the differences end at serial {current}, not at the primary's {last}")));
    }
    Ok(())
}

/// Notes a successful refresh (a transfer, or an SOA query that found the copy current):
/// the next refresh from the zone's SOA, the expiry timer restarted.
pub fn succeeded(state: &mut SecondaryZone, soa: &SoaFields, how: Style, bytes: u64, now: u64, timers: &Timers) {
    state.serial = Some(soa.serial);
    state.last_refresh = now;
    state.last_success = now;
    state.next_refresh = timers.after_success(now, soa);
    state.expires_at = Some(timers.expires_at(now, soa));
    state.expired = false;
    state.last_error = None;
    state.failures = 0;
    if how != Style::UpToDate {
        state.last_transfer = Some(how.name().to_string());
        state.transfers_ok += 1;
        state.bytes_in += bytes;
        match how {
            Style::Incremental => state.ixfr_ok += 1,
            _ => state.axfr_ok += 1,
        }
    }
}

/// Notes a failed refresh: tried again after SOA RETRY (or, never transferred, a backoff); a
/// copy past its expiry is now expired.
pub fn failed(state: &mut SecondaryZone, error: String, soa: Option<&SoaFields>, transfer: bool, now: u64, timers: &Timers) {
    state.last_refresh = now;
    state.last_error = Some(error);
    state.failures += 1;
    state.next_refresh = timers.after_failure(now, soa, state.failures);
    if transfer {
        state.transfers_failed += 1;
    }
    if state.expires_at.is_some_and(|at| now >= at) {
        state.expired = true;
    }
}

/// Writes the zone's state, and its entry in the expired-zones list the server reads, when
/// its expiry changed.
pub fn store_state(writer: &mut ZoneWriter<'_, '_>, apex_key: &[u8], state: &SecondaryZone) -> Result<(), ZoneError> {
    let was_expired = writer.secondary(apex_key)?.is_some_and(|s| s.expired);
    writer.set_secondary(apex_key, Some(state))?;
    if was_expired != state.expired {
        set_expired(writer, apex_key, state.expired)?;
    }
    Ok(())
}

/// Adds `apex_key` to (or takes it off) the expired-zones list. A zone that goes on or off it
/// is answered differently (SERVFAIL, or its data again): the commit logs it as the zone's
/// change, so the server's answer caches drop its answers.
pub fn set_expired(writer: &mut ZoneWriter<'_, '_>, apex_key: &[u8], expired: bool) -> Result<(), ZoneError> {
    let store = *writer.store();
    let txn = writer.txn_mut();
    let lmdb = |e| ZoneError::Store(store.error(e));
    let list = store.meta.get(txn, meta_keys::EXPIRED_ZONES).map_err(lmdb)?.unwrap_or_default();
    let was_listed = secondary::is_expired(list, apex_key);
    let mut apexes: Vec<Vec<u8>> = secondary::decode_expired(list).filter(|a| *a != apex_key).map(<[u8]>::to_vec).collect();
    if expired {
        apexes.push(apex_key.to_vec());
    }
    if was_listed != expired {
        writer.note_answers_changed(apex_key);
    }
    let txn = writer.txn_mut();
    if apexes.is_empty() {
        store.meta.delete(txn, meta_keys::EXPIRED_ZONES).map_err(lmdb)?;
    } else {
        store.meta.put(txn, meta_keys::EXPIRED_ZONES, &secondary::encode_expired(&apexes)).map_err(lmdb)?;
    }
    Ok(())
}
