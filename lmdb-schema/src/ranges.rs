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
//! Value: a compact JSON object whose first member is `end`, the range's last address (inclusive)
//! as lowercase hex — 8 digits for IPv4, 32 for IPv6 — followed by the range's free-form
//! metadata, e.g. `{"end":"01008100","asn":1136,"country":"NL","pop":"ams"}`. Writers put `end`
//! first so readers can take it from a fixed prefix without a JSON parse (they fall back to a
//! full parse if it is not there). Address bytes never appear raw inside JSON: a raw byte above
//! 0x7f is not valid UTF-8 and once broke non-CIDR ranges such as `1.0.0.0–1.0.129.0`.
//! The metadata may not use the key `end` (it would be ambiguous) — nor, by convention of the
//! loader's input formats, `start` or `network`.
//!
//! Ranges in a table never overlap; ranges need not be CIDR-aligned. The loader (the only
//! writer) guarantees both, so readers trust it and only check `address ≤ end`.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are IPv4: lookups of them search the IPv4
//! database, and the loader stores ranges that lie wholly inside `::ffff:0:0/96` as IPv4.
//!
//! The list of tables is the `range_tables` database ([`TABLES_DB`]): key = table name (UTF-8),
//! value = a JSON object reserved for table-level information (currently `{}`). A table exists
//! iff it has a key there; its range counts come from LMDB's O(1) database statistics.
//! `drop` empties a table's two databases and removes its key; LMDB keeps the (empty) named
//! databases themselves, which costs two of the environment's `max_dbs` slots until the name
//! is reused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use heed::types::Bytes;
use heed::{Database, DatabaseOpener, RoTxn, RwTxn};
use serde_json::{Map, Value};

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

/// Appends the stored value for a range ending at `end` with metadata `meta_object`, which must
/// be a compact JSON object (`{}` or `{"k":v,...}`) without an `end` member.
pub fn encode_value(end: IpAddr, meta_object: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"{\"end\":\"");
    let mut push_hex = |bytes: &[u8]| {
        for b in bytes {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
    };
    match end {
        IpAddr::V4(a) => push_hex(&a.octets()),
        IpAddr::V6(a) => push_hex(&a.octets()),
    }
    out.push(b'"');
    // `meta_object` is `{...}`: splice its members after `end`.
    let inner = meta_object.get(1..meta_object.len().saturating_sub(1)).unwrap_or(b"");
    if !inner.iter().all(u8::is_ascii_whitespace) {
        out.push(b',');
        out.extend_from_slice(inner);
    }
    out.push(b'}');
}

#[inline]
fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

/// The `end` address stored in `value` for a range of the family of `v4`.
pub fn decode_end(value: &[u8], v4: bool) -> Result<IpAddr, StoreError> {
    let digits = if v4 { 8 } else { 32 };
    // Fast path: the writer puts `{"end":"<hex>"` first.
    let fast = value
        .strip_prefix(b"{\"end\":\"")
        .and_then(|rest| rest.get(..digits + 1))
        .filter(|hex_quote| hex_quote[digits] == b'"')
        .map(|hex_quote| &hex_quote[..digits]);
    let hex: Vec<u8>;
    let hex = match fast {
        Some(h) => h,
        None => {
            let parsed: Map<String, Value> =
                serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(format!("range value is not a JSON object: {e}")))?;
            match parsed.get("end") {
                Some(Value::String(s)) => {
                    hex = s.as_bytes().to_vec();
                    &hex
                }
                _ => return Err(StoreError::Corrupt("range value has no string \"end\"".into())),
            }
        }
    };
    let bad = || StoreError::Corrupt(format!("range end {:?} is not {digits} hex digits", String::from_utf8_lossy(hex)));
    Ok(if v4 {
        IpAddr::V4(Ipv4Addr::from(decode_hex::<4>(hex).ok_or_else(bad)?))
    } else {
        IpAddr::V6(Ipv6Addr::from(decode_hex::<16>(hex).ok_or_else(bad)?))
    })
}

/// The metadata of a stored value: the JSON object without its `end` member.
pub fn parse_metadata(value: &[u8]) -> Result<Map<String, Value>, StoreError> {
    let mut map: Map<String, Value> =
        serde_json::from_slice(value).map_err(|e| StoreError::Corrupt(format!("range value is not a JSON object: {e}")))?;
    map.remove("end");
    Ok(map)
}

