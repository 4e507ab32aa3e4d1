//! lmdns as a secondary: zones copied from primaries (Knot, BIND, PowerDNS, another lmdns) by
//! IXFR (RFC 1995) or AXFR (RFC 5936), kept fresh by the SOA timers (RFC 1034 §4.3.5) and NOTIFY
//! (RFC 1996), and catalog zones followed as a consumer (RFC 9432). It all runs inside
//! `lmdns-loader serve`, the one writer: every transfer is applied through the same
//! [`crate::zones::ZoneWriter`] as any other change, and committed as one LMDB transaction with
//! its journal entry, so readers see the old zone or the new one and this box can in turn be a
//! primary (IXFR chains).
//!
//! * [`client`]: SOA queries and transfers over the network, TSIG-signed.
//! * [`config`]: secondary zones, followed catalogs and catalog groups configured.
//! * [`apply`]: a transfer checked and applied to the database, with the zone's state.
//! * [`timers`]: when a zone is refreshed next, and when it expires.
//! * [`daemon`]: the scheduler and transfer threads inside `serve`.
//! * [`notify`]: NOTIFY from primaries.
//! * [`catalog`]: a followed catalog's members made into secondary zones.

pub mod apply;
pub mod catalog;
pub mod client;
pub mod config;
pub mod daemon;
pub mod notify;
pub mod timers;

use std::time::{SystemTime, UNIX_EPOCH};

use heed::RoTxn;
use lmdb_schema::secondary::SecondaryZone;
use lmdb_schema::{name, Store};
use lmdns_proto::tsig::{Algorithm, Key};

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Every secondary zone, by apex key.
pub fn list(store: &Store, txn: &RoTxn) -> anyhow::Result<Vec<(Vec<u8>, SecondaryZone)>> {
    let mut out = Vec::new();
    for item in store.secondary_zones.iter(txn).map_err(|e| store.error(e))? {
        let (key, value) = item.map_err(|e| store.error(e))?;
        let zone = SecondaryZone::decode(value).map_err(|e| anyhow::anyhow!("secondary zone {}: {e}", name::key_to_text(key)))?;
        out.push((key.to_vec(), zone));
    }
    Ok(out)
}

/// One secondary zone's record.
pub fn get(store: &Store, txn: &RoTxn, apex_key: &[u8]) -> anyhow::Result<Option<SecondaryZone>> {
    match store.secondary_zones.get(txn, apex_key).map_err(|e| store.error(e))? {
        Some(bytes) => {
            Ok(Some(SecondaryZone::decode(bytes).map_err(|e| anyhow::anyhow!("secondary zone {}: {e}", name::key_to_text(apex_key)))?))
        }
        None => Ok(None),
    }
}

/// The TSIG key `name` (absolute, lower case) from the database.
pub fn tsig_key(store: &Store, txn: &RoTxn, key_name: &str) -> Result<Key, String> {
    let wire = name::key_to_wire(&name::key_from_dotted(key_name).map_err(|e| format!("key name {key_name}: {e}"))?);
    let (algorithm, secret) =
        lmdb_schema::keys::StoredKey::lookup(store, txn, &wire).ok_or_else(|| format!("no TSIG key {key_name} in the database"))?;
    let algorithm = Algorithm::from_name(&algorithm).ok_or_else(|| format!("TSIG key {key_name}: unknown algorithm"))?;
    Ok(Key { name: wire, algorithm, secret })
}
