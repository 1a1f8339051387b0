//! CPU-time clocks (Linux `clock_gettime`), shared by the codec bench (`KT_BENCH_CLOCK=cpu`) and
//! the throughput example (CPU µs per message).

use core::ffi::{c_int, c_long};

/// The calling thread's CPU time.
#[allow(dead_code)]
pub const THREAD: c_int = 3; // CLOCK_THREAD_CPUTIME_ID
/// The whole process's CPU time (user + system, every thread).
#[allow(dead_code)]
pub const PROCESS: c_int = 2; // CLOCK_PROCESS_CPUTIME_ID

/// Nanoseconds on `clock` ([`THREAD`] or [`PROCESS`]).
pub fn now_ns(clock: c_int) -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: c_long,
        tv_nsec: c_long,
    }
    unsafe extern "C" {
        fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
    }
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: libc's clock_gettime with a valid clock id and a pointer to a live timespec
    // (`time_t` and `long` are both `c_long` on Linux glibc/musl targets).
    let rc = unsafe { clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime({clock}) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
