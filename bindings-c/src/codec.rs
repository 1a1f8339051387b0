//! Trace context without spans: traceparent parse/format, a context handle filled from a Kafka
//! header array, tracestate and baggage access, and injection through a callback or into caller
//! buffers. Every rule is the core's (`kafka_trace_core::carrier`, `codec`, `setter`).

use std::ffi::{c_char, c_int, c_void};

use kafka_trace_core::carrier::{self, Headers, HeadersMut};
use kafka_trace_core::codec::traceparent::TRACEPARENT_LEN;
use kafka_trace_core::{setter, Baggage, SpanId, TraceContext, TraceFlags, TraceId, TraceParent, TraceStateBuf};

use crate::{bytes, ffi_boundary, handle_free, handle_mut, handle_new, handle_ref, kt_result, text, try_ffi, write_out, Opaque};

/// Length of a formatted (version 00) traceparent, the only form this library writes.
pub const KT_TRACEPARENT_LEN: usize = 55;
/// Length of a trace id in bytes.
pub const KT_TRACE_ID_LEN: usize = 16;
/// Length of a span id in bytes.
pub const KT_SPAN_ID_LEN: usize = 8;

/// A parsed traceparent: plain data, copy it freely.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct kt_traceparent {
    /// The version read from the wire (formatting always writes version 00).
    pub version: u8,
    /// The trace id (16 bytes; all zeros is invalid).
    pub trace_id: [u8; 16],
    /// The parent span id (8 bytes; all zeros is invalid).
    pub span_id: [u8; 8],
    /// All 8 trace flag bits (0x01 sampled, 0x02 random).
    pub flags: u8,
}

impl From<TraceParent> for kt_traceparent {
    fn from(tp: TraceParent) -> Self {
        Self { version: tp.version, trace_id: tp.trace_id.0, span_id: tp.span_id.0, flags: tp.flags.0 }
    }
}

impl From<&kt_traceparent> for TraceParent {
    fn from(tp: &kt_traceparent) -> Self {
        let mut out = TraceParent::new(TraceId(tp.trace_id), SpanId(tp.span_id), TraceFlags(tp.flags));
        out.version = tp.version;
        out
    }
}

/// A borrowed byte string (not NUL-terminated) owned by a handle: valid until that handle is next
/// modified or freed. `data` may be NULL when `len` is 0.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct kt_str {
    /// First byte.
    pub data: *const c_char,
    /// Number of bytes.
    pub len: usize,
}

impl kt_str {
    fn of(s: &str) -> Self {
        Self { data: s.as_ptr().cast(), len: s.len() }
    }
}

/// One Kafka header, as librdkafka's `rd_kafka_header_get_all()` yields it: `name` need not be
/// NUL-terminated (only `name_len` bytes are read) and `value == NULL` is a Kafka null value
/// (then `value_len` is ignored). Names that are not UTF-8 are kept but never match ours.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct kt_header {
    /// Header name bytes.
    pub name: *const c_char,
    /// Length of `name` in bytes.
    pub name_len: usize,
    /// Header value bytes, or NULL for a null value.
    pub value: *const u8,
    /// Length of `value` in bytes.
    pub value_len: usize,
}

/// Callback of kt_context_inject(): sets (`value != NULL`) or removes (`value == NULL`) every
/// header named `name` (`name_len` bytes, also NUL-terminated for rd_kafka_header_remove()).
/// Return 0 on success; any other value stops the injection with KT_RESULT_CALLBACK_FAILED.
/// With librdkafka: `rd_kafka_header_remove(h, name); if (value) rd_kafka_header_add(h, name,
/// (ssize_t)name_len, value, (ssize_t)value_len);`. The pointers are valid only during the call.
pub type kt_header_setter = Option<
    unsafe extern "C" fn(userdata: *mut c_void, name: *const c_char, name_len: usize, value: *const u8, value_len: usize) -> c_int,
>;

/// A header array checked for NULL pointers, readable by the core's carrier. A name that is not
/// UTF-8 is reported as absent, so it never matches one of ours.
pub(crate) struct CHeaders<'a> {
    list: &'a [kt_header],
}

