//! A per-worker cache of whole responses, so a repeated question costs a parse, a hash and a
//! copy instead of LMDB searches and encoding.
//!
//! Correctness rests on three rules:
//! * A slot answers only while the zone that filled it is unchanged. The loader logs, in the
//!   commit itself, which zones each commit changed (`lmdb_schema::changes`: content, SOA,
//!   variants and policy, settings, a secondary's expiry); a worker reads the entries between
//!   the snapshot it last saw and the one it answers from, once per new snapshot, and retires
//!   the slots of those zones only — so 100 changes a second across 1000 zones leave the other
//!   zones' hot answers in place. A zone created or deleted (which can make another zone answer
//!   a cached question, or a REFUSED no longer hold), or changes that cannot be read in full
//!   (further behind than the log keeps, an entry of a newer format, a read error), retire
//!   every slot, as every commit did before. Answers no zone gave (REFUSED outside our zones)
//!   depend only on the zone set, so they live until such a commit.
//! * The key holds everything a response depends on besides the database: the question (name
//!   lower-cased, type, class), the RD and CD bits echoed in the header, EDNS presence and the
//!   size limit, and the transport. A hit patches in the query's ID and its question bytes, so the
//!   0x20 case of the question is echoed exactly.
//! * Answers that depend on who asks (ECS, geo variants, whoami, range tables) are never
//!   stored; the caller decides that.
//!
//! Direct-mapped, fixed size, owned by one worker: no lock, and no allocation once the slots'
//! buffers have grown to their working size. A question is admitted on its second sighting
//! (a "doorkeeper" array of hashes remembers the first), so a stream of one-off questions — a
//! uniform benchmark mix, a random-subdomain flood — costs one hash store per query instead of
//! a copy of every response, and cannot evict the hot entries.
//!
//! A stream the cache cannot serve — every question different, as in a random-subdomain flood
//! or a uniform mix over more names than the slots hold — would pay its lookups and stores for
//! nothing (measured +3 % server CPU at 100k zones, 2.1 % hits). So the hit rate is measured
//! over windows of lookups; below [`BYPASS_BELOW_PERCENT`] the cache stands aside and only one
//! question in [`BYPASS_SAMPLE`] still goes through it, which keeps the hot names it would serve
//! admitted and tells when the traffic has changed.
//!
//! Zones are told apart by a hash of their apex into a table of change counts (a slot keeps
//! the count its zone had when filled): two zones sharing an entry only retire each other's
//! slots a little more often than needed. A hit pays two compares and one load more than a
//! hit on the snapshot id did.

use std::hash::{BuildHasher, Hasher};

use heed::RoTxn;
use lmdb_schema::hit_rate::HitRateGate;
use lmdb_schema::{changes, Store};

use super::writer::{FLAG_CD, FLAG_RD};
use super::Answered;
use crate::query::Query;

/// Responses larger than this are not cached (they are rare and would pin memory per slot).
const MAX_CACHED_RESPONSE: usize = 1500;
/// Entries of the per-zone change table (u32 each: 16 KiB per worker).
const ZONE_TABLE: usize = 4096;
/// Lookups over which the hit rate is measured.
const WINDOW: u32 = 8192;
/// A window with fewer hits than this share (percent) of its lookups makes the cache stand aside.
const BYPASS_BELOW_PERCENT: u32 = 10;
/// While standing aside, one question in this many still goes through the cache.
const BYPASS_SAMPLE: u32 = 16;
/// Commits read one by one at most per new snapshot; a worker further behind retires every
/// slot instead (cheaper than reading that many entries, and it bounds the loop).
const MAX_REPLAY: u64 = 1024;

struct Slot {
    /// The cache generation it was filled in (see [`Validity::generation`]).
    generation: u64,
    /// Entry of its zone in [`Validity::zones`], and the entry's count when it was filled.
    zone: u32,
    zone_changes: u32,
    /// Hash of the key, compared before the key bytes so a miss touches one cache line.
    hash: u64,
    /// The key, the name key of the zone that answered (for per-zone counters) and the
    /// response, one after the other: a hit reads one run of memory, not three allocations,
    /// which the warm pass (`answer::warm`) loads ahead with one run of prefetches. (Between
    /// batches the slots are cold; each separate buffer was a miss of its own.)
    data: Vec<u8>,
    key_len: u16,
    apex_len: u16,
    answered: Answered,
    /// RDATA names point into the question (answer name compression): only a question of the
    /// same bytes, case included, may reuse the response, or its data would change case.
    case_bound: bool,
}

