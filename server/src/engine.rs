//! The answer function shared by every transport: query bytes in, response bytes out.

use std::net::SocketAddr;

use std::collections::HashMap;

use lmdb_schema::ranges::RangeTable;
use lmdb_schema::readers::{HeldReadTxn, ReadTxn};
use lmdb_schema::{Store, StoreError};

use crate::answer::geo::GeoScratch;

/// Settings that shape answers (not transport).
#[derive(Clone, Debug)]
pub struct AnswerConfig {
    /// Largest UDP response we send, whatever the client advertises (EDNS), in bytes.
    pub max_udp_size: u16,
    /// Select geo variants by EDNS Client Subnet and echo it (RFC 7871).
    pub ecs: bool,
    /// Name keys of the whoami names.
    pub whoami_keys: Vec<Vec<u8>>,
    pub whoami_table: String,
    /// Name key of the IP-lookup zone.
    pub lookup_zone_key: Option<Vec<u8>>,
    pub lookup_table: String,
    /// Slots of each worker's cache of whole responses (0: no cache).
    pub answer_cache_slots: usize,
    /// Slots of each worker's memo of name lookups (0: every lookup searches LMDB).
    pub name_cache_slots: usize,
    /// The memo was sized by the zone count (the operator set no size): each worker grows it
    /// when a commit brings enough new zones (see [`Engine::after_batch`]).
    pub name_cache_auto: bool,
    /// Sources that may query (others get REFUSED before any lookup).
    pub allow_query: crate::ops::acl::Acl,
    /// Who may transfer zones (networks and TSIG keys).
    pub allow_transfer: crate::ops::acl::TransferAcl,
    /// Generated catalog zones (`--catalog`).
    pub catalogs: Vec<crate::answer::catalog::Catalog>,
    /// QTYPE ANY over UDP gets an empty TC=1 answer.
    pub any_to_tcp: bool,
    /// The key of DNS server cookies (RFC 7873/9018); None: COOKIE options are ignored.
    pub cookie_secret: Option<crate::answer::cookie::CookieSecret>,
    /// CH TXT answers of id.server/hostname.bind and version.bind/version.server.
    pub chaos: crate::answer::chaos::ChaosTexts,
    /// The EDNS NSID sent to queries that ask (RFC 5001); None: the option is ignored.
    pub nsid: Option<Vec<u8>>,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig {
            max_udp_size: 1232,
            ecs: true,
            whoami_keys: Vec::new(),
            whoami_table: lmdb_schema::ranges::DEFAULT_TABLE.into(),
            lookup_zone_key: None,
            lookup_table: lmdb_schema::ranges::DEFAULT_TABLE.into(),
            answer_cache_slots: DEFAULT_ANSWER_CACHE_SLOTS,
            name_cache_slots: DEFAULT_NAME_CACHE_SLOTS,
            name_cache_auto: false,
            allow_query: crate::ops::acl::Acl::any(),
            allow_transfer: crate::ops::acl::TransferAcl::none(),
            catalogs: Vec::new(),
            any_to_tcp: false,
            cookie_secret: crate::answer::cookie::CookieSecret::random().ok(),
            chaos: Default::default(),
            nsid: None,
        }
    }
}

/// Default slots of the per-worker answer cache: some ten thousand distinct hot questions, a few
/// MiB per worker once filled. Measured through sockets at 1k zones, with the warm pass
/// (`answer::warm`) hiding the slots' misses: server user CPU per query on the issue mix
/// 0.78-0.89 µs at 4096 slots, 0.64-0.76 at 16384; on a Zipf mix 0.59-0.66 and 0.51-0.55.
pub const DEFAULT_ANSWER_CACHE_SLOTS: usize = 16384;

/// Fewest slots of the per-worker name memo (`lmdb_schema::name_cache`) when the operator sets
/// none: 64 bytes each, 1 MiB.
pub const DEFAULT_NAME_CACHE_SLOTS: usize = 16384;

