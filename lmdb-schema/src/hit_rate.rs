//! Whether a per-worker cache is worth consulting, from its hit rate over windows of lookups.
//!
//! A cache whose lookups mostly miss costs its probe and its fill for nothing (a uniform mix
//! over more names than it holds, a random-subdomain flood). Below a hit rate the cache stands
//! aside: only one consultation in `sample` still goes through it, which keeps the hot entries
//! it would serve filled and tells when the traffic has changed; the rate is then measured over
//! those, and a window still ends after as many consultations, so the cache is back within one
//! window of traffic that hits. Owned by one worker: plain integers, no sharing. (The answer
//! cache, the name memo and the range cache all stand aside through it.)

pub struct HitRateGate {
    window: u32,
    below_percent: u32,
    /// `sample - 1` (sample is a power of two).
    sample_mask: u32,
    /// Consultations in the current window, whether they went through or not.
    seen: u32,
    /// Lookups counted in it, and their hits.
    counted: u32,
    hits: u32,
    aside: bool,
}

impl HitRateGate {
    /// A gate that decides every `window` consultations: the cache stands aside for the next
    /// window when fewer than `below_percent` of the lookups counted in this one hit, letting
    /// one consultation in `sample` (a power of two) through meanwhile. A window is counted in
    /// consultations, not in lookups, so traffic that turns cacheable brings the cache back
    /// within one window even while it stands aside.
    pub const fn new(window: u32, below_percent: u32, sample: u32) -> Self {
        assert!(sample.is_power_of_two() && window > 0 && below_percent <= 100);
        HitRateGate { window, below_percent, sample_mask: sample - 1, seen: 0, counted: 0, hits: 0, aside: false }
    }

    /// Whether this consultation goes through the cache: always while it serves enough of the
    /// traffic, one in `sample` while it stands aside. Ends the window when it is full.
    #[inline]
    pub fn consult(&mut self) -> bool {
        self.seen += 1;
        if self.seen == self.window {
            self.decide();
        }
        !self.aside || self.seen & self.sample_mask == 0
    }

    /// Counts a lookup that went through.
    #[inline]
    pub fn count(&mut self, hit: bool) {
        self.counted += 1;
        self.hits += hit as u32;
    }

    #[cold]
    fn decide(&mut self) {
        self.aside = u64::from(self.hits) * 100 < u64::from(self.counted) * u64::from(self.below_percent);
        self.seen = 0;
        self.counted = 0;
        self.hits = 0;
    }

    /// True while the hit rate keeps the cache aside.
    pub fn aside(&self) -> bool {
        self.aside
    }

    /// Forgets what was measured (the cache was emptied): every lookup goes through again.
    pub fn reset(&mut self) {
        *self = HitRateGate::new(self.window, self.below_percent, self.sample_mask + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `n` consultations; those that go through are counted as `hit(i)`.
    fn run(gate: &mut HitRateGate, n: u32, hit: impl Fn(u32) -> bool) -> u32 {
        let mut through = 0;
        for i in 0..n {
            if gate.consult() {
                through += 1;
                gate.count(hit(i));
            }
        }
        through
    }

    #[test]
    fn stands_aside_below_the_rate_and_comes_back_within_a_window() {
        let mut gate = HitRateGate::new(100, 10, 4);
        assert_eq!(run(&mut gate, 99, |i| i < 8), 99, "the first window: everything goes through");
        assert!(!gate.aside());
        run(&mut gate, 1, |_| false); // the 100th ends the window: 8 hits of 100
        assert!(gate.aside());
        // Aside: one consultation in four goes through, for a window of 100 consultations.
        assert_eq!(run(&mut gate, 99, |_| true), 24);
        assert!(gate.aside());
        run(&mut gate, 1, |_| true); // all 25 that went through hit
        assert!(!gate.aside());
        assert_eq!(run(&mut gate, 10, |_| true), 10);
    }

    #[test]
    fn exactly_the_rate_stays_in_and_reset_forgets() {
        let mut gate = HitRateGate::new(100, 10, 16);
        run(&mut gate, 100, |i| i < 10);
        assert!(!gate.aside());
        run(&mut gate, 100, |_| false);
        assert!(gate.aside());
        gate.reset();
        assert!(!gate.aside());
        assert_eq!(run(&mut gate, 50, |_| false), 50);
    }
}
