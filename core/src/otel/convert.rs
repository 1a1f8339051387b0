//! Our span-model types as OpenTelemetry values.

use opentelemetry::trace as ot;
use opentelemetry::{KeyValue, Value};

use crate::lifecycle::Status;
use crate::span::{Attribute, AttributeValue, SpanKind};

fn to_value(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::String(s) => Value::String(s.clone().into()),
        AttributeValue::Int(i) => Value::I64(*i),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Double(d) => Value::F64(*d),
    }
}

/// Converts our attributes to OpenTelemetry key-values.
///
/// # Examples
///
/// ```
/// use kafka_trace::otel::key_values;
/// use kafka_trace::span::AttributeValue;
/// use opentelemetry::KeyValue;
///
/// let attributes = [("messaging.kafka.offset", AttributeValue::Int(7)), ("messaging.system", AttributeValue::String("kafka".into()))];
/// assert_eq!(key_values(&attributes), [KeyValue::new("messaging.kafka.offset", 7), KeyValue::new("messaging.system", "kafka")]);
/// ```
pub fn key_values(attributes: &[Attribute]) -> Vec<KeyValue> {
    attributes.iter().map(key_value).collect()
}

/// One attribute as an OpenTelemetry key-value.
pub(super) fn key_value((key, value): &Attribute) -> KeyValue {
    KeyValue::new(*key, to_value(value))
}

pub(super) fn to_kind(kind: SpanKind) -> ot::SpanKind {
    match kind {
        SpanKind::Producer => ot::SpanKind::Producer,
        SpanKind::Consumer => ot::SpanKind::Consumer,
        SpanKind::Client => ot::SpanKind::Client,
    }
}

/// `None` for [`Status::Unset`] (the span's status is left alone).
pub(super) fn to_status(status: &Status) -> Option<ot::Status> {
    match status {
        Status::Unset => None,
        Status::Error(description) => Some(ot::Status::error(description.clone())),
    }
}
