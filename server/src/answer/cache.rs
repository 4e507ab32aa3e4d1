//! A per-worker cache of whole responses, so a repeated question costs a parse, a hash and a
//! copy instead of LMDB searches and encoding.
//!
//! Correctness rests on three rules:
//! * Every slot remembers the LMDB snapshot (read transaction id) it was filled from and only
//!   answers in that snapshot: any loader commit retires the whole cache, so changes are still
//!   answered on the next batch.
//! * The key holds everything a response depends on besides the database: the question (name
//!   lower-cased, type, class), the RD and CD bits echoed in the header, EDNS presence and the
//!   size limit, and the transport. A hit patches in the query's ID and its question bytes, so the
//!   0x20 case of the question is echoed exactly.
//! * Answers that depend on who asks (ECS, geo variants, whoami) are never stored; the caller
//!   decides that.
//!
//! Direct-mapped, fixed size, owned by one worker: no lock, and no allocation once the slots'
//! buffers have grown to their working size. A question is admitted on its second sighting
//! (a "doorkeeper" array of hashes remembers the first), so a stream of one-off questions — a
//! uniform benchmark mix, a random-subdomain flood — costs one hash store per query instead of
//! a copy of every response, and cannot evict the hot entries.

use std::hash::{BuildHasher, Hasher};

use super::writer::{FLAG_CD, FLAG_RD};
use super::Answered;
use crate::query::Query;

/// Responses larger than this are not cached (they are rare and would pin memory per slot).
const MAX_CACHED_RESPONSE: usize = 1500;

struct Slot {
    snapshot: usize,
    /// Hash of the key, compared before the key bytes so a miss touches one cache line.
    hash: u64,
    key: Vec<u8>,
    response: Vec<u8>,
    answered: Answered,
    /// Name key of the zone that answered (for per-zone counters).
    apex: Vec<u8>,
    /// RDATA names point into the question (answer name compression): only a question of the
    /// same bytes, case included, may reuse the response, or its data would change case.
    case_bound: bool,
}

