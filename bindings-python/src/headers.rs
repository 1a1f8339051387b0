//! Python header shapes as the core's header traits.
//!
//! Read: `None`, a list or tuple of `(name, value)` pairs, a dict (`name -> value` or
//! `name -> [values]`) or any iterable of pairs; names `str` (or UTF-8 `bytes`), values `bytes`,
//! `bytearray`, `str` or `None`. Entries of any other shape are skipped and values of another
//! type read as null, so bad headers give a new root instead of an exception.
//! Write: lists are edited in place, dicts in place, anything else is copied into a new list.

use std::borrow::Cow;

use kafka_trace::carrier::{Headers, HeadersMut};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

/// Bytes held for the core to borrow: a `bytes` object (given, or a `str` encoded as UTF-8, one
/// allocation), a copy (`bytearray`), or nothing (null or unreadable).
enum Held<'py> {
    Static(&'static str),
    Bytes(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
    Null,
}

/// The core's header names, NUL-terminated for the comparison in [`crate::fast`].
fn known() -> &'static [(&'static str, std::ffi::CString); 3] {
    static KNOWN: std::sync::OnceLock<[(&'static str, std::ffi::CString); 3]> =
        std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        use kafka_trace::carrier::{BAGGAGE, TRACEPARENT, TRACESTATE};
        // The names are NUL-free ASCII constants; an empty CString would simply never match.
        [TRACEPARENT, TRACESTATE, BAGGAGE]
            .map(|n| (n, std::ffi::CString::new(n).unwrap_or_default()))
    })
}

impl<'py> Held<'py> {
    /// A header name: a `str` spelled exactly like one of the core's names is handed over as
    /// that constant (no encoding); any other name is encoded for the core to compare.
    fn name(obj: &Bound<'py, PyAny>) -> Held<'py> {
        if let Ok(s) = obj.cast::<PyString>() {
            for (name, c_name) in known() {
                if !c_name.is_empty() && crate::fast::str_equals(s, c_name) {
                    return Held::Static(name);
                }
            }
        }
        Held::of(obj)
    }

    fn of(obj: &Bound<'py, PyAny>) -> Held<'py> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            Held::Bytes(b.clone())
        } else if let Ok(s) = obj.cast::<PyString>() {
            s.encode_utf8().map_or(Held::Null, Held::Bytes)
        } else if let Ok(b) = obj.cast::<PyByteArray>() {
            Held::Owned(b.to_vec())
        } else {
            Held::Null
        }
    }

    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Held::Static(s) => Some(s.as_bytes()),
            Held::Bytes(b) => Some(b.as_bytes()),
            Held::Owned(v) => Some(v),
            Held::Null => None,
        }
    }
}

/// The header list read from Python, kept alive while the core reads borrowed views of it.
pub(crate) struct RawHeaders<'py> {
    pairs: Pairs<'py>,
}

/// How many pairs are held without a heap allocation: a traced record's two or three trace
/// headers and one more. Every slot costs its initialization and drop on each call (8 slots
/// cost ~160 instructions more per extract than 4); a longer list allocates once for the rest.
const INLINE_PAIRS: usize = 4;

/// The pairs in order: the first [`INLINE_PAIRS`] in place, the rest on the heap.
struct Pairs<'py> {
    inline: [Option<(Held<'py>, Held<'py>)>; INLINE_PAIRS],
    inline_len: usize,
    more: Vec<(Held<'py>, Held<'py>)>,
}

impl<'py> Pairs<'py> {
    fn new() -> Self {
        Self { inline: [const { None }; INLINE_PAIRS], inline_len: 0, more: Vec::new() }
    }

    fn push(&mut self, pair: (Held<'py>, Held<'py>)) {
        match self.inline.get_mut(self.inline_len) {
            Some(slot) => {
                *slot = Some(pair);
                self.inline_len += 1;
            }
            None => self.more.push(pair),
        }
    }

    fn len(&self) -> usize {
        self.inline_len + self.more.len()
    }

    fn get(&self, index: usize) -> Option<&(Held<'py>, Held<'py>)> {
        match self.inline.get(index) {
            Some(slot) => slot.as_ref(),
            None => self.more.get(index - INLINE_PAIRS),
        }
    }
}