/// UTF-8 view of a name, with a fast path for ASCII (every name the carrier can match is ASCII).
#[inline]
fn name_str(name: &[u8]) -> Option<&str> {
    if name.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(name) })
    } else {
        std::str::from_utf8(name).ok()
    }
}

impl<'a> CHeaders<'a> {
    /// # Safety
    /// `ptr` is NULL with `count == 0`, or valid for `count` headers whose pointers are valid.
    pub(crate) unsafe fn new(ptr: *const kt_header, count: usize) -> Result<Self, kt_result> {
        if count > isize::MAX as usize / std::mem::size_of::<kt_header>() {
            return Err(kt_result::InvalidArgument);
        }
        let list: &[kt_header] = if count == 0 {
            &[]
        } else if ptr.is_null() {
            return Err(kt_result::NullArgument);
        } else {
            // SAFETY: non-null and valid for `count` headers by contract.
            unsafe { std::slice::from_raw_parts(ptr, count) }
        };
        for h in list {
            if (h.name.is_null() && h.name_len != 0) || h.name_len > isize::MAX as usize {
                return Err(kt_result::NullArgument);
            }
            if !h.value.is_null() && h.value_len > isize::MAX as usize {
                return Err(kt_result::InvalidArgument);
            }
        }
        Ok(Self { list })
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

impl Headers for CHeaders<'_> {
    fn header_count(&self) -> usize {
        self.list.len()
    }
    #[inline]
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        let h = self.list.get(index)?;
        // SAFETY: checked in `new`: each pointer is non-null or has length 0, and is valid for
        // its length per the caller's contract for the duration of the call.
        let name = if h.name_len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(h.name.cast::<u8>(), h.name_len) } };
        let value = if h.value.is_null() {
            None
        } else if h.value_len == 0 {
            Some(&[][..])
        } else {
            // SAFETY: as above.
            Some(unsafe { std::slice::from_raw_parts(h.value, h.value_len) })
        };
        Some((name_str(name)?, value))
    }
}

/// The header list being rewritten by kt_context_inject_headers(): untouched input headers are
/// referenced, rewritten ones owned.
enum Slot {
    Input(usize),
    New(String, Vec<u8>),
}

struct EditedHeaders<'a> {
    input: CHeaders<'a>,
    slots: Vec<Slot>,
}

impl Headers for EditedHeaders<'_> {
    fn header_count(&self) -> usize {
        self.slots.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        match self.slots.get(index)? {
            Slot::Input(i) => self.input.header(*i),
            Slot::New(name, value) => Some((name.as_str(), Some(value.as_slice()))),
        }
    }
}

impl HeadersMut for EditedHeaders<'_> {
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::New(name.to_owned(), value.to_vec());
        }
    }
    fn remove_header(&mut self, index: usize) {
        if index < self.slots.len() {
            self.slots.remove(index);
        }
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        self.slots.push(Slot::New(name.to_owned(), value.to_vec()));
    }
}

/// The state behind a `kt_context` handle.
pub(crate) struct Context {
    /// The context; its traceparent is meaningful only when `parent` is Ok.
    pub(crate) inner: TraceContext,
    /// Whether there is a parent, or why not.
    pub(crate) parent: Result<(), kafka_trace_core::ErrorCode>,
    /// Whether the received tracestate was kept, or why it was discarded.
    pub(crate) tracestate: Result<(), kafka_trace_core::ErrorCode>,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            inner: TraceContext::new_root(TraceId::default(), SpanId::default(), TraceFlags::default(), Baggage::default()),
            parent: Err(kafka_trace_core::ErrorCode::Missing),
            tracestate: Ok(()),
        }
    }
}

impl Context {
    /// Replaces everything with what the core reads from `headers`.
    pub(crate) fn extract<H: Headers + ?Sized>(&mut self, headers: &H) -> kt_result {
        // Release the previous message's buffers first, so the allocator hands them straight back.
        self.inner.tracestate = TraceStateBuf::default();
        self.inner.baggage = Baggage::default();
        let mut got = carrier::extract_parts(headers);
        self.parent = got.parent.map(|_| ());
        self.tracestate = got.tracestate.as_ref().map(|_| ()).map_err(|e| *e);
        let baggage = if self.parent.is_err() { std::mem::take(&mut got.baggage) } else { Baggage::default() };
        self.inner = match got.into_context() {
            Some(context) => context,
            // No parent: keep the baggage (independent of the trace) under a placeholder parent.
            None => TraceContext::new_root(TraceId::default(), SpanId::default(), TraceFlags::default(), baggage),
        };
        self.parent.into()
    }

