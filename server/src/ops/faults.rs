//! Faults that would otherwise vanish: a lookup that fails on a database error or a corrupt
//! value (the client gets SERVFAIL), a zone policy that does not decode (variants not served),
//! a range table that cannot be opened (its lookups miss). Each is counted for `/metrics`
//! and logged the first time, then at most once a minute with the count since, so a damaged
//! name queried a million times costs one log line a minute, not a million.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An answer failed on a database error or a corrupt value: SERVFAIL.
    Lookup,
    /// A zone's geo policy in its metadata does not decode: its variants are not served.
    Policy,
    /// A range table could not be opened: lookups in it miss.
    RangeTable,
}

impl Fault {
    pub const ALL: [Fault; 3] = [Fault::Lookup, Fault::Policy, Fault::RangeTable];

    pub fn label(self) -> &'static str {
        match self {
            Fault::Lookup => "lookup",
            Fault::Policy => "policy",
            Fault::RangeTable => "range_table",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static COUNTS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// Unix second of the last log line per fault (0: never logged).
static LOGGED_AT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
/// The count when the last line was logged.
static LOGGED_COUNT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Seconds between two log lines of one fault.
const LOG_EVERY_SECS: u64 = 60;

/// Counts a fault and logs it when due; `what` describes this occurrence (called only then).
pub fn record(fault: Fault, what: impl FnOnce() -> String) {
    let i = fault.index();
    let count = COUNTS[i].fetch_add(1, Relaxed) + 1;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let last = LOGGED_AT[i].load(Relaxed);
    if last != 0 && now < last + LOG_EVERY_SECS {
        return;
    }
    // One thread wins the minute's line.
    if LOGGED_AT[i].compare_exchange(last, now.max(1), Relaxed, Relaxed).is_err() {
        return;
    }
    let since = count - LOGGED_COUNT[i].swap(count, Relaxed);
    let what = what();
    match fault {
        Fault::Lookup => tracing::error!(count = since, "SERVFAIL on a database error or a corrupt value: {what}"),
        Fault::Policy => tracing::error!(count = since, "a zone's geo policy does not decode; its variants are not served: {what}"),
        Fault::RangeTable => tracing::error!(count = since, "a range table cannot be opened; lookups in it miss: {what}"),
    }
}

/// How many times `fault` happened since start.
pub fn count(fault: Fault) -> u64 {
    COUNTS[fault.index()].load(Relaxed)
}
