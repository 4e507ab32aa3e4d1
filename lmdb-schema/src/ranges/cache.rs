//! The per-worker lookup cache over a [`RangeTable`].

use std::net::IpAddr;

use heed::RoTxn;

use super::{normalize, RangeHit, RangeTable, SchemaCache};
use crate::hit_rate::HitRateGate;
use crate::store::StoreError;

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

/// One way's entry, on a 128-byte boundary: a range with its parsed metadata is about 100
/// bytes, and unaligned it would straddle up to three lines; aligned it is one line pair, which
/// the spatial prefetcher brings in together.
#[repr(align(128))]
struct Way<M>(Option<Entry<M>>);

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
    entries: Box<[[Way<M>; WAYS]]>,
    shift: u32,
    hits: u64,
    misses: u64,
    /// Traffic that (nearly) never hits: most lookups skip the sets (see [`RangeCache::bypass`]).
    gate: HitRateGate,
    /// Where a bypassing lookup keeps its result (the API hands out a reference).
    scratch: Option<Entry<M>>,
    /// The table's schema records, for misses: one B-tree search fewer each.
    schemas: SchemaCache,
}

/// Lookups per hit-rate window.
const WINDOW: u32 = 4096;
/// While bypassing, 1 in this many lookups still goes through the sets: it fills them and
/// measures their hit rate, so traffic that turns skewed re-enables the cache within a window
/// or two.
const SAMPLE: u32 = 16;
/// Below this share of hits (percent) of the (sampled) lookups, the window's traffic counts
/// as uncacheable.
const MIN_HIT_PERCENT: u32 = 12;

impl<M> RangeCache<M> {
    /// A cache of at least `slots` entries: `slots / WAYS` sets rounded up to a power of two
    /// (16k slots make 8192 sets, 24,576 entries).
    pub fn new(slots: usize) -> Self {
        let n = slots.div_ceil(WAYS).max(1).next_power_of_two();
        let tags = (0..n).map(|_| Tags { snapshot: usize::MAX, filled: 0, oldest: 0, tags: [0; WAYS] }).collect();
        let entries = (0..n).map(|_| std::array::from_fn(|_| Way(None))).collect();
        RangeCache {
            tags,
            entries,
            shift: 64 - n.trailing_zeros(),
            hits: 0,
            misses: 0,
            gate: HitRateGate::new(WINDOW, MIN_HIT_PERCENT, SAMPLE),
            scratch: None,
            schemas: SchemaCache::new(),
        }
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
        if !self.gate.consult() {
            return self.bypass(table, txn, ip, gap, parse);
        }
        let tag = tag(ip);
        let snapshot = txn.id();
        let i = self.index(tag);
        let set = &self.tags[i];
        let way = if set.snapshot == snapshot { set.tags[..set.filled as usize].iter().position(|&t| t == tag) } else { None };
        let way = match way {
            Some(way) => {
                self.hits += 1;
                self.gate.count(true);
                way
            }
            None => {
                self.gate.count(false);
                self.fill(table, txn, ip, gap, parse)?
            }
        };
        let entry = &mut self.entries[i][way].0;
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

    /// Uncacheable traffic (uniform addresses over a large table): the lookup without the sets.
    ///
    /// Why: measured on 1M ranges, uniform lookups cost ≈ +180 ns through the sets over the raw
    /// lookup and parse (1.62 µs vs 1.44 µs): each miss reads a cold tag line, writes a cold
    /// entry (two lines) and drops the evicted entry's metadata — freeing heap memory nobody
    /// touched since it was filled, more cold lines — all for an entry that is evicted before
    /// it is ever hit. Here the result goes to one scratch entry, whose lines stay hot.
    #[cold]
    #[inline(never)]
    fn bypass<'c>(
        &'c mut self,
        table: &RangeTable,
        txn: &RoTxn,
        ip: IpAddr,
        gap: bool,
        parse: impl FnOnce(&RangeHit<'_>) -> M,
    ) -> Result<Span<'c, M>, StoreError> {
        self.misses += 1;
        let entry = match table.lookup_with(&mut self.schemas, txn, ip)? {
            Some(h) => Entry::Range(CachedRange { start: h.start, end: h.end, meta: parse(&h) }),
            None => Entry::Gap(if gap { Some(table.gap(txn, ip)?) } else { None }),
        };
        Ok(match self.scratch.insert(entry) {
            Entry::Range(range) => Span::Range(range),
            Entry::Gap(bounds) => Span::Gap(*bounds),
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
        let entry = match table.lookup_with(&mut self.schemas, txn, ip)? {
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
        self.entries[i][way] = Way(Some(entry));
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
            *entries = std::array::from_fn(|_| Way(None));
        }
        self.scratch = None;
        self.gate.reset();
    }
}