    /// The context to inject, or why there is none.
    pub(crate) fn valid(&self) -> Result<&TraceContext, kt_result> {
        self.parent.map_err(kt_result::from).map(|()| &self.inner)
    }
}

/// A trace context: traceparent (or why there is none), tracestate and baggage. Created by
/// kt_context_new(), filled by kt_context_extract() or the setters, freed by kt_context_free().
/// A handle may be moved between threads; it must not be used by two threads at once unless
/// every one of them only calls functions documented as read-only.
pub struct kt_context {
    _private: [u8; 0],
}

impl Opaque for kt_context {
    type Inner = Context;
    const MAGIC: u64 = 0x6b74_5f63_7478_0001;
}

/// Parses a traceparent header value (`len` bytes at `value`; OWS around it ignored) into `*out`.
/// Returns KT_RESULT_OK or the reason it is invalid (KT_RESULT_TRACEPARENT_*); `*out` is written
/// only on success.
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn kt_traceparent_parse(value: *const u8, len: usize, out: *mut kt_traceparent) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if out.is_null() {
            return kt_result::NullArgument;
        }
        // SAFETY: the caller passes `len` readable bytes (or NULL with 0).
        let value = try_ffi!(unsafe { bytes(value, len) });
        match TraceParent::parse(value) {
            Ok(tp) => {
                // SAFETY: `out` is non-null and points to a kt_traceparent by contract.
                unsafe { write_out(out, tp.into()) };
                kt_result::Ok
            }
            Err(e) => e.into(),
        }
    })
}

/// Formats `*traceparent` as a version-00 header value (exactly KT_TRACEPARENT_LEN = 55 bytes, not
/// NUL-terminated) into `buf`. On success writes 55 to `*written`. When `buf_len` < 55 returns
/// KT_RESULT_BUFFER_TOO_SMALL, writes the needed size (55) to `*written` and nothing to `buf`.
/// `buf` may be NULL only when `buf_len` is 0 (a size query). The ids are written as given.
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub unsafe extern "C" fn kt_traceparent_format(traceparent: *const kt_traceparent, buf: *mut c_char, buf_len: usize, written: *mut usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if traceparent.is_null() || written.is_null() || (buf.is_null() && buf_len != 0) {
            return kt_result::NullArgument;
        }
        // SAFETY: non-null, points to a kt_traceparent by contract.
        let tp = TraceParent::from(unsafe { &*traceparent });
        if buf_len < TRACEPARENT_LEN {
            // SAFETY: `written` is non-null and writable by contract.
            unsafe { write_out(written, TRACEPARENT_LEN) };
            return kt_result::BufferTooSmall;
        }
        // SAFETY: buf is non-null and valid for buf_len >= 55 bytes by contract.
        let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), TRACEPARENT_LEN) };
        match tp.write_to(out) {
            Ok(n) => {
                // SAFETY: as above.
                unsafe { write_out(written, n) };
                kt_result::Ok
            }
            Err(e) => e.into(),
        }
    })
}

/// A new, empty context (no parent: kt_context_traceparent() gives KT_RESULT_MISSING). Returns
/// NULL only if the library failed internally. Release it with kt_context_free().
///
/// Thread-safety: may be called from any thread at any time.
#[no_mangle]
pub extern "C" fn kt_context_new() -> *mut kt_context {
    ffi_boundary!(std::ptr::null_mut(), { handle_new::<kt_context>(Context::default()) })
}

/// Frees a context. NULL is ignored; so is a pointer that is not a live context (best effort).
/// Every kt_str borrowed from it becomes invalid.
///
/// Thread-safety: no other thread may be using the handle.
#[no_mangle]
pub unsafe extern "C" fn kt_context_free(context: *mut kt_context) {
    // SAFETY: the caller passes NULL or a context from kt_context_new() that was not freed.
    ffi_boundary!((), { unsafe { handle_free(context) } })
}

