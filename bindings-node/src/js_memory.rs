//! The crate's only `unsafe` code: borrowing JavaScript memory.
//!
//! Everything here is sound for one reason, the same everywhere: JavaScript does not run while a
//! synchronous napi call does, so memory a JavaScript value owns (a Buffer, a typed array, the
//! scratch block) stays put and unaliased for the length of the call. No borrow handed out here
//! outlives the call that received the value, except [`scratch`]'s block, which is leaked on
//! purpose and only ever touched from inside calls of the thread that created it.
#![allow(unsafe_code)]

use napi::bindgen_prelude::*;
use napi::{Env, ValueType};

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
