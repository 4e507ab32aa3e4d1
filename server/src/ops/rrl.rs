//! Response rate limiting (RRL) for UDP, after BIND's and Knot's: a reflection/amplification
//! attacker spoofs a victim's address, so the server must not send one client network more than
//! `rate` responses of one kind per second. Responses over the limit are dropped, except that
//! every `slip`-th one is sent as an empty TC=1 "slip" answer, so a real client behind the
//! limited prefix retries over TCP (which is never limited: a TCP handshake proves the address).
//!
//! # Accounting
//! One bucket per (client prefix, response kind): the prefix is the source address cut to /24
//! for IPv4 and /56 for IPv6 (IPv4-mapped IPv6 counts as IPv4); the kinds are
//! [`ResponseKind`]'s five: answer, NODATA (its own category, as BIND's `nodata-per-second`),
//! NXDOMAIN, referral and error. Each bucket is a GCRA token bucket ("generic cell rate
//! algorithm"): a single u64, the theoretical arrival time (TAT) of the next response in
//! nanoseconds since the limiter started. A response at `now` is allowed when
//! `max(TAT, now) + 1/rate - now <= 1 s`, and then TAT advances by `1/rate`. So a quiet prefix
//! may send a burst of `rate` responses at once, then `rate` per second: over any window of `t`
//! seconds at most `rate * t + rate` responses pass. Limited responses do not move TAT.
//!
//! # Sharing without a lock
//! UDP workers each own a SO_REUSEPORT socket and the kernel hashes one client's source ports to
//! different workers, so every worker must see the same buckets. The table is a fixed boxed
//! slice of cache-line-aligned buckets (no false sharing between workers updating neighbouring
//! buckets), each updated with a compare-and-swap loop on its TAT word; the slip counter is a
//! separate atomic in the same line. No mutex, no allocation after start.
//!
//! # Bounded table, keyed hash
//! The bucket for (prefix, kind) is chosen by SipHash-1-3 ([`RandomState`], keyed from the OS
//! random source at start) reduced to the table size. The table never grows: spoofed sources,
//! however many, can only land in the `table_size` existing buckets. The trade-off is
//! collisions: two keys in one bucket share its rate, so a busy prefix can make another one be
//! limited earlier than its own traffic warrants (never later). The random key means an attacker
//! cannot compute which sources collide with a victim's bucket; with the default 100,000 buckets
//! and a few thousand active prefixes per second, collisions are rare. Memory is 64 bytes per
//! bucket: 6.4 MB at the default size.

use crossbeam_utils::CachePadded;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use crate::engine::ResponseKind;

/// IPv4 clients are accounted per /24, as BIND's `ipv4-prefix-length` default.
pub const IPV4_PREFIX: u8 = 24;
/// IPv6 clients are accounted per /56, as BIND's `ipv6-prefix-length` default.
pub const IPV6_PREFIX: u8 = 56;
pub const DEFAULT_SLIP: u32 = 2;
pub const DEFAULT_TABLE_SIZE: usize = 100_000;
/// Upper bounds accepted for the flags (64 bytes per bucket: 10M buckets is 640 MB).
pub const MAX_TABLE_SIZE: usize = 10_000_000;
pub const MAX_RATE: u32 = 1_000_000;
pub const MAX_SLIP: u32 = 10;

const NANOS_PER_SEC: u64 = 1_000_000_000;
use crate::answer::writer::{FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC, OPCODE_MASK};
use crate::query::HEADER_LEN;

/// Counter slots: each thread counts in its own (a flood is exactly when every worker limits,
/// and one shared counter would bounce its cache line between them).
const STAT_SLOTS: usize = 64;

/// One thread's counters, alone in their cache lines (in a [`CachePadded`]).
#[derive(Debug, Default)]
struct StatSlot {
    dropped: AtomicU64,
    slipped: AtomicU64,
    /// Log-only mode: responses that would have been limited, and were sent.
    would_limit: AtomicU64,
}