/// The metadata members of a stored value as compact JSON object text, without parsing when
/// the value has the writer's layout (`{"end":"<hex>",<members>}`); `{}` for no metadata.
pub fn metadata_json(value: &[u8]) -> Result<std::borrow::Cow<'_, str>, StoreError> {
    let s = std::str::from_utf8(value).map_err(|_| StoreError::Corrupt("range value is not UTF-8".into()))?;
    for digits in [8usize, 32] {
        let prefix_len = 8 + digits + 1; // {"end":" + hex + "
        if s.len() > prefix_len && s.starts_with("{\"end\":\"") && s.as_bytes()[prefix_len - 1] == b'"' {
            let hex_ok = s.as_bytes()[8..8 + digits].iter().all(|c| c.is_ascii_hexdigit());
            if hex_ok {
                let rest = &s[prefix_len..];
                if rest == "}" {
                    return Ok("{}".into());
                }
                if let Some(members) = rest.strip_prefix(',') {
                    return Ok(format!("{{{members}").into());
                }
            }
        }
    }
    let map = parse_metadata(value)?;
    Ok(serde_json::to_string(&map).unwrap_or_else(|_| "{}".into()).into())
}

/// One range as stored: zero-copy view into the transaction's memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeHit<'txn> {
    pub start: IpAddr,
    pub end: IpAddr,
    /// The raw stored JSON value (`{"end":"…",…metadata}`).
    pub value: &'txn [u8],
}

impl<'txn> RangeHit<'txn> {
    /// The metadata, parsed (allocates; cache the result, see [`RangeCache`]).
    pub fn metadata(&self) -> Result<Map<String, Value>, StoreError> {
        parse_metadata(self.value)
    }

    /// The metadata as compact JSON object text (no parse in the common case).
    pub fn metadata_json(&self) -> Result<std::borrow::Cow<'txn, str>, StoreError> {
        metadata_json(self.value)
    }

    /// Deserializes the whole value into `T` (which may ignore `end`); borrows from the map
    /// where `T` does (`&'txn str` fields).
    pub fn decode<T: serde::Deserialize<'txn>>(&self) -> Result<T, StoreError> {
        serde_json::from_slice(self.value).map_err(|e| StoreError::Corrupt(format!("range metadata: {e}")))
    }
}

/// Handle on one range table: two LMDB database handles, `Copy`, valid for the process (LMDB
/// database handles outlive the transaction that opened them). Open it once — at startup, or
/// again when a table that did not exist then appears — and use it with any read transaction.
#[derive(Clone, Copy)]
pub struct RangeTable {
    pub v4: Database<'static, Bytes, Bytes>,
    pub v6: Database<'static, Bytes, Bytes>,
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
            (Some(v4), Some(v6)) => Some(RangeTable { v4, v6 }),
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
        Ok(RangeTable { v4, v6 })
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
                        names.push(String::from_utf8_lossy(key).into_owned());
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
        match normalize(ip) {
            IpAddr::V4(a) => {
                let key = a.octets();
                let Some((start, value)) = self.v4.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? else {
                    return Ok(None);
                };
                let start: [u8; 4] =
                    start.try_into().map_err(|_| StoreError::Corrupt(format!("IPv4 range key of {} bytes", start.len())))?;
                let end = decode_end(value, true)?;
                let IpAddr::V4(end4) = end else { unreachable!("decode_end(v4) returns IPv4") };
                if u32::from(a) > u32::from(end4) {
                    return Ok(None);
                }
                Ok(Some(RangeHit { start: IpAddr::V4(start.into()), end, value }))
            }
            IpAddr::V6(a) => {
                let key = a.octets();
                let Some((start, value)) = self.v6.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? else {
                    return Ok(None);
                };
                let start: [u8; 16] =
                    start.try_into().map_err(|_| StoreError::Corrupt(format!("IPv6 range key of {} bytes", start.len())))?;
                let end = decode_end(value, false)?;
                let IpAddr::V6(end6) = end else { unreachable!("decode_end(v6) returns IPv6") };
                if u128::from(a) > u128::from(end6) {
                    return Ok(None);
                }
                Ok(Some(RangeHit { start: IpAddr::V6(start.into()), end, value }))
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
        let (db, key, v4) = self.db_key(start);
        Ok(match db.get(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some(value) => Some(RangeHit { start: normalize(start), end: decode_end(value, v4)?, value }),
            None => None,
        })
    }

    /// The range with the smallest start greater than `start`, in the same family.
    pub fn next_after<'txn>(&self, txn: &'txn RoTxn, start: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        let (db, key, v4) = self.db_key(start);
        match db.get_greater_than(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some((k, value)) => Ok(Some(RangeHit { start: key_to_ip(k)?, end: decode_end(value, v4)?, value })),
            None => Ok(None),
        }
    }

