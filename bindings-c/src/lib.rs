//! The C ABI of kafka-trace: `include/kafka_trace.h` is generated from this crate by cbindgen.
//!
//! Every byte and every span shape is decided by the core crate `kafka_trace`; this crate only
//! converts C types (pointer + length, caller buffers, opaque handles, callbacks) to Rust ones and
//! back. All the `unsafe` code of the project lives here. Conventions, following rustls-ffi:
//! - every exported function runs inside [`std::panic::catch_unwind`] and checks its pointers;
//! - results are [`kt_result`] values that are never reused for another meaning;
//! - handles are boxed, tagged with a per-type magic number (checked on every call, cleared on
//!   free) and released by `*_free`, which accepts NULL.
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]
// The safety contract of every exported function is the header's convention, stated once in its
// preamble and per function (pointers valid for their stated lengths, handles live and not shared
// across threads beyond what the function's thread-safety line allows).
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, CStr};
use std::sync::OnceLock;

use kafka_trace::ErrorCode;

mod codec;
mod spans;
#[cfg(test)]
mod tests;

pub use codec::*;
pub use spans::*;

/// The result of every fallible function. `KT_RESULT_OK` is 0. Values 1 to 99 are the core's
/// stable `ErrorCode` values (the same codes the shared test vectors name); values from 100 on
/// belong to the C ABI. A value is never reused for another meaning; new values may be added, so
/// treat unknown values as errors (kt_result_message() describes them).
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum kt_result {
    /// Success.
    Ok = 0,
    /// No `traceparent` header: the consumer starts a new root trace.
    Missing = 1,
    /// traceparent has the wrong length.
    TraceparentLength = 2,
    /// traceparent version is not two lowercase hex digits, or is `ff`.
    TraceparentVersion = 3,
    /// traceparent is missing a `-` delimiter.
    TraceparentDelimiter = 4,
    /// traceparent trace-id is not 32 lowercase hex digits.
    TraceparentTraceId = 5,
    /// traceparent trace-id is all zeros.
    TraceparentZeroTraceId = 6,
    /// traceparent parent-id is not 16 lowercase hex digits.
    TraceparentSpanId = 7,
    /// traceparent parent-id is all zeros.
    TraceparentZeroSpanId = 8,
    /// traceparent flags are not two lowercase hex digits.
    TraceparentFlags = 9,
    /// Several traceparent headers with different values (a new root trace).
    TraceparentDuplicate = 10,
    /// More than 32 tracestate members: the tracestate was discarded.
    TracestateTooManyMembers = 11,
    /// A tracestate member has no `=`.
    TracestateMember = 12,
    /// A tracestate key is not valid.
    TracestateKey = 13,
    /// A tracestate value is not valid.
    TracestateValue = 14,
    /// A baggage member (or key) is not valid.
    BaggageMember = 15,
    /// The caller's output buffer is too small; the needed size was reported, nothing else written.
    BufferTooSmall = 16,
    /// A required pointer argument was NULL (or NULL with a non-zero length).
    NullArgument = 100,
    /// The library panicked (a bug); the call had no effect that can be relied on.
    Panic = 101,
    /// The handle is not a live object of the expected type (best-effort check; never rely on it
    /// to make use-after-free safe).
    InvalidHandle = 102,
    /// Text that must be UTF-8 (a key, a topic, a service name) is not.
    InvalidUtf8 = 103,
    /// The requested key or index does not exist.
    NotFound = 104,
    /// The caller's callback returned a non-zero value; injection stopped there.
    CallbackFailed = 105,
    /// An argument is out of range (e.g. a length above `PTRDIFF_MAX`).
    InvalidArgument = 106,
    /// The span was already ended; nothing was recorded.
    AlreadyEnded = 107,
    /// The tracer was shut down (kt_tracer_shutdown()); no new spans.
    ShutDown = 108,
    /// The OTLP exporter could not be set up (e.g. a malformed endpoint).
    TelemetrySetup = 109,
    /// Flushing failed: the OTLP receiver could not be reached or refused the data.
    ExportFailed = 110,
    /// A core error this version of the ABI has no name for (a newer core).
    Other = 199,
}