/// Counters of what the limiter did, for metrics. Relaxed loads are fine for reporting.
#[derive(Debug)]
pub struct RrlStats {
    slots: Box<[CachePadded<StatSlot>]>,
}

impl Default for RrlStats {
    fn default() -> Self {
        RrlStats { slots: (0..STAT_SLOTS).map(|_| CachePadded::new(StatSlot::default())).collect() }
    }
}

thread_local! {
    static STAT_SLOT: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) as usize % STAT_SLOTS
    };
}

impl RrlStats {
    fn mine(&self) -> &StatSlot {
        &self.slots[STAT_SLOT.with(|s| *s)]
    }

    /// Limited responses not sent at all.
    pub fn dropped(&self) -> u64 {
        self.slots.iter().map(|s| s.dropped.load(Ordering::Relaxed)).sum()
    }

    /// Limited responses replaced by an empty TC=1 answer.
    pub fn slipped(&self) -> u64 {
        self.slots.iter().map(|s| s.slipped.load(Ordering::Relaxed)).sum()
    }

    /// Responses log-only mode let through that the limit would have stopped.
    pub fn would_limit(&self) -> u64 {
        self.slots.iter().map(|s| s.would_limit.load(Ordering::Relaxed)).sum()
    }

    /// Counts `n` dropped responses (for tests of what reports them).
    pub fn count_dropped(&self, n: u64) {
        self.mine().dropped.fetch_add(n, Ordering::Relaxed);
    }
}

/// Per-kind rates: index = [`ResponseKind`] as u8 (answer, NODATA, NXDOMAIN, referral, error);
/// 0 = that kind is not limited.
pub type KindRates = [u32; 5];

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate: send it as is.
    Send,
    /// Over the rate, and this one slips: send [`slip_response`] instead.
    Slip,
    /// Over the rate: send nothing.
    Drop,
}

/// One token bucket, alone in its cache line. 64 bytes, not a 128-byte `CachePadded`: any
/// worker may update any bucket (they are shared by design, keyed by client network), so the
/// pair prefetch buys nothing and the table (`--rrl-table-size` × 64 bytes) would double.
#[repr(C, align(64))]
#[derive(Default)]
struct Bucket {
    /// Theoretical arrival time of the next response, ns since [`Rrl::epoch`]; 0 = idle.
    tat: AtomicU64,
    /// Limited responses seen, for the slip ratio.
    limited: AtomicU32,
}

/// The limiter, shared by reference between all UDP workers.
pub struct Rrl {
    buckets: Box<[Bucket]>,
    hasher: RandomState,
    /// Per kind: cost of one response in ns (1 s / rate); 0 = not limited.
    interval: [u64; 5],
    /// Per kind: how far TAT may run ahead of now: one second's worth of responses.
    tolerance: [u64; 5],
    slip: u32,
    /// Count and log what would be limited, limit nothing (to size the rates on real traffic).
    log_only: bool,
    /// Unix second of the last log-only line (0: never).
    logged_at: AtomicU64,
    epoch: Instant,
    /// Shared with the metrics scrape.
    stats: std::sync::Arc<RrlStats>,
}

impl Rrl {
    /// A limiter of `rate` responses per second per (prefix, kind) (`rate` >= 1), slipping every
    /// `slip`-th limited response (0 = none), with `table_size` buckets (>= 1).
    pub fn new(rate: u32, slip: u32, table_size: usize) -> Rrl {
        assert!(rate >= 1, "RRL needs a rate");
        Rrl::with_kind_rates([rate; 5], slip, table_size, false)
    }