/// Replaces the whole context with what `count` headers at `headers` carry, following the header
/// policy (names in any case; different traceparent copies mean a new root; repeated tracestate
/// and baggage values are joined). Returns KT_RESULT_OK when there is a parent to continue, else
/// why not (KT_RESULT_MISSING, KT_RESULT_TRACEPARENT_*): the context then has no parent but keeps
/// the baggage. `headers` may be NULL when `count` is 0. On KT_RESULT_NULL_ARGUMENT,
/// KT_RESULT_INVALID_HANDLE or KT_RESULT_PANIC the context is unchanged (or, for a panic,
/// unspecified). Nothing points into `headers` afterwards.
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_extract(context: *mut kt_context, headers: *const kt_header, count: usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context from kt_context_new().
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        // SAFETY: the caller passes `count` valid headers (or NULL with 0).
        let headers = try_ffi!(unsafe { CHeaders::new(headers, count) });
        ctx.extract(&headers)
    })
}

/// Copies the parent into `*out`. Returns KT_RESULT_OK, or why there is no parent (then `*out`
/// is not written).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_traceparent(context: *const kt_context, out: *mut kt_traceparent) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let tp = try_ffi!(ctx.valid()).traceparent;
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, tp.into()) };
        kt_result::Ok
    })
}

/// Makes `*traceparent` the parent (tracestate and baggage are kept). Refuses all-zero ids with
/// KT_RESULT_TRACEPARENT_ZERO_TRACE_ID / KT_RESULT_TRACEPARENT_ZERO_SPAN_ID (context unchanged).
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_set_traceparent(context: *mut kt_context, traceparent: *const kt_traceparent) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        if traceparent.is_null() {
            return kt_result::NullArgument;
        }
        // SAFETY: non-null, readable by contract.
        let tp = TraceParent::from(unsafe { &*traceparent });
        if !tp.trace_id.is_valid() {
            return kt_result::TraceparentZeroTraceId;
        }
        if !tp.span_id.is_valid() {
            return kt_result::TraceparentZeroSpanId;
        }
        ctx.inner.traceparent = tp;
        ctx.parent = Ok(());
        kt_result::Ok
    })
}

/// Turns the context into its child: same trace, flags, tracestate and baggage, with the 8 bytes
/// at `span_id` as the new parent id (what a producer injects for its own span). Needs a parent
/// (else returns why there is none); refuses an all-zero id. Unchanged on error.
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_set_span_id(context: *mut kt_context, span_id: *const u8) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        // SAFETY: the caller passes 8 readable bytes.
        let id = try_ffi!(unsafe { fixed::<8>(span_id) });
        let span_id = SpanId(id);
        if !span_id.is_valid() {
            return kt_result::TraceparentZeroSpanId;
        }
        let child = try_ffi!(ctx.valid()).child(span_id);
        ctx.inner = child;
        kt_result::Ok
    })
}

/// Starts a new root trace in the context: trace id (16 bytes at `trace_id`), span id (8 bytes at
/// `span_id`) and `flags`, no tracestate; the baggage is kept (baggage is independent of the trace).
/// Refuses all-zero ids (context unchanged).
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_set_root(context: *mut kt_context, trace_id: *const u8, span_id: *const u8, flags: u8) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and readable ids.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        let trace_id = TraceId(try_ffi!(unsafe { fixed::<16>(trace_id) }));
        let span_id = SpanId(try_ffi!(unsafe { fixed::<8>(span_id) }));
        if !trace_id.is_valid() {
            return kt_result::TraceparentZeroTraceId;
        }
        if !span_id.is_valid() {
            return kt_result::TraceparentZeroSpanId;
        }
        let baggage = std::mem::take(&mut ctx.inner.baggage);
        ctx.inner = TraceContext::new_root(trace_id, span_id, TraceFlags(flags), baggage);
        ctx.parent = Ok(());
        ctx.tracestate = Ok(());
        kt_result::Ok
    })
}

/// KT_RESULT_OK when the received tracestate was kept (also when there was none), or the reason
/// it was discarded (KT_RESULT_TRACESTATE_*). A tracestate is never read without a valid parent.
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_status(context: *const kt_context) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        ctx.tracestate.into()
    })
}

