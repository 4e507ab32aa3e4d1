//! IP-range tables: map any IPv4/IPv6 address to the metadata of the range that contains it.
//!
//! # On-disk format
//!
//! A database holds any number of *named tables* (the default is [`DEFAULT_TABLE`], `geo`).
//! Table names are 1–64 characters of `[A-Za-z0-9_.-]` (see [`validate_table_name`]).
//!
//! Per table there are two LMDB named databases, plain (no DUPSORT, one value per key):
//!
//! * `range4:<table>` — IPv4 ranges. Key: the range's start address, 4 bytes big-endian.
//! * `range6:<table>` — IPv6 ranges. Key: the range's start address, 16 bytes big-endian.
//!
//! Big-endian keys make LMDB's default bytewise order the numeric address order, so the range
//! containing an address is found by a *floor* search (greatest start ≤ address) followed by
//! the check address ≤ end.
//!
//! Value: JSON holding `end`, the range's last address (inclusive) as lowercase hex — 8 digits
//! for IPv4, 32 for IPv6 — and the range's free-form metadata, in one of three forms. Readers
//! accept all of them in any table, value by value (the first byte tells), so a table written
//! by an older loader keeps answering until it is re-imported:
//!
//! * inline (first form): a compact JSON object whose first member is `end`, followed by the
//!   metadata members, e.g. `{"end":"01008100","asn":1136,"country":"NL","pop":"ams"}`.
//!   Writers put `end` first so readers take it from a fixed prefix without a JSON parse (they
//!   fall back to a full parse if it is not there). `ranges add` writes this form.
//! * packed (third form): a JSON string of the hex end, `#` and a metadata record id in hex,
//!   `"01008100#11"`. Older loaders wrote the same two parts as a JSON array with a decimal
//!   id, `["01008100",17]` (second form); the string is what `ranges import` writes now, 2–4
//!   bytes shorter per range. In both the hex end may leave out trailing `f` digits (at least
//!   one digit stays; readers pad with `f`: `"010000#11"` ends at 1.0.0.255), which CIDR ends
//!   have in all their host bits. The loader numbers records by use (the most shared is 0).
//!   The metadata object is stored once per table and id, as record `id` (below), however many
//!   ranges share it: GeoLite2-City's 3.4M networks have 458k distinct objects of ~450 bytes,
//!   so inline values made the table 28× the `.mmdb`.
//!
//! Address bytes never appear raw inside JSON: a raw byte above 0x7f is not valid UTF-8 and once
//! broke non-CIDR ranges such as `1.0.0.0–1.0.129.0`. The metadata may not use the key `end`
//! (it would be ambiguous) — nor, by convention of the loader's input formats, `start` or
//! `network`.
//!
//! Metadata records live in the `range_tables` database beside the table names, so every handle
//! on a table (even one opened before the table's re-import) reaches them: key = table name, a
//! 0 byte, the id as 4 bytes big-endian ([`meta_key`]; no table name contains a 0 byte); value
//! = the metadata as a compact JSON object, keys sorted (`{}` for none) — exactly the members an
//! inline value holds after `end` — or keyed, `[<schema id>,v1,…]` with the key list stored once
//! as schema record ([`schema_key`], see `record.rs`). A schema starting with `null`
//! (`[null,"k1",…]`) marks a record with a *part*: its first value is a part id, and part record
//! `id` ([`part_key`]: table name, 0, ff ff ff fe, id) holds the rest of the members, keyed too;
//! the object is both member lists merged in key order. `ranges import --locations` stores
//! each GeoLite2 location's members once as a part (120k parts under 458k records: −22 MB).
//! A re-import replaces the table's records with its ranges; a `ranges delete` leaves a record
//! no range points to until then.
//!
//! Ranges in a table never overlap; ranges need not be CIDR-aligned. The loader (the only
//! writer) guarantees both, so readers trust it and only check `address ≤ end`.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are IPv4: lookups of them search the IPv4
//! database, and the loader stores ranges that lie wholly inside `::ffff:0:0/96` as IPv4.
//!
//! The list of tables is the `range_tables` database ([`TABLES_DB`]): key = table name (UTF-8;
//! keys with a 0 byte are metadata records), value = a JSON object reserved for table-level information (currently `{}`). A table exists
//! iff it has a key there; its range counts come from LMDB's O(1) database statistics.
//! `drop` empties a table's two databases and removes its key and metadata records; LMDB keeps the (empty) named
//! databases themselves, which costs two of the environment's `max_dbs` slots until the name
//! is reused.

