//! When a secondary zone is refreshed next and when it expires (RFC 1034 §4.3.5, RFC 1996):
//! from the zone's own SOA REFRESH, RETRY and EXPIRE, clamped to the operator's bounds (as
//! Knot's `refresh-min-interval` and friends), and jittered down by up to 10 % so that zones
//! loaded together — a catalog of 10,000 — spread their refreshes instead of all asking in the
//! same second. Jitter only ever shortens a wait: no zone is refreshed later than its SOA says.

use std::hash::{BuildHasher, Hasher};

use clap::Args;
use lmdb_schema::zone::SoaFields;

/// Bounds on the SOA timers (seconds), `serve`'s flags.
#[derive(Args, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Shortest wait between refreshes of a secondary zone, whatever its SOA REFRESH says.
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub refresh_min: u64,
    /// Longest wait between refreshes of a secondary zone.
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    pub refresh_max: u64,
    /// Shortest wait before trying again after a failed refresh (SOA RETRY), and the first
    /// wait of a zone never transferred yet (it doubles up to --retry-max while that fails).
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub retry_min: u64,
    /// Longest wait before trying again after a failed refresh.
    #[arg(long, value_name = "SECS", default_value_t = 3_600)]
    pub retry_max: u64,
    /// Shortest time a zone is served without a successful refresh before it expires (SOA
    /// EXPIRE) and is answered SERVFAIL.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub expire_min: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { refresh_min: 2, refresh_max: 86_400, retry_min: 2, retry_max: 3_600, expire_min: 3 }
    }
}

/// A factor in [0.9, 1.0), different for every call.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(super::now());
    0.9 + (h.finish() % 1000) as f64 / 10_000.0
}

fn jittered(secs: u64) -> u64 {
    ((secs as f64) * jitter()).round().max(1.0) as u64
}

impl Timers {
    /// When to refresh after a success, from the zone's SOA.
    pub fn after_success(&self, now: u64, soa: &SoaFields) -> u64 {
        now + jittered(u64::from(soa.refresh).clamp(self.refresh_min, self.refresh_max.max(self.refresh_min)))
    }

    /// When to try again after a failure: the SOA RETRY when we hold a copy; for a zone never
    /// transferred, `retry_min` doubled per failure so far (`failures` ≥ 1).
    pub fn after_failure(&self, now: u64, soa: Option<&SoaFields>, failures: u64) -> u64 {
        let wait = match soa {
            Some(soa) => u64::from(soa.retry),
            None => self.retry_min.saturating_mul(1 << failures.saturating_sub(1).min(20)),
        };
        now + jittered(wait.clamp(self.retry_min, self.retry_max.max(self.retry_min)))
    }

    /// When a copy refreshed successfully at `now` expires.
    pub fn expires_at(&self, now: u64, soa: &SoaFields) -> u64 {
        now + u64::from(soa.expire).max(self.expire_min)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soa(refresh: u32, retry: u32, expire: u32) -> SoaFields {
        SoaFields { mname: String::new(), rname: String::new(), serial: 1, refresh, retry, expire, minimum: 60 }
    }

    #[test]
    fn soa_timers_are_clamped_and_only_jittered_down() {
        let t = Timers::default();
        for _ in 0..200 {
            let next = t.after_success(1_000, &soa(3600, 600, 86_400)) - 1_000;
            assert!((3240..=3600).contains(&next), "{next}");
        }
        assert!(t.after_success(0, &soa(0, 0, 0)) >= 1, "REFRESH 0 is clamped to --refresh-min");
        assert!(t.after_success(0, &soa(u32::MAX, 0, 0)) <= 86_400);
        let retry = t.after_failure(0, Some(&soa(3600, 600, 86_400)), 1);
        assert!((540..=600).contains(&retry), "{retry}");
        assert_eq!(t.expires_at(10, &soa(1, 1, 1)), 13, "EXPIRE below --expire-min");
    }

    #[test]
    fn never_transferred_zones_back_off() {
        let t = Timers::default();
        assert!(t.after_failure(0, None, 1) <= 2);
        let fifth = t.after_failure(0, None, 5);
        assert!((28..=32).contains(&fifth), "{fifth}");
        assert!(t.after_failure(0, None, 60) <= 3_600);
    }
}