/// Number of tracestate members (0 for NULL or an invalid handle).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_len(context: *const kt_context) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller passes a live context or NULL.
        unsafe { handle_ref(context) }.map_or(0, |ctx| ctx.inner.tracestate.view().members().len())
    })
}

/// The member at `index` (0 = first, the one written first): `*key` and `*value` borrow from the
/// context. KT_RESULT_NOT_FOUND past the end; out-params written only on success.
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_member(context: *const kt_context, index: usize, key: *mut kt_str, value: *mut kt_str) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        if key.is_null() || value.is_null() {
            return kt_result::NullArgument;
        }
        let view = ctx.inner.tracestate.view();
        let Some(member) = view.members().get(index) else { return kt_result::NotFound };
        // SAFETY: non-null and writable by contract; the strings live in the context.
        unsafe {
            write_out(key, kt_str::of(member.key));
            write_out(value, kt_str::of(member.value));
        }
        kt_result::Ok
    })
}

/// The tracestate value for the `key_len`-byte `key`, borrowed from the context into `*value`.
/// KT_RESULT_NOT_FOUND when absent (also for keys that are not UTF-8).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_get(context: *const kt_context, key: *const c_char, key_len: usize, value: *mut kt_str) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and `key_len` readable bytes.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        let key = try_ffi!(unsafe { bytes(key.cast(), key_len) });
        if value.is_null() {
            return kt_result::NullArgument;
        }
        let Ok(key) = std::str::from_utf8(key) else { return kt_result::NotFound };
        match ctx.inner.tracestate.view().get(key) {
            Some(v) => {
                // SAFETY: non-null and writable by contract.
                unsafe { write_out(value, kt_str::of(v)) };
                kt_result::Ok
            }
            None => kt_result::NotFound,
        }
    })
}

/// The whole normalized tracestate (`k=v,k2=v2`, untruncated; empty when none), borrowed into
/// `*out`.
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_header(context: *const kt_context, out: *mut kt_str) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        // SAFETY: non-null and writable by contract.
        unsafe { write_out(out, kt_str::of(ctx.inner.tracestate.as_str())) };
        kt_result::Ok
    })
}

/// Puts `key=value` first in the tracestate (replacing an older value of `key`), as a vendor does
/// when it continues a trace. Returns KT_RESULT_TRACESTATE_KEY / _VALUE for an invalid member
/// (KT_RESULT_INVALID_UTF8 for bytes that are not UTF-8); unchanged on error.
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_set(
    context: *mut kt_context,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and readable bytes.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        let key = try_ffi!(unsafe { text(key, key_len) });
        let value = try_ffi!(unsafe { text(value, value_len) });
        ctx.inner.tracestate.set(key, value).map_err(kt_result::from).err().unwrap_or(kt_result::Ok)
    })
}

/// Removes every tracestate member.
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_tracestate_clear(context: *mut kt_context) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        ctx.inner.tracestate = TraceStateBuf::default();
        kt_result::Ok
    })
}

/// Number of baggage members (0 for NULL or an invalid handle).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_len(context: *const kt_context) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller passes a live context or NULL.
        unsafe { handle_ref(context) }.map_or(0, |ctx| ctx.inner.baggage.entries().len())
    })
}

/// How many received baggage members were dropped (malformed, duplicate or over the limits).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_dropped(context: *const kt_context) -> usize {
    ffi_boundary!(0, {
        // SAFETY: the caller passes a live context or NULL.
        unsafe { handle_ref(context) }.map_or(0, |ctx| ctx.inner.baggage.dropped())
    })
}

/// The baggage member at `index`: key, percent-decoded value (UTF-8) and number of properties,
/// borrowed from the context. KT_RESULT_NOT_FOUND past the end. `property_count` may be NULL.
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_member(
    context: *const kt_context,
    index: usize,
    key: *mut kt_str,
    value: *mut kt_str,
    property_count: *mut usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        if key.is_null() || value.is_null() {
            return kt_result::NullArgument;
        }
        let Some(entry) = ctx.inner.baggage.entries().get(index) else { return kt_result::NotFound };
        // SAFETY: non-null (property_count checked) and writable by contract.
        unsafe {
            write_out(key, kt_str::of(&entry.key));
            write_out(value, kt_str::of(&entry.value));
            if !property_count.is_null() {
                write_out(property_count, entry.properties.len());
            }
        }
        kt_result::Ok
    })
}