mod cache;
mod record;
mod schemas;
mod value;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use heed::types::Bytes;
use heed::{Database, DatabaseOpener, RoTxn, RwTxn};
use serde_json::{Map, Value};

pub use cache::{CachedRange, RangeCache, Span};
pub use record::{part_id, rebuild, rebuild_into, rebuild_merged, record_schema, split_object, Items, Pairs};
pub use schemas::SchemaCache;
pub use value::{
    decode_end, decode_value, encode_shared_value, encode_value, meta_key, meta_key_bounds, metadata_json, parse_metadata, part_key,
    schema_key, Stored, META_KEY_MAX,
};

use crate::store::{Store, StoreError};

/// The table used when a command names none.
pub const DEFAULT_TABLE: &str = "geo";
/// Named database listing the range tables (key = table name).
pub const TABLES_DB: &str = "range_tables";
/// Prefix of a table's IPv4 database name.
pub const V4_PREFIX: &str = "range4:";
/// Prefix of a table's IPv6 database name.
pub const V6_PREFIX: &str = "range6:";
/// Longest table name accepted.
pub const MAX_TABLE_NAME: usize = 64;

/// The IPv4 database of `table`.
pub fn v4_db_name(table: &str) -> String {
    format!("{V4_PREFIX}{table}")
}

/// The IPv6 database of `table`.
pub fn v6_db_name(table: &str) -> String {
    format!("{V6_PREFIX}{table}")
}

#[derive(Debug, thiserror::Error)]
pub enum RangeError {
    #[error("invalid range table name {0:?}: use 1-64 characters of A-Z a-z 0-9 _ . -")]
    InvalidTableName(String),
    #[error("no range table named {0:?} (`ranges list` shows the tables)")]
    NoSuchTable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Table names end up in LMDB database names and on command lines: keep them boring.
pub fn validate_table_name(name: &str) -> Result<(), RangeError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TABLE_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(RangeError::InvalidTableName(name.to_string()))
    }
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; every other address unchanged.
#[inline]
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// One range as stored: zero-copy view into the transaction's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeHit<'txn> {
    pub start: IpAddr,
    pub end: IpAddr,
    /// The stored JSON holding the metadata: for an inline value the range's value itself
    /// (`{"end":"…",…metadata}`), for a shared one its metadata record (`{…metadata}`).
    pub value: &'txn [u8],
    /// The metadata record id of a shared value; `None` for an inline one.
    pub shared: Option<u32>,
    /// For a keyed record (`[<schema id>,values…]`), its schema record (`["key",…]`).
    pub schema: Option<&'txn [u8]>,
    /// For a keyed record with a part (its schema starts with `null`), the part record and, if
    /// keyed, the part's schema: the part's members complete the metadata.
    pub part: Option<(&'txn [u8], Option<&'txn [u8]>)>,
}

impl<'txn> RangeHit<'txn> {
    /// The metadata, parsed (allocates; cache the result, see [`RangeCache`]).
    pub fn metadata(&self) -> Result<Map<String, Value>, StoreError> {
        match self.schema {
            Some(_) => parse_metadata(self.metadata_json()?.as_bytes()),
            None => parse_metadata(self.value),
        }
    }

    /// The JSON text of metadata member `key` (e.g. `"NL"` with its quotes, `1136`), found by
    /// scanning, without a parse; `None` if the metadata has no such member.
    #[inline]
    pub fn member(&self, key: &str) -> Option<&'txn [u8]> {
        match record::member(self.value, self.schema, key) {
            Some(v) => Some(v),
            None => self.part.and_then(|(part, schema)| record::member(part, schema, key)),
        }
    }

    /// The metadata as compact JSON object text (no parse in the common case).
    pub fn metadata_json(&self) -> Result<Cow<'txn, str>, StoreError> {
        if let Some(schema) = self.schema {
            let mut out =
                Vec::with_capacity(self.value.len() + schema.len() + self.part.map_or(0, |(p, s)| p.len() + s.map_or(0, <[u8]>::len)));
            let part = self.part.map(|(p, s)| record::Pairs::new(p, s));
            return record::rebuild_merged(record::Pairs::new(self.value, Some(schema)), part, &mut out)
                .and_then(|()| String::from_utf8(out).ok())
                .map(Cow::Owned)
                .ok_or_else(|| StoreError::Corrupt("range metadata record does not match its schema".into()));
        }
        if self.shared.is_some() {
            // A record is the metadata object itself: borrowed, no copy.
            return std::str::from_utf8(self.value)
                .map(Cow::Borrowed)
                .map_err(|_| StoreError::Corrupt("range metadata is not UTF-8".into()));
        }
        metadata_json(self.value)
    }

    /// Deserializes the whole value into `T` (which may ignore `end`); borrows from the map
    /// where `T` does (`&'txn str` fields).
    pub fn decode<T: serde::Deserialize<'txn>>(&self) -> Result<T, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("range metadata: {e}"));
        match self.schema {
            Some(schema) => {
                if record::record_schema(self.value).is_none() {
                    return Err(StoreError::Corrupt("range metadata record is not [<schema id>,…]".into()));
                }
                let part = self.part.map(|(p, s)| record::Pairs::new(p, s));
                let merged = record::Merged::new(record::Pairs::new(self.value, Some(schema)), part);
                T::deserialize(serde::de::value::MapAccessDeserializer::new(merged)).map_err(corrupt)
            }
            None => serde_json::from_slice(self.value).map_err(corrupt),
        }
    }
}

