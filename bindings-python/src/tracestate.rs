//! `NativeTraceState`: an `opentelemetry.trace.TraceState` (registered as a virtual subclass by
//! `kafka_trace/_otel.py`) over the core's owned, validated tracestate. Extract creates it
//! without building Python strings; they are made only when someone reads the members, and
//! inject hands the core's value straight back to the core.

use kafka_trace::TraceStateBuf;
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

#[pyclass(frozen, mapping, module = "kafka_trace._native")]
pub struct NativeTraceState {
    pub(crate) buf: TraceStateBuf,
    len: usize,
}

impl NativeTraceState {
    fn items_vec(&self) -> Vec<(String, String)> {
        self.buf
            .view()
            .members()
            .iter()
            .map(|m| (m.key.to_owned(), m.value.to_owned()))
            .collect()
    }

    /// A plain `TraceState` of the API with the same members, for its own add/update/delete.
    fn api_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let cls = py.import("opentelemetry.trace")?.getattr("TraceState")?;
        cls.call1((self.items_vec(),))
    }
}

/// How many distinct tracestates [`shared`] keeps (most recent first).
const SHARED_STATES: usize = 16;

/// The tracestates extract made last and their objects: a vendor's tracestate repeats from
/// message to message, and the object is immutable, so contexts share it.
static SHARED: std::sync::Mutex<Vec<SharedState>> = std::sync::Mutex::new(Vec::new());

/// A kept tracestate as its normalized list (`TraceStateBuf::as_str`): two lists are equal
/// exactly when their members are (keys and values hold no `,`, keys no `=`).
pub(crate) type Members = std::sync::Arc<str>;

/// A kept tracestate: its normalized list and its object.
type SharedState = (Members, Py<NativeTraceState>);

/// The `NativeTraceState` of `state` (non-empty; `normalized` is its normalized list) and its
/// kept list: the object made for the same list before (one of the last [`SHARED_STATES`]), or a
/// new one.
pub(crate) fn shared<'py>(
    py: Python<'py>,
    normalized: &str,
    state: &kafka_trace::TraceState<'_>,
) -> PyResult<(Bound<'py, NativeTraceState>, Members)> {
    // The lock is never held across a call into Python (which may switch threads).
    if let Ok(mut states) = SHARED.lock() {
        if let Some(i) = states.iter().position(|(kept, _)| **kept == *normalized) {
            if i != 0 {
                states.swap(0, i);
            }
            return Ok((states[0].1.bind(py).clone(), states[0].0.clone()));
        }
    }
    let kept: Members = normalized.into();
    let buf = TraceStateBuf::from_state(state);
    let object = Bound::new(py, NativeTraceState { buf, len: state.members().len() })?;
    let evicted = match SHARED.lock() {
        Ok(mut states) => {
            let evicted = if states.len() >= SHARED_STATES { states.pop() } else { None };
            states.insert(0, (kept.clone(), object.clone().unbind()));
            evicted
        }
        Err(_) => None,
    };
    drop(evicted);
    Ok((object, kept))
}

#[pymethods]
impl NativeTraceState {
    fn __len__(&self) -> usize {
        self.len
    }

    fn __bool__(&self) -> bool {
        self.len > 0
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> bool {
        key.extract::<String>()
            .is_ok_and(|k| self.buf.view().get(&k).is_some())
    }

    fn __getitem__(&self, key: &str) -> PyResult<String> {
        self.buf
            .view()
            .get(key)
            .map(str::to_owned)
            .ok_or_else(|| PyKeyError::new_err(key.to_owned()))
    }

    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.buf.view().get(key) {
            Some(v) => Ok(v.into_pyobject(py)?.into_any()),
            None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
        }
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.into_any().try_iter().map(Bound::into_any)
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.buf.view().members().iter().map(|m| m.key))
    }

    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.buf.view().members().iter().map(|m| m.value))
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .buf
            .view()
            .members()
            .iter()
            .map(|m| PyTuple::new(py, [m.key, m.value]))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The members joined as the API's `TraceState.to_header` does (not truncated).
    fn to_header(&self) -> &str {
        self.buf.as_str()
    }

    fn add<'py>(&self, py: Python<'py>, key: &str, value: &str) -> PyResult<Bound<'py, PyAny>> {
        self.api_state(py)?.call_method1("add", (key, value))
    }

    fn update<'py>(&self, py: Python<'py>, key: &str, value: &str) -> PyResult<Bound<'py, PyAny>> {
        self.api_state(py)?.call_method1("update", (key, value))
    }

    fn delete<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        self.api_state(py)?.call_method1("delete", (key,))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(items) = other.call_method0("items") else {
            return Ok(false);
        };
        let theirs: Vec<(String, String)> = match items.try_iter() {
            Ok(iter) => iter
                .map(|i| i?.extract::<(String, String)>())
                .collect::<PyResult<_>>()
                .unwrap_or_default(),
            Err(_) => return Ok(false),
        };
        let mut mine = self.items_vec();
        let mut theirs = theirs;
        mine.sort();
        theirs.sort();
        Ok(mine == theirs)
    }

    /// As the API's `TraceState.__repr__`: `str` of the list of `{key=..., value=...}` strings.
    fn __repr__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyString>> {
        let pairs = PyList::new(
            py,
            self.buf
                .view()
                .members()
                .iter()
                .map(|m| format!("{{key={}, value={}}}", m.key, m.value)),
        )?;
        pairs.str()
    }
}
