//! Counters for `/metrics` (Prometheus text format 0.0.4) and the per-worker hook that feeds them
//! and the query log.
//!
//! Hot path: every worker (each UDP worker, the TCP thread) owns one [`Recorder`]. Its counters
//! live in a [`WorkerSlot`] of their own, aligned to 128 bytes so two workers never write the same
//! cache line, and are relaxed atomics written only by that worker (a load and a store, no
//! read-modify-write). A scrape sums the slots; nothing on the query path takes a lock or waits.
//!
//! Label sets are bounded: `qtype` is one of [`KNOWN_QTYPES`] by name or `other`, `rcode` one of
//! [`KNOWN_RCODES`] or `other`, `proto` `udp`/`tcp`. Per-zone counts use a space-saving
//! (heavy-hitter) table of [`ZONE_SLOTS`] entries per worker, kept worker-local and published
//! every [`PUBLISH_INTERVAL`] with `try_lock` (a contended publish is simply retried next tick);
//! the scrape merges the tables and exports the top [`TOP_ZONES`]. A space-saving count is exact
//! for a zone that never left the table and an upper bound otherwise (a zone entering the table
//! inherits the evicted minimum + 1), which is what a "top zones" panel needs.
//!
//! Database facts are read at scrape time: `last_txn_id`, reader slots and map use from
//! `mdb_env_info`; the age of the last change from the zones' `last_change` metadata (the max over
//! all zones at the first scrape, then over the zones the change log names for the commits since
//! the previous one). A change that leaves no zone newer (a zone deletion) is dated by the scrape
//! that first saw the counter move.

use crossbeam_utils::CachePadded;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::Store;

use crate::engine::{Client, Scratch, Transport};
use crate::ops::querylog::{Producer, QueryLogStats};
use crate::transport::http::Response;

/// Response rate limiting counters: the limiter's own, handed to [`Metrics::set_rrl`] only when
/// RRL is configured, so the RRL series exist exactly then.
pub use crate::ops::rrl::RrlStats;

/// Query types counted by name; any other is counted as `other`.
pub const KNOWN_QTYPES: &[(u16, &str)] = &[
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (29, "LOC"),
    (33, "SRV"),
    (35, "NAPTR"),
    (39, "DNAME"),
    (43, "DS"),
    (44, "SSHFP"),
    (46, "RRSIG"),
    (47, "NSEC"),
    (48, "DNSKEY"),
    (50, "NSEC3"),
    (51, "NSEC3PARAM"),
    (52, "TLSA"),
    (59, "CDS"),
    (60, "CDNSKEY"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (99, "SPF"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
    (256, "URI"),
    (257, "CAA"),
];

/// Response codes counted by name; any other is counted as `other`.
pub const KNOWN_RCODES: &[(u16, &str)] = &[
    (0, "NOERROR"),
    (1, "FORMERR"),
    (2, "SERVFAIL"),
    (3, "NXDOMAIN"),
    (4, "NOTIMP"),
    (5, "REFUSED"),
    (6, "YXDOMAIN"),
    (7, "YXRRSET"),
    (8, "NXRRSET"),
    (9, "NOTAUTH"),
    (10, "NOTZONE"),
    (16, "BADVERS"),
];

const QTYPE_SLOTS: usize = KNOWN_QTYPES.len() + 1;
const RCODE_SLOTS: usize = KNOWN_RCODES.len() + 1;
/// Space-saving entries per worker.
pub const ZONE_SLOTS: usize = 64;
// SpaceSaving keeps sets of entries as bits of a u64.
const _: () = assert!(ZONE_SLOTS == 64);
/// Zones exported.
pub const TOP_ZONES: usize = 50;
/// How often a worker publishes its zone table (when it changed).
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(250);
/// Longest zone name key kept (a name key is as long as the wire name, at most 255).
const ZONE_KEY_MAX: usize = 255;

/// The mnemonic of a query type, if it is one of [`KNOWN_QTYPES`].
pub fn qtype_name(qtype: u16) -> Option<&'static str> {
    KNOWN_QTYPES.iter().find(|(t, _)| *t == qtype).map(|(_, n)| *n)
}

/// The mnemonic of a response code, if it is one of [`KNOWN_RCODES`].
pub fn rcode_name(rcode: u16) -> Option<&'static str> {
    KNOWN_RCODES.iter().find(|(r, _)| *r == rcode).map(|(_, n)| *n)
}