/// Handle on one range table: three LMDB database handles and the table's name, `Copy`, valid
/// for the process (LMDB database handles outlive the transaction that opened them). Open it
/// once — at startup, or again when a table that did not exist then appears — and use it with
/// any read transaction.
#[derive(Clone, Copy)]
pub struct RangeTable {
    pub v4: Database<'static, Bytes, Bytes>,
    pub v6: Database<'static, Bytes, Bytes>,
    /// [`TABLES_DB`]: the table list and the metadata records.
    pub tables: Database<'static, Bytes, Bytes>,
    /// The table name (validated, at most [`MAX_TABLE_NAME`] bytes), inline to stay `Copy`.
    name: [u8; MAX_TABLE_NAME],
    name_len: u8,
}

impl RangeTable {
    /// Opens table `name` inside a [`heed::Env::open_databases_and_commit`] closure, so callers
    /// can open their other databases in the same step. `None` if it does not exist.
    pub fn open_with(
        opener: &DatabaseOpener<'static, heed::WithTls>,
        rtxn: &RoTxn<'static>,
        name: &str,
    ) -> Result<Option<RangeTable>, heed::Error> {
        let tables = opener.open_database::<Bytes, Bytes>(rtxn, Some(TABLES_DB))?;
        let Some(tables) = tables else { return Ok(None) };
        if tables.get(rtxn, name.as_bytes())?.is_none() {
            return Ok(None);
        }
        let v4 = opener.open_database::<Bytes, Bytes>(rtxn, Some(&v4_db_name(name)))?;
        let v6 = opener.open_database::<Bytes, Bytes>(rtxn, Some(&v6_db_name(name)))?;
        Ok(match (v4, v6) {
            (Some(v4), Some(v6)) => Some(RangeTable::new(v4, v6, tables, name)),
            _ => None,
        })
    }

