//! The crate's only `unsafe` code: borrowing JavaScript memory.
//!
//! Everything here is sound for one reason, the same everywhere: JavaScript does not run while a
//! synchronous napi call does, so memory a JavaScript value owns (a Buffer, a typed array, the
//! scratch block) stays put and unaliased for the length of the call. No borrow handed out here
//! outlives the call that received the value, except [`scratch`]'s block, which is leaked on
//! purpose and only ever touched from inside calls of the thread that created it.
#![allow(unsafe_code)]

use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};

use crate::layout::{SCRATCH_LEN, SCRATCH_OUT};

/// Bytes of one header value: borrowed from a Buffer/Uint8Array, or copied from a string.
pub enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
    Null,
}

impl Bytes<'_> {
    pub fn get(&self) -> Option<&[u8]> {
        match self {
            Bytes::Borrowed(b) => Some(b),
            Bytes::Owned(v) => Some(v),
            Bytes::Null => None,
        }
    }
}

/// Appends the value(s) of one JavaScript header value: a Buffer or Uint8Array, a string, an
/// array of those (KafkaJS's shape for a repeated header, `depth` 0 only), or anything else as a
/// null value. Never throws on the value's contents.
pub fn push_values<'a>(value: &Unknown<'a>, out: &mut Vec<Bytes<'a>>, depth: u8) -> Result<()> {
    match value.get_type()? {
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { value.cast()? };
            out.push(Bytes::Owned(s.into_bytes()));
        }
        ValueType::Object => {
            if value.is_buffer()? {
                // SAFETY: checked to be a Buffer.
                let b: BufferSlice<'a> = unsafe { value.cast()? };
                out.push(Bytes::Borrowed(extend(&b)));
            } else if value.is_typedarray()? {
                // SAFETY: checked to be a typed array; a non-Uint8Array fails the cast.
                match unsafe { value.cast::<Uint8ArraySlice<'a>>() } {
                    Ok(u) => out.push(Bytes::Borrowed(extend(&u))),
                    Err(_) => out.push(Bytes::Null),
                }
            } else if depth == 0 && value.is_array()? {
                // SAFETY: checked to be an array.
                let array: Array<'a> = unsafe { value.cast()? };
                for i in 0..array.len() {
                    if let Some(item) = array.get::<Unknown<'a>>(i)? {
                        push_values(&item, out, depth + 1)?;
                    }
                }
            } else {
                out.push(Bytes::Null);
            }
        }
        _ => out.push(Bytes::Null),
    }
    Ok(())
}

/// Extends the borrow of a JavaScript-owned byte slice from its local handle to the call.
fn extend<'a>(bytes: &[u8]) -> &'a [u8] {
    // SAFETY: the memory belongs to a value the JavaScript caller keeps alive during the call.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr(), bytes.len()) }
}

/// The numbers of a caller-owned `Float64Array`, writable for the call.
pub fn f64s<'a>(array: &'a mut Float64ArraySlice<'_>) -> &'a mut [f64] {
    // SAFETY: see the module documentation.
    unsafe { array.as_mut() }
}

/// The numbers of a caller-owned `Uint32Array`, writable for the call.
pub fn u32s<'a>(array: &'a mut Uint32ArraySlice<'_>) -> &'a mut [u32] {
    // SAFETY: see the module documentation.
    unsafe { array.as_mut() }
}

/// The numbers of a caller-owned `Int32Array`, writable for the call.
pub fn i32s<'a>(array: &'a mut Int32ArraySlice<'_>) -> &'a mut [i32] {
    // SAFETY: see the module documentation.
    unsafe { array.as_mut() }
}

/// Values napi ties to a call scope that we hand straight back to JavaScript.
pub trait Detach {
    type Static;
    fn detach(self) -> Self::Static;
}

impl Detach for Unknown<'_> {
    type Static = Unknown<'static>;
    fn detach(self) -> Unknown<'static> {
        // SAFETY: returned to JavaScript before the scope ends.
        unsafe { std::mem::transmute::<Unknown<'_>, Unknown<'static>>(self) }
    }
}

impl Detach for Object<'_> {
    type Static = Object<'static>;
    fn detach(self) -> Object<'static> {
        // SAFETY: returned to JavaScript before the scope ends.
        unsafe { std::mem::transmute::<Object<'_>, Object<'static>>(self) }
    }
}

thread_local! {
    static SCRATCH: std::cell::Cell<*mut u8> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// This thread's scratch memory as a Uint8Array: a block of Rust memory JavaScript copies header
/// bytes into with `TypedArray#set` and reads results from, which is much cheaper than passing
/// Buffers through napi. The first call only; later calls return null (two ArrayBuffers must not
/// share one backing store).
pub fn scratch(env: &Env) -> Result<Option<Uint8ArraySlice<'_>>> {
    SCRATCH.with(|cell| {
        if !cell.get().is_null() {
            return Ok(None);
        }
        let memory: &'static mut [u8] = Box::leak(vec![0u8; SCRATCH_LEN].into_boxed_slice());
        let ptr = memory.as_mut_ptr();
        cell.set(ptr);
        // SAFETY: the memory is leaked (lives as long as the thread), is used by one thread, and
        // only inside calls from that thread's JavaScript.
        unsafe { Uint8ArraySlice::from_external(env, ptr, SCRATCH_LEN, (), |_, _| {}) }.map(Some)
    })
}