pub struct AnswerCache {
    slots: Vec<Slot>,
    mask: usize,
    /// Hashes of questions seen once (4 per slot): the second sighting admits the answer.
    doorkeeper: Vec<u64>,
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
                snapshot: usize::MAX,
                hash: 0,
                key: Vec::new(),
                response: Vec::new(),
                answered: Answered::default(),
                apex: Vec::new(),
                case_bound: false,
            })
            .collect();
        AnswerCache {
            slots,
            mask: n.wrapping_sub(1),
            doorkeeper: vec![0; 4 * n],
            key: Vec::with_capacity(600),
            hash: 0,
            seed: foldhash::fast::RandomState::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.slots.is_empty()
    }

    /// Builds the key of the current query: its question (name key lower-cased), the header bits
    /// echoed in the answer (RD, CD), EDNS presence, the size limit and the transport.
    pub fn key(&mut self, name_key: &[u8], query: &Query, limit: usize, tcp: bool) {
        let echoed_bits = query.flags & (FLAG_RD | FLAG_CD);
        let dnssec_ok = query.edns.is_some_and(|e| e.dnssec_ok);
        // With a cookie the answer ends in a COOKIE option (patched per client on a hit).
        let cookie = query.edns.is_some_and(|e| e.cookie.is_some());
        // The fixed part in one copy: measured 1.5 ns less than five pushes.
        let mut head = [0u8; 11];
        head[0..2].copy_from_slice(&query.qtype.to_be_bytes());
        head[2..4].copy_from_slice(&query.qclass.to_be_bytes());
        head[4..6].copy_from_slice(&echoed_bits.to_be_bytes());
        head[6..10].copy_from_slice(&(limit as u32).to_be_bytes());
        head[10] = query.edns.is_some() as u8 | (tcp as u8) << 1 | (dnssec_ok as u8) << 2 | (cookie as u8) << 3;
        self.key.clear();
        self.key.extend_from_slice(&head);
        self.key.extend_from_slice(name_key);
        // foldhash, seeded per cache: word-at-a-time on these short keys, and a seed no client
        // knows, so questions cannot be crafted to fight over one slot.
        let mut hasher = self.seed.build_hasher();
        hasher.write(&self.key);
        self.hash = hasher.finish();
    }

    /// On a hit, writes the cached response for `packet` into `out` (ID and question bytes taken
    /// from the query), puts the answering zone's apex key in `apex` and returns the facts.
    #[inline]
    pub fn get(&self, snapshot: usize, packet: &[u8], question_end: usize, out: &mut Vec<u8>, apex: &mut Vec<u8>) -> Option<Answered> {
        let slot = self.slots.get(self.hash as usize & self.mask)?;
        if slot.snapshot != snapshot || slot.hash != self.hash || slot.key != self.key {
            return None;
        }
        if slot.case_bound && slot.response.get(12..question_end) != packet.get(12..question_end) {
            return None;
        }
        out.clear();
        out.extend_from_slice(&slot.response);
        out[..2].copy_from_slice(&packet[..2]);
        // Same name modulo case, so the same length: compression pointers stay valid.
        out[12..question_end].copy_from_slice(&packet[12..question_end]);
        apex.clear();
        apex.extend_from_slice(&slot.apex);
        Some(slot.answered)
    }

    /// Stores the response just written for the current key, if the question was seen before.
    pub fn put(&mut self, snapshot: usize, response: &[u8], answered: Answered, apex: &[u8]) {
        self.put_case_bound(snapshot, response, answered, apex, false);
    }

    /// [`AnswerCache::put`] for a response that, with `case_bound`, answers only a question of
    /// the same bytes.
    pub fn put_case_bound(&mut self, snapshot: usize, response: &[u8], answered: Answered, apex: &[u8], case_bound: bool) {
        if response.len() > MAX_CACHED_RESPONSE || self.slots.is_empty() {
            return;
        }
        // The doorkeeper is indexed by other hash bits than the slots, so one-offs that collide
        // in a slot do not also collide here.
        let door = &mut self.doorkeeper[(self.hash >> 32) as usize & (4 * self.slots.len() - 1)];
        if *door != self.hash {
            *door = self.hash;
            return;
        }
        let slot = &mut self.slots[self.hash as usize & self.mask];
        slot.snapshot = snapshot;
        slot.hash = self.hash;
        slot.key.clear();
        slot.key.extend_from_slice(&self.key);
        slot.response.clear();
        slot.response.extend_from_slice(response);
        slot.answered = answered;
        slot.case_bound = case_bound;
        slot.apex.clear();
        slot.apex.extend_from_slice(apex);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::query::Edns;

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

    #[test]
    fn hits_only_the_same_key_in_the_same_snapshot() {
        let mut cache = AnswerCache::new(8);
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03WwW\x00\x00\x01\x00\x01";
        let qend = query.len();
        cache.key(b"\0www\0", &q(1, false), 512, false);
        let mut response = query.to_vec();
        response[2] |= 0x80;
        response.extend_from_slice(b"answer");
        let facts = Answered { qtype: 1, answers: 1, ..Answered::default() };
        cache.put(7, &response, facts, b"\0www\0");
        let (mut out, mut apex) = (Vec::new(), Vec::new());
        assert_eq!(cache.get(7, query, qend, &mut out, &mut apex), None, "admitted on the second sighting");
        cache.put(7, &response, facts, b"\0www\0");

        let mut again = query.to_vec();
        again[0] = 0xAB;
        again[13] = b'w';
        assert_eq!(cache.get(7, &again, qend, &mut out, &mut apex), Some(facts));
        assert_eq!(apex, b"\0www\0");
        assert_eq!(out[0], 0xAB, "the query's ID");
        assert_eq!(&out[12..qend], &again[12..qend], "the query's question bytes, case and all");
        assert!(out.ends_with(b"answer"));

        assert_eq!(cache.get(8, &again, qend, &mut out, &mut apex), None, "another snapshot");
        cache.key(b"\0www\0", &q(28, false), 512, false);
        assert_eq!(cache.get(7, &again, qend, &mut out, &mut apex), None, "another type");
        cache.key(b"\0www\0", &q(1, false), 512, true);
        assert_eq!(cache.get(7, &again, qend, &mut out, &mut apex), None, "another transport");
        cache.key(b"\0www\0", &q(1, true), 1232, false);
        assert_eq!(cache.get(7, &again, qend, &mut out, &mut apex), None, "EDNS");

        // An answer whose RDATA names point into the question reads in the question's case:
        // it is reused for the same bytes only.
        cache.key(b"\0www\0", &q(1, false), 512, false);
        cache.put_case_bound(7, &response, facts, b"\0www\0", true);
        assert_eq!(cache.get(7, query, qend, &mut out, &mut apex), Some(facts), "the same case");
        assert_eq!(cache.get(7, &again, qend, &mut out, &mut apex), None, "another case");
    }

    #[test]
    fn disabled_cache_never_hits() {
        let mut cache = AnswerCache::new(0);
        assert!(!cache.enabled());
        cache.key(b"\0", &q(1, false), 512, false);
        cache.put(1, b"x", Answered::default(), b"");
        assert_eq!(cache.get(1, &[0; 17], 17, &mut Vec::new(), &mut Vec::new()), None);
    }
}
