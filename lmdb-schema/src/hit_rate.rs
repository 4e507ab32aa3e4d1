//! Whether a per-worker cache is worth consulting, from its hit rate over windows of lookups.
//!
//! A cache whose lookups mostly miss costs its probe and its fill for nothing (a uniform mix
//! over more names than it holds, a random-subdomain flood). Below a hit rate the cache stands
//! aside: only one consultation in `sample` still goes through it, which keeps the hot entries
//! it would serve filled and tells when the traffic has changed; the rate is then measured over
//! those. Owned by one worker: plain integers, no sharing.

pub struct HitRateGate {
    window: u32,
    below_percent: u32,
    /// `sample - 1` (sample is a power of two).
    sample_mask: u32,
    lookups: u32,
    hits: u32,
    aside: bool,
    skipped: u32,
}

impl HitRateGate {
    /// A gate that measures `window` lookups at a time and stands aside for the next window
    /// when fewer than `below_percent` of them hit, letting one in `sample` (a power of two)
    /// through meanwhile.
    pub const fn new(window: u32, below_percent: u32, sample: u32) -> Self {
        assert!(sample.is_power_of_two() && window > 0 && below_percent <= 100);
        HitRateGate { window, below_percent, sample_mask: sample - 1, lookups: 0, hits: 0, aside: false, skipped: 0 }
    }

    /// Whether this consultation goes through the cache: always while it serves enough of the
    /// traffic, one in `sample` while it stands aside.
    #[inline]
    pub fn consult(&mut self) -> bool {
        if !self.aside {
            return true;
        }
        self.skipped = self.skipped.wrapping_add(1);
        self.skipped & self.sample_mask == 0
    }

    /// Counts a lookup that went through; at the end of a window decides whether the cache
    /// stands aside during the next.
    #[inline]
    pub fn count(&mut self, hit: bool) {
        self.lookups += 1;
        self.hits += hit as u32;
        if self.lookups == self.window {
            self.aside = u64::from(self.hits) * 100 < u64::from(self.window) * u64::from(self.below_percent);
            self.lookups = 0;
            self.hits = 0;
        }
    }

    /// True while the hit rate keeps the cache aside.
    pub fn aside(&self) -> bool {
        self.aside
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_aside_below_the_rate_and_comes_back_above_it() {
        let mut gate = HitRateGate::new(100, 10, 4);
        for i in 0..100 {
            assert!(gate.consult());
            gate.count(i < 9); // 9 % hits
        }
        assert!(gate.aside());
        // Aside: one consultation in four goes through.
        let through = (0..400).filter(|_| gate.consult()).count();
        assert_eq!(through, 100);
        for _ in 0..100 {
            gate.count(true);
        }
        assert!(!gate.aside());
        assert!((0..10).all(|_| gate.consult()));
    }

    #[test]
    fn exactly_the_rate_stays_in() {
        let mut gate = HitRateGate::new(100, 10, 16);
        for i in 0..100 {
            gate.count(i < 10);
        }
        assert!(!gate.aside());
    }
}
