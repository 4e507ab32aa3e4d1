//! Warming a batch: before the first packet of a `recvmmsg` batch is answered, start the memory
//! loads every packet's answer will begin with, so the batch waits for its misses together
//! instead of one packet after the other.
//!
//! Why: between batches the kernel's packet handling sweeps the caches, and a worker's answer
//! cache and name memo (megabytes) are cold. Each answer stalled first on its answer-cache slot,
//! then on its memo set, then on the node the memo points to, one packet at a time: in a `perf`
//! profile at 1k zones, 82 % of the answer-cache lookup's samples sat on the slot's first load
//! and 84 % of the memo lookup's on its set's. Pass one reads each question and prefetches its
//! answer-cache slot and memo set; pass two, once those lines are on their way, prefetches what
//! they point to (the stored response, the node). It parses each query a second time (~40 ns,
//! bench `parse`), which the misses it hides more than pay for. A hint only: what a query is
//! answered with does not change, and a packet that is not a plain query is skipped.

use lmdb_schema::name_cache::{MemoSet, NameCache, INLINE_KEY};
use lmdb_schema::readers::ReadTxn;

use super::cache::AnswerCache;
use crate::engine::AnswerConfig;
use crate::query::{self, QueryName};

/// What pass one learnt of one packet, for pass two.
#[derive(Clone, Copy)]
struct Warmed {
    /// The question's name key (`key_len` bytes) and its memo set, when the memo was warmed
    /// for it.
    key: [u8; INLINE_KEY],
    key_len: u8,
    memo: Option<MemoSet>,
    /// Hash of the answer-cache key, when the cache was warmed for it.
    answer: Option<u64>,
}

/// Per-worker state of the warm passes (reused: nothing is allocated once it has grown to a
/// batch).
#[derive(Default)]
pub struct WarmScratch {
    name: QueryName,
    batch: Vec<Warmed>,
}

/// Warms what answering `packets` over UDP will read first (see the module docs).
pub fn warm_batch<'p>(
    config: &AnswerConfig,
    txn: &ReadTxn,
    names: &NameCache,
    cache: &AnswerCache,
    scratch: &mut WarmScratch,
    packets: impl Iterator<Item = &'p [u8]>,
) {
    let memo = !names.standing_aside();
    if !memo && (!cache.enabled() || cache.standing_aside()) {
        return;
    }
    scratch.batch.clear();
    for packet in packets {
        let Ok(query) = query::parse(packet, &mut scratch.name) else { continue };
        if query.opcode() != super::OPCODE_QUERY {
            continue;
        }
        let key = &scratch.name.key;
        let mut warmed = Warmed { key: [0; INLINE_KEY], key_len: 0, memo: None, answer: None };
        if super::cacheable(&query, config) {
            warmed.answer = cache.prefetch(key, &query, super::udp_limit(&query, config), false);
        }
        if memo {
            warmed.memo = names.prefetch(key);
            if warmed.memo.is_some() {
                warmed.key[..key.len()].copy_from_slice(key);
                warmed.key_len = key.len() as u8;
            }
        }
        scratch.batch.push(warmed);
    }
    for warmed in &scratch.batch {
        if let Some(hash) = warmed.answer {
            cache.prefetch_entry(hash);
        }
        if let Some(set) = warmed.memo {
            names.warm(txn, set, &warmed.key[..usize::from(warmed.key_len)]);
        }
    }
}
