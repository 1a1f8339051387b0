//! Node.js addon (napi-rs) over the `kafka_trace` core, one module per job:
//! - [`codec`]: header values from JavaScript into the core's extraction, and the core's
//!   send context and write policy back out;
//! - [`lifecycle`]: the core's recipes and finishes for the TypeScript executor;
//! - [`layout`]: the one definition of the typed-array and string layouts shared with it;
//! - [`options`]: options spelled as the core's `OPTION_NAMES`;
//! - [`errors`]: the core's errors as JavaScript values;
//! - [`js_memory`]: the only `unsafe` code (borrowing JavaScript memory during a call).
//!
//! Every rule (header names and write policy, W3C codecs, span names, kinds, attributes,
//! parent/link choice, handler context, metric records) is the core's.
#![deny(clippy::all)]
#![deny(unsafe_code)]

pub mod codec;
pub mod errors;
mod js_memory;
mod kept_ack;
pub mod layout;
pub mod lifecycle;
pub mod options;

use kafka_trace::interop;
use kafka_trace::semconv::{self as sc, operation};
use napi_derive::napi;

/// Everything the facade needs to spell, taken from the core once at load time.
#[napi(object)]
pub struct Names {
    /// Header names in the order the core writes them: traceparent, tracestate, baggage.
    pub fields: Vec<String>,
    /// Attribute for the NestJS pattern that handled a message.
    pub nestjs_pattern: String,
    /// The instruments to create, named by the core.
    pub instruments: Vec<lifecycle::InstrumentInfo>,
    /// The only keys a metric attribute set may hold.
    pub metric_attribute_keys: Vec<String>,
    /// `[snake, camel]` of every option.
    pub option_names: Vec<Vec<String>>,
    /// `errorNames[code]`: the stable name of the core's error `code`.
    pub error_names: Vec<String>,
    /// The typed-array and string layouts.
    pub layout: layout::Layout,
    pub operation_send: String,
    pub operation_process: String,
    pub error_type: String,
    pub core_version: String,
}

#[napi]
pub fn names() -> Names {
    Names {
        fields: codec::fields(),
        nestjs_pattern: interop::NESTJS_PATTERN.into(),
        instruments: lifecycle::instruments(),
        metric_attribute_keys: lifecycle::metric_attribute_keys(),
        option_names: lifecycle::option_names(),
        error_names: errors::error_names(),
        layout: layout::layout(),
        operation_send: operation::SEND.into(),
        operation_process: operation::PROCESS.into(),
        error_type: sc::ERROR_TYPE.into(),
        core_version: kafka_trace::VERSION.into(),
    }
}

/// The core crate version.
#[napi]
pub fn core_version() -> String {
    kafka_trace::VERSION.to_owned()
}