fn push_item<'py>(pairs: &mut Pairs<'py>, item: &Bound<'py, PyAny>) {
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 {
            if let (Ok(n), Ok(v)) = (t.get_borrowed_item(0), t.get_borrowed_item(1)) {
                pairs.push((Held::name(&n), Held::of(&v)));
            }
        }
    } else if let Ok(l) = item.cast::<PyList>() {
        if l.len() == 2 {
            if let (Ok(n), Ok(v)) = (l.get_item(0), l.get_item(1)) {
                pairs.push((Held::name(&n), Held::of(&v)));
            }
        }
    }
}

impl<'py> RawHeaders<'py> {
    pub(crate) fn collect(headers: &Bound<'py, PyAny>) -> Self {
        let mut pairs = Pairs::new();
        if headers.is_none() {
        } else if let Ok(list) = headers.cast::<PyList>() {
            for item in list.iter() {
                push_item(&mut pairs, &item);
            }
        } else if let Ok(tuple) = headers.cast::<PyTuple>() {
            for item in tuple.iter() {
                push_item(&mut pairs, &item);
            }
        } else if let Ok(dict) = headers.cast::<PyDict>() {
            for (name, value) in dict.iter() {
                Self::push_dict_value(&mut pairs, &name, &value);
            }
        } else if let Ok(items) = headers.call_method0(pyo3::intern!(headers.py(), "items")) {
            // Mappings other than dict (e.g. a multidict).
            if let Ok(iter) = items.try_iter() {
                for item in iter.flatten() {
                    if let Ok(t) = item.cast::<PyTuple>() {
                        if let (Ok(n), Ok(v)) = (t.get_item(0), t.get_item(1)) {
                            Self::push_dict_value(&mut pairs, &n, &v);
                        }
                    }
                }
            }
        } else if let Ok(iter) = headers.try_iter() {
            for item in iter.flatten() {
                push_item(&mut pairs, &item);
            }
        }
        Self { pairs }
    }

    fn push_dict_value(
        pairs: &mut Pairs<'py>,
        name: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) {
        let many: Option<Vec<Bound<'py, PyAny>>> =
            match (value.cast::<PyList>(), value.cast::<PyTuple>()) {
                (Ok(l), _) => Some(l.iter().collect()),
                (_, Ok(t)) => Some(t.iter().collect()),
                _ => None,
            };
        match many {
            Some(values) => values.iter().for_each(|v| pairs.push((Held::name(name), Held::of(v)))),
            None => pairs.push((Held::name(name), Held::of(value))),
        }
    }
}

/// The core reads the held pairs in place; a name that is not UTF-8 reads as no header.
impl Headers for RawHeaders<'_> {
    fn header_count(&self) -> usize {
        self.pairs.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        let (name, value) = self.pairs.get(index)?;
        let name = match name {
            Held::Static(name) => name,
            other => std::str::from_utf8(other.bytes()?).ok()?,
        };
        Some((name, value.bytes()))
    }
}

pub(crate) fn name_of<'a>(name: &'a Bound<'_, PyAny>) -> Option<Cow<'a, str>> {
    if let Ok(s) = name.cast::<PyString>() {
        s.to_cow().ok()
    } else if let Ok(b) = name.cast::<PyBytes>() {
        std::str::from_utf8(b.as_bytes()).ok().map(Cow::Borrowed)
    } else {
        None
    }
}

/// The `str` object for a header name the core writes (one shared object per core name).
fn name_object<'py>(py: Python<'py>, name: &str) -> Bound<'py, PyString> {
    static NAMES: pyo3::sync::PyOnceLock<Vec<(&'static str, Py<PyString>)>> =
        pyo3::sync::PyOnceLock::new();
    let names = NAMES.get_or_init(py, || {
        known()
            .iter()
            .map(|(n, _)| (*n, PyString::intern(py, n).unbind()))
            .collect()
    });
    match names.iter().find(|(n, _)| *n == name) {
        Some((_, object)) => object.bind(py).clone(),
        None => PyString::new(py, name),
    }
}

/// A Python list edited in place. The core's write path only needs the names; values are not
/// read back (reported as null).
pub(crate) struct ListWriter<'py> {
    list: Bound<'py, PyList>,
    names: Vec<Option<String>>,
    pub(crate) error: Option<PyErr>,
}