impl From<ErrorCode> for kt_result {
    fn from(code: ErrorCode) -> Self {
        match code {
            ErrorCode::Missing => Self::Missing,
            ErrorCode::TraceparentLength => Self::TraceparentLength,
            ErrorCode::TraceparentVersion => Self::TraceparentVersion,
            ErrorCode::TraceparentDelimiter => Self::TraceparentDelimiter,
            ErrorCode::TraceparentTraceId => Self::TraceparentTraceId,
            ErrorCode::TraceparentZeroTraceId => Self::TraceparentZeroTraceId,
            ErrorCode::TraceparentSpanId => Self::TraceparentSpanId,
            ErrorCode::TraceparentZeroSpanId => Self::TraceparentZeroSpanId,
            ErrorCode::TraceparentFlags => Self::TraceparentFlags,
            ErrorCode::TraceparentDuplicate => Self::TraceparentDuplicate,
            ErrorCode::TracestateTooManyMembers => Self::TracestateTooManyMembers,
            ErrorCode::TracestateMember => Self::TracestateMember,
            ErrorCode::TracestateKey => Self::TracestateKey,
            ErrorCode::TracestateValue => Self::TracestateValue,
            ErrorCode::BaggageMember => Self::BaggageMember,
            ErrorCode::BufferTooSmall => Self::BufferTooSmall,
            #[allow(unreachable_patterns)]
            _ => Self::Other,
        }
    }
}

impl From<Result<(), ErrorCode>> for kt_result {
    fn from(r: Result<(), ErrorCode>) -> Self {
        match r {
            Ok(()) => Self::Ok,
            Err(e) => e.into(),
        }
    }
}

/// Runs `body` with panics caught; a panic yields `$on_panic`.
macro_rules! ffi_boundary {
    ($on_panic:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $on_panic,
        }
    };
}
pub(crate) use ffi_boundary;

/// Evaluates a `Result<T, kt_result>`, returning the error from the enclosing closure.
macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return error,
        }
    };
}
pub(crate) use try_ffi;

/// The version of the linked library, e.g. `"0.1.0"`: a static NUL-terminated string, never NULL.
/// Compare with the header's KT_VERSION_STRING to detect a header/library mismatch.
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn kt_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    debug_assert_eq!(&VERSION[..VERSION.len() - 1], kafka_trace::VERSION);
    VERSION.as_ptr().cast()
}

/// A static, NUL-terminated, human-readable English description of `result` (any value, also one
/// this version does not know, which gives "unknown kt_result"). Never NULL; do not free.
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn kt_result_message(result: u32) -> *const c_char {
    ffi_boundary!(c"panic in kt_result_message".as_ptr(), { result_message(result).as_ptr() })
}

fn result_message(result: u32) -> &'static CStr {
    static CORE: OnceLock<Vec<(u32, std::ffi::CString)>> = OnceLock::new();
    let abi: Option<&'static CStr> = match result {
        0 => Some(c"success"),
        100 => Some(c"a required pointer argument was NULL"),
        101 => Some(c"internal error: the library panicked"),
        102 => Some(c"invalid handle: not a live object of the expected type"),
        103 => Some(c"text that must be UTF-8 is not"),
        104 => Some(c"not found"),
        105 => Some(c"the callback returned an error"),
        106 => Some(c"argument out of range"),
        199 => Some(c"error from a newer core"),
        _ => None,
    };
    if let Some(message) = abi.or_else(|| span_result_message(result)) {
        return message;
    }
    let table = CORE.get_or_init(|| {
        ErrorCode::ALL
            .iter()
            .filter_map(|c| std::ffi::CString::new(c.message()).ok().map(|m| (c.code(), m)))
            .collect()
    });
    table.iter().find(|(code, _)| *code == result).map_or(c"unknown kt_result", |(_, m)| m.as_c_str())
}

