//! Client metadata in answers: which address speaks for the client, the range metadata of that
//! address, the zone's selection policy, the variant that wins, and the ECS scope to report.
//!
//! Everything here is per worker and lock-free: range lookups go through a [`RangeCache`] per
//! table and zone policies through a small map, both retired when the read snapshot changes
//! (any commit), so a loader change is seen on the next batch like any other data.

use std::collections::HashMap;
use std::net::IpAddr;

use heed::RoTxn;
use lmdb_schema::node::{fingerprint, same_bytes, RrsetView, SectionView};
use lmdb_schema::ranges::{RangeCache, RangeHit, RangeTable, Span};
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::Store;

use crate::query::ClientSubnet;

/// Entries of each per-worker range cache, at least (24,576 with three ways; about 2.5 MB):
/// real traffic comes from a few thousand resolvers.
const RANGE_CACHE_SLOTS: usize = 16 * 1024;

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

/// A range's metadata as the worker keeps it for matching: for each key some policy selects on
/// with this table (in [`Table::keys`] order), the range's `key=value` condition — exactly what
/// a variant carries — and its index fingerprint, so a lookup is an array access and the
/// section search starts with its key ready. Only selecting keys are kept (a GeoLite2 record
/// has a dozen fields, a policy reads two or three), which usually fits in the cache entry
/// itself. Numbers and booleans appear in their JSON form; nested values cannot match a
/// condition and are left out.
///
/// Layout: one slot per key, `fingerprint:u32 start:u16 len:u16` (fingerprint 0: the range
/// has no value for the key), then the conditions' bytes.
pub enum Metadata {
    Inline { len: u8, bytes: [u8; METADATA_INLINE] },
    Heap(Box<[u8]>),
}

/// Bytes kept in the cache entry: three keys' slots and `country=DE continent=EU pop=fra`.
const METADATA_INLINE: usize = 62;
const SLOT: usize = 8;

impl Metadata {
    fn new(buffer: &[u8]) -> Self {
        if buffer.len() <= METADATA_INLINE {
            let mut bytes = [0; METADATA_INLINE];
            bytes[..buffer.len()].copy_from_slice(buffer);
            Metadata::Inline { len: buffer.len() as u8, bytes }
        } else {
            Metadata::Heap(buffer.into())
        }
    }

    #[inline]
    fn buffer(&self) -> &[u8] {
        match self {
            Metadata::Inline { len, bytes } => &bytes[..*len as usize],
            Metadata::Heap(buffer) => buffer,
        }
    }

    /// The range's condition for the table's `key`-th selecting key, with its fingerprint.
    #[inline]
    pub fn condition(&self, key: usize) -> Option<(&[u8], u32)> {
        let buffer = self.buffer();
        let slot = buffer.get(key * SLOT..key * SLOT + SLOT)?;
        let fp = u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]);
        let start = u16::from_le_bytes([slot[4], slot[5]]) as usize;
        let len = u16::from_le_bytes([slot[6], slot[7]]) as usize;
        (fp != 0).then(|| buffer.get(start..start + len).map(|c| (c, fp)))?
    }
}

/// The conditions of `hit`'s metadata for `keys` (on a range-cache miss only).
#[cold]
#[inline(never)]
fn flatten(hit: &RangeHit<'_>, keys: &[String]) -> Metadata {
    let metadata = hit.metadata().unwrap_or_default();
    let mut buffer = vec![0u8; keys.len() * SLOT];
    for (i, key) in keys.iter().enumerate() {
        let value = match metadata.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            _ => continue,
        };
        let start = buffer.len();
        buffer.extend_from_slice(key.as_bytes());
        buffer.push(b'=');
        buffer.extend_from_slice(value.as_bytes());
        let (Ok(start16), Ok(len16)) = (u16::try_from(start), u16::try_from(buffer.len() - start)) else {
            buffer.truncate(start);
            continue;
        };
        let fp = fingerprint(&buffer[start..]);
        let slot = &mut buffer[i * SLOT..i * SLOT + SLOT];
        slot[0..4].copy_from_slice(&fp.to_le_bytes());
        slot[4..6].copy_from_slice(&start16.to_le_bytes());
        slot[6..8].copy_from_slice(&len16.to_le_bytes());
    }
    Metadata::new(&buffer)
}

/// A zone's policy as the worker uses it.
struct Policy {
    /// Index into [`GeoScratch::tables`]; `None` while the table is not open in this process.
    table: Option<usize>,
    table_name: String,
    /// The policy's keys, most specific first, as positions in its table's [`Table::keys`].
    keys: Vec<usize>,
}

/// One range table as a worker uses it.
struct Table {
    name: String,
    handle: RangeTable,
    /// Created on first use: most tables are never used for selection.
    cache: Option<RangeCache<Metadata>>,
    /// The keys of every policy that selected with this table so far: what the cached
    /// [`Metadata`] keeps.
    keys: Vec<String>,
}

/// The range that decided an answer, or the gap around an address that is in no range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decided {
    pub start: IpAddr,
    pub end: IpAddr,
}

