//! Floating-point mode: flush denormals to zero (x86 MXCSR FTZ + DAZ) on every thread that computes.
//!
//! Why: late in training, some gradients and Adam moments underflow into the denormal range
//! (below 1.2e-38), where x86 cores take a slow microcode path on every operation. Flushing them
//! to zero changes values only below 1e-38 and is deterministic; it must be set on *every*
//! thread (the main thread and each rayon worker), so that results stay independent of which
//! thread computes which tile.

/// Sets FTZ and DAZ on the calling thread (no-op on other architectures).
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reading and writing MXCSR only changes this thread's floating-point mode.
    #[allow(deprecated)]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | 0x8040);
    }
}

/// A rayon pool whose workers (and the calling thread) flush denormals.
pub fn thread_pool(threads: Option<usize>) -> rayon::ThreadPool {
    flush_denormals();
    let mut b = rayon::ThreadPoolBuilder::new().start_handler(|_| flush_denormals());
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    b.build().expect("thread pool")
}

/// Makes the global rayon pool flush denormals (call once, before any parallel work).
pub fn init_global(threads: Option<usize>) {
    flush_denormals();
    let mut b = rayon::ThreadPoolBuilder::new().start_handler(|_| flush_denormals());
    if let Some(n) = threads {
        b = b.num_threads(n);
    }
    // Fails only if the global pool already exists; then it was built by this function earlier.
    let _ = b.build_global();
}

#[cfg(test)]
mod tests {
    #[test]
    fn denormals_flush_to_zero_on_a_flushing_thread() {
        let pool = super::thread_pool(Some(1));
        let tiny = std::hint::black_box(1e-30f32);
        let r = pool.install(|| std::hint::black_box(tiny) * std::hint::black_box(1e-10f32));
        assert_eq!(r, 0.0);
    }
}