/// Messages of the span part.
fn span_result_message(result: u32) -> Option<&'static CStr> {
    match result {
        107 => Some(c"the span was already ended"),
        108 => Some(c"the tracer was shut down"),
        109 => Some(c"the OTLP exporter could not be set up"),
        110 => Some(c"export failed: the OTLP receiver could not be reached or refused the data"),
        _ => None,
    }
}

/// The first field of every handle allocation: a per-type tag, checked on every call and cleared
/// on free, so a wrong pointer type or a freed handle whose memory was not reused yet is caught.
#[repr(C)]
pub(crate) struct Handle<T> {
    magic: u64,
    value: T,
}

/// Opaque C handle types and the Rust value each one boxes.
pub(crate) trait Opaque {
    type Inner;
    const MAGIC: u64;
}

const DEAD: u64 = 0xdead_dead_dead_dead;

pub(crate) fn handle_new<O: Opaque>(value: O::Inner) -> *mut O {
    Box::into_raw(Box::new(Handle { magic: O::MAGIC, value })).cast()
}

/// # Safety
/// `p` is NULL or points to memory at least 8 bytes long, readable for the call.
unsafe fn check_magic<O: Opaque>(p: *const O) -> Result<*mut Handle<O::Inner>, kt_result> {
    if p.is_null() {
        return Err(kt_result::NullArgument);
    }
    // SAFETY: every handle starts with a u64 tag (repr(C) Handle); the caller vouches for p.
    let magic = unsafe { p.cast::<u64>().read_unaligned() };
    if magic != O::MAGIC {
        return Err(kt_result::InvalidHandle);
    }
    Ok(p.cast::<Handle<O::Inner>>().cast_mut())
}

/// # Safety
/// `p` is NULL or a pointer returned by this library's `*_new` and not freed; no `&mut` to the
/// same handle is alive.
pub(crate) unsafe fn handle_ref<'a, O: Opaque>(p: *const O) -> Result<&'a O::Inner, kt_result> {
    // SAFETY: as documented above.
    unsafe { check_magic(p).map(|h| &(*h).value) }
}

/// # Safety
/// As [`handle_ref`], and no other reference to the handle is alive.
pub(crate) unsafe fn handle_mut<'a, O: Opaque>(p: *mut O) -> Result<&'a mut O::Inner, kt_result> {
    // SAFETY: as documented above.
    unsafe { check_magic(p).map(|h| &mut (*h).value) }
}

/// Frees a handle; NULL and handles with a wrong tag are ignored (leaked rather than corrupted).
///
/// # Safety
/// `p` is NULL or a pointer returned by this library's `*_new` and not freed.
pub(crate) unsafe fn handle_free<O: Opaque>(p: *mut O) {
    // SAFETY: as documented above.
    if let Ok(h) = unsafe { check_magic(p) } {
        // SAFETY: h came from Box::into_raw in handle_new and is freed once: the tag is cleared
        // first, so a second free of the same pointer is refused while the memory is not reused.
        unsafe {
            (*h).magic = DEAD;
            drop(Box::from_raw(h));
        }
    }
}

/// Views `len` bytes at `ptr`; NULL is allowed only with `len == 0`.
///
/// # Safety
/// When not NULL, `ptr` is valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], kt_result> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() {
        Err(kt_result::NullArgument)
    } else if len > isize::MAX as usize {
        Err(kt_result::InvalidArgument)
    } else {
        // SAFETY: non-null, length checked, validity vouched for by the caller.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// Views `len` bytes at `ptr` as UTF-8 text.
///
/// # Safety
/// As [`bytes`].
pub(crate) unsafe fn text<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, kt_result> {
    // SAFETY: as documented above.
    let raw = unsafe { bytes(ptr.cast(), len) }?;
    std::str::from_utf8(raw).map_err(|_| kt_result::InvalidUtf8)
}

/// Writes `value` through `out` (which must not be NULL; checked by the caller beforehand).
///
/// # Safety
/// `out` is valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: as documented above.
    unsafe { out.write(value) }
}