#[inline]
fn qtype_slot(qtype: u16) -> usize {
    KNOWN_QTYPES.iter().position(|(t, _)| *t == qtype).unwrap_or(QTYPE_SLOTS - 1)
}

#[inline]
fn rcode_slot(rcode: u16) -> usize {
    KNOWN_RCODES.iter().position(|(r, _)| *r == rcode).unwrap_or(RCODE_SLOTS - 1)
}

/// Adds one to a counter that only the calling thread writes: no locked instruction needed.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// One zone of a space-saving table: its name key and count.
#[derive(Clone, Copy)]
pub struct ZoneEntry {
    len: u8,
    key: [u8; ZONE_KEY_MAX],
    count: u64,
}

impl ZoneEntry {
    fn key(&self) -> &[u8] {
        &self.key[..self.len as usize]
    }
}

/// A fixed-size space-saving table (Metwally et al.): a hit on a tracked zone counts it; a new
/// zone replaces the smallest entry and starts from that entry's count + 1.
///
/// Struct of arrays, because on a hosting server (far more zones than entries) most queries miss
/// the table. With whole entries (280 bytes each) a miss scanned 128 cache lines for the key and
/// the smallest count: 94.6 ns per query at 1,000 uniform zones (`bench zone_counts`), 3.7 % of
/// the server's CPU. Here a miss compares 64 packed 32-bit hashes (4 cache lines, SSE2-wide) and
/// takes the smallest entry from a bit set kept up to date, rebuilt by a scan about once per
/// table-size evictions.
pub struct SpaceSaving {
    /// Low 32 bits of each entry's key hash (a match is confirmed on the key); the first `len`
    /// are in use.
    hashes: [u32; ZONE_SLOTS],
    counts: [u64; ZONE_SLOTS],
    lens: [u8; ZONE_SLOTS],
    keys: Box<[[u8; ZONE_KEY_MAX]; ZONE_SLOTS]>,
    len: usize,
    /// Index of the last hit: consecutive queries for one zone skip the scan.
    last: usize,
    /// Bit i: entry i holds the table's smallest count. Counts only grow, so the set stays
    /// right as its members are hit or replaced (they leave it); empty means "rebuild before
    /// evicting".
    at_min: u64,
    hasher: foldhash::fast::FixedState,
}

impl SpaceSaving {
    pub fn new() -> Self {
        SpaceSaving {
            hashes: [0; ZONE_SLOTS],
            counts: [0; ZONE_SLOTS],
            lens: [0; ZONE_SLOTS],
            keys: Box::new([[0; ZONE_KEY_MAX]; ZONE_SLOTS]),
            len: 0,
            last: 0,
            at_min: 0,
            hasher: foldhash::fast::FixedState::with_seed(0x7a6f_6e65),
        }
    }

    fn key(&self, i: usize) -> &[u8] {
        &self.keys[i][..self.lens[i] as usize]
    }

    #[inline]
    pub fn hit(&mut self, key: &[u8]) {
        let key = &key[..key.len().min(ZONE_KEY_MAX)];
        let hash = self.hasher.hash_one(key) as u32;
        let last = self.last;
        let i = if last < self.len && self.hashes[last] == hash && self.key(last) == key { Some(last) } else { self.find(hash, key) };
        if let Some(i) = i {
            self.counts[i] += 1;
            self.at_min &= !(1 << i);
            self.last = i;
            return;
        }
        let i = if self.len < ZONE_SLOTS {
            self.len += 1;
            self.counts[self.len - 1] = 0;
            self.at_min = 0; // a new entry may hold the smallest count
            self.len - 1
        } else {
            if self.at_min == 0 {
                self.rebuild_min();
            }
            let i = self.at_min.trailing_zeros() as usize;
            self.at_min &= !(1 << i);
            i
        };
        self.hashes[i] = hash;
        self.counts[i] += 1;
        self.lens[i] = key.len() as u8;
        self.keys[i][..key.len()].copy_from_slice(key);
        self.last = i;
    }

