//! Every error the binding raises, in one place. Reading headers never raises (a bad header
//! gives a new root and its [`ErrorCode`] name in `extract_parts`); the table `ERROR_CODES` maps
//! those names to the core's stable numbers. Invalid options raise `KafkaTraceError` (a
//! `ValueError`); using the OpenTelemetry glue before it is initialized raises `RuntimeError`.

use kafka_trace::ErrorCode;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _native,
    KafkaTraceError,
    PyValueError,
    "Invalid kafka-trace configuration or argument."
);

/// An option the core does not accept (an unknown strategy, a bad value).
pub(crate) fn invalid_option(message: String) -> PyErr {
    KafkaTraceError::new_err(message)
}

/// The OpenTelemetry glue was used before `kafka_trace._otel` initialized it.
pub(crate) fn not_initialized() -> PyErr {
    PyRuntimeError::new_err("kafka_trace._native._init was not called")
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KafkaTraceError", py.get_type::<KafkaTraceError>())?;
    let error_codes = PyDict::new(py);
    for code in ErrorCode::ALL {
        error_codes.set_item(code.as_str(), code.code())?;
    }
    m.add("ERROR_CODES", error_codes)?;
    Ok(())
}
