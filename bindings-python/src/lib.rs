//! `kafka_trace._native`: the Python binding of the kafka-trace core.
//!
//! Type conversions only: Python header shapes to the core's header traits, the core's contexts
//! to `opentelemetry-api` objects and back, the core's lifecycle recipes to objects the Python
//! layer executes with the user's tracer and meter. Every decision (header names, codecs,
//! policy, span names, kinds, attributes, parent/link choice, handler context, span end, metric
//! attributes) is the core's.
//!
//! No `unsafe` outside [`fast`], the one module allowed to use it (stable-ABI calls on the
//! header hot path, each with its safety argument).
#![deny(unsafe_code)]

use pyo3::prelude::*;

mod clients;
mod errors;
#[allow(unsafe_code)]
mod fast;
mod headers;
mod lifecycle;
mod otel;
mod parts;
mod scope;
mod tracestate;

pub use errors::KafkaTraceError;
pub use kafka_trace::VERSION as CORE_VERSION;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", CORE_VERSION)?;
    m.add("CORE_VERSION", CORE_VERSION)?;
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
    errors::register(m)?;
    parts::register(m)?;
    lifecycle::register(m)?;
    otel::register(m)?;
    headers::register(m)?;
    scope::register(m)?;
    clients::register(m)?;
    m.add_class::<tracestate::NativeTraceState>()?;
    Ok(())
}