    /// The entry holding `key`: the hashes of 16 entries at a time, then the key of each match.
    #[inline]
    fn find(&self, hash: u32, key: &[u8]) -> Option<usize> {
        for (c, chunk) in self.hashes.chunks_exact(16).enumerate().take(self.len.div_ceil(16)) {
            let mut matches = equal_lanes(chunk.try_into().expect("16 hashes"), hash);
            while matches != 0 {
                let i = c * 16 + matches.trailing_zeros() as usize;
                if i < self.len && self.key(i) == key {
                    return Some(i);
                }
                matches &= matches - 1;
            }
        }
        None
    }

    /// Finds the smallest count of the (full) table and the entries holding it.
    #[cold]
    fn rebuild_min(&mut self) {
        let min = self.counts.iter().copied().min().unwrap_or(0);
        self.at_min = self.counts.iter().enumerate().fold(0u64, |m, (i, &c)| m | ((c == min) as u64) << i);
    }

    /// (name key, count) of every tracked zone.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        (0..self.len).map(|i| (self.key(i), self.counts[i]))
    }

    /// Copies the table into `out` (cleared first; within its capacity: no allocation).
    fn publish(&self, out: &mut Vec<ZoneEntry>) {
        out.clear();
        out.extend((0..self.len).map(|i| ZoneEntry { len: self.lens[i], key: self.keys[i], count: self.counts[i] }));
    }
}

impl Default for SpaceSaving {
    fn default() -> Self {
        Self::new()
    }
}

/// Bit i set when `hashes[i] == hash`. Hand-written with SSE2 (in every x86-64 CPU) because LLVM
/// kept the portable loop (the fallback below) scalar: `bench zone_counts` measured 42.3 → 15.8 ns
/// per query at 1,000 zones and 37.3 → 10.3 ns at 8 against a fold over all 64 hashes.
#[inline]
fn equal_lanes(hashes: &[u32; 16], hash: u32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_castsi128_ps, _mm_cmpeq_epi32, _mm_loadu_si128, _mm_movemask_ps, _mm_set1_epi32};
        // SAFETY: SSE2 is in the x86-64 baseline; the four loads read 16 bytes each inside `hashes`.
        unsafe {
            let needle = _mm_set1_epi32(hash as i32);
            let mut bits = 0u32;
            for q in 0..4 {
                let lanes = _mm_loadu_si128(hashes.as_ptr().add(q * 4) as *const __m128i);
                bits |= (_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(lanes, needle))) as u32) << (q * 4);
            }
            bits
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        hashes.iter().enumerate().fold(0, |m, (i, &h)| m | ((h == hash) as u32) << i)
    }
}

/// The counters of one worker. Written only by that worker; read by scrapes. Held in a
/// [`CachePadded`] (128 bytes on x86-64: the spatial prefetcher pulls line pairs).
pub struct WorkerSlot {
    proto: Transport,
    queries: [[AtomicU64; RCODE_SLOTS]; QTYPE_SLOTS],
    truncated: AtomicU64,
    /// UDP responses longer than the interface MTU, sent truncated instead of fragmented.
    cut_to_mtu: AtomicU64,
    /// Responses taken from the worker's answer cache.
    cache_hits: AtomicU64,
    /// 1 while the worker's answer cache stands aside (hit rate too low), else 0.
    cache_aside: AtomicU64,
    /// The worker's name memo: lookups and hits, as of its last wakeup.
    name_lookups: AtomicU64,
    name_hits: AtomicU64,
    /// 1 while the worker's name memo stands aside, else 0.
    name_aside: AtomicU64,
    /// The worker's zone table as last published.
    zones: Mutex<Vec<ZoneEntry>>,
}

impl WorkerSlot {
    fn new(proto: Transport) -> Self {
        WorkerSlot {
            proto,
            queries: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            truncated: AtomicU64::new(0),
            cut_to_mtu: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_aside: AtomicU64::new(0),
            name_lookups: AtomicU64::new(0),
            name_hits: AtomicU64::new(0),
            name_aside: AtomicU64::new(0),
            zones: Mutex::new(Vec::with_capacity(ZONE_SLOTS)),
        }
    }
}

/// Written only by the TCP thread.
#[derive(Default)]
struct TcpGauges {
    open: AtomicU64,
    accepted: AtomicU64,
    /// Connections in the middle of a message (as of the TCP loop's last sweep).
    mid_message: AtomicU64,
}

