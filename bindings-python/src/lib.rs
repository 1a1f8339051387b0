//! `kafka_trace._native`: the Python binding of the kafka-trace core.
//!
//! Type conversions only: Python header shapes to the core's header traits, the core's contexts
//! to `opentelemetry-api` objects and back, the core's span specs to tuples the Python layer
//! hands to the user's tracer. Every decision (header names, codecs, policy, span names, kinds,
//! attributes, parent/link choice, latency) is the core's.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

mod fast;
mod headers;
mod model;
mod otel;
mod tracestate;

pub use kafka_trace::VERSION as CORE_VERSION;

create_exception!(
    _native,
    KafkaTraceError,
    PyValueError,
    "Invalid kafka-trace configuration or argument."
);

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", CORE_VERSION)?;
    m.add("CORE_VERSION", CORE_VERSION)?;
    m.add("KafkaTraceError", py.get_type::<KafkaTraceError>())?;
    m.add("TRACEPARENT", kafka_trace::carrier::TRACEPARENT)?;
    m.add("TRACESTATE", kafka_trace::carrier::TRACESTATE)?;
    m.add("BAGGAGE", kafka_trace::carrier::BAGGAGE)?;
    m.add(
        "FIELDS",
        (
            kafka_trace::carrier::TRACEPARENT,
            kafka_trace::carrier::TRACESTATE,
            kafka_trace::carrier::BAGGAGE,
        ),
    )?;
    let error_codes = pyo3::types::PyDict::new(py);
    for code in kafka_trace::ErrorCode::ALL {
        error_codes.set_item(code.as_str(), code.code())?;
    }
    m.add("ERROR_CODES", error_codes)?;
    model::register(m)?;
    otel::register(m)?;
    headers::register(m)?;
    m.add_class::<tracestate::NativeTraceState>()?;
    Ok(())
}