/// Property `property` (`p` or `p=v`, as written without white space) of baggage member `index`.
/// KT_RESULT_NOT_FOUND past the end of either.
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_property(context: *const kt_context, index: usize, property: usize, out: *mut kt_str) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let Some(p) = ctx.inner.baggage.entries().get(index).and_then(|e| e.properties.get(property)) else {
            return kt_result::NotFound;
        };
        // SAFETY: non-null and writable by contract.
        unsafe { write_out(out, kt_str::of(p)) };
        kt_result::Ok
    })
}

/// The decoded baggage value of the `key_len`-byte `key`, borrowed into `*value`.
/// KT_RESULT_NOT_FOUND when absent (also for keys that are not UTF-8).
///
/// Thread-safety: read-only.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_get(context: *const kt_context, key: *const c_char, key_len: usize, value: *mut kt_str) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and readable bytes.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        let key = try_ffi!(unsafe { bytes(key.cast(), key_len) });
        if value.is_null() {
            return kt_result::NullArgument;
        }
        let Ok(key) = std::str::from_utf8(key) else { return kt_result::NotFound };
        match ctx.inner.baggage.get(key) {
            Some(v) => {
                // SAFETY: non-null and writable by contract.
                unsafe { write_out(value, kt_str::of(v)) };
                kt_result::Ok
            }
            None => kt_result::NotFound,
        }
    })
}

/// Sets baggage `key` to `value` (UTF-8; percent-encoded on inject), replacing an older value in
/// place or appending. KT_RESULT_BAGGAGE_MEMBER for a key that is not a token; unchanged on error.
///
/// Thread-safety: modifies the context; no other thread may use it during the call.
#[no_mangle]
pub unsafe extern "C" fn kt_context_baggage_set(
    context: *mut kt_context,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and readable bytes.
        let ctx = try_ffi!(unsafe { handle_mut(context) });
        let key = try_ffi!(unsafe { text(key, key_len) });
        let value = try_ffi!(unsafe { text(value, value_len) });
        ctx.inner.baggage.insert(key, value).map_err(kt_result::from).err().unwrap_or(kt_result::Ok)
    })
}

/// Calls `setter(userdata, name, name_len, value, value_len)` for `traceparent`, `tracestate` and
/// `baggage`, in that order: a value to write (replacing every header of that name), or NULL to
/// remove every header of that name. Needs a parent (else returns why there is none and calls
/// nothing). Stops at the first non-zero return with KT_RESULT_CALLBACK_FAILED (earlier calls stay
/// done). Exactly the bytes kt_context_inject_headers() and every other binding write.
///
/// Thread-safety: read-only on the context; the setter runs on the calling thread.
#[no_mangle]
pub unsafe extern "C" fn kt_context_inject(context: *const kt_context, setter: kt_header_setter, userdata: *mut c_void) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        let Some(setter) = setter else { return kt_result::NullArgument };
        let trace = try_ffi!(ctx.valid());
        // SAFETY: the caller's callback is called as documented in kt_header_setter.
        unsafe { inject_through(trace, setter, userdata) }
    })
}

/// Runs the core's setter-style injection through a C callback.
///
/// # Safety
/// `setter` is a valid function that may be called with `userdata`.
pub(crate) unsafe fn inject_through(
    trace: &TraceContext,
    setter: unsafe extern "C" fn(*mut c_void, *const c_char, usize, *const u8, usize) -> c_int,
    userdata: *mut c_void,
) -> kt_result {
    let result = setter::inject_each(trace, |name, value| {
        // The name is passed NUL-terminated too, for rd_kafka_header_remove().
        let mut cname = [0u8; 32];
        let Some(slot) = cname.get_mut(..name.len()) else { return Err(kt_result::InvalidArgument) };
        slot.copy_from_slice(name.as_bytes());
        let (ptr, len) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
        // SAFETY: the callback contract; every pointer is valid for the call.
        let rc = unsafe { setter(userdata, cname.as_ptr().cast(), name.len(), ptr, len) };
        if rc == 0 {
            Ok(())
        } else {
            Err(kt_result::CallbackFailed)
        }
    });
    result.err().unwrap_or(kt_result::Ok)
}