/// What the scrape remembers between scrapes to date the last database change cheaply.
#[derive(Default)]
struct DbCache {
    counter: Option<u64>,
    /// Seconds since the epoch.
    last_change: u64,
}

/// Every counter of the server.
pub struct Metrics {
    slots: Box<[CachePadded<WorkerSlot>]>,
    tcp: CachePadded<TcpGauges>,
    querylog: Option<QueryLogStats>,
    dnstap: Option<crate::ops::dnstap::DnstapStats>,
    rrl: Option<Arc<RrlStats>>,
    replication: Arc<super::replication::ReplicationStats>,
    db: Mutex<DbCache>,
}

impl Metrics {
    /// Slots `0..udp_workers` are the UDP workers', slot `udp_workers` is the TCP thread's.
    pub fn new(udp_workers: usize, querylog: Option<QueryLogStats>) -> Metrics {
        let slots = (0..udp_workers)
            .map(|_| WorkerSlot::new(Transport::Udp))
            .chain([WorkerSlot::new(Transport::Tcp)])
            .map(CachePadded::new)
            .collect();
        Metrics {
            slots,
            tcp: CachePadded::default(),
            querylog,
            dnstap: None,
            rrl: None,
            replication: Arc::default(),
            db: Mutex::new(DbCache::default()),
        }
    }

    /// The transfer and NOTIFY counters, for the threads that update them.
    pub fn replication(&self) -> Arc<super::replication::ReplicationStats> {
        Arc::clone(&self.replication)
    }

    /// Exports RRL drops and slips (call when RRL is configured).
    pub fn set_rrl(&mut self, stats: Arc<RrlStats>) {
        self.rrl = Some(stats);
    }

    /// The slot number of the TCP thread.
    pub fn tcp_slot(&self) -> usize {
        self.slots.len() - 1
    }