/// What the slots are valid for: the snapshot last read and what changed up to it.
struct Validity {
    /// Read transaction id of the snapshot last synced ([`AnswerCache::sync`]).
    snapshot: usize,
    /// The database change counter as of that snapshot (None: not read yet, or unreadable).
    counter: Option<u64>,
    /// Bumped to retire every slot at once.
    generation: u64,
    /// Change counts per zone-apex hash.
    zones: Vec<u32>,
}

pub struct AnswerCache {
    slots: Vec<Slot>,
    bypass: HitRateGate,
    mask: usize,
    /// Hashes of questions seen once (4 per slot): the second sighting admits the answer.
    doorkeeper: Vec<u64>,
    valid: Validity,
    /// Key of the current query, built by [`AnswerCache::key`].
    key: Vec<u8>,
    hash: u64,
    seed: foldhash::fast::RandomState,
}

impl Default for AnswerCache {
    /// A disabled cache.
    fn default() -> Self {
        AnswerCache::new(0)
    }
}

impl AnswerCache {
    /// A cache of `slots` entries (rounded up to a power of two); 0 disables it.
    pub fn new(slots: usize) -> Self {
        let n = if slots == 0 { 0 } else { slots.next_power_of_two() };
        let slots = (0..n)
            .map(|_| Slot {
                generation: 0,
                zone: 0,
                zone_changes: 0,
                hash: 0,
                data: Vec::new(),
                key_len: 0,
                apex_len: 0,
                answered: Answered::default(),
                case_bound: false,
            })
            .collect();
        AnswerCache {
            slots,
            bypass: HitRateGate::new(WINDOW, BYPASS_BELOW_PERCENT, BYPASS_SAMPLE),
            mask: n.wrapping_sub(1),
            doorkeeper: vec![0; 4 * n],
            // Generation 1: the slots' 0 never matches.
            valid: Validity { snapshot: usize::MAX, counter: None, generation: 1, zones: vec![0; if n == 0 { 0 } else { ZONE_TABLE }] },
            key: Vec::with_capacity(600),
            hash: 0,
            seed: foldhash::fast::RandomState::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Whether this question goes through the cache (key, lookup, store): always while the
    /// cache serves enough of the traffic, one in [`BYPASS_SAMPLE`] while it stands aside.
    #[inline]
    pub fn consult(&mut self) -> bool {
        self.enabled() && self.bypass.consult()
    }

    /// True while the hit rate keeps the cache aside (see the module comment).
    pub fn standing_aside(&self) -> bool {
        self.bypass.aside()
    }

    /// Brings the cache to the snapshot `txn` reads: retires the slots of zones changed since the
    /// snapshot it saw last (see the module comment). Free while the snapshot is the same.
    /// Returns the snapshot's id (the transaction id), for [`AnswerCache::get`].
    #[inline]
    pub fn sync(&mut self, store: &Store, txn: &RoTxn) -> usize {
        let snapshot = txn.id();
        if snapshot != self.valid.snapshot {
            self.sync_slow(store, txn, snapshot);
        }
        snapshot
    }

    /// [`AnswerCache::sync`] for a new snapshot: once per commit per worker, out of line.
    #[cold]
    #[inline(never)]
    fn sync_slow(&mut self, store: &Store, txn: &RoTxn, snapshot: usize) {
        self.valid.snapshot = snapshot;
        if self.slots.is_empty() {
            return;
        }
        let counter = store.change_counter(txn).ok();
        let complete = match (self.valid.counter, counter) {
            (Some(seen), Some(now)) if now == seen => true,
            (Some(seen), Some(now)) if now > seen && now - seen <= MAX_REPLAY => self.replay(store, txn, seen, now),
            // Not read before, unreadable now, far behind, or a counter gone back (another
            // database moved into place): nothing is known about what changed.
            _ => false,
        };
        if !complete {
            self.retire_all();
        }
        self.valid.counter = counter;
    }

    /// Marks the zones changed by commits `seen + 1 ..= now`; false if that is not known (an
    /// entry missing or of a format this build cannot read in full), or a zone was created or
    /// deleted: every slot must go.
    fn replay(&mut self, store: &Store, txn: &RoTxn, seen: u64, now: u64) -> bool {
        for entry in store.change_log(txn, seen, now) {
            let Ok(Some(value)) = entry else { return false };
            if !changes::decodes_whole(value) {
                return false;
            }
            for (kind, apex) in changes::decode(value) {
                match kind {
                    changes::Kind::Added | changes::Kind::Deleted => return false,
                    changes::Kind::Content | changes::Kind::Settings => {
                        let entry = &mut self.valid.zones[zone_entry(&self.seed, apex)];
                        // A count about to wrap could meet a slot's old count again.
                        let Some(next) = entry.checked_add(1) else { return false };
                        *entry = next;
                    }
                }
            }
        }
        true
    }

    /// Retires every slot: a new generation, the zone counts start again.
    fn retire_all(&mut self) {
        self.valid.generation += 1;
        self.valid.zones.fill(0);
    }

    /// Builds the key of the current query: its question (name key lower-cased), the header bits
    /// echoed in the answer (RD, CD), EDNS presence, the size limit and the transport.
    pub fn key(&mut self, name_key: &[u8], query: &Query, limit: usize, tcp: bool) {
        let head = key_head(query, limit, tcp);
        self.key.clear();
        self.key.extend_from_slice(&head);
        self.key.extend_from_slice(name_key);
        self.hash = self.hash_of(&head, name_key);
    }

    /// foldhash, seeded per cache: word-at-a-time on these short keys, and a seed no client
    /// knows, so questions cannot be crafted to fight over one slot. Over the key's two parts, so
    /// [`AnswerCache::prefetch`] gets the same hash without building the key.
    #[inline]
    fn hash_of(&self, head: &[u8; KEY_HEAD], name_key: &[u8]) -> u64 {
        let mut hasher = self.seed.build_hasher();
        hasher.write(head);
        hasher.write(name_key);
        hasher.finish()
    }

    /// Starts loading the lines a lookup of this question will read: its slot and its doorkeeper
    /// entry. Returns the key's hash for [`AnswerCache::prefetch_entry`], or None while the cache
    /// is off or standing aside. A hint: changes nothing.
    #[inline]
    pub fn prefetch(&self, name_key: &[u8], query: &Query, limit: usize, tcp: bool) -> Option<u64> {
        if self.slots.is_empty() || self.bypass.aside() {
            return None;
        }
        let hash = self.hash_of(&key_head(query, limit, tcp), name_key);
        let slot: *const Slot = &self.slots[self.slot_of(hash)];
        lmdb_schema::prefetch::read(slot.cast());
        lmdb_schema::prefetch::read(slot.cast::<u8>().wrapping_add(std::mem::size_of::<Slot>() - 1));
        lmdb_schema::prefetch::read((&self.doorkeeper[self.door_of(hash)] as *const u64).cast());
        Some(hash)
    }

    /// After [`AnswerCache::prefetch`] of `hash`, once its slot had time to arrive: if the slot
    /// holds that question, starts loading the stored key and response a hit copies.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        let slot = &self.slots[self.slot_of(hash)];
        if slot.hash == hash && slot.generation == self.valid.generation {
            let data = slot.data.as_ptr();
            for line in (0..slot.data.len().min(4 * 64)).step_by(64) {
                lmdb_schema::prefetch::read(data.wrapping_add(line));
            }
        }
    }

    /// The slot a key of this hash lives in (only while the cache is on: `slots` is not empty).
    #[inline]
    fn slot_of(&self, hash: u64) -> usize {
        hash as usize & self.mask
    }

    /// Its doorkeeper entry: indexed by other hash bits than the slots, so one-offs that collide
    /// in a slot do not also collide here.
    #[inline]
    fn door_of(&self, hash: u64) -> usize {
        (hash >> 32) as usize & (4 * self.slots.len() - 1)
    }

    /// On a hit, writes the cached response for `packet` into `out` (ID and question bytes taken
    /// from the query), puts the answering zone's apex key in `apex` and returns the facts.
    /// `snapshot`: the read transaction id, which [`AnswerCache::sync`] must have seen.
    #[inline]
    pub fn get(&mut self, snapshot: usize, packet: &[u8], question_end: usize, out: &mut Vec<u8>, apex: &mut Vec<u8>) -> Option<Answered> {
        let found = self.lookup(snapshot, packet, question_end, out, apex);
        self.bypass.count(found.is_some());
        found
    }

    #[inline]
    fn lookup(&self, snapshot: usize, packet: &[u8], question_end: usize, out: &mut Vec<u8>, apex: &mut Vec<u8>) -> Option<Answered> {
        let slot = self.slots.get(self.slot_of(self.hash))?;
        if slot.hash != self.hash || slot.generation != self.valid.generation {
            return None;
        }
        let (key, rest) = slot.data.split_at(slot.key_len as usize);
        let (slot_apex, response) = rest.split_at(slot.apex_len as usize);
        if key != self.key.as_slice() {
            return None;
        }
        if self.valid.zones[slot.zone as usize] != slot.zone_changes || self.valid.snapshot != snapshot {
            return None;
        }
        if slot.case_bound && response.get(12..question_end) != packet.get(12..question_end) {
            return None;
        }
        out.clear();
        out.extend_from_slice(response);
        out[..2].copy_from_slice(&packet[..2]);
        // Same name modulo case, so the same length: compression pointers stay valid.
        out[12..question_end].copy_from_slice(&packet[12..question_end]);
        apex.clear();
        apex.extend_from_slice(slot_apex);
        Some(Answered { cached: true, ..slot.answered })
    }

    /// Stores the response just written for the current key, if the question was seen before.
    pub fn put(&mut self, snapshot: usize, response: &[u8], answered: Answered, apex: &[u8]) {
        self.put_case_bound(snapshot, response, answered, apex, false);
    }

    /// [`AnswerCache::put`] for a response that, with `case_bound`, answers only a question of
    /// the same bytes.
    pub fn put_case_bound(&mut self, snapshot: usize, response: &[u8], answered: Answered, apex: &[u8], case_bound: bool) {
        // A response from a snapshot the cache was not synced to could outlive a change.
        if response.len() > MAX_CACHED_RESPONSE || self.slots.is_empty() || snapshot != self.valid.snapshot {
            return;
        }
        let door_at = self.door_of(self.hash);
        let door = &mut self.doorkeeper[door_at];
        if *door != self.hash {
            *door = self.hash;
            return;
        }
        let zone = zone_entry(&self.seed, apex);
        let slot_at = self.slot_of(self.hash);
        let slot = &mut self.slots[slot_at];
        slot.generation = self.valid.generation;
        slot.zone = zone as u32;
        slot.zone_changes = self.valid.zones[zone];
        slot.hash = self.hash;
        slot.key_len = self.key.len() as u16;
        slot.apex_len = apex.len() as u16;
        slot.data.clear();
        slot.data.extend_from_slice(&self.key);
        slot.data.extend_from_slice(apex);
        slot.data.extend_from_slice(response);
        slot.answered = Answered { cached: false, ..answered };
        slot.case_bound = case_bound;
    }
}

/// Bytes of the key before the name key.
const KEY_HEAD: usize = 11;

/// The fixed part of a key: type, class, the echoed header bits (RD, CD), the size limit, and
/// EDNS presence, transport, DO and cookie as bits. In one array: measured 1.5 ns less than
/// five pushes.
#[inline]
fn key_head(query: &Query, limit: usize, tcp: bool) -> [u8; KEY_HEAD] {
    let echoed_bits = query.flags & (FLAG_RD | FLAG_CD);
    let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
    // With a cookie the answer ends in a COOKIE option (patched per client on a hit).
    let cookie = query.edns.is_some_and(|e| e.cookie.is_some());
    let mut head = [0u8; KEY_HEAD];
    head[0..2].copy_from_slice(&query.qtype.to_be_bytes());
    head[2..4].copy_from_slice(&query.qclass.to_be_bytes());
    head[4..6].copy_from_slice(&echoed_bits.to_be_bytes());
    head[6..10].copy_from_slice(&(limit as u32).to_be_bytes());
    head[10] = query.edns.is_some() as u8 | (tcp as u8) << 1 | (dnssec_ok as u8) << 2 | (cookie as u8) << 3;
    head
}

/// The entry of the zone with apex key `apex` in the change table.
fn zone_entry(seed: &foldhash::fast::RandomState, apex: &[u8]) -> usize {
    // The high bits: the slots are indexed by the low bits of the (other) key hashes.
    (seed.hash_one(apex) >> 40) as usize & (ZONE_TABLE - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::query::Edns;
    use lmdb_schema::changes::Kind;
    use lmdb_schema::OpenOptions;

    fn q(qtype: u16, edns: bool) -> Query {
        let edns = edns.then_some(Edns {
            payload: 1232,
            version: 0,
            dnssec_ok: false,
            client_subnet: None,
            geo_variants: false,
            cookie: None,
            nsid: false,
        });
        Query { id: 0, flags: 0x0100, qtype, qclass: 1, question_end: 21, edns, tsig: None }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, read_only: false }).unwrap();
        (dir, store)
    }

