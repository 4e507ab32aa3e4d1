//! A per-worker memo of `names` lookups made in one read transaction: the name key and where
//! LMDB's value lies in the map (or that there is none), so asking again for a name costs a hash
//! and the compares of one set (four adjacent cache lines) instead of a B-tree descent.
//!
//! Why it is sound: a read transaction's values stay where they are in the map until the
//! transaction ends (LMDB copies on write; the pages of a live snapshot are never reused, and a
//! remap waits for every transaction of the process to end, see `readers`). Every transaction
//! opened carries a serial no other transaction of the process ever gets; the memo remembers the
//! serial it was filled under and forgets everything the moment it is asked under another. So
//! a remembered pointer is only handed out, tied to the borrow of the very transaction it came
//! from, while that transaction is alive.
//!
//! Why it pays: a worker keeps its transaction while nothing commits ([`crate::readers::HeldReadTxn`]),
//! so the memo lives across batches; what a query asks for is mostly what recent queries asked
//! for too (the zone apexes every NXDOMAIN and NODATA read their SOA from, the `*` nodes of
//! wildcards, hot hosts, the encloser walk of random subdomains under one zone). A commit empties
//! it in one store (the serial changes), so a hundred commits a second cost a hundred refills of
//! the hot set, not a stale answer.
//!
//! Four-way set associative (see [`WAYS`]), sized at start (and grown, never shrunk, by
//! [`NameCache::grow`]), allocated at its first lookup; keys
//! longer than a slot holds go to LMDB every time (name keys of real hostnames are mostly under
//! 47 bytes). While fewer than one lookup in five hits (a uniform mix over more names than it
//! holds: 10 % at 100k zones with 16k slots), it stands aside (`hit_rate`) and costs nothing.

use std::cell::RefCell;
use std::hash::BuildHasher;

use crate::hit_rate::HitRateGate;
use crate::readers::ReadTxn;
use crate::Store;

/// Key bytes a slot holds inline: the slot is one 64-byte cache line. Longer keys are never
/// remembered.
pub const INLINE_KEY: usize = 47;

/// Lookups over which the hit rate is measured.
const WINDOW: u32 = 8192;
/// Below this share of hits (percent) the memo stands aside. A miss costs a probe of a set (four
/// adjacent lines) that is cold when the memo is (one DRAM miss, ~100 ns measured at 100k
/// zones); a hit saves a B-tree descent (~150 ns with the tree in cache, 500+ ns without): at 1
/// in 5 it about pays.
const STAND_ASIDE_BELOW_PERCENT: u32 = 20;
/// While standing aside, one lookup in this many still goes through.
const ASIDE_SAMPLE: u32 = 16;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    /// The value in the map (null: the name is not in the table).
    value: *const u8,
    value_len: u32,
    /// The memo generation the slot was filled in; other generations are empty.
    generation: u32,
    key_len: u8,
    key: [u8; INLINE_KEY],
}

/// Slots of one set: a new entry takes the first way and pushes the others down, the last falls
/// out. Four rather than two: at 100k zones (issue mix, 262,144 slots) the memo's hits went
/// 70.2 → 78.0 % (1M slots reach 81 %), server user CPU 1.30 → 1.11 µs per query (medians of 3,
/// interleaved); the two extra lines a lookup may read are prefetched by the warm pass with the
/// first two.
const WAYS: usize = 4;

const _: () = assert!(std::mem::size_of::<Slot>() == 64);
const _: () = assert!(8 + 4 + 4 + 1 + INLINE_KEY == std::mem::size_of::<Slot>(), "Slot has no padding (Slots reads zeroed bytes as slots)");

const EMPTY: Slot = Slot { value: std::ptr::null(), value_len: 0, generation: 0, key_len: 0, key: [0; INLINE_KEY] };

/// The memo's slots, in memory the kernel hands out zeroed page by page as sets are first
/// written. Why not `vec![EMPTY; n]` (or `Box::new_zeroed_slice`, which for a 64-byte alignment
/// allocates and then clears): both write every slot up front, so a memo sized to a large
/// database (16 MiB at 262,144 slots) cost its whole size in RSS before the first answer, and
/// ~10 ms (100k zones: first answer 5.4 → 13.5–16.9 ms, anonymous RSS 4.5 → 19.9 MB at start).
/// `vec![0u8; n]` is `calloc`, whose large blocks are fresh, untouched pages.
#[derive(Default)]
struct Slots {
    /// Zeroed bytes, one slot more than needed so that the slots can start on a 64-byte line.
    bytes: Vec<u8>,
    /// Where the first slot starts in `bytes`.
    offset: usize,
    len: usize,
}