    /// The hook of worker `slot`, with its query-log queue if the log is on.
    pub fn recorder(&self, slot: usize, log: Option<Producer>, tap: Option<crate::ops::dnstap::Producer>) -> Recorder<'_> {
        Recorder {
            slot: &self.slots[slot],
            tcp: &self.tcp,
            zones: SpaceSaving::new(),
            dirty: false,
            last_publish: Instant::now(),
            log,
            tap,
            cache_aside: false,
        }
    }

    /// Exposes the dnstap drop count.
    pub fn set_dnstap(&mut self, stats: crate::ops::dnstap::DnstapStats) {
        self.dnstap = Some(stats);
    }

    /// The merged per-zone counts, largest first, at most `limit`.
    pub fn top_zones(&self, limit: usize) -> Vec<(Vec<u8>, u64)> {
        let mut merged: HashMap<Vec<u8>, u64> = HashMap::new();
        for slot in self.slots.iter() {
            let table = slot.zones.lock().unwrap_or_else(|p| p.into_inner());
            for e in table.iter() {
                *merged.entry(e.key().to_vec()).or_default() += e.count;
            }
        }
        let mut zones: Vec<_> = merged.into_iter().collect();
        zones.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        zones.truncate(limit);
        zones
    }

    /// The Prometheus text exposition (format 0.0.4). `store` adds the database gauges.
    pub fn render(&self, store: Option<&Store>) -> String {
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "lmdns_queries_total",
            "counter",
            "Queries answered, by transport, query type (known types by name, else other) and response code.",
        );
        for proto in [Transport::Udp, Transport::Tcp] {
            for (qi, qname) in KNOWN_QTYPES.iter().map(|(_, n)| *n).chain(["other"]).enumerate() {
                for (ri, rname) in KNOWN_RCODES.iter().map(|(_, n)| *n).chain(["other"]).enumerate() {
                    let n: u64 = self.slots.iter().filter(|s| s.proto == proto).map(|s| s.queries[qi][ri].load(Ordering::Relaxed)).sum();
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "lmdns_queries_total{{proto=\"{}\",qtype=\"{qname}\",rcode=\"{rname}\"}} {n}",
                            proto_label(proto)
                        );
                    }
                }
            }
        }
        let by_proto = [
            (
                "lmdns_truncated_responses_total",
                "counter",
                "Responses sent with the TC bit set, by transport.",
                (|s: &WorkerSlot| &s.truncated) as fn(&WorkerSlot) -> &AtomicU64,
            ),
            (
                "lmdns_udp_cut_to_mtu_total",
                "counter",
                "UDP responses longer than the outgoing interface's MTU, sent truncated (TC=1) instead of fragmented (counted in lmdns_truncated_responses_total too).",
                |s| &s.cut_to_mtu,
            ),
            (
                "lmdns_answer_cache_hits_total",
                "counter",
                "Responses taken whole from a worker's answer cache, by transport (a slot outlives commits that do not change its zone).",
                |s| &s.cache_hits,
            ),
            (
                "lmdns_answer_cache_aside_workers",
                "gauge",
                "Workers whose answer cache stands aside, by transport: under 10 % of its lookups hit (one-off questions, a random-subdomain flood), so only one question in 16 still goes through it.",
                |s| &s.cache_aside,
            ),
            (
                "lmdns_name_cache_lookups_total",
                "counter",
                "Name lookups that went through a worker's memo of its read transaction's lookups, by transport (as of each worker's last wakeup).",
                |s| &s.name_lookups,
            ),
            (
                "lmdns_name_cache_hits_total",
                "counter",
                "Name lookups a worker's memo answered without a B-tree search, by transport (every commit empties the memo).",
                |s| &s.name_hits,
            ),
            (
                "lmdns_name_cache_aside_workers",
                "gauge",
                "Workers whose name memo stands aside, by transport: under 20 % of its lookups hit, so only one lookup in 16 still goes through it.",
                |s| &s.name_aside,
            ),
        ];
        for (name, kind, help, field) in by_proto {
            family(&mut out, name, kind, help);
            for proto in [Transport::Udp, Transport::Tcp] {
                let n: u64 = self.slots.iter().filter(|s| s.proto == proto).map(|s| field(s).load(Ordering::Relaxed)).sum();
                let _ = writeln!(out, "{name}{{proto=\"{}\"}} {n}", proto_label(proto));
            }
        }
        family(
            &mut out,
            "lmdns_zone_queries_total",
            "counter",
            "Queries answered from a zone, for the busiest zones (space-saving estimate: exact unless the zone was once evicted).",
        );
        for (key, n) in self.top_zones(TOP_ZONES) {
            let zone = lmdb_schema::name::key_to_text(&key);
            let _ = writeln!(out, "lmdns_zone_queries_total{{zone=\"{}\"}} {n}", escape_label(&zone));
        }
        family(&mut out, "lmdns_tcp_connections", "gauge", "TCP connections open now.");
        let _ = writeln!(out, "lmdns_tcp_connections {}", self.tcp.open.load(Ordering::Relaxed));
        family(
            &mut out,
            "lmdns_tcp_connections_mid_message",
            "gauge",
            "TCP connections in the middle of a message (a query arriving or an answer being taken), as of the last 100 ms sweep: many, long, is a slowloris.",
        );
        let _ = writeln!(out, "lmdns_tcp_connections_mid_message {}", self.tcp.mid_message.load(Ordering::Relaxed));
        family(&mut out, "lmdns_tcp_connections_total", "counter", "TCP connections accepted and served.");
        let _ = writeln!(out, "lmdns_tcp_connections_total {}", self.tcp.accepted.load(Ordering::Relaxed));
        family(&mut out, "lmdns_querylog_dropped_total", "counter", "Query log entries dropped because the logger fell behind.");
        let _ = writeln!(out, "lmdns_querylog_dropped_total {}", self.querylog.as_ref().map_or(0, |q| q.dropped()));
        family(
            &mut out,
            "lmdns_dnstap_dropped_total",
            "counter",
            "dnstap events dropped: the writer fell behind, a message too large for a slot, or no reader connected.",
        );
        let _ = writeln!(out, "lmdns_dnstap_dropped_total {}", self.dnstap.as_ref().map_or(0, |d| d.dropped()));
        if let Some(rrl) = &self.rrl {
            family(&mut out, "lmdns_rrl_dropped_total", "counter", "Responses dropped by response rate limiting.");
            let _ = writeln!(out, "lmdns_rrl_dropped_total {}", rrl.dropped());
            family(
                &mut out,
                "lmdns_rrl_slipped_total",
                "counter",
                "Responses replaced by a truncated reply (slip) by response rate limiting.",
            );
            let _ = writeln!(out, "lmdns_rrl_slipped_total {}", rrl.slipped());
            family(
                &mut out,
                "lmdns_rrl_would_limit_total",
                "counter",
                "Responses over the rate sent anyway because --rrl-log-only is set.",
            );
            let _ = writeln!(out, "lmdns_rrl_would_limit_total {}", rrl.would_limit());
        }
        self.replication.render(&mut out, family);
        if let Some(store) = store {
            self.render_db(&mut out, store);
        }
        out
    }

    fn render_db(&self, out: &mut String, store: &Store) {
        let info = store.env().info();
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        };
        gauge(out, "lmdns_db_last_txn_id", "ID of the last committed LMDB transaction.", info.last_txn_id as u64);
        gauge(out, "lmdns_db_readers", "LMDB reader slots in use (high-water mark of the reader table).", info.number_of_readers as u64);
        gauge(out, "lmdns_db_max_readers", "LMDB reader slots available.", info.maximum_number_of_readers as u64);
        gauge(
            out,
            "lmdns_db_map_used_bytes",
            "Bytes of the LMDB map in use (last page + 1, times the page size).",
            (info.last_page_number as u64 + 1) * page,
        );
        gauge(out, "lmdns_db_map_size_bytes", "Size of the LMDB map (upper bound of the database size).", info.map_size as u64);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        };
        family(out, "lmdns_faults_total", "counter", "Faults counted and logged once a minute: lookup (SERVFAIL on a database error or corrupt value), policy (undecodable geo policy), range_table (a table that cannot be opened).");
        for fault in crate::ops::faults::Fault::ALL {
            let _ = writeln!(out, "lmdns_faults_total{{kind=\"{}\"}} {}", fault.label(), crate::ops::faults::count(fault));
        }
        use lmdb_schema::readers::{READER_ERRORS, REMAPS, STALE_READERS_CLEARED};
        use std::sync::atomic::Ordering::Relaxed;
        counter(out, "lmdns_db_remaps_total", "Times the map was adopted after a writer grew it (MDB_MAP_RESIZED).", REMAPS.load(Relaxed));
        counter(out, "lmdns_db_reader_errors_total", "Read transactions refused for lack of reader slots.", READER_ERRORS.load(Relaxed));
        counter(
            out,
            "lmdns_db_stale_readers_cleared_total",
            "Reader slots of dead processes cleared.",
            STALE_READERS_CLEARED.load(Relaxed),
        );
        match self.last_change(store) {
            Ok((counter, last_change)) => {
                gauge(out, "lmdns_db_change_counter", "Zone changes committed to the database (meta change counter).", counter);
                gauge(out, "lmdns_db_last_change_timestamp_seconds", "Unix time of the last zone change (0: never).", last_change);
                if last_change > 0 {
                    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    gauge(out, "lmdns_db_last_change_age_seconds", "Seconds since the last zone change.", now.saturating_sub(last_change));
                }
            }
            Err(e) => tracing::warn!("metrics: cannot read the database change state: {e}"),
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        super::secondaries::render(out, store, now, family);
    }

    /// (change counter, time of the last change). When the counter moved since the last call,
    /// the change log names the zones the new commits touched and only their metadata is read;
    /// all zones are scanned only on the first call or when the log no longer reaches back (a
    /// scan of a million zones takes about a second, too much for every scrape of a server
    /// taking 100 changes/s).
    fn last_change(&self, store: &Store) -> Result<(u64, u64), lmdb_schema::StoreError> {
        let mut cache = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let txn = store.read_txn()?;
        let counter = store.change_counter(&txn)?;
        if cache.counter == Some(counter) {
            return Ok((counter, cache.last_change));
        }
        let zone_time = |apex: &[u8]| -> Result<u64, lmdb_schema::StoreError> {
            let value = store.zones.get(&txn, apex).map_err(|e| store.error(e))?;
            Ok(value.and_then(|v| ZoneMeta::decode(v).ok()).map_or(0, |m| m.last_change))
        };
        let mut newest = 0u64;
        let mut from_log = false;
        if let Some(seen) = cache.counter.filter(|&seen| seen < counter) {
            from_log = true;
            for entry in store.change_log(&txn, seen, counter) {
                let Some(value) = entry? else {
                    from_log = false;
                    break;
                };
                for (kind, apex) in lmdb_schema::changes::decode(value) {
                    if kind != lmdb_schema::changes::Kind::Deleted {
                        newest = newest.max(zone_time(apex)?);
                    }
                }
            }
        }
        if !from_log {
            newest = 0;
            for item in store.zones.iter(&txn).map_err(|e| store.error(e))? {
                let (_, value) = item.map_err(|e| store.error(e))?;
                if let Ok(meta) = ZoneMeta::decode(value) {
                    newest = newest.max(meta.last_change);
                }
            }
        }
        let seen_running = cache.counter.is_some();
        cache.last_change = if newest > cache.last_change || !seen_running {
            newest
        } else {
            // Nothing newer in any zone (e.g. a deletion): dated by this scrape.
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        };
        cache.counter = Some(counter);
        Ok((counter, cache.last_change))
    }
}