    /// A limiter with a rate per response kind (0: not limited) and, with `log_only`, one that
    /// only counts and logs what it would limit.
    pub fn with_kind_rates(rates: KindRates, slip: u32, table_size: usize, log_only: bool) -> Rrl {
        assert!(table_size >= 1, "RRL needs a table");
        let interval = rates.map(|rate| if rate == 0 { 0 } else { (NANOS_PER_SEC / u64::from(rate)).max(1) });
        let mut tolerance = [0; 5];
        for (kind, &rate) in rates.iter().enumerate() {
            // Allows exactly `rate` back-to-back responses from an idle bucket.
            tolerance[kind] = interval[kind] * u64::from(rate);
        }
        Rrl {
            buckets: (0..table_size).map(|_| Bucket::default()).collect(),
            hasher: RandomState::new(),
            interval,
            tolerance,
            slip,
            log_only,
            logged_at: AtomicU64::new(0),
            epoch: Instant::now(),
            stats: std::sync::Arc::new(RrlStats::default()),
        }
    }

    /// The clock [`Rrl::check`] expects: ns since the limiter started. Read it once per batch.
    #[inline]
    pub fn now(&self) -> u64 {
        // At least 1, so a fresh bucket (TAT 0) is always "in the past".
        (self.epoch.elapsed().as_nanos() as u64).max(1)
    }

    pub fn stats(&self) -> &RrlStats {
        &self.stats
    }

    /// The counters, for the metrics scrape.
    pub fn stats_handle(&self) -> std::sync::Arc<RrlStats> {
        self.stats.clone()
    }

    /// Number of buckets: fixed at construction, whatever the traffic.
    pub fn table_len(&self) -> usize {
        self.buckets.len()
    }

    /// Accounts one response of `kind` to `source` at `now` (from [`Rrl::now`]) and says what to
    /// do with it; counts drops and slips.
    #[inline]
    pub fn check(&self, now: u64, source: IpAddr, kind: ResponseKind) -> Verdict {
        let (interval, tolerance) = (self.interval[kind as usize], self.tolerance[kind as usize]);
        if interval == 0 {
            return Verdict::Send;
        }
        let bucket = &self.buckets[self.index(source, kind)];
        let mut tat = bucket.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + interval;
            if next - now > tolerance {
                break;
            }
            match bucket.tat.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Verdict::Send,
                Err(current) => tat = current,
            }
        }
        let n = bucket.limited.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if self.log_only {
            self.stats.mine().would_limit.fetch_add(1, Ordering::Relaxed);
            self.log_would_limit(source, kind);
            return Verdict::Send;
        }
        if self.slip != 0 && n.is_multiple_of(self.slip) {
            self.stats.mine().slipped.fetch_add(1, Ordering::Relaxed);
            Verdict::Slip
        } else {
            self.stats.mine().dropped.fetch_add(1, Ordering::Relaxed);
            Verdict::Drop
        }
    }

    /// Log-only mode: one line a minute naming a network over its rate.
    #[cold]
    fn log_would_limit(&self, source: IpAddr, kind: ResponseKind) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last = self.logged_at.load(Ordering::Relaxed);
        if (last == 0 || now >= last + 60)
            && self.logged_at.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                client = %source,
                kind = ?kind,
                total = self.stats.would_limit(),
                "RRL (log only): responses over the rate were sent; without --rrl-log-only they would be limited"
            );
        }
    }

    /// Bucket of (prefix of `source`, `kind`).
    #[inline]
    fn index(&self, source: IpAddr, kind: ResponseKind) -> usize {
        let hash = self.hasher.hash_one((prefix_key(source), kind as u8));
        // Multiply-shift maps the 64-bit hash onto 0..len without a division.
        ((u128::from(hash) * self.buckets.len() as u128) >> 64) as usize
    }
}

/// The limiter `config` asks for (None when `rrl_rate` is 0), logged when on.
pub fn from_config(config: &crate::config::Config) -> Option<Rrl> {
    if config.rrl_rate == 0 {
        return None;
    }
    let rates = config.rrl_kind_rates;
    tracing::info!(
        rate = config.rrl_rate,
        nodata = rates[1],
        nxdomain = rates[2],
        referral = rates[3],
        error = rates[4],
        slip = config.rrl_slip,
        table_size = config.rrl_table_size,
        log_only = config.rrl_log_only,
        "UDP response rate limiting on"
    );
    Some(Rrl::with_kind_rates(rates, config.rrl_slip, config.rrl_table_size, config.rrl_log_only))
}