    /// A commit as the loader's writer makes it: the change log entry and the counter; `log`
    /// false leaves the entry out (a commit the log no longer holds).
    fn commit(store: &Store, zones: &[(Kind, &[u8])], log: bool) {
        let mut wtxn = store.write_txn().unwrap();
        let counter = store.change_counter(&wtxn).unwrap() + 1;
        let mut value = Vec::new();
        for (kind, apex) in zones {
            changes::push(&mut value, *kind, apex);
        }
        if log {
            store.changes.put(&mut wtxn, &changes::key(counter), &value).unwrap();
        }
        store.bump_change_counter(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
    }

    const QUERY: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03WwW\x00\x00\x01\x00\x01";
    const ZONE_A: &[u8] = b"\0www\0";
    const ZONE_B: &[u8] = b"\0other\0";

    /// Caches an answer to QUERY from the zone `apex` in the snapshot `store` is at.
    fn fill(cache: &mut AnswerCache, store: &Store, apex: &[u8]) {
        let txn = store.read_txn().unwrap();
        cache.sync(store, &txn);
        cache.key(b"\0www\0", &q(1, false), 512, false);
        let mut response = QUERY.to_vec();
        response[2] |= 0x80;
        let facts = Answered { qtype: 1, answers: 1, ..Answered::default() };
        cache.put(txn.id(), &response, facts, apex);
        cache.put(txn.id(), &response, facts, apex);
    }

    /// Asks QUERY in the snapshot `store` is at now.
    fn hit(cache: &mut AnswerCache, store: &Store) -> bool {
        let txn = store.read_txn().unwrap();
        cache.sync(store, &txn);
        cache.key(b"\0www\0", &q(1, false), 512, false);
        cache.get(txn.id(), QUERY, QUERY.len(), &mut Vec::new(), &mut Vec::new()).is_some()
    }

    #[test]
    fn stands_aside_while_questions_do_not_repeat_and_comes_back_for_hot_ones() {
        let (_dir, store) = store();
        let mut cache = AnswerCache::new(64);
        let txn = store.read_txn().unwrap();
        let snapshot = cache.sync(&store, &txn);
        let mut response = QUERY.to_vec();
        response[2] |= 0x80;
        let facts = Answered { qtype: 1, answers: 1, ..Answered::default() };
        let ask = |cache: &mut AnswerCache, name: &[u8]| {
            cache.key(name, &q(1, false), 512, false);
            if cache.get(snapshot, QUERY, QUERY.len(), &mut Vec::new(), &mut Vec::new()).is_none() {
                cache.put(snapshot, &response, facts, ZONE_A);
            }
        };
        // A window of questions that never repeat (a random-subdomain flood).
        for i in 0..WINDOW {
            assert!(cache.consult(), "every question goes through before the first window ends");
            ask(&mut cache, format!("\0www\0n{i}\0").as_bytes());
        }
        assert!(cache.standing_aside());
        assert_eq!((0..BYPASS_SAMPLE * 100).filter(|_| cache.consult()).count(), 100, "one in BYPASS_SAMPLE");
        // The traffic turns to one hot name: the sampled questions hit and the cache comes back.
        let mut asked = 0;
        while cache.standing_aside() {
            if cache.consult() {
                ask(&mut cache, b"\0www\0");
                asked += 1;
            }
            assert!(asked <= WINDOW, "still aside after a window of hits");
        }
        assert!((0..100).all(|_| cache.consult()));
    }

    #[test]
    fn hits_only_the_same_key() {
        let (_dir, store) = store();
        let txn = store.read_txn().unwrap();
        let now = txn.id();
        let mut cache = AnswerCache::new(8);
        cache.sync(&store, &txn);
        let qend = QUERY.len();
        cache.key(b"\0www\0", &q(1, false), 512, false);
        let mut response = QUERY.to_vec();
        response[2] |= 0x80;
        response.extend_from_slice(b"answer");
        let facts = Answered { qtype: 1, answers: 1, ..Answered::default() };
        let cached = Answered { cached: true, ..facts };
        cache.put(now, &response, facts, ZONE_A);
        let (mut out, mut apex) = (Vec::new(), Vec::new());
        assert_eq!(cache.get(now, QUERY, qend, &mut out, &mut apex), None, "admitted on the second sighting");
        cache.put(now, &response, facts, ZONE_A);

        let mut again = QUERY.to_vec();
        again[0] = 0xAB;
        again[13] = b'w';
        assert_eq!(cache.get(now, &again, qend, &mut out, &mut apex), Some(cached));
        assert_eq!(apex, ZONE_A);
        assert_eq!(out[0], 0xAB, "the query's ID");
        assert_eq!(&out[12..qend], &again[12..qend], "the query's question bytes, case and all");
        assert!(out.ends_with(b"answer"));

        assert_eq!(cache.get(now + 1, &again, qend, &mut out, &mut apex), None, "a snapshot the cache was not synced to");
        cache.key(b"\0www\0", &q(28, false), 512, false);
        assert_eq!(cache.get(now, &again, qend, &mut out, &mut apex), None, "another type");
        cache.key(b"\0www\0", &q(1, false), 512, true);
        assert_eq!(cache.get(now, &again, qend, &mut out, &mut apex), None, "another transport");
        cache.key(b"\0www\0", &q(1, true), 1232, false);
        assert_eq!(cache.get(now, &again, qend, &mut out, &mut apex), None, "EDNS");

        // An answer whose RDATA names point into the question reads in the question's case:
        // it is reused for the same bytes only.
        cache.key(b"\0www\0", &q(1, false), 512, false);
        cache.put_case_bound(now, &response, facts, ZONE_A, true);
        assert_eq!(cache.get(now, QUERY, qend, &mut out, &mut apex), Some(cached), "the same case");
        assert_eq!(cache.get(now, &again, qend, &mut out, &mut apex), None, "another case");
    }

    #[test]
    fn a_slot_survives_changes_of_other_zones_and_goes_with_its_own() {
        let (_dir, store) = store();
        let mut cache = AnswerCache::new(64);
        commit(&store, &[(Kind::Added, ZONE_A), (Kind::Added, ZONE_B)], true);
        fill(&mut cache, &store, ZONE_A);
        assert!(hit(&mut cache, &store));
        commit(&store, &[(Kind::Content, ZONE_B)], true);
        commit(&store, &[(Kind::Settings, ZONE_B)], true);
        assert!(hit(&mut cache, &store), "two commits changing another zone leave it");
        commit(&store, &[(Kind::Content, ZONE_B), (Kind::Content, ZONE_A)], true);
        assert!(!hit(&mut cache, &store), "a commit changing its zone retires it");
        fill(&mut cache, &store, ZONE_A);
        commit(&store, &[(Kind::Settings, ZONE_A)], true);
        assert!(!hit(&mut cache, &store), "settings (a secondary's expiry) too");
        // A commit that changes no zone (a range table, a key) moves the snapshot only.
        fill(&mut cache, &store, ZONE_A);
        let mut wtxn = store.write_txn().unwrap();
        store.tsig_keys.put(&mut wtxn, b"\0key\0", b"{}").unwrap();
        wtxn.commit().unwrap();
        assert!(hit(&mut cache, &store));
    }

    #[test]
    fn zones_created_or_deleted_and_unknown_changes_retire_every_slot() {
        let (_dir, store) = store();
        let mut cache = AnswerCache::new(64);
        commit(&store, &[(Kind::Added, ZONE_A)], true);
        for (zones, log, why) in [
            (&[(Kind::Added, b"\0sub\0www\0" as &[u8])][..], true, "a zone created (it may answer the question now)"),
            (&[(Kind::Deleted, ZONE_B)][..], true, "a zone deleted"),
            (&[(Kind::Content, ZONE_B)][..], false, "a commit the log does not hold"),
        ] {
            fill(&mut cache, &store, ZONE_A);
            assert!(hit(&mut cache, &store));
            commit(&store, zones, log);
            assert!(!hit(&mut cache, &store), "{why}");
        }
        // An entry of a kind this build does not know.
        fill(&mut cache, &store, ZONE_A);
        let mut wtxn = store.write_txn().unwrap();
        let counter = store.change_counter(&wtxn).unwrap() + 1;
        store.changes.put(&mut wtxn, &changes::key(counter), &[9, 1, 0]).unwrap();
        store.bump_change_counter(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        assert!(!hit(&mut cache, &store), "an entry of a newer format");
        // Further behind than a replay reaches.
        fill(&mut cache, &store, ZONE_A);
        for _ in 0..=MAX_REPLAY {
            commit(&store, &[(Kind::Content, ZONE_B)], true);
        }
        assert!(!hit(&mut cache, &store), "{MAX_REPLAY}+ commits behind");
        // An answer no zone gave (REFUSED: empty apex) holds until the zone set changes.
        fill(&mut cache, &store, b"");
        commit(&store, &[(Kind::Content, ZONE_B)], true);
        assert!(hit(&mut cache, &store), "a content change leaves a REFUSED");
        commit(&store, &[(Kind::Added, ZONE_B)], true);
        assert!(!hit(&mut cache, &store), "a zone created retires it");
    }

    #[test]
    fn a_zone_count_about_to_wrap_retires_every_slot() {
        let (_dir, store) = store();
        let mut cache = AnswerCache::new(8);
        commit(&store, &[(Kind::Added, ZONE_A)], true);
        fill(&mut cache, &store, ZONE_A);
        cache.valid.zones[zone_entry(&cache.seed, ZONE_B)] = u32::MAX;
        commit(&store, &[(Kind::Content, ZONE_B)], true);
        assert!(!hit(&mut cache, &store));
        assert!(cache.valid.zones.iter().all(|&n| n == 0), "counts start again");
    }

    #[test]
    fn disabled_cache_never_hits() {
        let (_dir, store) = store();
        let mut cache = AnswerCache::new(0);
        assert!(!cache.enabled());
        let txn = store.read_txn().unwrap();
        cache.sync(&store, &txn);
        cache.key(b"\0", &q(1, false), 512, false);
        cache.put(txn.id(), b"x", Answered::default(), b"");
        assert_eq!(cache.get(txn.id(), &[0; 17], 17, &mut Vec::new(), &mut Vec::new()), None);
    }

    #[test]
    fn prefetch_aims_at_the_slot_the_lookup_reads() {
        // The warm pass hashes a question without building its key: it must land where `key`
        // does, for every part of the key, or it warms the wrong slot.
        let cache = AnswerCache::new(64);
        let mut other = AnswerCache::new(64);
        other.seed = cache.seed.clone();
        for (name, query, limit, tcp) in [
            (&b"\0www\0"[..], q(1, false), 512, false),
            (b"\0www\0", q(28, true), 1232, false),
            (b"\0com\0example\0", q(15, true), 4096, true),
        ] {
            other.key(name, &query, limit, tcp);
            assert_eq!(cache.prefetch(name, &query, limit, tcp), Some(other.hash), "{name:?}");
        }
        assert_eq!(AnswerCache::new(0).prefetch(b"\0", &q(1, false), 512, false), None, "a cache that is off warms nothing");
    }
}