/// Per-worker geo state plus the per-query facts the response needs.
pub struct GeoScratch {
    tables: Vec<Table>,
    /// Zone apex key → index into `policy_list` (`None`: the zone has no usable policy), for
    /// the snapshot `policies_snapshot`.
    policies: FastMap<Vec<u8>, Option<usize>>,
    policy_list: Vec<Policy>,
    policies_snapshot: usize,
    /// The last zone asked about and its entry in `policies`: answers mostly come from a few
    /// zones, and comparing one key is cheaper than hashing it.
    recent_apex: Vec<u8>,
    recent_policy: Option<usize>,
    /// Tables asked for but not open in this process yet; opened between batches.
    pub missing_tables: Vec<String>,
    // Per query:
    /// The address selection uses: the ECS address if present and enabled, else the source.
    pub client: Option<IpAddr>,
    pub subnet: Option<ClientSubnet>,
    /// Set when an answer depended on the client address: the range it fell in, or the gap
    /// around it when it was in no range (`None` inside when not even that is known, or not
    /// needed because the query has no ECS option to scope).
    pub decided: Option<Option<Decided>>,
    /// The answer spells out the client subnet itself (a whoami TXT): it holds for no block
    /// wider than the source prefix, whatever the range.
    pub echoes_subnet: bool,
}

impl GeoScratch {
    pub fn new(tables: HashMap<String, RangeTable>) -> Self {
        GeoScratch {
            tables: tables.into_iter().map(|(name, handle)| Table { name, handle, cache: None, keys: Vec::new() }).collect(),
            policies: FastMap::default(),
            policy_list: Vec::new(),
            policies_snapshot: usize::MAX,
            recent_apex: Vec::new(),
            recent_policy: None,
            missing_tables: Vec::new(),
            client: None,
            subnet: None,
            decided: None,
            echoes_subnet: false,
        }
    }

    /// Resets the per-query part.
    #[inline]
    pub fn start_query(&mut self, client: IpAddr, subnet: Option<ClientSubnet>, use_ecs: bool) {
        self.subnet = subnet.filter(|_| use_ecs);
        // Source prefix 0 means "do not use my address" (RFC 7871 §7.1.2): use the resolver's.
        self.client = Some(match self.subnet {
            Some(s) if s.source_prefix > 0 => s.ip(),
            _ => client,
        });
        self.decided = None;
        self.echoes_subnet = false;
    }

    /// Opens tables that were missing (a table created after start). Called between batches,
    /// when the thread holds no read transaction.
    pub fn open_missing_tables(&mut self, store: &Store) {
        let mut opened = false;
        for name in std::mem::take(&mut self.missing_tables) {
            let table = RangeTable::open(store, &name);
            if let Err(e) = &table {
                crate::ops::faults::record(crate::ops::faults::Fault::RangeTable, || format!("table {name}: {e}"));
            }
            if let Ok(Some(handle)) = table {
                self.tables.push(Table { name, handle, cache: None, keys: Vec::new() });
                opened = true;
            }
        }
        if opened {
            // Policies resolved while a table was missing point nowhere: resolve them again.
            self.policies_snapshot = usize::MAX;
        }
    }

    /// The index of `table`; a table not open in this process yet is noted in
    /// `missing_tables`, to be opened between batches.
    fn table_index(&mut self, table: &str) -> Option<usize> {
        let found = self.tables.iter().position(|t| t.name == table);
        if found.is_none() && !self.missing_tables.iter().any(|t| t == table) {
            self.missing_tables.push(table.to_string());
        }
        found
    }

    /// The range of `ip` in `table` with its metadata as stored (JSON), read from LMDB directly:
    /// for answers that show the metadata (whoami, the lookup zone), not the selection path.
    pub fn lookup_json(&mut self, txn: &RoTxn, table: &str, ip: IpAddr) -> Option<(Decided, serde_json::Map<String, serde_json::Value>)> {
        let index = self.table_index(table)?;
        let hit = self.tables[index].handle.lookup(txn, ip).ok()??;
        Some((Decided { start: hit.start, end: hit.end }, hit.metadata().unwrap_or_default()))
    }

