//! Finishes: what a binding does when an operation ends.

use std::time::Duration;

use super::recipe::{Instrument, MetricRecord, PollRecipe, ProcessRecipe, SendRecipe};
use crate::semconv as sc;
use crate::span::{self, Attribute, AttributeValue};

/// The span's status at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Left unset (success).
    Unset,
    /// Error, with its description.
    Error(String),
}

/// When the binding ends the span.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SpanEnd {
    /// Now.
    Now,
    /// At the span's start time plus this duration (the broker's acknowledgement, measured by
    /// librdkafka, not the later moment a delivery callback was served).
    AfterStart(Duration),
}

/// Everything a binding does to end a span: set `attributes`, set `status`, end it at `end`,
/// record every entry of `metrics`.
#[derive(Clone, Debug, PartialEq)]
pub struct Finish {
    /// Attributes learnt at the end (partition and offset of an ack, `error.type`).
    pub attributes: Vec<Attribute>,
    /// The status.
    pub status: Status,
    /// When the span ends.
    pub end: SpanEnd,
    /// The metric records, with bounded attribute sets.
    pub metrics: Vec<MetricRecord>,
}

/// How a send ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SendResult<'a> {
    /// The broker acknowledged the message at `partition`/`offset` (`offset` < 0 when the client
    /// does not report it, e.g. `acks=0`).
    Acked {
        /// Partition.
        partition: i32,
        /// Offset.
        offset: i64,
    },
    /// The send failed with this error class (a librdkafka error name, an exception class).
    Failed {
        /// `error.type`.
        error_type: &'a str,
    },
}

/// How a handler ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HandlerResult<'a> {
    /// It returned.
    Returned,
    /// It raised or rejected with this error class.
    Failed {
        /// `error.type`.
        error_type: &'a str,
    },
}

/// How a receive call ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PollResult<'a> {
    /// It returned messages.
    Received,
    /// It failed with this error class.
    Failed {
        /// `error.type`.
        error_type: &'a str,
    },
}

fn error_type(raw: &str) -> &str {
    if raw.is_empty() {
        "_OTHER"
    } else {
        raw
    }
}

fn with_error(mut attributes: Vec<Attribute>, error: Option<&str>) -> Vec<Attribute> {
    if let Some(e) = error {
        attributes.push((sc::ERROR_TYPE, AttributeValue::String(e.to_owned())));
    }
    attributes
}

fn status(error: Option<&str>) -> Status {
    error.map_or(Status::Unset, |e| Status::Error(e.to_owned()))
}

fn error_attributes(error: Option<&str>) -> Vec<Attribute> {
    with_error(Vec::new(), error)
}

impl SendRecipe {
    /// Ends the send. `elapsed` is the binding's own measure from start to now; `broker_latency`
    /// is the client's per-message latency when it reports one (librdkafka:
    /// `rd_kafka_message_latency`, confluent-kafka `Message.latency()`), which then sets both the
    /// span's end and the duration metric.
    pub fn finish(
        &self,
        result: SendResult<'_>,
        elapsed: Duration,
        broker_latency: Option<Duration>,
    ) -> Finish {
        let (attributes, error) = match result {
            SendResult::Acked { partition, offset } => {
                let mut attributes = Vec::with_capacity(2);
                if partition >= 0 {
                    attributes.push((
                        sc::MESSAGING_DESTINATION_PARTITION_ID,
                        AttributeValue::String(partition.to_string()),
                    ));
                }
                if offset >= 0 {
                    attributes.push((sc::MESSAGING_KAFKA_OFFSET, AttributeValue::Int(offset)));
                }
                (attributes, None)
            }
            SendResult::Failed { error_type: e } => (Vec::new(), Some(error_type(e))),
        };
        let (end, duration) = match broker_latency {
            Some(latency) => (SpanEnd::AfterStart(latency), latency),
            None => (SpanEnd::Now, elapsed),
        };
        let mut metric_attributes = self.metric_attributes.clone();
        // The acknowledged partition is low-cardinality and belongs to the metric; the offset never.
        if let Some(partition) = attributes
            .iter()
            .find(|(k, _)| *k == sc::MESSAGING_DESTINATION_PARTITION_ID)
        {
            if !metric_attributes
                .iter()
                .any(|(k, _)| *k == sc::MESSAGING_DESTINATION_PARTITION_ID)
            {
                metric_attributes.push(partition.clone());
            }
        }
        let metric_attributes = with_error(metric_attributes, error);
        let metrics = vec![
            MetricRecord {
                instrument: Instrument::OperationDuration,
                value: duration.as_secs_f64(),
                attributes: metric_attributes.clone(),
            },
            MetricRecord {
                instrument: Instrument::SentMessages,
                value: 1.0,
                attributes: metric_attributes,
            },
        ];
        let attributes = match error {
            Some(_) => error_attributes(error),
            None => attributes,
        };
        Finish {
            attributes,
            status: status(error),
            end,
            metrics,
        }
    }
}

impl ProcessRecipe {
    /// Ends the processing of one message; `elapsed` is the handler's duration.
    pub fn finish(&self, result: HandlerResult<'_>, elapsed: Duration) -> Finish {
        let error = match result {
            HandlerResult::Returned => None,
            HandlerResult::Failed { error_type: e } => Some(error_type(e)),
        };
        let metric_attributes = with_error(self.metric_attributes.clone(), error);
        let mut metrics = vec![
            MetricRecord {
                instrument: Instrument::ConsumedMessages,
                value: 1.0,
                attributes: metric_attributes.clone(),
            },
            MetricRecord {
                instrument: Instrument::ProcessDuration,
                value: elapsed.as_secs_f64(),
                attributes: metric_attributes.clone(),
            },
        ];
        if let Some(latency_ms) = self.span.e2e_latency_ms {
            metrics.push(MetricRecord {
                instrument: Instrument::E2eLatency,
                value: latency_ms / 1000.0,
                attributes: metric_attributes,
            });
        }
        Finish {
            attributes: error_attributes(error),
            status: status(error),
            end: SpanEnd::Now,
            metrics,
        }
    }
}

impl PollRecipe {
    /// Ends a receive call; `elapsed` is from the call until it returned.
    pub fn finish(&self, result: PollResult<'_>, elapsed: Duration) -> Finish {
        let error = match result {
            PollResult::Received => None,
            PollResult::Failed { error_type: e } => Some(error_type(e)),
        };
        let metrics = vec![MetricRecord {
            instrument: Instrument::OperationDuration,
            value: elapsed.as_secs_f64(),
            attributes: with_error(self.metric_attributes.clone(), error),
        }];
        Finish {
            attributes: error_attributes(error),
            status: status(error),
            end: SpanEnd::Now,
            metrics,
        }
    }
}

/// `span::now_ms`, re-exported for bindings that only use this module.
pub fn now_ms() -> i64 {
    span::now_ms()
}
