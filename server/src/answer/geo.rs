//! Client metadata in answers: which address speaks for the client, the range metadata of that
//! address, the zone's selection policy, the variant that wins, and the ECS scope to report.
//!
//! Everything here is per worker and lock-free: range lookups go through a [`RangeCache`] per
//! table and zone policies through a small map, both retired when the read snapshot changes
//! (any commit), so a loader change is seen on the next batch like any other data.

use std::collections::HashMap;
use std::net::IpAddr;

use heed::RoTxn;
use lmdb_schema::node::{RrsetView, SectionView};
use lmdb_schema::ranges::{RangeCache, RangeHit, RangeTable};
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::Store;

use crate::query::ClientSubnet;

/// Slots of each per-worker range cache: real traffic comes from a few thousand resolvers.
const RANGE_CACHE_SLOTS: usize = 16 * 1024;
/// Policy keys tried per answer (pop, country, continent, asn...: a handful in practice).
const MAX_POLICY_KEYS: usize = 8;

/// FNV-1a for the worker's small maps (table names, zone apexes): keys are short and local to
/// one worker, so SipHash's protection against chosen collisions buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// A range's metadata as the worker keeps it for matching: one buffer of `key=value` entries,
/// each followed by `\0` — each entry is exactly the condition a variant carries, and one
/// allocation keeps a lookup to one cache line or two. Numbers and booleans appear in their JSON
/// form; nested values cannot match a condition and are left out.
pub struct Metadata {
    flat: Box<[u8]>,
}

impl Metadata {
    /// The `key=value` entry for `key`.
    #[inline]
    pub fn entry(&self, key: &str) -> Option<&[u8]> {
        let key = key.as_bytes();
        self.flat.split(|&b| b == 0).find(|e| e.len() > key.len() && e.starts_with(key) && e[key.len()] == b'=')
    }
}

fn flatten(hit: &RangeHit<'_>) -> Metadata {
    let mut flat = Vec::new();
    for (k, v) in hit.metadata().unwrap_or_default() {
        let value = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => continue,
        };
        flat.extend_from_slice(k.as_bytes());
        flat.push(b'=');
        flat.extend_from_slice(value.as_bytes());
        flat.push(0);
    }
    Metadata { flat: flat.into_boxed_slice() }
}

/// A zone's policy as the worker uses it.
struct Policy {
    table: String,
    keys: Vec<String>,
}

/// The range that decided an answer (or the address alone when none did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decided {
    pub start: IpAddr,
    pub end: IpAddr,
}

/// Per-worker geo state plus the per-query facts the response needs.
pub struct GeoScratch {
    tables: FastMap<String, RangeTable>,
    caches: FastMap<String, RangeCache<Metadata>>,
    policies: FastMap<Vec<u8>, Option<Policy>>,
    policies_snapshot: usize,
    /// Tables asked for but not open in this process yet; opened between batches.
    pub missing_tables: Vec<String>,
    // Per query:
    /// The address selection uses: the ECS address if present and enabled, else the source.
    pub client: Option<IpAddr>,
    pub subnet: Option<ClientSubnet>,
    /// Set when an answer depended on the client address: the range it fell in, or `None`
    /// inside when the address was in no range.
    pub decided: Option<Option<Decided>>,
}

impl GeoScratch {
    pub fn new(tables: HashMap<String, RangeTable>) -> Self {
        GeoScratch {
            tables: tables.into_iter().collect(),
            caches: FastMap::default(),
            policies: FastMap::default(),
            policies_snapshot: usize::MAX,
            missing_tables: Vec::new(),
            client: None,
            subnet: None,
            decided: None,
        }
    }

    /// Resets the per-query part.
    pub fn start_query(&mut self, client: IpAddr, subnet: Option<ClientSubnet>, use_ecs: bool) {
        self.subnet = subnet.filter(|_| use_ecs);
        // Source prefix 0 means "do not use my address" (RFC 7871 §7.1.2): use the resolver's.
        self.client = Some(match self.subnet {
            Some(s) if s.source_prefix > 0 => s.ip(),
            _ => client,
        });
        self.decided = None;
    }

    /// Opens tables that were missing (a table created after start). Called between batches,
    /// when the thread holds no read transaction.
    pub fn open_missing_tables(&mut self, store: &Store) {
        for name in std::mem::take(&mut self.missing_tables) {
            if let Ok(Some(table)) = RangeTable::open(store, &name) {
                self.tables.insert(name, table);
            }
        }
    }

