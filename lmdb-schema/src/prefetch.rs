//! A hint to the CPU to start loading a cache line: the per-worker caches and memos use it to
//! overlap the memory misses of a whole batch of queries instead of waiting for them one by one.

/// Starts loading the cache line holding `p` into every cache level. Never faults, reads
/// nothing architecturally, so any address will do; a no-op where there is no such hint.
#[inline(always)]
pub fn read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 has no architectural effect and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