/// Runs `f` over the scratch memory's input and output regions (None before [`scratch`]).
pub fn with_scratch<R>(f: impl FnOnce(&mut [u8], &mut [u8]) -> R) -> Option<R> {
    SCRATCH.with(|cell| {
        let ptr = cell.get();
        if ptr.is_null() {
            return None;
        }
        // SAFETY: see `scratch`; JavaScript is not running while this call does.
        let memory = unsafe { std::slice::from_raw_parts_mut(ptr, SCRATCH_LEN) };
        let (input, output) = memory.split_at_mut(SCRATCH_OUT);
        Some(f(input, output))
    })
}

/// What a raw call returns to JavaScript: a number, or a short Latin-1 string (the first `len`
/// bytes; a string made by the call costs less than one JavaScript slices out of a Buffer).
pub enum Answer {
    Int(i32),
    Latin1([u8; ANSWER_BYTES], usize),
}

/// The longest string an [`Answer`] holds.
pub const ANSWER_BYTES: usize = 64;

/// A per-message call JavaScript makes with no arguments; its inputs (and any larger outputs)
/// are in the scratch memory. See [`raw_function`].
pub type RawCall = Box<dyn Fn() -> Answer>;

/// What a [`RawCall`] answers when its Rust code panicked (never expected): no valid answer of
/// any raw call is this small.
pub const RAW_PANIC: i32 = i32::MIN;

unsafe extern "C" fn raw_call(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut data = std::ptr::null_mut();
    let mut argc = 0usize;
    let mut result = std::ptr::null_mut();
    // SAFETY: `info` is this call's; no argument is read (argc 0).
    let status = unsafe { sys::napi_get_cb_info(env, info, &mut argc, std::ptr::null_mut(), std::ptr::null_mut(), &mut data) };
    let answer = if status == sys::Status::napi_ok && !data.is_null() {
        // SAFETY: `data` is the `RawCall` box `raw_function` gave this function; it lives until
        // the function is collected (`raw_drop`), which cannot happen during a call of it.
        let f = unsafe { &*(data as *const RawCall) };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(Answer::Int(RAW_PANIC))
    } else {
        Answer::Int(RAW_PANIC)
    };
    match answer {
        // SAFETY: a plain number into a fresh handle of this call's scope.
        Answer::Int(n) => unsafe { sys::napi_create_int32(env, n, &mut result) },
        // SAFETY: `len` bytes of the array, passed with their length.
        Answer::Latin1(bytes, len) => unsafe { sys::napi_create_string_latin1(env, bytes.as_ptr().cast(), len.min(ANSWER_BYTES) as isize, &mut result) },
    };
    result
}

unsafe extern "C" fn raw_drop(_env: sys::napi_env, data: *mut std::ffi::c_void, _hint: *mut std::ffi::c_void) {
    // SAFETY: the box `raw_function` leaked for the function being collected, dropped once.
    drop(unsafe { Box::from_raw(data as *mut RawCall) });
}

/// `f` as a JavaScript function of no arguments that returns `f()`'s answer, through bare Node-API.
///
/// Why not `#[napi]`: napi-rs's generated wrapper opens a borrow-tracking scope on every call (an
/// `Arc<Mutex<..>>` allocated and freed, thread-local pushes and pops; ~100-150 ns measured with
/// `perf`, more than the work of a per-message call), and a zero-argument `#[napi]` function that
/// takes the `Env` or `&self` still pays it. These calls take no JavaScript value at all, so there
/// is nothing to track. The function owns `f`, which is dropped when the function is collected.
pub fn raw_function<'e>(env: &'e Env, name: &str, f: RawCall) -> Result<Unknown<'e>> {
    let data = Box::into_raw(Box::new(f));
    let mut function = std::ptr::null_mut();
    // SAFETY: `name` is passed with its length; `data` stays valid until `raw_drop`.
    let created = unsafe { sys::napi_create_function(env.raw(), name.as_ptr().cast(), name.len() as isize, Some(raw_call), data.cast(), &mut function) };
    if created != sys::Status::napi_ok {
        // SAFETY: not handed to any function: still ours.
        drop(unsafe { Box::from_raw(data) });
        return Err(Error::from_reason("napi_create_function failed"));
    }
    // SAFETY: the finalizer frees `data` when the function is collected (or the env torn down).
    let finalizer = unsafe { sys::napi_add_finalizer(env.raw(), function, data.cast(), Some(raw_drop), std::ptr::null_mut(), std::ptr::null_mut()) };
    if finalizer != sys::Status::napi_ok {
        // The function exists and may be called; keep `data` alive for it (a leak, never expected).
        return Err(Error::from_reason("napi_add_finalizer failed"));
    }
    // SAFETY: a function value of this env, returned to JavaScript within the current call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), function) })
}