    /// The range of `ip` in `table` with its metadata as stored (JSON), read from LMDB directly:
    /// for answers that show the metadata (whoami, the lookup zone), not the selection path.
    pub fn lookup_json(&mut self, txn: &RoTxn, table: &str, ip: IpAddr) -> Option<(Decided, serde_json::Map<String, serde_json::Value>)> {
        let handle = open_table(&self.tables, &mut self.missing_tables, table)?;
        let hit = handle.lookup(txn, ip).ok()??;
        Some((Decided { start: hit.start, end: hit.end }, hit.metadata().unwrap_or_default()))
    }

    /// The RRset of `rtype` this client gets at `section`: the first variant whose condition
    /// matches the client's metadata in the order of the zone's policy keys, else the default.
    pub fn select<'t>(&mut self, store: &Store, txn: &RoTxn, apex: &[u8], section: SectionView<'t>, rtype: u16) -> Option<RrsetView<'t>> {
        if !section.has(lmdb_schema::node::flags::GEO) {
            return section.rrset(rtype);
        }
        // This type's RRsets are stored together, default first, then the variants.
        let mut of_type = section.rrsets_of(rtype).peekable();
        let default = of_type.next_if(|r| r.condition().is_empty());
        if of_type.peek().is_none() {
            return default;
        }
        let Some(client) = self.client else { return default };
        let Some(policy) = policy_of(&mut self.policies, &mut self.policies_snapshot, store, txn, apex) else { return default };
        let found = lookup_in(&self.tables, &mut self.caches, &mut self.missing_tables, txn, &policy.table, client);
        self.decided = Some(found.as_ref().map(|(d, _)| *d));
        let Some((_, meta)) = found else { return default };
        // The client's condition for each policy key, most specific first (entries of its
        // metadata are conditions already); then one pass over the variants keeps the best.
        let mut wanted: [&[u8]; MAX_POLICY_KEYS] = [&[]; MAX_POLICY_KEYS];
        let mut keys = 0;
        for key in policy.keys.iter().take(MAX_POLICY_KEYS) {
            wanted[keys] = meta.entry(key).unwrap_or_default();
            keys += 1;
        }
        // Variants are stored sorted by condition: past the largest wanted one, none can match.
        let last = wanted[..keys].iter().copied().max().unwrap_or_default();
        let mut best: Option<(usize, RrsetView<'t>)> = None;
        for variant in of_type {
            let condition = variant.condition();
            if condition > last {
                break;
            }
            let limit = best.map_or(keys, |(rank, _)| rank);
            if let Some(rank) = wanted[..limit].iter().position(|w| !w.is_empty() && *w == condition) {
                best = Some((rank, variant));
                if rank == 0 {
                    break;
                }
            }
        }
        best.map(|(_, v)| v).or(default)
    }

    /// The range table of the policy of the zone with apex key `apex` (its whoami names are
    /// answered from it), through the per-worker policy cache.
    pub fn policy_table(&mut self, store: &Store, txn: &RoTxn, apex: &[u8]) -> Option<String> {
        policy_of(&mut self.policies, &mut self.policies_snapshot, store, txn, apex).map(|p| p.table.clone())
    }

    /// SCOPE PREFIX-LENGTH for the ECS option of this response (RFC 7871 §7.2.1): 0 when the
    /// answer did not depend on the address; otherwise the shortest prefix whose block around
    /// the address lies inside the range that decided it, so a cache may reuse the answer for
    /// exactly that block. With no range (the default answer for an address in a gap) the
    /// source prefix is kept: nothing wider is known to be safe.
    pub fn scope(&self) -> u8 {
        let Some(subnet) = self.subnet else { return 0 };
        if subnet.source_prefix == 0 {
            return 0;
        }
        match self.decided {
            None => 0,
            Some(None) => subnet.source_prefix,
            Some(Some(range)) => scope_within(subnet.ip(), range.start, range.end),
        }
    }
}

/// The handle of `table`; a table not open in this process yet is noted in `missing`, to be
/// opened between batches.
fn open_table<'t>(tables: &'t FastMap<String, RangeTable>, missing: &mut Vec<String>, table: &str) -> Option<&'t RangeTable> {
    let handle = tables.get(table);
    if handle.is_none() && !missing.iter().any(|t| t == table) {
        missing.push(table.to_string());
    }
    handle
}

