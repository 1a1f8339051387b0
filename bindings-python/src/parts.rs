//! What the core read from a header list, as Python values (the shared header vectors check it).

use kafka_trace::carrier::extract_parts as core_extract_parts;
use pyo3::prelude::*;

use crate::headers::RawHeaders;

/// A traceparent as read from the headers.
#[pyclass(frozen, get_all, module = "kafka_trace._native")]
pub struct TraceParentInfo {
    version: u8,
    trace_id: String,
    span_id: String,
    flags: u8,
}

/// What the core read from a header list (the shared test vectors check this).
#[pyclass(frozen, get_all, module = "kafka_trace._native")]
pub struct Extracted {
    traceparent: Option<Py<TraceParentInfo>>,
    error: Option<&'static str>,
    tracestate: Vec<(String, String)>,
    tracestate_error: Option<&'static str>,
    baggage: Vec<(String, String, Vec<String>)>,
}

/// Reads the trace context of a header list without touching OpenTelemetry.
#[pyfunction]
fn extract_parts(py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<Extracted> {
    let raw = RawHeaders::collect(headers);
    let parts = core_extract_parts(&raw);
    let (traceparent, error) = match &parts.parent {
        Ok(tp) => (
            Some(Py::new(
                py,
                TraceParentInfo {
                    version: tp.version,
                    trace_id: tp.trace_id.to_string(),
                    span_id: tp.span_id.to_string(),
                    flags: tp.flags.0,
                },
            )?),
            None,
        ),
        Err(code) => (None, Some(code.as_str())),
    };
    let (tracestate, tracestate_error) = match &parts.tracestate {
        Ok(ts) => (
            ts.members()
                .iter()
                .map(|m| (m.key.to_owned(), m.value.to_owned()))
                .collect(),
            None,
        ),
        Err(code) => (Vec::new(), Some(code.as_str())),
    };
    let baggage = parts
        .baggage
        .entries()
        .iter()
        .map(|e| (e.key.clone(), e.value.clone(), e.properties.clone()))
        .collect();
    Ok(Extracted {
        traceparent,
        error,
        tracestate,
        tracestate_error,
        baggage,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Extracted>()?;
    m.add_class::<TraceParentInfo>()?;
    m.add_function(wrap_pyfunction!(extract_parts, m)?)?;
    Ok(())
}