    /// Opens table `name` with a short read transaction of its own. Call it while this thread
    /// holds no other read transaction (heed's TLS read transactions: one per thread).
    pub fn open(store: &Store, name: &str) -> Result<Option<RangeTable>, RangeError> {
        validate_table_name(name)?;
        let rtxn = store.read_txn()?;
        let opened = rtxn
            .consume(|rtxn| {
                store.env().open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
                    Ok(heed::CommitOrAbort::<_, ()>::Commit(RangeTable::open_with(opener, rtxn, name)?))
                })
            })
            .map_err(|e| store.error(e))?
            .unwrap_commit();
        Ok(opened)
    }

    /// Creates (or opens) table `name` inside a [`heed::Env::create_databases_and_commit`]
    /// closure and registers it in [`TABLES_DB`]. The handles become usable after the commit;
    /// if the closure aborts, the table is not created.
    pub fn create_with(
        opener: &DatabaseOpener<'static, heed::WithTls>,
        wtxn: &mut RwTxn<'static>,
        name: &str,
    ) -> Result<RangeTable, heed::Error> {
        let tables = opener.create_database::<Bytes, Bytes>(wtxn, Some(TABLES_DB))?;
        let v4 = opener.create_database::<Bytes, Bytes>(wtxn, Some(&v4_db_name(name)))?;
        let v6 = opener.create_database::<Bytes, Bytes>(wtxn, Some(&v6_db_name(name)))?;
        if tables.get(wtxn, name.as_bytes())?.is_none() {
            tables.put(wtxn, name.as_bytes(), b"{}")?;
        }
        Ok(RangeTable::new(v4, v6, tables, name))
    }

    fn new(
        v4: Database<'static, Bytes, Bytes>,
        v6: Database<'static, Bytes, Bytes>,
        tables: Database<'static, Bytes, Bytes>,
        name: &str,
    ) -> RangeTable {
        let mut inline = [0u8; MAX_TABLE_NAME];
        let n = name.len().min(MAX_TABLE_NAME);
        inline[..n].copy_from_slice(&name.as_bytes()[..n]);
        RangeTable { v4, v6, tables, name: inline, name_len: n as u8 }
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.name[..self.name_len as usize]).unwrap_or("")
    }

    /// Metadata record `id` of this table (a stack-built key: no allocation).
    #[inline]
    pub fn meta_record<'txn>(&self, txn: &'txn RoTxn, id: u32) -> Result<&'txn [u8], StoreError> {
        self.side_record(txn, meta_key, id, "metadata record")
    }

    /// The side record (metadata record, part or schema) `id` whose key `make_key` builds.
    #[inline]
    fn side_record<'txn>(
        &self,
        txn: &'txn RoTxn,
        make_key: fn(&[u8], u32, &mut [u8; META_KEY_MAX]) -> usize,
        id: u32,
        what: &str,
    ) -> Result<&'txn [u8], StoreError> {
        let mut key = [0u8; META_KEY_MAX];
        let n = make_key(&self.name[..self.name_len as usize], id, &mut key);
        self.tables
            .get(txn, &key[..n])
            .map_err(StoreError::Lmdb)?
            .ok_or_else(|| StoreError::Corrupt(format!("range table {}: {what} {id} is missing", self.name())))
    }

    /// Part record `id` of this table.
    #[inline]
    fn part_record<'txn>(&self, txn: &'txn RoTxn, id: u32) -> Result<&'txn [u8], StoreError> {
        self.side_record(txn, part_key, id, "metadata part")
    }

    /// The schema id a keyed record names; `None` for an object record.
    #[inline]
    fn keyed_schema_id(&self, record: &[u8]) -> Result<Option<u32>, StoreError> {
        if record.first() != Some(&b'[') {
            return Ok(None);
        }
        match record::record_schema(record) {
            Some((id, _)) => Ok(Some(id)),
            None => Err(StoreError::Corrupt(format!("range table {}: metadata record is not [<schema id>,…]", self.name()))),
        }
    }

    /// Schema record `id` of this table.
    #[inline]
    fn schema_by_id<'txn>(&self, txn: &'txn RoTxn, id: u32) -> Result<&'txn [u8], StoreError> {
        self.side_record(txn, schema_key, id, "metadata schema")
    }

    #[inline]
    fn schema_in<'a>(&self, cache: Option<&'a SchemaCache>, txn: &'a RoTxn, id: u32) -> Result<&'a [u8], StoreError> {
        match cache {
            Some(cache) => cache.get(self, txn, id),
            None => self.schema_by_id(txn, id),
        }
    }

    /// A stored value as a hit: its end and, for a shared value, its metadata record.
    #[inline]
    fn hit<'txn>(&self, txn: &'txn RoTxn, start: IpAddr, value: &'txn [u8]) -> Result<RangeHit<'txn>, StoreError> {
        let (end, stored) = decode_value(value, start.is_ipv4())?;
        self.resolve(txn, start, end, value, stored, None)
    }

    /// The hit of a stored value: its record, the record's part, their schemas (from `cache`
    /// when given, else LMDB).
    #[inline]
    fn resolve<'a>(
        &self,
        txn: &'a RoTxn,
        start: IpAddr,
        end: IpAddr,
        value: &'a [u8],
        stored: Stored,
        mut cache: Option<&'a mut SchemaCache>,
    ) -> Result<RangeHit<'a>, StoreError> {
        let id = match stored {
            Stored::Inline => return Ok(RangeHit { start, end, value, shared: None, schema: None, part: None }),
            Stored::Shared(id) => id,
        };
        let record = self.meta_record(txn, id)?;
        let Some(schema_id) = self.keyed_schema_id(record)? else {
            return Ok(RangeHit { start, end, value: record, shared: Some(id), schema: None, part: None });
        };
        if let Some(cache) = cache.as_deref_mut() {
            cache.ensure(self, txn, schema_id)?;
        }
        let part = match record::part_id(record, self.schema_in(cache.as_deref(), txn, schema_id)?) {
            None => None,
            Some(part_id) => {
                let part = self.part_record(txn, part_id)?;
                let part_schema = self.keyed_schema_id(part)?;
                if let (Some(cache), Some(ps)) = (cache.as_deref_mut(), part_schema) {
                    cache.ensure(self, txn, ps)?;
                }
                Some((part, part_schema))
            }
        };
        let cache: Option<&'a SchemaCache> = cache.map(|c| -> &'a SchemaCache { c });
        let schema = self.schema_in(cache, txn, schema_id)?;
        let part = match part {
            None => None,
            Some((part, None)) => Some((part, None)),
            Some((part, Some(ps))) => Some((part, Some(self.schema_in(cache, txn, ps)?))),
        };
        Ok(RangeHit { start, end, value: record, shared: Some(id), schema: Some(schema), part })
    }

    /// Names of all tables, sorted (opens its own read transaction).
    pub fn list(store: &Store) -> Result<Vec<String>, StoreError> {
        let rtxn = store.read_txn()?;
        rtxn.consume(|rtxn| {
            store.env().open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
                let mut names = Vec::new();
                if let Some(tables) = opener.open_database::<Bytes, Bytes>(rtxn, Some(TABLES_DB))? {
                    for item in tables.iter(rtxn)? {
                        let (key, _) = item?;
                        if !key.contains(&0) {
                            names.push(String::from_utf8_lossy(key).into_owned());
                        }
                    }
                }
                Ok(heed::CommitOrAbort::<_, ()>::Commit(Carry(names)))
            })
        })
        .map(|c| c.unwrap_commit())
        .map_err(|e| store.error(e))
    }

    /// Number of (IPv4, IPv6) ranges.
    pub fn counts(&self, txn: &RoTxn) -> Result<(u64, u64), heed::Error> {
        Ok((self.v4.len(txn)?, self.v6.len(txn)?))
    }

    /// The range containing `ip` (IPv4-mapped IPv6 is looked up as IPv4), zero-copy.
    #[inline]
    pub fn lookup<'txn>(&self, txn: &'txn RoTxn, ip: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        self.lookup_in(txn, ip, None)
    }

    /// [`RangeTable::lookup`] taking a keyed record's schema from `schemas` (this table's, owned
    /// by the calling worker): one B-tree search fewer per lookup. The hit borrows `schemas`.
    #[inline]
    pub fn lookup_with<'a>(&self, schemas: &'a mut SchemaCache, txn: &'a RoTxn, ip: IpAddr) -> Result<Option<RangeHit<'a>>, StoreError> {
        self.lookup_in(txn, ip, Some(schemas))
    }

    #[inline]
    fn lookup_in<'a>(&self, txn: &'a RoTxn, ip: IpAddr, schemas: Option<&'a mut SchemaCache>) -> Result<Option<RangeHit<'a>>, StoreError> {
        match normalize(ip) {
            IpAddr::V4(a) => {
                let key = a.octets();
                let Some((start, value)) = self.v4.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? else {
                    return Ok(None);
                };
                let start: [u8; 4] =
                    start.try_into().map_err(|_| StoreError::Corrupt(format!("IPv4 range key of {} bytes", start.len())))?;
                let (end, stored) = decode_value(value, true)?;
                let IpAddr::V4(end4) = end else { unreachable!("decode_value(v4) returns IPv4") };
                if u32::from(a) > u32::from(end4) {
                    return Ok(None);
                }
                Ok(Some(self.resolve(txn, IpAddr::V4(start.into()), end, value, stored, schemas)?))
            }
            IpAddr::V6(a) => {
                let key = a.octets();
                let Some((start, value)) = self.v6.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? else {
                    return Ok(None);
                };
                let start: [u8; 16] =
                    start.try_into().map_err(|_| StoreError::Corrupt(format!("IPv6 range key of {} bytes", start.len())))?;
                let (end, stored) = decode_value(value, false)?;
                let IpAddr::V6(end6) = end else { unreachable!("decode_value(v6) returns IPv6") };
                if u128::from(a) > u128::from(end6) {
                    return Ok(None);
                }
                Ok(Some(self.resolve(txn, IpAddr::V6(start.into()), end, value, stored, schemas)?))
            }
        }
    }

    /// For an address in no range: the gap it falls in, from just past the range below it (or
    /// the family's first address) to just before the range above it (or the last address).
    pub fn gap(&self, txn: &RoTxn, ip: IpAddr) -> Result<(IpAddr, IpAddr), StoreError> {
        let ip = normalize(ip);
        let (first, last) = match ip {
            IpAddr::V4(_) => (IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V4(Ipv4Addr::BROADCAST)),
            IpAddr::V6(_) => (IpAddr::V6(Ipv6Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::from(u128::MAX))),
        };
        let start = match self.floor(txn, ip)? {
            Some(below) if below.end < ip => step(below.end, 1),
            Some(_) => return Err(StoreError::Corrupt(format!("{ip} is inside a range but was looked up as a gap"))),
            None => first,
        };
        let end = match self.next_after(txn, ip)? {
            Some(above) => step(above.start, -1),
            None => last,
        };
        Ok((start, end))
    }

    /// The range starting exactly at `start` (after normalization), if any.
    pub fn get<'txn>(&self, txn: &'txn RoTxn, start: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        let (db, key, _) = self.db_key(start);
        Ok(match db.get(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some(value) => Some(self.hit(txn, normalize(start), value)?),
            None => None,
        })
    }

    /// The range with the smallest start greater than `start`, in the same family.
    pub fn next_after<'txn>(&self, txn: &'txn RoTxn, start: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        let (db, key, _) = self.db_key(start);
        match db.get_greater_than(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some((k, value)) => Ok(Some(self.hit(txn, key_to_ip(k)?, value)?)),
            None => Ok(None),
        }
    }

    /// The range with the greatest start ≤ `start`, in the same family (whether or not it
    /// contains `start`).
    pub fn floor<'txn>(&self, txn: &'txn RoTxn, start: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        let (db, key, _) = self.db_key(start);
        match db.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some((k, value)) => Ok(Some(self.hit(txn, key_to_ip(k)?, value)?)),
            None => Ok(None),
        }
    }

    /// Every range, IPv4 first, each family in address order.
    pub fn iter<'txn>(&self, txn: &'txn RoTxn) -> Result<impl Iterator<Item = Result<RangeHit<'txn>, StoreError>> + 'txn, StoreError> {
        let v4 = self.v4.iter(txn).map_err(StoreError::Lmdb)?;
        let v6 = self.v6.iter(txn).map_err(StoreError::Lmdb)?;
        let table = *self;
        Ok(v4.chain(v6).map(move |item| {
            let (k, value) = item.map_err(StoreError::Lmdb)?;
            table.hit(txn, key_to_ip(k)?, value)
        }))
    }

    /// Database and key for `ip`, and whether it is IPv4.
    pub fn db_key(&self, ip: IpAddr) -> (Database<'static, Bytes, Bytes>, Vec<u8>, bool) {
        match normalize(ip) {
            IpAddr::V4(a) => (self.v4, a.octets().to_vec(), true),
            IpAddr::V6(a) => (self.v6, a.octets().to_vec(), false),
        }
    }
}