/// The UDP path's hook, after the engine wrote a response to `source` into `out`: leaves it,
/// rewrites it into the slip form, or returns false when it must not be sent.
#[inline]
pub fn apply(rrl: &Rrl, now: u64, source: IpAddr, answered: &crate::engine::Answered, out: &mut Vec<u8>) -> bool {
    match rrl.check(now, source, answered.kind()) {
        Verdict::Send => true,
        Verdict::Slip => slip_response(out),
        Verdict::Drop => false,
    }
}

/// The accounting prefix of an address: family tag and the address cut to /24 or /56.
#[inline]
fn prefix_key(source: IpAddr) -> (u8, u128) {
    match source.to_canonical() {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4) & (u32::MAX << (32 - IPV4_PREFIX)))),
        IpAddr::V6(v6) => (6, u128::from(v6) & (u128::MAX << (128 - IPV6_PREFIX))),
    }
}

/// Turns a response in `out` into the slip form: header and question only, TC set, AA clear,
/// RCODE NOERROR, no records but the OPT record when the response had one (a client that sent
/// EDNS gets it back, RFC 6891 §7). Opcode, RD and CD are kept from the response (which copied
/// them from the query). Returns false if the buffer does not hold a well-formed header and
/// question; the response must then be dropped.
pub fn slip_response(out: &mut Vec<u8>) -> bool {
    let opt = find_opt(out);
    if out.len() < HEADER_LEN {
        return false;
    }
    let qdcount = u16::from_be_bytes([out[4], out[5]]);
    let end = match qdcount {
        0 => HEADER_LEN,
        1 => match question_end(out) {
            Some(end) => end,
            None => return false,
        },
        _ => return false,
    };
    let opt = opt.filter(|r| r.start >= end).map(|r| out[r].to_vec());
    out.truncate(end);
    let flags = u16::from_be_bytes([out[2], out[3]]);
    let flags = FLAG_QR | FLAG_TC | (flags & (OPCODE_MASK | FLAG_RD | FLAG_CD));
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[6..12].fill(0);
    if let Some(mut opt) = opt {
        // Its extended RCODE bits belong to the answer that is no longer sent.
        opt[5] = 0;
        out.extend_from_slice(&opt);
        out[11] = 1;
    }
    true
}

/// Where the OPT record of a response lies (the writer puts it after every other record, before
/// a TSIG): walks the records, bounded by the buffer.
fn find_opt(msg: &[u8]) -> Option<std::ops::Range<usize>> {
    let counts = |i: usize| u16::from_be_bytes([msg[4 + 2 * i], msg[5 + 2 * i]]) as usize;
    if msg.len() < HEADER_LEN || counts(0) != 1 {
        return None;
    }
    let mut pos = question_end(msg)?;
    for _ in 0..counts(1) + counts(2) + counts(3) {
        let start = pos;
        // Owner: labels up to the root, or a pointer.
        loop {
            let len = *msg.get(pos)? as usize;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    pos += 1;
                    break;
                }
                0x00 => pos += 1 + len,
                0xC0 => {
                    pos += 2;
                    break;
                }
                _ => return None,
            }
        }
        let rtype = u16::from_be_bytes([*msg.get(pos)?, *msg.get(pos + 1)?]);
        let rdlen = u16::from_be_bytes([*msg.get(pos + 8)?, *msg.get(pos + 9)?]) as usize;
        pos += 10 + rdlen;
        if pos > msg.len() {
            return None;
        }
        if rtype == lmdb_schema::rtype::OPT {
            return Some(start..pos);
        }
    }
    None
}