impl Slots {
    fn new(len: usize) -> Slots {
        let size = std::mem::size_of::<Slot>();
        let bytes = vec![0u8; (len + 1) * size];
        let offset = bytes.as_ptr().align_offset(std::mem::align_of::<Slot>());
        assert!(offset < size, "a byte buffer aligns within one slot");
        Slots { bytes, offset, len }
    }
}

impl std::ops::Deref for Slots {
    type Target = [Slot];
    fn deref(&self) -> &[Slot] {
        if self.len == 0 {
            return &[]; // not allocated yet: `bytes` is empty and its pointer not aligned
        }
        // SAFETY: `bytes` holds `len` slots' worth from `offset`, which is aligned for `Slot`.
        // Every field of `Slot` is an integer, an integer array or a raw pointer, so any bytes,
        // zeros included, are a valid `Slot` (no padding: 8 + 4 + 4 + 1 + 47 bytes fill its 64);
        // all-zero is `EMPTY`.
        unsafe { std::slice::from_raw_parts(self.bytes.as_ptr().add(self.offset).cast::<Slot>(), self.len) }
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut [Slot] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as in `deref`; `&mut self` makes this the only view of `bytes`.
        unsafe { std::slice::from_raw_parts_mut(self.bytes.as_mut_ptr().add(self.offset).cast::<Slot>(), self.len) }
    }
}

impl Slot {
    fn holds(&self, generation: u32, key: &[u8]) -> bool {
        self.generation == generation && self.key_len as usize == key.len() && &self.key[..key.len()] == key
    }
}

struct Memo {
    /// Sets of [`WAYS`] slots: `[WAYS * set]` is the most recently filled of the set. Allocated at the
    /// first lookup (a scratch made for one TCP connection may never look a name up).
    slots: Slots,
    /// Slots to allocate (0: off).
    size: usize,
    sets_mask: usize,
    /// Serial of the transaction the live slots were filled under (0: none yet).
    serial: u64,
    /// Slots of this generation are live; 0 is never live.
    generation: u32,
    hasher: foldhash::fast::FixedState,
    gate: HitRateGate,
    hits: u64,
    lookups: u64,
}

/// The memo; see the module docs. One per worker (it is not `Sync`).
pub struct NameCache {
    memo: RefCell<Memo>,
}

// SAFETY: the raw pointers are only dereferenced under the transaction that produced them (the
// serial check in `get`), whichever thread the memo has moved to; a transaction's pages are
// mapped for the whole process.
unsafe impl Send for NameCache {}

impl Default for NameCache {
    /// A memo that remembers nothing (every lookup goes to LMDB).
    fn default() -> Self {
        NameCache::new(0)
    }
}

impl NameCache {
    /// A memo of `slots` names, rounded up to a power of two of at least 2 (0: off). 64 bytes a
    /// slot.
    pub fn new(slots: usize) -> Self {
        let slots = if slots == 0 { 0 } else { slots.max(WAYS).next_power_of_two() };
        NameCache {
            memo: RefCell::new(Memo {
                slots: Slots::default(),
                size: slots,
                sets_mask: (slots / WAYS).saturating_sub(1),
                serial: 0,
                generation: 1,
                hasher: foldhash::fast::FixedState::with_seed(0x51_7cc1_b727_220a),
                gate: HitRateGate::new(WINDOW, STAND_ASIDE_BELOW_PERCENT, ASIDE_SAMPLE),
                hits: 0,
                lookups: 0,
            }),
        }
    }

    /// Slots the memo holds, or will once it is first used (0: off).
    pub fn capacity(&self) -> usize {
        self.memo.borrow().size
    }

