//! Stable-ABI calls pyo3 has no safe wrapper for, used to avoid temporary objects and calls on
//! the extract hot path (a str compared with ASCII, an int's low word, a class's own slots, a
//! tuple refilled). This is the only `unsafe` in the binding.

use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

/// Whether `s` equals the ASCII string `ascii` (no allocation, unlike encoding `s`).
/// `ascii` must be NUL-free ASCII (the core's header names are).
pub(crate) fn str_equals(s: &Bound<'_, PyString>, ascii_nul_terminated: &std::ffi::CStr) -> bool {
    // SAFETY: `s` is a live str object (the GIL is held through `Bound`), the C string is
    // NUL-terminated; the function does not fail or set an exception for a str argument.
    // The length first: a name of another length costs no comparison.
    unsafe {
        pyo3::ffi::PyUnicode_GetLength(s.as_ptr()) == ascii_nul_terminated.count_bytes() as pyo3::ffi::Py_ssize_t
            && pyo3::ffi::PyUnicode_CompareWithASCIIString(s.as_ptr(), ascii_nul_terminated.as_ptr()) == 0
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

/// The slot `id` of the heap type `cls` (`None` if it has none).
fn slot_of(cls: &Bound<'_, PyType>, id: std::ffi::c_int) -> Option<*mut std::ffi::c_void> {
    // SAFETY: `cls` is a live type object; `PyType_GetSlot` works on heap types in every stable
    // ABI version (on static types from 3.10), and callers pass Python classes (heap types).
    let slot = unsafe { pyo3::ffi::PyType_GetSlot(cls.as_type_ptr(), id) };
    (!slot.is_null()).then_some(slot)
}

/// A Python subclass of `tuple` and its allocator, to make instances holding given items: what
/// `tuple.__new__(cls, items)` makes (CPython's `tuple_subtype_new`: `tp_alloc` with the length,
/// then each item set), without building an argument tuple and calling. Used only where `_init`
/// checked the result against the API's own constructor (equality, hash, repr).
pub(crate) struct TupleClass {
    cls: Py<PyType>,
    alloc: pyo3::ffi::allocfunc,
}

impl TupleClass {
    /// `None` unless `cls` is a subclass of `tuple` with an allocator.
    pub(crate) fn of(cls: &Bound<'_, PyType>) -> Option<Self> {
        if !cls.is_subclass_of::<pyo3::types::PyTuple>().ok()? {
            return None;
        }
        let slot = slot_of(cls, pyo3::ffi::Py_tp_alloc)?;
        // SAFETY: a non-null `Py_tp_alloc` slot is an `allocfunc`.
        let alloc = unsafe { std::mem::transmute::<*mut std::ffi::c_void, pyo3::ffi::allocfunc>(slot) };
        Some(Self { cls: cls.clone().unbind(), alloc })
    }

    pub(crate) fn make<'py, const N: usize>(&self, py: Python<'py>, items: [Bound<'py, PyAny>; N]) -> PyResult<Bound<'py, PyAny>> {
        let cls = self.cls.bind(py);
        // SAFETY: `alloc` is the allocator of `cls` (kept alive by `self`), a tuple subclass
        // (checked in `of`), called with the item count of a tuple layout; it returns a new
        // reference (items NULL) or NULL with an exception set.
        let object = unsafe { Bound::from_owned_ptr_or_err(py, (self.alloc)(cls.as_type_ptr(), N as pyo3::ffi::Py_ssize_t))? };
        for (i, item) in items.into_iter().enumerate() {
            // SAFETY: `object` is a tuple of length N that nothing else references yet, `i` is
            // below N; `PyTuple_SetItem` steals the item's reference, also on failure.
            if unsafe { pyo3::ffi::PyTuple_SetItem(object.as_ptr(), i as pyo3::ffi::Py_ssize_t, item.into_ptr()) } != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        Ok(object)
    }

    /// `tuple`, one this class's [`make`](Self::make) made that nothing else references any more
    /// (this is its only reference), holding `items` instead of its old ones: what `make` returns,
    /// without freeing one tuple and allocating another. Anything else: a new one from `make`.
    pub(crate) fn refill<'py, const N: usize>(
        &self,
        py: Python<'py>,
        tuple: Py<PyAny>,
        items: [Bound<'py, PyAny>; N],
    ) -> PyResult<Bound<'py, PyAny>> {
        let tuple = tuple.into_bound(py);
        let unshared = tuple.get_type().is(self.cls.bind(py))
            && refcount(&tuple) == 1
            && tuple.cast::<pyo3::types::PyTuple>().is_ok_and(|t| t.len() == N);
        if !unshared {
            return self.make(py, items);
        }
        for (i, item) in items.into_iter().enumerate() {
            // SAFETY: `tuple` is a tuple of length N (checked), `i` is below N; a borrowed item.
            if unsafe { pyo3::ffi::PyTuple_GetItem(tuple.as_ptr(), i as pyo3::ffi::Py_ssize_t) } == item.as_ptr() {
                continue;
            }
            // SAFETY: `tuple` is a tuple of length N (checked) whose one reference is ours, so no
            // one can see it change (the condition under which CPython allows `PyTuple_SetItem`,
            // which checks it again); `i` is below N; the item's reference is stolen and the old
            // item released.
            if unsafe { pyo3::ffi::PyTuple_SetItem(tuple.as_ptr(), i as pyo3::ffi::Py_ssize_t, item.into_ptr()) } != 0 {
                return Err(PyErr::fetch(py));
            }
        }
        // SAFETY: `tuple` is a live GC object (a tuple); the collector may have untracked it while
        // its items could not form a cycle, which the new ones may.
        unsafe {
            if pyo3::ffi::PyObject_GC_IsTracked(tuple.as_ptr()) == 0 {
                pyo3::ffi::PyObject_GC_Track(tuple.as_ptr().cast());
            }
        }
        Ok(tuple)
    }
}

/// How many references `obj` has (the GIL is held, so it does not change under us).
pub(crate) fn refcount(obj: &Bound<'_, PyAny>) -> isize {
    // SAFETY: `obj` is a live object.
    unsafe { pyo3::ffi::Py_REFCNT(obj.as_ptr()) }
}

/// A Python class whose `__new__` is one it inherits from a built-in (`object`'s, `dict`'s) and
/// its `tp_new` slot: `cls.__new__(cls)` without the call machinery (no argument tuple made, no
/// method lookup). `_init` uses it only where the class's `__init__` adds nothing to that (checked
/// by comparing a probe with the constructor's result).
pub(crate) struct PlainClass {
    cls: Py<PyType>,
    new: pyo3::ffi::newfunc,
    no_args: Py<pyo3::types::PyTuple>,
}

impl PlainClass {
    pub(crate) fn of(cls: &Bound<'_, PyType>) -> Option<Self> {
        let slot = slot_of(cls, pyo3::ffi::Py_tp_new)?;
        // SAFETY: a non-null `Py_tp_new` slot is a `newfunc`.
        let new = unsafe { std::mem::transmute::<*mut std::ffi::c_void, pyo3::ffi::newfunc>(slot) };
        let no_args = pyo3::types::PyTuple::empty(cls.py()).unbind();
        Some(Self { cls: cls.clone().unbind(), new, no_args })
    }

    pub(crate) fn make<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: `new` is the `tp_new` slot of `cls` (kept alive by `self`), called as
        // `type_call` does, with an argument tuple and no keywords; it returns a new reference or
        // NULL with an exception set.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                (self.new)(self.cls.bind(py).as_type_ptr(), self.no_args.as_ptr(), std::ptr::null_mut()),
            )
        }
    }
}
