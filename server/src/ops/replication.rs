//! Counters of replication: zone transfers served and NOTIFY messages sent, shared by the
//! transfer threads and the NOTIFY sender. These events are rare next to queries (one per
//! transfer or per zone change), so plain shared atomics cost nothing measurable.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Transfer kinds, in the order of their counters.
pub const TRANSFER_KINDS: [&str; 3] = ["AXFR", "IXFR", "IXFR-AXFR"];

#[derive(Default)]
pub struct ReplicationStats {
    /// Per kind: transfers completed, transfers failed (client gone, write timeout, refused).
    transfers_ok: [AtomicU64; 3],
    transfers_failed: [AtomicU64; 3],
    /// Transfer requests refused (ACL, TSIG, not our zone) before any data went out.
    transfers_refused: AtomicU64,
    transfer_bytes: AtomicU64,
    transfers_active: AtomicU64,
    notify_sent: AtomicU64,
    notify_acked: AtomicU64,
    notify_failed: AtomicU64,
}

fn kind_index(kind: &str) -> usize {
    TRANSFER_KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

impl ReplicationStats {
    pub fn transfer_started(&self) {
        self.transfers_active.fetch_add(1, Ordering::Relaxed);
    }
    pub fn transfer_ended(&self, kind: &str, ok: bool, bytes: u64) {
        self.transfers_active.fetch_sub(1, Ordering::Relaxed);
        let counters = if ok { &self.transfers_ok } else { &self.transfers_failed };
        counters[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
        self.transfer_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn transfer_refused(&self) {
        self.transfers_refused.fetch_add(1, Ordering::Relaxed);
    }
    pub fn notify_sent(&self) {
        self.notify_sent.fetch_add(1, Ordering::Relaxed);
    }
    pub fn notify_acked(&self) {
        self.notify_acked.fetch_add(1, Ordering::Relaxed);
    }
    pub fn notify_failed(&self) {
        self.notify_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the Prometheus families.
    pub fn render(&self, out: &mut String, family: impl Fn(&mut String, &str, &str, &str)) {
        family(
            out,
            "lmdns_transfers_total",
            "counter",
            "Zone transfers served, by kind (IXFR-AXFR: an IXFR answered with the whole zone) and result.",
        );
        for (i, kind) in TRANSFER_KINDS.iter().enumerate() {
            let _ =
                writeln!(out, "lmdns_transfers_total{{kind=\"{kind}\",result=\"ok\"}} {}", self.transfers_ok[i].load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "lmdns_transfers_total{{kind=\"{kind}\",result=\"failed\"}} {}",
                self.transfers_failed[i].load(Ordering::Relaxed)
            );
        }
        family(out, "lmdns_transfers_refused_total", "counter", "Transfer requests refused (ACL, TSIG, zone not served here).");
        let _ = writeln!(out, "lmdns_transfers_refused_total {}", self.transfers_refused.load(Ordering::Relaxed));
        family(out, "lmdns_transfer_bytes_total", "counter", "Bytes of zone transfers sent.");
        let _ = writeln!(out, "lmdns_transfer_bytes_total {}", self.transfer_bytes.load(Ordering::Relaxed));
        family(out, "lmdns_transfers_active", "gauge", "Zone transfers being sent now.");
        let _ = writeln!(out, "lmdns_transfers_active {}", self.transfers_active.load(Ordering::Relaxed));
        family(
            out,
            "lmdns_notify_total",
            "counter",
            "NOTIFY messages: sent (each try), acked (answered), failed (given up after the last try).",
        );
        for (result, counter) in [("sent", &self.notify_sent), ("acked", &self.notify_acked), ("failed", &self.notify_failed)] {
            let _ = writeln!(out, "lmdns_notify_total{{result=\"{result}\"}} {}", counter.load(Ordering::Relaxed));
        }
    }
}
