//! Two stable-ABI calls pyo3 has no safe wrapper for, used to avoid temporary objects on the
//! extract hot path. This is the only `unsafe` in the binding.

use pyo3::prelude::*;
use pyo3::types::PyString;

/// Whether `s` equals the ASCII string `ascii` (no allocation, unlike encoding `s`).
/// `ascii` must be NUL-free ASCII (the core's header names are).
pub(crate) fn str_equals(s: &Bound<'_, PyString>, ascii_nul_terminated: &std::ffi::CStr) -> bool {
    // SAFETY: `s` is a live str object (the GIL is held through `Bound`), the C string is
    // NUL-terminated; the function does not fail or set an exception for a str argument.
    unsafe {
        pyo3::ffi::PyUnicode_CompareWithASCIIString(s.as_ptr(), ascii_nul_terminated.as_ptr()) == 0
    }
}

/// The Python int of a 128-bit id from its lowercase hex form, in one object (pyo3's abi3 u128
/// conversion builds it from several temporary ints).
pub(crate) fn int_from_hex<'py>(py: Python<'py>, hex: &[u8; 32]) -> PyResult<Bound<'py, PyAny>> {
    let mut buf = [0u8; 33];
    buf[..32].copy_from_slice(hex);
    // SAFETY: `buf` is NUL-terminated and outlives the call; the result is a new reference or
    // NULL with an exception set, which `assume_owned_or_err` turns into a PyErr.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            pyo3::ffi::PyLong_FromString(buf.as_ptr().cast(), std::ptr::null_mut(), 16),
        )
    }
}

/// A non-negative Python int below 2**128 as `u128`, with one temporary object (pyo3's abi3
/// conversion makes several). `None` for anything else.
pub(crate) fn u128_of(obj: &Bound<'_, PyAny>) -> Option<u128> {
    let int = obj.cast::<pyo3::types::PyInt>().ok()?;
    // A negative int stays negative when shifted, so this also rejects negative ids.
    let high = int.rshift(64).ok()?.extract::<u64>().ok()?;
    // SAFETY: `int` is a live int object; the call cannot fail for an int and sets no error.
    let low = unsafe { pyo3::ffi::PyLong_AsUnsignedLongLongMask(int.as_ptr()) };
    Some((u128::from(high) << 64) | u128::from(low))
}