    /// Makes the memo `slots` names large (rounded up to a power of two) if that is larger than
    /// it is; an off memo stays off. Everything it remembered is forgotten, and the new slots
    /// are allocated at the next lookup. Meant for a new snapshot, which forgets them anyway.
    pub fn grow(&self, slots: usize) {
        let mut memo = self.memo.borrow_mut();
        let slots = slots.max(WAYS).next_power_of_two();
        if memo.size == 0 || slots <= memo.size {
            return;
        }
        memo.size = slots;
        memo.sets_mask = slots / WAYS - 1;
        memo.slots = Slots::default();
        memo.serial = 0;
    }

    /// `store.names.get(txn, key)`, answered from the memo when this transaction already
    /// asked. (The memo is of the `names` table only: its slots do not say which table.)
    pub fn get<'t>(&self, store: &Store, txn: &'t ReadTxn, key: &[u8]) -> heed::Result<Option<&'t [u8]>> {
        let db = &store.names;
        let Ok(mut memo) = self.memo.try_borrow_mut() else { return db.get(txn, key) };
        if memo.size == 0 || key.len() > INLINE_KEY || !memo.gate.consult() {
            return db.get(txn, key);
        }
        if memo.slots.is_empty() {
            memo.slots = Slots::new(memo.size);
        }
        if memo.serial != txn.serial() {
            memo.serial = txn.serial();
            memo.forget_all();
        }
        memo.lookups += 1;
        let generation = memo.generation;
        let set = memo.set_of(key);
        for way in 0..WAYS {
            let slot = &memo.slots[set + way];
            if slot.holds(generation, key) {
                let (value, len) = (slot.value, slot.value_len as usize);
                memo.hits += 1;
                memo.gate.count(true);
                if value.is_null() {
                    return Ok(None);
                }
                // SAFETY: filled from `db.get` under the transaction with this serial, which is
                // `txn` (serials are never reused) and alive for 't; LMDB keeps a read
                // transaction's values in place until it ends.
                return Ok(Some(unsafe { std::slice::from_raw_parts(value, len) }));
            }
        }
        memo.gate.count(false);
        let found = db.get(txn, key)?;
        let Ok(value_len) = u32::try_from(found.map_or(0, <[u8]>::len)) else { return Ok(found) };
        let mut slot = Slot {
            value: found.map_or(std::ptr::null(), <[u8]>::as_ptr),
            value_len,
            generation,
            key_len: key.len() as u8,
            key: [0; INLINE_KEY],
        };
        slot.key[..key.len()].copy_from_slice(key);
        // The set's entries move down a way (the oldest falls out); the new one takes the first.
        memo.slots.copy_within(set..set + WAYS - 1, set + 1);
        memo.slots[set] = slot;
        Ok(found)
    }

    /// Starts loading the lines `get(.., key)` will read, so that a batch of questions waits
    /// for its memory misses together instead of one after the other. Returns the set, for
    /// [`NameCache::warm`], or None while the memo is empty or stands aside, or cannot hold `key`.
    /// Never changes what the memo holds.
    #[inline]
    pub fn prefetch(&self, key: &[u8]) -> Option<MemoSet> {
        let memo = self.memo.try_borrow().ok()?;
        if memo.slots.is_empty() || key.len() > INLINE_KEY || memo.gate.aside() {
            return None;
        }
        let set = memo.set_of(key);
        for way in 0..WAYS {
            crate::prefetch::read((&memo.slots[set + way] as *const Slot).cast());
        }
        Some(MemoSet(set))
    }

    /// For a name [`NameCache::prefetch`] was asked about a moment ago (`set` is what it
    /// returned): if the memo holds it for `txn`, starts loading the first lines of its value
    /// (the node the answer parses first). Does not count as a lookup and fills nothing.
    #[inline]
    pub fn warm(&self, txn: &ReadTxn, set: MemoSet, key: &[u8]) {
        let Ok(memo) = self.memo.try_borrow() else { return };
        // (`get`: a set of another memo only warms nothing.)
        let Some(slots) = memo.slots.get(set.0..set.0 + WAYS).filter(|_| memo.serial == txn.serial()) else { return };
        for slot in slots {
            if slot.holds(memo.generation, key) && !slot.value.is_null() {
                crate::prefetch::read(slot.value);
                crate::prefetch::read(slot.value.wrapping_add(64));
            }
        }
    }

    /// True while too few lookups hit for the memo to pay (see [`STAND_ASIDE_BELOW_PERCENT`]).
    pub fn standing_aside(&self) -> bool {
        self.memo.try_borrow().is_ok_and(|m| m.gate.aside())
    }

    /// Lookups that went through the memo and its hits so far (for the server's metrics).
    pub fn stats(&self) -> (u64, u64) {
        self.memo.try_borrow().map_or((0, 0), |m| (m.lookups, m.hits))
    }
}