    /// The range with the greatest start ≤ `start`, in the same family (whether or not it
    /// contains `start`).
    pub fn floor<'txn>(&self, txn: &'txn RoTxn, start: IpAddr) -> Result<Option<RangeHit<'txn>>, StoreError> {
        let (db, key, v4) = self.db_key(start);
        match db.get_lower_than_or_equal_to(txn, &key[..]).map_err(StoreError::Lmdb)? {
            Some((k, value)) => Ok(Some(RangeHit { start: key_to_ip(k)?, end: decode_end(value, v4)?, value })),
            None => Ok(None),
        }
    }

    /// Every range, IPv4 first, each family in address order.
    pub fn iter<'txn>(&self, txn: &'txn RoTxn) -> Result<impl Iterator<Item = Result<RangeHit<'txn>, StoreError>> + 'txn, StoreError> {
        let v4 = self.v4.iter(txn).map_err(StoreError::Lmdb)?;
        let v6 = self.v6.iter(txn).map_err(StoreError::Lmdb)?;
        Ok(v4.chain(v6).map(|item| {
            let (k, value) = item.map_err(StoreError::Lmdb)?;
            let start = key_to_ip(k)?;
            Ok(RangeHit { start, end: decode_end(value, start.is_ipv4())?, value })
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
        RangeTable { v4: self.v4.on_commit(token), v6: self.v6.on_commit(token) }
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

/// A cached lookup result: the range and the caller's parsed form of its metadata.
#[derive(Clone, Debug)]
pub struct CachedRange<M> {
    pub start: IpAddr,
    pub end: IpAddr,
    pub meta: M,
}

/// What a cached lookup found: the range holding the address, or that it is in no range, with
/// the gap between ranges it falls in (the widest span of addresses in no range either) when
/// that was asked for.
#[derive(Debug)]
pub enum Span<'c, M> {
    Range(&'c CachedRange<M>),
    Gap(Option<(IpAddr, IpAddr)>),
}

enum Entry<M> {
    Range(CachedRange<M>),
    /// The gap's bounds cost two more cursor moves: found when first asked for.
    Gap(Option<(IpAddr, IpAddr)>),
}

/// Ways per set. A Zipf(1) mix of 5000 resolvers (simulated) misses 4.5% of lookups in 16k
/// direct-mapped slots and 0.65% in 8k sets of three ways (near the compulsory misses); three
/// 16-byte tags plus the snapshot are one cache line, the only one a hit reads before its entry.
const WAYS: usize = 3;

/// One set's tags: which addresses its ways hold.
#[repr(C, align(64))]
struct Tags {
    /// LMDB snapshot (read transaction id) the ways were filled in; `usize::MAX` = empty.
    snapshot: usize,
    /// Ways in use (they fill in order).
    filled: u32,
    /// The way the next fill replaces once all are in use: the oldest (FIFO).
    oldest: u32,
    /// Tags of the filled ways (see [`tag`]).
    tags: [u128; WAYS],
}

/// The address as one number: IPv6 as is, IPv4 in its mapped form, which a normalized IPv6
/// address never takes, so the two families cannot collide.
#[inline]
fn tag(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// Per-worker lookup cache for one [`RangeTable`]: a set-associative array keyed by the
/// looked-up address, each entry remembering the range (with its parsed metadata `M`) or the
/// gap the address was found in.
///
/// Why: a floor search in LMDB costs a cursor open/seek/close (hundreds of ns), while real
/// traffic comes from a few thousand resolvers, heavily skewed. A hit reads one cache line of
/// tags and then its entry — no lock (the cache is owned by one worker), no allocation, no
/// write but a counter. A miss replaces the set's oldest entry (FIFO: nearly as good as LRU here, and hits
/// stay read-only).
///
/// Consistency: LMDB stays the source of truth. Every set records the id of the read
/// transaction (snapshot) it was filled from and only answers lookups made with that same
/// snapshot id, so any commit to the environment (a range import, but also a zone change)
/// retires the whole cache lazily. Use one cache per table and per worker thread.
pub struct RangeCache<M> {
    tags: Box<[Tags]>,
    /// The entries of set `i`, parallel to `tags[i]`.
    entries: Box<[[Option<Entry<M>>; WAYS]]>,
    shift: u32,
    hits: u64,
    misses: u64,
}

impl<M> RangeCache<M> {
    /// A cache of at least `slots` entries: `slots / WAYS` sets rounded up to a power of two
    /// (16k slots make 8192 sets, 24,576 entries).
    pub fn new(slots: usize) -> Self {
        let n = slots.div_ceil(WAYS).max(1).next_power_of_two();
        let tags = (0..n).map(|_| Tags { snapshot: usize::MAX, filled: 0, oldest: 0, tags: [0; WAYS] }).collect();
        let entries = (0..n).map(|_| std::array::from_fn(|_| None)).collect();
        RangeCache { tags, entries, shift: 64 - n.trailing_zeros(), hits: 0, misses: 0 }
    }

    #[inline]
    fn index(&self, tag: u128) -> usize {
        // Fibonacci hashing of the folded address: neighbouring addresses spread out. One set
        // (a shift of 64) takes index 0.
        let folded = (tag as u64) ^ ((tag >> 64) as u64);
        folded.wrapping_mul(0x9E37_79B9_7F4A_7C15).checked_shr(self.shift).unwrap_or(0) as usize
    }

    /// Looks `ip` up, answering from the cache when it was filled for this address in this
    /// snapshot, otherwise from `table` (then `parse` turns the hit into `M`).
    #[inline]
    pub fn lookup<'c>(
        &'c mut self,
        table: &RangeTable,
        txn: &RoTxn,
        ip: IpAddr,
        parse: impl FnOnce(&RangeHit<'_>) -> M,
    ) -> Result<Option<&'c CachedRange<M>>, StoreError> {
        Ok(match self.lookup_span(table, txn, ip, false, parse)? {
            Span::Range(range) => Some(range),
            Span::Gap(_) => None,
        })
    }

    /// Like [`RangeCache::lookup`]; for an address in no range, with `gap`, also tells the gap
    /// around it (what an answer for that address also holds for).
    #[inline]
    pub fn lookup_span<'c>(
        &'c mut self,
        table: &RangeTable,
        txn: &RoTxn,
        ip: IpAddr,
        gap: bool,
        parse: impl FnOnce(&RangeHit<'_>) -> M,
    ) -> Result<Span<'c, M>, StoreError> {
        let ip = normalize(ip);
        let tag = tag(ip);
        let snapshot = txn.id();
        let i = self.index(tag);
        let set = &self.tags[i];
        let way = if set.snapshot == snapshot { set.tags[..set.filled as usize].iter().position(|&t| t == tag) } else { None };
        let way = match way {
            Some(way) => {
                self.hits += 1;
                way
            }
            None => self.fill(table, txn, ip, gap, parse)?,
        };
        let entry = &mut self.entries[i][way];
        if gap {
            if let Some(Entry::Gap(bounds @ None)) = entry {
                *bounds = Some(table.gap(txn, ip)?);
            }
        }
        Ok(match entry {
            Some(Entry::Range(range)) => Span::Range(range),
            Some(Entry::Gap(bounds)) => Span::Gap(*bounds),
            None => unreachable!("a filled way holds an entry"),
        })
    }

    /// A miss: looks `ip` (normalized) up in LMDB and fills the way it replaces in its set.
    /// Kept out of line so the hit path stays small.
    #[cold]
    #[inline(never)]
    fn fill(
        &mut self,
        table: &RangeTable,
        txn: &RoTxn,
        ip: IpAddr,
        gap: bool,
        parse: impl FnOnce(&RangeHit<'_>) -> M,
    ) -> Result<usize, StoreError> {
        let (tag, snapshot) = (tag(ip), txn.id());
        let i = self.index(tag);
        self.misses += 1;
        let entry = match table.lookup(txn, ip)? {
            Some(h) => Entry::Range(CachedRange { start: h.start, end: h.end, meta: parse(&h) }),
            None => Entry::Gap(if gap { Some(table.gap(txn, ip)?) } else { None }),
        };
        let set = &mut self.tags[i];
        if set.snapshot != snapshot {
            // Entries of an old snapshot are overwritten as the ways refill.
            set.snapshot = snapshot;
            set.filled = 0;
            set.oldest = 0;
        }
        // Only the replaced way is written: a miss on a random address touches as few
        // cache lines as it can.
        let way = if (set.filled as usize) < WAYS {
            set.filled += 1;
            set.filled as usize - 1
        } else {
            let oldest = set.oldest as usize;
            set.oldest = ((oldest + 1) % WAYS) as u32;
            oldest
        };
        set.tags[way] = tag;
        self.entries[i][way] = Some(entry);
        Ok(way)
    }

    /// (hits, misses) since creation.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Forgets everything (not needed for correctness: snapshot ids do that).
    pub fn clear(&mut self) {
        for set in self.tags.iter_mut() {
            set.snapshot = usize::MAX;
            set.filled = 0;
            set.oldest = 0;
        }
        for entries in self.entries.iter_mut() {
            *entries = std::array::from_fn(|_| None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OpenOptions;

    #[test]
    fn value_round_trip_non_cidr_high_octets() {
        // 1.0.129.0 has a byte above 0x7f: the regression of raw bytes inside JSON.
        let mut v = Vec::new();
        encode_value("1.0.129.0".parse().unwrap(), br#"{"asn":1136,"country":"NL"}"#, &mut v);
        assert_eq!(std::str::from_utf8(&v).unwrap(), r#"{"end":"01008100","asn":1136,"country":"NL"}"#);
        assert_eq!(decode_end(&v, true).unwrap(), "1.0.129.0".parse::<IpAddr>().unwrap());
        assert_eq!(metadata_json(&v).unwrap(), r#"{"asn":1136,"country":"NL"}"#);
        let mut e = Vec::new();
        encode_value("ffff::ffff".parse().unwrap(), b"{}", &mut e);
        assert_eq!(std::str::from_utf8(&e).unwrap(), r#"{"end":"ffff000000000000000000000000ffff"}"#);
        assert_eq!(metadata_json(&e).unwrap(), "{}");
        assert_eq!(decode_end(&e, false).unwrap(), "ffff::ffff".parse::<IpAddr>().unwrap());
        // Slow path: `end` not first.
        let odd = br#"{"a":1,"end":"c8000001"}"#;
        assert_eq!(decode_end(odd, true).unwrap(), "200.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(metadata_json(odd).unwrap(), r#"{"a":1}"#);
        assert!(decode_end(br#"{"end":"zz"}"#, true).is_err());
    }

    #[test]
    fn names() {
        assert!(validate_table_name("geo").is_ok());
        assert!(validate_table_name("a.b-c_1").is_ok());
        assert!(validate_table_name("").is_err());
        assert!(validate_table_name("a b").is_err());
        assert!(validate_table_name(&"x".repeat(65)).is_err());
        assert_eq!(v4_db_name("geo"), "range4:geo");
        assert_eq!(v6_db_name("geo"), "range6:geo");
    }

    #[test]
    fn lookup_and_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
        assert!(RangeTable::open(&store, "geo").unwrap().is_none());
        let wtxn = store.write_txn().unwrap();
        let table = store
            .env()
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let t = RangeTable::create_with(opener, wtxn, "geo")?;
                let mut v = Vec::new();
                encode_value("1.0.129.0".parse().unwrap(), br#"{"c":"NL"}"#, &mut v);
                t.v4.put(wtxn, &[1, 0, 0, 0], &v)?;
                v.clear();
                encode_value("2001:db8::ff".parse().unwrap(), br#"{"c":"DE"}"#, &mut v);
                t.v6.put(wtxn, &"2001:db8::".parse::<Ipv6Addr>().unwrap().octets(), &v)?;
                Ok(heed::CommitOrAbort::<_, ()>::Commit(t))
            })
            .unwrap()
            .unwrap_commit();
        assert!(RangeTable::open(&store, "geo").unwrap().is_some());
        assert_eq!(RangeTable::list(&store).unwrap(), vec!["geo".to_string()]);
        let rtxn = store.read_txn().unwrap();
        let hit = table.lookup(&rtxn, "1.0.100.7".parse().unwrap()).unwrap().unwrap();
        assert_eq!(hit.start, "1.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(hit.metadata().unwrap()["c"], "NL");
        assert!(table.lookup(&rtxn, "1.0.129.1".parse().unwrap()).unwrap().is_none());
        assert!(table.lookup(&rtxn, "0.255.255.255".parse().unwrap()).unwrap().is_none());
        assert!(table.lookup(&rtxn, "::ffff:1.0.129.0".parse().unwrap()).unwrap().is_some());
        assert!(table.lookup(&rtxn, "2001:db8::ff".parse().unwrap()).unwrap().is_some());
        assert!(table.lookup(&rtxn, "2001:db8::100".parse().unwrap()).unwrap().is_none());

        let mut cache: RangeCache<String> = RangeCache::new(64);
        for _ in 0..3 {
            let r = cache.lookup(&table, &rtxn, "1.0.0.1".parse().unwrap(), |h| h.metadata_json().unwrap().into_owned()).unwrap();
            assert_eq!(r.unwrap().meta, r#"{"c":"NL"}"#);
            assert!(cache.lookup(&table, &rtxn, "9.9.9.9".parse().unwrap(), |_| unreachable!()).unwrap().is_none());
        }
        assert_eq!(cache.stats(), (4, 2));
        // Addresses in no range: the gap between the neighbouring ranges (or the family's ends).
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(table.gap(&rtxn, ip("9.9.9.9")).unwrap(), (ip("1.0.129.1"), ip("255.255.255.255")));
        assert_eq!(table.gap(&rtxn, ip("0.255.255.255")).unwrap(), (ip("0.0.0.0"), ip("0.255.255.255")));
        assert_eq!(table.gap(&rtxn, ip("2001:db8::100")).unwrap(), (ip("2001:db8::100"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert_eq!(table.gap(&rtxn, ip("::1")).unwrap(), (ip("::"), ip("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(table.gap(&rtxn, ip("1.0.0.1")).is_err(), "an address inside a range has no gap");
        // Cached as a miss without its gap (lookup), the gap is found when first asked for.
        match cache.lookup_span(&table, &rtxn, ip("9.9.9.9"), true, |_| unreachable!()).unwrap() {
            Span::Gap(bounds) => assert_eq!(bounds, Some((ip("1.0.129.1"), ip("255.255.255.255")))),
            Span::Range(r) => panic!("9.9.9.9 is in no range, got {:?}", r.start),
        }
        match cache.lookup_span(&table, &rtxn, ip("7.7.7.7"), false, |_| unreachable!()).unwrap() {
            Span::Gap(bounds) => assert_eq!(bounds, None),
            Span::Range(r) => panic!("7.7.7.7 is in no range, got {:?}", r.start),
        }
        // One set of three ways: the fourth address evicts the first filled, the others stay.
        let mut small: RangeCache<()> = RangeCache::new(3);
        for a in ["1.0.0.1", "1.0.0.2", "1.0.0.3", "1.0.0.4", "1.0.0.2", "1.0.0.4", "1.0.0.1"] {
            assert!(small.lookup(&table, &rtxn, ip(a), |_| ()).unwrap().is_some());
        }
        assert_eq!(small.stats(), (2, 5));
        drop(rtxn);
        // A commit changes the snapshot id: the cache re-reads.
        let mut wtxn = store.write_txn().unwrap();
        table.v4.clear(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        let rtxn = store.read_txn().unwrap();
        assert!(cache.lookup(&table, &rtxn, "1.0.0.1".parse().unwrap(), |_| String::new()).unwrap().is_none());
    }
}
