//! Stable-ABI calls pyo3 has no safe wrapper for, used to avoid temporary objects and calls on
//! the extract hot path (a str compared with ASCII, an int from hex, an int's low word, a
//! class's own allocator). This is the only `unsafe` in the binding.

use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

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

/// The `tp_alloc` slot of the heap type `cls` (`None` if it has none).
fn alloc_of(cls: &Bound<'_, PyType>) -> Option<pyo3::ffi::allocfunc> {
    // SAFETY: `cls` is a live type object; `PyType_GetSlot` works on heap types in every stable
    // ABI version (on static types from 3.10), and callers pass Python classes (heap types). A
    // non-null `Py_tp_alloc` slot is an `allocfunc`.
    unsafe {
        let slot = pyo3::ffi::PyType_GetSlot(cls.as_type_ptr(), pyo3::ffi::Py_tp_alloc);
        (!slot.is_null()).then(|| std::mem::transmute::<*mut std::ffi::c_void, pyo3::ffi::allocfunc>(slot))
    }
}

/// A new instance of `cls`, a Python subclass of `tuple`, holding `items`: what
/// `tuple.__new__(cls, items)` makes (CPython's `tuple_subtype_new`: `tp_alloc` with the length,
/// then each item set), without building an argument tuple and calling. Used only where `_init`
/// checked the result against the API's own constructor (equality, hash, repr).
pub(crate) fn tuple_instance<'py, const N: usize>(
    cls: &Bound<'py, PyType>,
    items: [Bound<'py, PyAny>; N],
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let alloc = alloc_of(cls).ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("no tp_alloc"))?;
    // SAFETY: `alloc` is `cls`'s allocator, called with the item count of a tuple layout; it
    // returns a new reference (items NULL) or NULL with an exception set.
    let object = unsafe { Bound::from_owned_ptr_or_err(py, alloc(cls.as_type_ptr(), N as pyo3::ffi::Py_ssize_t))? };
    if object.cast::<pyo3::types::PyTuple>().is_err() {
        return Err(pyo3::exceptions::PyTypeError::new_err("not a tuple type"));
    }
    for (i, item) in items.into_iter().enumerate() {
        // SAFETY: `object` is a tuple (checked) that nothing else references yet (refcount 1), `i`
        // is below its length; `PyTuple_SetItem` steals the item's reference, also on failure.
        if unsafe { pyo3::ffi::PyTuple_SetItem(object.as_ptr(), i as pyo3::ffi::Py_ssize_t, item.into_ptr()) } != 0 {
            return Err(PyErr::fetch(py));
        }
    }
    Ok(object)
}

/// A new instance of the Python class `cls` from its `tp_alloc` alone: what `object.__new__(cls)`
/// makes after its checks (no arguments, not abstract), which `_init` did once for the class.
pub(crate) fn plain_instance<'py>(cls: &Bound<'py, PyType>) -> PyResult<Bound<'py, PyAny>> {
    let alloc = alloc_of(cls).ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("no tp_alloc"))?;
    // SAFETY: `alloc` is `cls`'s allocator, called for a fixed-size instance; it returns a new
    // reference or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(cls.py(), alloc(cls.as_type_ptr(), 0)) }
}