/// Most slots the memo sizes itself to: 16 MiB per worker.
pub const MAX_AUTO_NAME_CACHE_SLOTS: usize = 262_144;

/// Name-memo slots for a database of `zones` zones when the operator sets none: twice the zone
/// count as a power of two, between [`DEFAULT_NAME_CACHE_SLOTS`] and
/// [`MAX_AUTO_NAME_CACHE_SLOTS`]. Why: every NXDOMAIN and NODATA reads its zone's apex, so the
/// memo's working set grows with the zones. At 100k zones (issue mix, one worker) 16384 slots hit
/// 10 % and stand aside: server user CPU 1.72-2.24 µs per query, 1.47-1.54 at 131072, 1.06-1.12
/// at 262144; user+system 6.06 → 5.45 µs (medians of 4; the kernel's part grows a little with
/// the bigger footprint). At 1k zones 65536 slots gave nothing over 16384.
pub fn auto_name_cache_slots(zones: u64) -> usize {
    let wanted = usize::try_from(zones.saturating_mul(2)).unwrap_or(usize::MAX);
    wanted.clamp(DEFAULT_NAME_CACHE_SLOTS, MAX_AUTO_NAME_CACHE_SLOTS).next_power_of_two()
}

/// The name key of a configured name (plain dotted labels).
pub fn name_key(name: &str) -> Result<Vec<u8>, lmdb_schema::name::NameError> {
    lmdb_schema::name::key_from_dotted(name)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Who asked, and how.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub transport: Transport,
}

pub use crate::answer::{Answered, ResponseKind};

/// Per-worker reusable state, so answering allocates nothing after warm-up.
pub struct Scratch {
    resolve: crate::answer::internet::ResolveScratch,
    names: lmdb_schema::name_cache::NameCache,
    geo: GeoScratch,
    warm: crate::answer::warm::WarmScratch,
    /// Serial of the snapshot whose zone count the memo was last sized for (auto sizing only).
    names_sized_at: u64,
    /// Facts of the last response written (valid after `answer` returned true).
    pub answered: Answered,
}

impl Scratch {
    /// Name key of the apex of the zone that answered the last query (empty if none did).
    pub fn zone_apex(&self) -> &[u8] {
        self.resolve.apex()
    }

    /// The last query returned a valid DNS server cookie: its source address is proven.
    pub fn valid_cookie(&self) -> bool {
        self.resolve.valid_cookie
    }

    /// The answer cache stands aside: too few of its lookups hit (see `answer::cache`).
    pub fn answer_cache_aside(&self) -> bool {
        self.resolve.cache.standing_aside()
    }

    /// Slots of the worker's name memo (it may grow, see [`Engine::after_batch`]).
    pub fn name_cache_capacity(&self) -> usize {
        self.names.capacity()
    }

    /// Lookups and hits of the worker's name memo so far.
    pub fn name_cache_stats(&self) -> (u64, u64) {
        self.names.stats()
    }

    /// The name memo stands aside: too few of its lookups hit.
    pub fn name_cache_aside(&self) -> bool {
        self.names.standing_aside()
    }

    /// The client subnet of the last query, if it carried one and ECS is on.
    pub fn client_subnet(&self) -> Option<crate::query::ClientSubnet> {
        self.geo.subnet
    }
}

pub struct Engine {
    store: Store,
    config: AnswerConfig,
    /// Range tables open at start; a worker opens later ones itself between batches.
    tables: HashMap<String, RangeTable>,
}

impl Engine {
    pub fn new(store: Store, config: AnswerConfig) -> Self {
        let mut tables = HashMap::new();
        let names = RangeTable::list(&store).unwrap_or_else(|e| {
            crate::ops::faults::record(crate::ops::faults::Fault::RangeTable, || format!("listing the tables: {e}"));
            Vec::new()
        });
        for name in names {
            match RangeTable::open(&store, &name) {
                Ok(Some(table)) => {
                    tables.insert(name, table);
                }
                Ok(None) => {}
                Err(e) => crate::ops::faults::record(crate::ops::faults::Fault::RangeTable, || format!("table {name}: {e}")),
            }
        }
        Engine { store, config, tables }
    }