fn item_name(item: &Bound<'_, PyAny>) -> Option<String> {
    let name = if let Ok(t) = item.cast::<PyTuple>() {
        (t.len() == 2).then(|| t.get_item(0).ok()).flatten()
    } else if let Ok(l) = item.cast::<PyList>() {
        (l.len() == 2).then(|| l.get_item(0).ok()).flatten()
    } else {
        None
    }?;
    name_of(&name).map(Cow::into_owned)
}

impl<'py> ListWriter<'py> {
    pub(crate) fn new(list: Bound<'py, PyList>) -> Self {
        let names = list.iter().map(|item| item_name(&item)).collect();
        Self {
            list,
            names,
            error: None,
        }
    }

    fn pair(&self, name: &str, value: &[u8]) -> PyResult<Bound<'py, PyTuple>> {
        let py = self.list.py();
        PyTuple::new(
            py,
            [
                name_object(py, name).into_any(),
                PyBytes::new(py, value).into_any(),
            ],
        )
    }

    fn keep(&mut self, result: PyResult<()>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }
}

impl Headers for ListWriter<'_> {
    fn header_count(&self) -> usize {
        self.names.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.names.get(index)?.as_deref().map(|n| (n, None))
    }
}

impl HeadersMut for ListWriter<'_> {
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
        let result = self
            .pair(name, value)
            .and_then(|p| self.list.set_item(index, p));
        self.keep(result);
        if let Some(slot) = self.names.get_mut(index) {
            *slot = Some(name.to_owned());
        }
    }
    fn remove_header(&mut self, index: usize) {
        let result = self.list.del_item(index);
        self.keep(result);
        if index < self.names.len() {
            self.names.remove(index);
        }
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        let result = self.pair(name, value).and_then(|p| self.list.append(p));
        self.keep(result);
        self.names.push(Some(name.to_owned()));
    }
}

/// A Python dict edited in place (a renamed key moves to the end; dict order carries no meaning
/// for Kafka clients).
pub(crate) struct DictWriter<'py> {
    dict: Bound<'py, PyDict>,
    keys: Vec<Bound<'py, PyAny>>,
    names: Vec<Option<String>>,
    pub(crate) error: Option<PyErr>,
}

impl<'py> DictWriter<'py> {
    pub(crate) fn new(dict: Bound<'py, PyDict>) -> Self {
        let keys: Vec<_> = dict.keys().iter().collect();
        let names = keys
            .iter()
            .map(|k| name_of(k).map(Cow::into_owned))
            .collect();
        Self {
            dict,
            keys,
            names,
            error: None,
        }
    }

    fn keep(&mut self, result: PyResult<()>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }
}

impl Headers for DictWriter<'_> {
    fn header_count(&self) -> usize {
        self.names.len()
    }
    fn header(&self, index: usize) -> Option<(&str, Option<&[u8]>)> {
        self.names.get(index)?.as_deref().map(|n| (n, None))
    }
}

impl HeadersMut for DictWriter<'_> {
    fn replace_header(&mut self, index: usize, name: &str, value: &[u8]) {
        let py = self.dict.py();
        let Some(old) = self.keys.get(index).cloned() else {
            return;
        };
        let same = self.names[index].as_deref() == Some(name);
        let new_key = name_object(py, name).into_any();
        let result = (|| {
            if !same {
                self.dict.del_item(&old)?;
            }
            self.dict
                .set_item(if same { &old } else { &new_key }, PyBytes::new(py, value))
        })();
        self.keep(result);
        if !same {
            self.keys[index] = new_key;
            self.names[index] = Some(name.to_owned());
        }
    }
    fn remove_header(&mut self, index: usize) {
        if index < self.keys.len() {
            let key = self.keys.remove(index);
            self.names.remove(index);
            // A copy another header was renamed onto (`TraceParent` rewritten as `traceparent`
            // while a `traceparent` key existed) holds the new value now: it stays.
            if self.keys.iter().any(|k| k.eq(&key).unwrap_or(false)) {
                return;
            }
            let result = self.dict.del_item(key);
            self.keep(result);
        }
    }
    fn append_header(&mut self, name: &str, value: &[u8]) {
        let py = self.dict.py();
        let key = name_object(py, name).into_any();
        let result = self.dict.set_item(&key, PyBytes::new(py, value));
        self.keep(result);
        self.keys.push(key);
        self.names.push(Some(name.to_owned()));
    }
}

pub(crate) fn register(_m: &Bound<'_, PyModule>) -> PyResult<()> {
    Ok(())
}