/// Buffer variant of kt_context_inject(): writes the header list `in` (`in_count` headers, e.g. the
/// message's current headers; NULL with 0 for none) as it must be after injecting this context
/// into `out` (capacity `out_cap` headers): our headers rewritten in place in lowercase, extra
/// copies removed, missing ones appended, every other header kept in order. Headers that did not
/// change point into `in`'s memory; rewritten ones point into `buf` (`buf_len` bytes; names are
/// NUL-terminated there). On success writes the header count to `*out_count` and the bytes used
/// to `*buf_used`. When `out_cap` or `buf_len` is too small, returns KT_RESULT_BUFFER_TOO_SMALL,
/// writes the needed count and size to `*out_count` and `*buf_used` and nothing else (size query:
/// pass NULL with 0). Needs a parent (else returns why there is none, writing nothing).
///
/// Thread-safety: read-only on the context.
#[no_mangle]
pub unsafe extern "C" fn kt_context_inject_headers(
    context: *const kt_context,
    input: *const kt_header,
    in_count: usize,
    out: *mut kt_header,
    out_cap: usize,
    out_count: *mut usize,
    buf: *mut u8,
    buf_len: usize,
    buf_used: *mut usize,
) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: the caller passes a live context and `in_count` valid headers.
        let ctx = try_ffi!(unsafe { handle_ref(context) });
        let input = try_ffi!(unsafe { CHeaders::new(input, in_count) });
        if out_count.is_null() || buf_used.is_null() || (out.is_null() && out_cap != 0) || (buf.is_null() && buf_len != 0) {
            return kt_result::NullArgument;
        }
        let trace = try_ffi!(ctx.valid());
        let slots = (0..input.len()).map(Slot::Input).collect();
        let mut edited = EditedHeaders { input, slots };
        carrier::inject(trace, &mut edited);
        let needed: usize =
            edited.slots.iter().map(|s| if let Slot::New(n, v) = s { n.len() + 1 + v.len() } else { 0 }).sum();
        if edited.slots.len() > out_cap || needed > buf_len {
            // SAFETY: non-null and writable by contract.
            unsafe {
                write_out(out_count, edited.slots.len());
                write_out(buf_used, needed);
            }
            return kt_result::BufferTooSmall;
        }
        let mut at = 0usize;
        for (i, slot) in edited.slots.iter().enumerate() {
            let header = match slot {
                Slot::Input(j) => edited.input.list[*j],
                Slot::New(name, value) => {
                    // SAFETY: buf is valid for buf_len >= needed bytes; the pieces do not overlap.
                    unsafe {
                        let name_at = buf.add(at);
                        std::ptr::copy_nonoverlapping(name.as_ptr(), name_at, name.len());
                        name_at.add(name.len()).write(0);
                        let value_at = name_at.add(name.len() + 1);
                        std::ptr::copy_nonoverlapping(value.as_ptr(), value_at, value.len());
                        at += name.len() + 1 + value.len();
                        kt_header { name: name_at.cast(), name_len: name.len(), value: value_at, value_len: value.len() }
                    }
                }
            };
            // SAFETY: i < slots.len() <= out_cap.
            unsafe { out.add(i).write(header) };
        }
        // SAFETY: non-null and writable by contract.
        unsafe {
            write_out(out_count, edited.slots.len());
            write_out(buf_used, at);
        }
        kt_result::Ok
    })
}

/// Reads N bytes from a non-null pointer.
///
/// # Safety
/// `ptr` is NULL or valid for reads of N bytes.
pub(crate) unsafe fn fixed<const N: usize>(ptr: *const u8) -> Result<[u8; N], kt_result> {
    if ptr.is_null() {
        return Err(kt_result::NullArgument);
    }
    // SAFETY: as documented above; [u8; N] has alignment 1.
    Ok(unsafe { ptr.cast::<[u8; N]>().read() })
}