    /// Fresh per-worker state.
    pub fn scratch(&self) -> Scratch {
        let mut resolve = crate::answer::internet::ResolveScratch::default();
        resolve.cache = crate::answer::cache::AnswerCache::new(self.config.answer_cache_slots);
        Scratch {
            resolve,
            names: lmdb_schema::name_cache::NameCache::new(self.config.name_cache_slots),
            geo: GeoScratch::new(self.tables.clone()),
            warm: Default::default(),
            names_sized_at: 0,
            answered: Answered::default(),
        }
    }

    /// Work a worker does between batches: growing an auto-sized name memo for the zones a
    /// commit added (a server started on an empty database and filled later would otherwise
    /// keep the smallest memo until restarted), and opening range tables that appeared since
    /// start, which needs the thread's read transaction ended first.
    pub fn after_batch(&self, scratch: &mut Scratch, txn: &mut HeldReadTxn) {
        if self.config.name_cache_auto {
            self.size_names_for(scratch, txn);
        }
        if !scratch.geo.missing_tables.is_empty() {
            txn.release();
            scratch.geo.open_missing_tables(&self.store);
        }
    }

    /// Once per new snapshot (one serial compare per batch otherwise): the zone count, an
    /// O(1) LMDB stat, and a bigger memo if [`auto_name_cache_slots`] now asks for one. It only
    /// grows: zones deleted leave it as it is.
    fn size_names_for(&self, scratch: &mut Scratch, held: &HeldReadTxn) {
        let Some(txn) = held.get() else { return };
        if txn.serial() == scratch.names_sized_at {
            return;
        }
        scratch.names_sized_at = txn.serial();
        let Ok(zones) = self.store.zones.len(txn) else { return };
        let wanted = auto_name_cache_slots(zones);
        if wanted > scratch.names.capacity() {
            tracing::debug!(zones, slots = wanted, "name memo grown for the zones now served");
            scratch.names.grow(wanted);
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &AnswerConfig {
        &self.config
    }

    /// A read transaction of its own (a transfer, a test).
    pub fn read_txn(&self) -> Result<lmdb_schema::readers::ReadTxn, StoreError> {
        self.store.read_txn()
    }

    /// The read transaction for one batch of packets: the one `held` keeps from the batch before
    /// if no commit landed since, else a new one, so every loader commit is seen by the next
    /// batch. Workers release `held` before a wait that may be long.
    pub fn batch_txn<'h>(&self, held: &'h mut HeldReadTxn) -> Result<&'h lmdb_schema::readers::ReadTxn, StoreError> {
        self.store.held_read_txn(held)
    }

    /// Before a batch of UDP queries is answered: starts, for all its packets at once, the
    /// memory loads their answers begin with (`answer::warm`). Changes nothing they are
    /// answered with.
    pub fn warm_batch<'p>(&self, txn: &ReadTxn, scratch: &mut Scratch, packets: impl Iterator<Item = &'p [u8]>) {
        crate::answer::warm::warm_batch(&self.config, txn, &scratch.names, &scratch.resolve.cache, &mut scratch.warm, packets);
    }

    /// Answers one query into `out` (cleared first). Returns false if the packet must be dropped
    /// without a reply (responses, garbage too short to carry an ID); otherwise
    /// `scratch.answered` describes the response.
    pub fn answer(&self, txn: &ReadTxn, scratch: &mut Scratch, query: &[u8], client: &Client, out: &mut Vec<u8>) -> bool {
        let answered = crate::answer::respond(
            &self.store,
            &self.config,
            txn,
            &scratch.names,
            &mut scratch.resolve,
            &mut scratch.geo,
            query,
            client.addr.ip(),
            client.transport,
            out,
        );
        match answered {
            Some(answered) => {
                scratch.answered = answered;
                true
            }
            None => false,
        }
    }
}
