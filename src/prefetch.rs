//! Asking for memory ahead of its use.
//!
//! At high key cardinality, finding a key's cell is a chain of cache misses. Where the
//! address is known some work before it is read, asking for it early lets the misses of
//! several records overlap instead of following one another. Input read front to back is
//! asked for a page ahead, where the processor's own prefetching, which stops at page
//! boundaries, has not reached.

/// Asks for the cache line holding `at` to be fetched; a hint that never faults, whatever
/// the address.
#[inline]
pub(crate) fn prefetch<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing and never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