impl heed::OnCommit for RangeTable {
    type Committed = RangeTable;
    fn on_commit(self, token: &heed::CommitToken) -> RangeTable {
        RangeTable { v4: self.v4.on_commit(token), v6: self.v6.on_commit(token), tables: self.tables.on_commit(token), ..self }
    }
}

/// Carries plain data (no database handles) out of a `*_databases_and_commit` closure, whose
/// result must implement [`heed::OnCommit`].
pub struct Carry<T>(pub T);

impl<T> heed::OnCommit for Carry<T> {
    type Committed = T;
    fn on_commit(self, _token: &heed::CommitToken) -> T {
        self.0
    }
}

/// The neighbouring address (`by` is 1 or -1), saturating at the ends of the family.
fn step(ip: IpAddr, by: i8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let n = u32::from(a);
            IpAddr::V4(Ipv4Addr::from(if by > 0 { n.saturating_add(1) } else { n.saturating_sub(1) }))
        }
        IpAddr::V6(a) => {
            let n = u128::from(a);
            IpAddr::V6(Ipv6Addr::from(if by > 0 { n.saturating_add(1) } else { n.saturating_sub(1) }))
        }
    }
}

/// A stored key back to its address.
pub fn key_to_ip(key: &[u8]) -> Result<IpAddr, StoreError> {
    if let Ok(b) = <[u8; 4]>::try_from(key) {
        Ok(IpAddr::V4(b.into()))
    } else if let Ok(b) = <[u8; 16]>::try_from(key) {
        Ok(IpAddr::V6(b.into()))
    } else {
        Err(StoreError::Corrupt(format!("range key of {} bytes", key.len())))
    }
}

#[cfg(test)]
mod tests;
