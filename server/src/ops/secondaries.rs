//! `/metrics` families of the secondary zones (copied from primaries by `lmdns-loader serve`),
//! read from their state records at scrape time: the writer keeps the counts there, so they
//! survive restarts of either process. Label cardinality is bounded: per-zone series only for
//! the [`TOP_LAGGING`] zones longest without a successful refresh; everything else in totals
//! and one histogram.

use std::fmt::Write;

use lmdb_schema::secondary::SecondaryZone;
use lmdb_schema::Store;

/// Zones with their own serial and lag series.
pub const TOP_LAGGING: usize = 10;
/// Upper bounds (seconds) of the refresh-lag histogram.
const LAG_BUCKETS: [u64; 9] = [10, 30, 60, 300, 900, 3_600, 14_400, 86_400, 604_800];

/// Appends the families; nothing when the database has no secondary zone.
pub fn render(out: &mut String, store: &Store, now: u64, family: impl Fn(&mut String, &str, &str, &str)) {
    let Ok(txn) = store.read_txn() else { return };
    let Ok(iter) = store.secondary_zones.iter(&txn) else { return };
    let zones: Vec<SecondaryZone> = iter.filter_map(|item| item.ok().and_then(|(_, v)| SecondaryZone::decode(v).ok())).collect();
    if zones.is_empty() {
        return;
    }
    let loaded: Vec<&SecondaryZone> = zones.iter().filter(|z| z.serial.is_some()).collect();
    let count = |f: &dyn Fn(&SecondaryZone) -> bool| zones.iter().filter(|z| f(z)).count();
    family(out, "lmdns_secondary_zones", "gauge", "Secondary zones, by state (loaded: served; pending: not transferred yet; expired: answered SERVFAIL; failing: the last refresh failed).");
    for (state, n) in [
        ("loaded", loaded.len()),
        ("pending", count(&|z| z.serial.is_none())),
        ("expired", count(&|z| z.expired)),
        ("failing", count(&|z| z.last_error.is_some())),
    ] {
        let _ = writeln!(out, "lmdns_secondary_zones{{state=\"{state}\"}} {n}");
    }
    family(out, "lmdns_secondary_transfers_total", "counter", "Transfers into secondary zones, by kind and result.");
    let sum = |f: &dyn Fn(&SecondaryZone) -> u64| zones.iter().map(f).sum::<u64>();
    let _ = writeln!(out, "lmdns_secondary_transfers_total{{kind=\"AXFR\",result=\"ok\"}} {}", sum(&|z| z.axfr_ok));
    let _ = writeln!(out, "lmdns_secondary_transfers_total{{kind=\"IXFR\",result=\"ok\"}} {}", sum(&|z| z.ixfr_ok));
    let _ = writeln!(out, "lmdns_secondary_transfers_total{{kind=\"any\",result=\"failed\"}} {}", sum(&|z| z.transfers_failed));
    family(out, "lmdns_secondary_received_bytes_total", "counter", "Bytes of transfers received into secondary zones.");
    let _ = writeln!(out, "lmdns_secondary_received_bytes_total {}", sum(&|z| z.bytes_in));
    let lag = |z: &SecondaryZone| now.saturating_sub(z.last_success);
    family(
        out,
        "lmdns_secondary_refresh_lag_max_seconds",
        "gauge",
        "Longest time any loaded secondary zone has gone without a successful refresh.",
    );
    let _ = writeln!(out, "lmdns_secondary_refresh_lag_max_seconds {}", loaded.iter().map(|z| lag(z)).max().unwrap_or(0));
    family(out, "lmdns_secondary_refresh_lag_seconds", "histogram", "Time since each loaded secondary zone's last successful refresh.");
    for bound in LAG_BUCKETS {
        let _ = writeln!(
            out,
            "lmdns_secondary_refresh_lag_seconds_bucket{{le=\"{bound}\"}} {}",
            loaded.iter().filter(|z| lag(z) <= bound).count()
        );
    }
    let _ = writeln!(out, "lmdns_secondary_refresh_lag_seconds_bucket{{le=\"+Inf\"}} {}", loaded.len());
    let _ = writeln!(out, "lmdns_secondary_refresh_lag_seconds_sum {}", loaded.iter().map(|z| lag(z)).sum::<u64>());
    let _ = writeln!(out, "lmdns_secondary_refresh_lag_seconds_count {}", loaded.len());
    let mut lagging = loaded.clone();
    lagging.sort_by_key(|z| std::cmp::Reverse(lag(z)));
    lagging.truncate(TOP_LAGGING);
    family(out, "lmdns_secondary_zone_serial", "gauge", "SOA serial held, for the secondary zones longest without a successful refresh.");
    for z in &lagging {
        let _ = writeln!(out, "lmdns_secondary_zone_serial{{zone=\"{}\"}} {}", escape(&z.zone), z.serial.unwrap_or(0));
    }
    family(out, "lmdns_secondary_zone_lag_seconds", "gauge", "Time since the last successful refresh, for the same zones.");
    for z in &lagging {
        let _ = writeln!(out, "lmdns_secondary_zone_lag_seconds{{zone=\"{}\"}} {}", escape(&z.zone), lag(z));
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