/// End of the single question at offset 12, walking its labels (bounded by the buffer).
fn question_end(msg: &[u8]) -> Option<usize> {
    let mut pos = HEADER_LEN;
    loop {
        let len = *msg.get(pos)? as usize;
        match len & 0xC0 {
            0x00 if len == 0 => {
                pos += 1;
                break;
            }
            0x00 => pos += 1 + len,
            0xC0 => {
                pos += 2;
                break;
            }
            _ => return None,
        }
    }
    let end = pos + 4;
    (end <= msg.len()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SEC: u64 = NANOS_PER_SEC;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    /// Sends `n` responses evenly over `[from, from + span)` and counts the verdicts.
    fn run(rrl: &Rrl, ip: IpAddr, kind: ResponseKind, n: u64, from: u64, span: u64) -> [u64; 3] {
        let mut counts = [0u64; 3];
        for i in 0..n {
            let verdict = rrl.check(from + i * span / n, ip, kind);
            counts[verdict as usize] += 1;
        }
        counts
    }

    #[test]
    fn burst_then_rate() {
        let rrl = Rrl::new(50, 0, 1000);
        let ip = v4(192, 0, 2, 1);
        // 1000 responses at one instant: the burst (one second's worth) passes, no more.
        let [send, slip, drop] = run(&rrl, ip, ResponseKind::Answer, 1000, 1, 0);
        assert_eq!((send, slip, drop), (50, 0, 950));
        // 10 s of 1000/s from the moment the burst has refilled: the burst again, then 50/s
        // (give or take the boundary response), so rate * t + burst.
        let [send, _, _] = run(&rrl, ip, ResponseKind::Answer, 10_000, 1 + SEC, 10 * SEC);
        assert!((545..=551).contains(&send), "{send}");
        assert_eq!(rrl.stats().dropped(), 950 + 10_000 - send);
        // After a quiet second the burst is back.
        let [send, _, _] = run(&rrl, ip, ResponseKind::Answer, 100, 13 * SEC, 0);
        assert_eq!(send, 50);
    }

    #[test]
    fn slip_ratio() {
        for (slip, expect_slipped) in [(0u32, 0u64), (1, 900), (2, 450), (3, 300)] {
            let rrl = Rrl::new(100, slip, 1000);
            let [send, slipped, dropped] = run(&rrl, v4(192, 0, 2, 1), ResponseKind::NxDomain, 1000, 1, 0);
            assert_eq!((send, slipped, dropped), (100, expect_slipped, 900 - expect_slipped), "slip {slip}");
            assert_eq!(rrl.stats().slipped(), expect_slipped);
            assert_eq!(rrl.stats().dropped(), 900 - expect_slipped);
        }
    }

    #[test]
    fn prefixes_and_kinds_are_separate() {
        let rrl = Rrl::new(10, 0, 100_000);
        let [send, ..] = run(&rrl, v4(198, 51, 100, 1), ResponseKind::Answer, 100, 1, 0);
        assert_eq!(send, 10);
        // Same /24, other host: same bucket, already empty.
        assert_eq!(rrl.check(1, v4(198, 51, 100, 200), ResponseKind::Answer), Verdict::Drop);
        // Same IPv4 as a v4-mapped IPv6 source: same bucket.
        assert_eq!(rrl.check(1, "::ffff:198.51.100.7".parse().unwrap(), ResponseKind::Answer), Verdict::Drop);
        // Another /24, or another kind: their own buckets (barring a 1-in-100000 collision per key,
        // which the random hash key makes a different pair on each run; check several to be sure).
        let fresh = [
            rrl.check(1, v4(198, 51, 101, 1), ResponseKind::Answer),
            rrl.check(1, v4(198, 51, 100, 1), ResponseKind::NxDomain),
            rrl.check(1, v4(198, 51, 100, 1), ResponseKind::Error),
            rrl.check(1, v4(198, 51, 100, 1), ResponseKind::Referral),
            rrl.check(1, v4(198, 51, 100, 1), ResponseKind::NoData),
        ];
        assert!(fresh.iter().filter(|v| **v == Verdict::Send).count() >= 4, "{fresh:?}");
        // IPv6 per /56.
        let a: IpAddr = "2001:db8:0:1200::1".parse().unwrap();
        let same: IpAddr = "2001:db8:0:12ff:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:0:1300::1".parse().unwrap();
        assert_eq!(run(&rrl, a, ResponseKind::Answer, 20, 1, 0)[0], 10);
        assert_eq!(rrl.check(1, same, ResponseKind::Answer), Verdict::Drop);
        assert_eq!(prefix_key(a), prefix_key(same));
        assert_ne!(prefix_key(a), prefix_key(other));
        assert_ne!(prefix_key(v4(10, 0, 0, 1)), prefix_key(v4(10, 0, 1, 1)));
    }

    /// 100,000 distinct spoofed-looking prefixes (IPv4 /24s and IPv6 /56s) hammer the limiter
    /// while a steady client sends 5/s under a 20/s limit: the table stays the same size and
    /// the steady client is never limited (collisions may cost it a token, but the burst
    /// allowance absorbs a few).
    #[test]
    fn spoofed_flood_cannot_grow_table_or_starve_steady_client() {
        let rrl = Rrl::new(20, 2, DEFAULT_TABLE_SIZE);
        let len = rrl.table_len();
        let steady = v4(192, 0, 2, 53);
        let mut t = 1u64;
        let mut steady_sent = 0;
        for i in 0..100_000u32 {
            // Half IPv4 /24s, half IPv6 /56s, each distinct; three responses each.
            let spoofed = if i % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from((i << 8) ^ 0x0A00_0000))
            } else {
                IpAddr::V6(Ipv6Addr::from(u128::from(i) << 72 | 0x2001_0db8 << 96))
            };
            for _ in 0..3 {
                rrl.check(t, spoofed, ResponseKind::NxDomain);
            }
            // 100k spoofed prefixes over 10 simulated seconds; the steady client every 200 ms.
            t += 100_000;
            if i % 2000 == 0 {
                assert_eq!(rrl.check(t, steady, ResponseKind::Answer), Verdict::Send, "steady client limited at {i}");
                steady_sent += 1;
            }
            assert_eq!(rrl.table_len(), len);
        }
        assert_eq!(steady_sent, 50);
        assert_eq!(rrl.table_len(), DEFAULT_TABLE_SIZE);
        assert_eq!(std::mem::size_of_val(&*rrl.buckets), DEFAULT_TABLE_SIZE * 64);
    }

    #[test]
    fn shared_across_threads() {
        let rrl = Rrl::new(1000, 0, 1024);
        let ip = v4(203, 0, 113, 1);
        let sent = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..2000 {
                        if rrl.check(5, ip, ResponseKind::Answer) == Verdict::Send {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // One instant: exactly the burst passes, however the CAS loops interleave.
        assert_eq!(sent.load(Ordering::Relaxed), 1000);
        assert_eq!(rrl.stats().dropped(), 7000);
    }

    #[test]
    fn slip_form_is_header_and_question() {
        // Response: id 0xabcd, QR AA RD, NXDOMAIN; question www.example. A; one authority record.
        let mut msg = vec![0xab, 0xcd, 0x85, 0x03, 0, 1, 0, 0, 0, 1, 0, 1];
        msg.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        let question_end = msg.len();
        msg.extend_from_slice(&[0xc0, 0x10, 0, 6, 0, 1, 0, 0, 0, 60, 0, 0]);
        assert!(slip_response(&mut msg));
        assert_eq!(msg.len(), question_end);
        assert_eq!(&msg[..12], &[0xab, 0xcd, 0x83, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        // Header-only (FORMERR without question) stays header-only.
        let mut formerr = vec![0, 1, 0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(slip_response(&mut formerr));
        assert_eq!(formerr, [0, 1, 0x82, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        // Garbage is refused.
        assert!(!slip_response(&mut vec![0, 1, 0x80]));
        assert!(!slip_response(&mut vec![0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w']));
    }
}