    /// The RRset of `rtype` this client gets at `section`: the first variant whose condition
    /// matches the client's metadata in the order of the zone's policy keys, else the default.
    #[inline]
    pub fn select<'t>(&mut self, store: &Store, txn: &RoTxn, apex: &[u8], section: SectionView<'t>, rtype: u16) -> Option<RrsetView<'t>> {
        if !section.has(lmdb_schema::node::flags::GEO) {
            return section.rrset(rtype);
        }
        self.select_variant(store, txn, apex, section, rtype)
    }

    fn select_variant<'t>(
        &mut self,
        store: &Store,
        txn: &RoTxn,
        apex: &[u8],
        section: SectionView<'t>,
        rtype: u16,
    ) -> Option<RrsetView<'t>> {
        // The client is looked up before the section is searched: most clients get a variant,
        // and finding one proves the type has variants, so such an answer costs one search.
        let Some(policy) = self.policy(store, txn, apex) else { return section.rrset(rtype) };
        let policy = &self.policy_list[policy];
        // The range (or gap) that decided, when known and wanted (only an ECS scope needs it).
        let mut decided = None;
        let mut chosen = None;
        // A table not open in this worker yet (created after start) selects nothing this time,
        // but the answer still counts as client-dependent below: it must not be cached.
        if let (Some(client), Some(table)) = (self.client, policy.table) {
            let table = &mut self.tables[table];
            let cache = table.cache.get_or_insert_with(|| RangeCache::new(RANGE_CACHE_SLOTS));
            let keys = &table.keys;
            let scoped = self.subnet.is_some();
            let meta = match cache.lookup_span(&table.handle, txn, client, scoped, |hit| flatten(hit, keys)) {
                Ok(Span::Range(range)) => {
                    decided = scoped.then_some(Decided { start: range.start, end: range.end });
                    Some(&range.meta)
                }
                Ok(Span::Gap(bounds)) => {
                    decided = bounds.map(|(start, end)| Decided { start, end });
                    None
                }
                Err(_) => None,
            };
            // The client's metadata entries are conditions already: the first policy key whose
            // entry has a variant wins.
            chosen = meta.and_then(|meta| {
                policy.keys.iter().filter_map(|&key| meta.condition(key)).find_map(|(c, fp)| section.rrset_variant_by(rtype, c, fp))
            });
        }
        if chosen.is_some() {
            self.decided = Some(decided);
            return chosen;
        }
        // No variant for this client: the default, which depended on the client's address
        // only if the type has variants here at all.
        let (default, variants) = section.rrset_and_variants(rtype);
        if variants.is_some() {
            self.decided = Some(decided);
        }
        default
    }

    /// The zone's policy (an index into `policy_list`), read once per snapshot per worker.
    #[inline]
    fn policy(&mut self, store: &Store, txn: &RoTxn, apex: &[u8]) -> Option<usize> {
        let snapshot = txn.id();
        if self.policies_snapshot == snapshot && same_bytes(&self.recent_apex, apex) {
            return self.recent_policy;
        }
        self.policy_slow(store, txn, snapshot, apex)
    }

    /// [`GeoScratch::policy`] for another zone than the last, or a new snapshot: kept out of
    /// line so the common case stays small.
    #[cold]
    #[inline(never)]
    fn policy_slow(&mut self, store: &Store, txn: &RoTxn, snapshot: usize, apex: &[u8]) -> Option<usize> {
        if self.policies_snapshot != snapshot {
            self.policies.clear();
            self.policy_list.clear();
            self.policies_snapshot = snapshot;
        }
        let policy = match self.policies.get(apex) {
            Some(&known) => known,
            None => {
                let read = match store.zones.get(txn, apex).ok().flatten().map(ZoneMeta::decode) {
                    Some(Ok(meta)) => meta.policy,
                    Some(Err(e)) => {
                        crate::ops::faults::record(crate::ops::faults::Fault::Policy, || {
                            format!("zone {}: {e}", lmdb_schema::name::key_to_text(apex))
                        });
                        None
                    }
                    None => None,
                };
                let index = read.map(|p| {
                    let table = self.table_index(&p.table);
                    let mut keys = Vec::new();
                    if let Some(table) = table.map(|t| &mut self.tables[t]) {
                        for key in &p.keys {
                            let at = match table.keys.iter().position(|k| k == key) {
                                Some(at) => at,
                                None => {
                                    // Cached metadata lacks the new key: start over (once per
                                    // new key in the worker's life, not per snapshot).
                                    table.keys.push(key.clone());
                                    table.cache = None;
                                    table.keys.len() - 1
                                }
                            };
                            keys.push(at);
                        }
                    }
                    self.policy_list.push(Policy { table, table_name: p.table, keys });
                    self.policy_list.len() - 1
                });
                self.policies.insert(apex.to_vec(), index);
                index
            }
        };
        self.recent_apex.clear();
        self.recent_apex.extend_from_slice(apex);
        self.recent_policy = policy;
        policy
    }

    /// The range table of the policy of the zone with apex key `apex` (its whoami names are
    /// answered from it), through the per-worker policy cache.
    pub fn policy_table(&mut self, store: &Store, txn: &RoTxn, apex: &[u8]) -> Option<String> {
        let policy = self.policy(store, txn, apex)?;
        Some(self.policy_list[policy].table_name.clone())
    }

    /// SCOPE PREFIX-LENGTH for the ECS option of this response (RFC 7871 §7.2.1): 0 when the
    /// answer did not depend on the address; otherwise the shortest prefix whose block around
    /// the address lies inside the range (or the gap between ranges) that decided it, so a
    /// cache may reuse the answer for exactly that block. When even that is unknown (a table
    /// that cannot be read) the source prefix is kept: nothing wider is known to be safe.
    pub fn scope(&self) -> u8 {
        let Some(subnet) = self.subnet else { return 0 };
        if subnet.source_prefix == 0 {
            return 0;
        }
        match self.decided {
            None => 0,
            Some(None) => subnet.source_prefix,
            Some(Some(range)) if self.echoes_subnet => scope_within(subnet.ip(), range.start, range.end).max(subnet.source_prefix),
            Some(Some(range)) => scope_within(subnet.ip(), range.start, range.end),
        }
    }
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