/// Range metadata through the worker's cache for `table` (field-wise, so callers can hold other
/// parts of the scratch at the same time).
fn lookup_in<'c>(
    tables: &FastMap<String, RangeTable>,
    caches: &'c mut FastMap<String, RangeCache<Metadata>>,
    missing: &mut Vec<String>,
    txn: &RoTxn,
    table: &str,
    ip: IpAddr,
) -> Option<(Decided, &'c Metadata)> {
    let handle = open_table(tables, missing, table)?;
    if !caches.contains_key(table) {
        caches.insert(table.to_string(), RangeCache::new(RANGE_CACHE_SLOTS));
    }
    let cache = caches.get_mut(table).expect("inserted above");
    match cache.lookup(handle, txn, ip, flatten) {
        Ok(Some(hit)) => Some((Decided { start: hit.start, end: hit.end }, &hit.meta)),
        _ => None,
    }
}

/// The zone's policy, read once per snapshot per worker.
fn policy_of<'c>(
    policies: &'c mut FastMap<Vec<u8>, Option<Policy>>,
    snapshot: &mut usize,
    store: &Store,
    txn: &RoTxn,
    apex: &[u8],
) -> Option<&'c Policy> {
    if *snapshot != txn.id() {
        policies.clear();
        *snapshot = txn.id();
    }
    if !policies.contains_key(apex) {
        let policy = store
            .zones
            .get(txn, apex)
            .ok()
            .flatten()
            .and_then(|bytes| ZoneMeta::decode(bytes).ok())
            .and_then(|meta| meta.policy)
            .map(|p| Policy { table: p.table, keys: p.keys });
        policies.insert(apex.to_vec(), policy);
    }
    policies.get(apex).and_then(Option::as_ref)
}

/// The smallest prefix length p such that the aligned block of length p containing `addr` lies
/// inside [start, end].
pub fn scope_within(addr: IpAddr, start: IpAddr, end: IpAddr) -> u8 {
    let (a, s, e, bits) = match (addr, start, end) {
        (IpAddr::V4(a), IpAddr::V4(s), IpAddr::V4(e)) => (u32::from(a) as u128, u32::from(s) as u128, u32::from(e) as u128, 32u32),
        (IpAddr::V6(a), IpAddr::V6(s), IpAddr::V6(e)) => (u128::from(a), u128::from(s), u128::from(e), 128u32),
        _ => return if addr.is_ipv4() { 32 } else { 128 },
    };
    for p in 0..=bits {
        let host_bits = bits - p;
        let mask: u128 = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        let lo = a & !mask;
        let hi = lo | mask;
        let (lo, hi) = if bits == 32 { (lo & 0xFFFF_FFFF, hi & 0xFFFF_FFFF) } else { (lo, hi) };
        if lo >= s && hi <= e {
            return p as u8;
        }
    }
    bits as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn scope_is_the_largest_aligned_block_inside_the_range() {
        // A whole /16 range: any address in it is answered for the /16.
        assert_eq!(scope_within(ip("10.1.2.3"), ip("10.1.0.0"), ip("10.1.255.255")), 16);
        // Not CIDR-aligned: 1.0.0.0–1.0.129.0. Low addresses sit in the /17 1.0.0.0–1.0.127.255.
        assert_eq!(scope_within(ip("1.0.5.5"), ip("1.0.0.0"), ip("1.0.129.0")), 17);
        // 1.0.128.7 is in 1.0.128.0/24, inside the range; 1.0.129.0 only as a /32.
        assert_eq!(scope_within(ip("1.0.128.7"), ip("1.0.0.0"), ip("1.0.129.0")), 24);
        assert_eq!(scope_within(ip("1.0.129.0"), ip("1.0.0.0"), ip("1.0.129.0")), 32);
        // The whole address space.
        assert_eq!(scope_within(ip("200.1.2.3"), ip("0.0.0.0"), ip("255.255.255.255")), 0);
        assert_eq!(scope_within(ip("2001:db8::1"), ip("2001:db8::"), ip("2001:db8:0:ffff:ffff:ffff:ffff:ffff")), 48);
        assert_eq!(scope_within(ip("2001:db8::1"), ip("2001:db8::"), ip("2001:db8::ffff:ffff:ffff:ffff")), 64);
        assert_eq!(scope_within(ip("::"), ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), 0);
    }
}