/// The set a name key maps to, as [`NameCache::prefetch`] found it for [`NameCache::warm`].
#[derive(Clone, Copy)]
pub struct MemoSet(usize);

impl Memo {
    /// Index of the first of the [`WAYS`] slots `key` may live in.
    #[inline]
    fn set_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize & self.sets_mask) * WAYS
    }

    fn forget_all(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: slots of an old generation 1 could look live again.
            self.slots.fill(EMPTY);
            self.generation = 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::HeldReadTxn;
    use crate::{OpenOptions, Store};

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), &OpenOptions { map_size: 16 << 20, ..OpenOptions::default() }).unwrap();
        (dir, store)
    }

    #[test]
    fn fresh_slots_are_aligned_empty_and_writable() {
        assert!(Slots::default().is_empty());
        for len in [2, 3, 1000, 262_144] {
            let mut slots = Slots::new(len);
            assert_eq!(slots.len(), len);
            assert_eq!(slots.as_ptr() as usize % 64, 0, "{len}: slots start on a cache line");
            assert!(slots.iter().all(|s| s.value.is_null() && s.generation == 0 && s.key_len == 0 && s.key == [0; INLINE_KEY]));
            slots[len - 1] = Slot { value: std::ptr::null(), value_len: 7, generation: 3, key_len: 1, key: [9; INLINE_KEY] };
            assert_eq!((slots[len - 1].value_len, slots[len - 1].generation, slots[len - 2].generation), (7, 3, 0));
        }
    }

    fn put(store: &Store, key: &[u8], value: &[u8]) {
        let mut wtxn = store.write_txn().unwrap();
        store.names.put(&mut wtxn, key, value).unwrap();
        wtxn.commit().unwrap();
    }

    #[test]
    fn answers_repeats_from_the_memo_and_each_commit_afresh() {
        let (_dir, store) = store();
        put(&store, b"\0com\0example\0", b"first");
        let memo = NameCache::new(64);
        let mut held = HeldReadTxn::default();
        let txn = store.held_read_txn(&mut held).unwrap();
        for _ in 0..3 {
            assert_eq!(memo.get(&store, txn, b"\0com\0example\0").unwrap(), Some(&b"first"[..]));
            assert_eq!(memo.get(&store, txn, b"\0com\0example\0www\0").unwrap(), None);
        }
        assert_eq!(memo.stats(), (6, 4), "the second and third of each came from the memo");

        // A commit changes the value and adds the missing name: the next transaction sees both,
        // though the memo remembered the old value and the absence.
        let mut wtxn = store.write_txn().unwrap();
        store.names.put(&mut wtxn, b"\0com\0example\0", b"second").unwrap();
        store.names.put(&mut wtxn, b"\0com\0example\0www\0", b"www").unwrap();
        wtxn.commit().unwrap();
        let txn = store.held_read_txn(&mut held).unwrap();
        assert_eq!(memo.get(&store, txn, b"\0com\0example\0").unwrap(), Some(&b"second"[..]));
        assert_eq!(memo.get(&store, txn, b"\0com\0example\0www\0").unwrap(), Some(&b"www"[..]));
        assert_eq!(memo.stats(), (8, 4), "a new transaction starts with an empty memo");

        // A transaction of the same snapshot opened anew is a different transaction too.
        held.release();
        let txn = store.read_txn().unwrap();
        assert_eq!(memo.get(&store, &txn, b"\0com\0example\0").unwrap(), Some(&b"second"[..]));
        assert_eq!(memo.stats(), (9, 4));
    }

    #[test]
    fn a_set_holds_four_names_and_drops_the_oldest() {
        let (_dir, store) = store();
        let keys: Vec<Vec<u8>> = (0..5u32).map(|i| format!("\0com\0host{i}\0").into_bytes()).collect();
        let mut wtxn = store.write_txn().unwrap();
        for k in &keys {
            store.names.put(&mut wtxn, k, k).unwrap();
        }
        wtxn.commit().unwrap();
        // Four slots are one set: every key maps to it.
        let memo = NameCache::new(WAYS);
        let txn = store.read_txn().unwrap();
        let ask = |k: &Vec<u8>| assert_eq!(memo.get(&store, &txn, k).unwrap(), Some(&k[..]));
        keys[..4].iter().for_each(ask);
        keys[..4].iter().for_each(ask);
        assert_eq!(memo.stats(), (8, 4), "four names fit one set");
        ask(&keys[4]);
        ask(&keys[0]);
        assert_eq!(memo.stats(), (10, 4), "the fifth pushed out the oldest");
        ask(&keys[4]);
        ask(&keys[3]);
        assert_eq!(memo.stats(), (12, 6), "the newest two stay");
    }

    #[test]
    fn grows_only_larger_and_reads_right_across_the_growth() {
        let (_dir, store) = store();
        let keys: Vec<Vec<u8>> = (0..300u32).map(|i| format!("\0com\0host{i}\0").into_bytes()).collect();
        let mut wtxn = store.write_txn().unwrap();
        for (i, k) in keys.iter().enumerate() {
            store.names.put(&mut wtxn, k, &(i as u32).to_be_bytes()).unwrap();
        }
        wtxn.commit().unwrap();
        let memo = NameCache::new(16);
        let txn = store.read_txn().unwrap();
        let read_all = |memo: &NameCache| {
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(memo.get(&store, &txn, k).unwrap(), Some(&(i as u32).to_be_bytes()[..]), "host{i}");
            }
        };
        read_all(&memo);
        memo.grow(8);
        assert_eq!(memo.capacity(), 16, "never shrinks");
        memo.grow(600);
        assert_eq!(memo.capacity(), 1024, "a power of two");
        // Under the same transaction: the grown memo starts empty, then remembers every name.
        let before = memo.stats();
        read_all(&memo);
        read_all(&memo);
        let after = memo.stats();
        assert_eq!(after.0 - before.0, 600);
        assert!(after.1 - before.1 >= 250, "the second pass hits the grown memo: {before:?} → {after:?}");
        let off = NameCache::new(0);
        off.grow(1024);
        assert_eq!(off.capacity(), 0, "an off memo stays off");
    }

    #[test]
    fn many_names_in_few_slots_and_long_keys_read_right() {
        let (_dir, store) = store();
        let mut wtxn = store.write_txn().unwrap();
        let keys: Vec<Vec<u8>> = (0..500u32).map(|i| format!("\0com\0host{i}\0").into_bytes()).collect();
        for (i, k) in keys.iter().enumerate() {
            store.names.put(&mut wtxn, k, &(i as u32).to_be_bytes()).unwrap();
        }
        let long = [&b"\0com\0"[..], &[b'x'; 60], b"\0"].concat();
        store.names.put(&mut wtxn, &long, b"long").unwrap();
        wtxn.commit().unwrap();
        // 16 slots for 500 names read in a cycle: every lookup misses and evicts, and after a
        // window of that the memo stands aside; every answer stays right throughout.
        let memo = NameCache::new(16);
        let txn = store.read_txn().unwrap();
        for round in 0..20 {
            for (i, k) in keys.iter().enumerate().rev() {
                assert_eq!(memo.get(&store, &txn, k).unwrap(), Some(&(i as u32).to_be_bytes()[..]), "round {round}, {i}");
            }
            assert_eq!(memo.get(&store, &txn, &long).unwrap(), Some(&b"long"[..]));
        }
        assert!(memo.standing_aside(), "{:?}", memo.stats());
        // Traffic that turns hot brings it back within a window or two.
        for _ in 0..2 * WINDOW {
            assert_eq!(memo.get(&store, &txn, &keys[3]).unwrap(), Some(&3u32.to_be_bytes()[..]));
        }
        assert!(!memo.standing_aside());
        let off = NameCache::new(0);
        assert_eq!(off.get(&store, &txn, &keys[7]).unwrap(), Some(&7u32.to_be_bytes()[..]));
        assert_eq!(off.stats(), (0, 0));
    }
}
