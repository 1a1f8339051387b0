//! The SDK floor's spans (throughput.rs and executor_insns.rs): the send and process spans of a
//! message started and ended directly with `opentelemetry_sdk`, no kafka-trace logic, no header
//! work. What any instrumentation making these spans must at least do per message.

use std::borrow::Cow;

use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{Span, Tracer};

/// A PRODUCER `send {topic}` span, a new root.
pub fn send_span(tracer: &Tracer, topic: &str, payload_len: usize) -> Span {
    tracer
        .span_builder(Cow::Owned(format!("send {topic}")))
        .with_kind(SpanKind::Producer)
        .with_attributes([
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", topic.to_owned()),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.operation.name", "send"),
            KeyValue::new("messaging.message.body.size", payload_len as i64),
        ])
        .start_with_context(tracer, &Context::new())
}

/// Ends a send span at the acknowledgement (`None`: the send failed).
pub fn end_send(mut span: Span, acked: Option<(i32, i64)>) {
    if let Some((partition, offset)) = acked {
        span.set_attribute(KeyValue::new("messaging.destination.partition.id", partition.to_string()));
        span.set_attribute(KeyValue::new("messaging.kafka.offset", offset));
    }
    span.end();
}

/// Runs `handler` inside a CONSUMER `process {topic}` span (a new root), its context attached
/// while the handler runs.
pub fn process<R>(tracer: &Tracer, (topic, partition, offset): (&str, i32, i64), payload_len: usize, handler: impl FnOnce() -> R) -> R {
    let span = tracer
        .span_builder(Cow::Owned(format!("process {topic}")))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", topic.to_owned()),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.operation.name", "process"),
            KeyValue::new("messaging.destination.partition.id", partition.to_string()),
            KeyValue::new("messaging.kafka.offset", offset),
            KeyValue::new("messaging.message.body.size", payload_len as i64),
        ])
        .start_with_context(tracer, &Context::new());
    let cx = Context::new().with_span(span);
    let result = {
        let _guard = cx.clone().attach();
        handler()
    };
    cx.span().end();
    result
}