/// `GET /metrics`: the exposition, or 404 when the server runs without metrics.
pub fn http_response(metrics: Option<&Metrics>, store: &Store) -> Response {
    match metrics {
        Some(m) => {
            let mut body = m.render(Some(store));
            // Response::to_bytes adds the final newline.
            body.pop();
            Response { status: 200, body, allow: None, content_type: "text/plain; version=0.0.4; charset=utf-8", head_only: false }
        }
        None => Response {
            status: 404,
            body: r#"{"error":"not found"}"#.into(),
            allow: None,
            content_type: "application/json",
            head_only: false,
        },
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn proto_label(proto: Transport) -> &'static str {
    match proto {
        Transport::Udp => "udp",
        Transport::Tcp => "tcp",
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// One worker's hook: counts every response it sends and queues it for the query log.
pub struct Recorder<'m> {
    slot: &'m WorkerSlot,
    tcp: &'m TcpGauges,
    zones: SpaceSaving,
    dirty: bool,
    last_publish: Instant,
    log: Option<Producer>,
    tap: Option<crate::ops::dnstap::Producer>,
    /// What `slot.cache_aside` says, so it is written only when it changes.
    cache_aside: bool,
}

impl Recorder<'_> {
    /// Records a response of `size` bytes sent to `client` for `query`, described by
    /// `scratch.answered` (call after `Engine::answer` returned true and the reply is sent).
    #[inline]
    pub fn record(&mut self, scratch: &Scratch, query: &[u8], client: &Client, size: usize) {
        let a = &scratch.answered;
        bump(&self.slot.queries[qtype_slot(a.qtype)][rcode_slot(a.rcode)]);
        if a.tc {
            bump(&self.slot.truncated);
        }
        if a.cached {
            bump(&self.slot.cache_hits);
        }
        let aside = scratch.answer_cache_aside();
        if aside != self.cache_aside {
            self.cache_aside = aside;
            self.slot.cache_aside.store(aside as u64, Ordering::Relaxed);
        }
        let apex = scratch.zone_apex();
        if !apex.is_empty() {
            self.zones.hit(apex);
            self.dirty = true;
        }
        if let Some(log) = &mut self.log {
            log.push(query, client, a, scratch.client_subnet(), size);
        }
    }

    /// Counts a response the UDP worker found too long for the interface MTU and sent truncated
    /// (after [`Recorder::record`] counted it untruncated).
    pub fn record_cut_to_mtu(&mut self) {
        bump(&self.slot.truncated);
        bump(&self.slot.cut_to_mtu);
    }

    /// Queues the query and the `response` sent for it for dnstap, when it is on (call once the
    /// response is final: after rate limiting).
    #[inline]
    pub fn tap(&mut self, query: &[u8], response: &[u8], client: &Client) {
        if let Some(tap) = &mut self.tap {
            tap.tap(query, response, client);
        }
    }

    /// Publishes the zone table when due; call from the worker loop on every wakeup (also idle
    /// ones, so the last counts of a burst show up).
    #[inline]
    pub fn tick(&mut self, scratch: &Scratch) {
        let (lookups, hits) = scratch.name_cache_stats();
        self.slot.name_lookups.store(lookups, Ordering::Relaxed);
        self.slot.name_hits.store(hits, Ordering::Relaxed);
        self.slot.name_aside.store(scratch.name_cache_aside() as u64, Ordering::Relaxed);
        if !self.dirty || self.last_publish.elapsed() < PUBLISH_INTERVAL {
            return;
        }
        if let Ok(mut published) = self.slot.zones.try_lock() {
            self.zones.publish(&mut published);
            self.dirty = false;
            self.last_publish = Instant::now();
        }
    }

    /// A TCP connection was accepted (TCP thread only).
    pub fn tcp_opened(&self) {
        bump(&self.tcp.open);
        bump(&self.tcp.accepted);
    }

    /// How many TCP connections are in the middle of a message (TCP thread only, each sweep).
    pub fn tcp_mid_message(&self, n: usize) {
        self.tcp.mid_message.store(n as u64, Ordering::Relaxed);
    }

    /// A TCP connection was closed (TCP thread only).
    pub fn tcp_closed(&self) {
        self.tcp.open.store(self.tcp.open.load(Ordering::Relaxed).saturating_sub(1), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_cache_padded() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(std::mem::align_of::<CachePadded<WorkerSlot>>(), 128);
        assert_eq!(std::mem::size_of::<CachePadded<WorkerSlot>>() % std::mem::align_of::<CachePadded<WorkerSlot>>(), 0);
    }

    #[test]
    fn known_and_other_labels() {
        assert_eq!(qtype_name(1), Some("A"));
        assert_eq!(qtype_name(4242), None);
        assert_eq!(qtype_slot(4242), QTYPE_SLOTS - 1);
        assert_eq!(rcode_name(3), Some("NXDOMAIN"));
        assert_eq!(rcode_slot(23), RCODE_SLOTS - 1);
    }

    #[test]
    fn space_saving_keeps_heavy_hitters_within_a_fixed_table() {
        let mut t = SpaceSaving::new();
        let heavy = b"\0com\0example\0".to_vec();
        for i in 0..10_000u32 {
            t.hit(&heavy);
            // A stream of one-off zones, far more than the table holds.
            t.hit(format!("\0com\0z{i}\0").as_bytes());
        }
        assert_eq!(t.len, ZONE_SLOTS);
        let counts: HashMap<&[u8], u64> = t.iter().collect();
        assert_eq!(counts[&heavy[..]], 10_000, "a zone never evicted is counted exactly");
    }

    #[test]
    fn space_saving_replaces_the_smallest_entry() {
        let mut t = SpaceSaving::new();
        let zone = |i: usize| format!("\0com\0z{i}\0").into_bytes();
        for i in 0..ZONE_SLOTS {
            for _ in 0..if i == 37 { 1 } else { 2 + i } {
                t.hit(&zone(i));
            }
        }
        t.hit(b"\0org\0new\0");
        let counts: HashMap<&[u8], u64> = t.iter().collect();
        assert_eq!(counts.len(), ZONE_SLOTS);
        assert!(!counts.contains_key(&zone(37)[..]), "the one-hit zone is the one evicted");
        assert_eq!(counts[&b"\0org\0new\0"[..]], 2, "the newcomer starts from the evicted count + 1");
        assert_eq!(counts[&zone(63)[..]], 65);
        t.hit(b"\0org\0new\0");
        t.hit(&zone(5));
        let counts: HashMap<&[u8], u64> = t.iter().collect();
        assert_eq!((counts[&b"\0org\0new\0"[..]], counts[&zone(5)[..]]), (3, 8));
    }

    #[test]
    fn render_includes_help_type_and_rrl_only_when_set() {
        let mut m = Metrics::new(1, None);
        let text = m.render(None);
        assert!(text.contains("# TYPE lmdns_queries_total counter"), "{text}");
        assert!(!text.contains("lmdns_rrl_"), "{text}");
        let rrl = Arc::new(RrlStats::default());
        rrl.count_dropped(7);
        m.set_rrl(rrl);
        let text = m.render(None);
        assert!(text.contains("lmdns_rrl_dropped_total 7") && text.contains("lmdns_rrl_slipped_total 0"), "{text}");
        assert_eq!(escape_label("a\"b\\c"), "a\\\"b\\\\c");
    }
}
