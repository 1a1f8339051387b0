//! Finishes: what a binding does when an operation ends.

use std::time::Duration;

use super::recipe::{Instrument, MetricRecord, PollRecipe, ProcessRecipe, SendRecipe};
use crate::semconv as sc;
use crate::span::{self, Attribute, AttributeValue};

/// The span's status at the end.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{HandlerResult, Lifecycle, AmbientInfo, RemoteInfo, Status};
/// use kafka_trace::span::MessageInfo;
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 0).unwrap();
/// assert_eq!(recipe.finish(HandlerResult::Returned, Duration::ZERO).status, Status::Unset);
/// let failed = recipe.finish(HandlerResult::Failed { error_type: "" }, Duration::ZERO);
/// assert_eq!(failed.status, Status::Error("_OTHER".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Left unset (success).
    Unset,
    /// Error, with its description.
    Error(String),
}

/// When the binding ends the span.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, SendResult, SpanEnd};
/// use kafka_trace::span::MessageInfo;
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().send(&message).unwrap();
/// let acked = SendResult::Acked { partition: 0, offset: 1 };
/// // librdkafka measured the broker round trip: the span ends at start + that latency.
/// let finish = recipe.finish(acked, Duration::from_millis(30), Some(Duration::from_millis(12)));
/// assert_eq!(finish.end, SpanEnd::AfterStart(Duration::from_millis(12)));
/// assert_eq!(recipe.finish(acked, Duration::from_millis(30), None).end, SpanEnd::Now);
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Instrument, Lifecycle, SendResult, SpanEnd, Status};
/// use kafka_trace::span::{AttributeValue, MessageInfo};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().send(&message).unwrap();
/// let finish = recipe.finish(SendResult::Failed { error_type: "MsgTimedOut" }, Duration::from_secs(1), None);
/// assert_eq!(finish.attributes, [("error.type", AttributeValue::String("MsgTimedOut".into()))]);
/// assert_eq!((finish.status, finish.end), (Status::Error("MsgTimedOut".into()), SpanEnd::Now));
/// assert_eq!(finish.metrics.len(), 2);
/// assert_eq!((finish.metrics[0].instrument, finish.metrics[0].value), (Instrument::OperationDuration, 1.0));
/// assert!(finish.metrics[1].attributes.contains(&("error.type", AttributeValue::String("MsgTimedOut".into()))));
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, SendResult};
/// use kafka_trace::span::{AttributeValue, MessageInfo};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().send(&message).unwrap();
/// // acks=0: the partition is known, the offset is not.
/// let finish = recipe.finish(SendResult::Acked { partition: 3, offset: -1 }, Duration::ZERO, None);
/// assert_eq!(finish.attributes, [("messaging.destination.partition.id", AttributeValue::String("3".into()))]);
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, RemoteInfo};
/// use kafka_trace::span::{AttributeValue, MessageInfo};
///
/// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
/// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 0).unwrap();
/// let finish = recipe.finish(HandlerResult::Failed { error_type: "ValueError" }, Duration::ZERO);
/// assert_eq!(finish.attributes, [("error.type", AttributeValue::String("ValueError".into()))]);
/// assert!(recipe.finish(HandlerResult::Returned, Duration::ZERO).attributes.is_empty());
/// ```
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, PollResult, Status};
///
/// let recipe = Lifecycle::default().poll(&["orders"], 4).unwrap();
/// assert_eq!(recipe.finish(PollResult::Received, Duration::ZERO).status, Status::Unset);
/// let failed = recipe.finish(PollResult::Failed { error_type: "AllBrokersDown" }, Duration::ZERO);
/// assert_eq!(failed.status, Status::Error("AllBrokersDown".into()));
/// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Instrument, Lifecycle, SendResult};
    /// use kafka_trace::span::{AttributeValue, MessageInfo};
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// let finish = recipe.finish(SendResult::Acked { partition: 2, offset: 41 }, Duration::from_millis(9), Some(Duration::from_millis(4)));
    /// assert_eq!(
    ///     finish.attributes,
    ///     [("messaging.destination.partition.id", AttributeValue::String("2".into())), ("messaging.kafka.offset", AttributeValue::Int(41))]
    /// );
    /// // The duration metric is the broker latency; the partition joins the metric attributes, the offset never.
    /// let duration = &finish.metrics[0];
    /// assert_eq!((duration.instrument, duration.value), (Instrument::OperationDuration, 0.004));
    /// assert!(duration.attributes.contains(&("messaging.destination.partition.id", AttributeValue::String("2".into()))));
    /// assert!(!duration.attributes.iter().any(|(k, _)| *k == "messaging.kafka.offset"));
    /// ```
    pub fn finish(
        &self,
        result: SendResult<'_>,
        elapsed: Duration,
        broker_latency: Option<Duration>,
    ) -> Finish {
        let mut finish = self.finish_span(result, elapsed, broker_latency);
        let error = match result {
            SendResult::Acked { .. } => None,
            SendResult::Failed { error_type: e } => Some(error_type(e)),
        };
        let duration = broker_latency.unwrap_or(elapsed);
        let mut metric_attributes = self.metric_attributes.clone();
        // The acknowledged partition is low-cardinality and belongs to the metric; the offset never.
        if let Some(partition) = finish
            .attributes
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
        finish.metrics = vec![
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
        finish
    }

    /// [`finish`](Self::finish) without the metric records (`metrics` is empty): the same end
    /// attributes, status and end time, for an executor that records no metrics, so no metric
    /// attributes are built per message only to be dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, SendResult};
    /// use kafka_trace::span::MessageInfo;
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// let acked = SendResult::Acked { partition: 2, offset: 41 };
    /// let span_only = recipe.finish_span(acked, Duration::from_millis(9), None);
    /// let full = recipe.finish(acked, Duration::from_millis(9), None);
    /// assert!(span_only.metrics.is_empty());
    /// assert_eq!((span_only.attributes, span_only.status, span_only.end), (full.attributes, full.status, full.end));
    /// ```
    pub fn finish_span(
        &self,
        result: SendResult<'_>,
        elapsed: Duration,
        broker_latency: Option<Duration>,
    ) -> Finish {
        let _ = elapsed; // the span's end is now, or the broker latency after its start
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
            SendResult::Failed { error_type: e } => (error_attributes(Some(error_type(e))), Some(error_type(e))),
        };
        let end = match broker_latency {
            Some(latency) => SpanEnd::AfterStart(latency),
            None => SpanEnd::Now,
        };
        Finish {
            attributes,
            status: status(error),
            end,
            metrics: Vec::new(),
        }
    }
}

impl ProcessRecipe {
    /// Ends the processing of one message; `elapsed` is the handler's duration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Instrument, Lifecycle, RemoteInfo, SpanEnd};
    /// use kafka_trace::span::MessageInfo;
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), timestamp_ms: Some(1_000), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 1_500).unwrap();
    /// let finish = recipe.finish(HandlerResult::Returned, Duration::from_millis(20));
    /// assert_eq!(finish.end, SpanEnd::Now);
    /// let records: Vec<(Instrument, f64)> = finish.metrics.iter().map(|m| (m.instrument, m.value)).collect();
    /// assert_eq!(records, [(Instrument::ConsumedMessages, 1.0), (Instrument::ProcessDuration, 0.02), (Instrument::E2eLatency, 0.5)]);
    /// ```
    pub fn finish(&self, result: HandlerResult<'_>, elapsed: Duration) -> Finish {
        self.finish_with_e2e(result, elapsed, self.span.e2e_latency_ms)
    }

    /// [`ProcessRecipe::finish`] for another message of the same topic, partition and parent
    /// situation (a recipe kept for reuse, e.g. by a per-topic cache), whose end-to-end latency
    /// is `e2e_latency_ms` ([`crate::span::e2e_latency_ms`] of its timestamp).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Instrument, Lifecycle, RemoteInfo};
    /// use kafka_trace::span::{e2e_latency_ms, MessageInfo};
    ///
    /// let lifecycle = Lifecycle::default();
    /// let first = MessageInfo { topic: "orders", partition: Some(0), timestamp_ms: Some(1_000), payload_len: Some(1), ..MessageInfo::default() };
    /// let kept = lifecycle.process(&first, RemoteInfo::default(), AmbientInfo::default(), 1_100).unwrap();
    /// // The next message of the partition: same records, its own latency.
    /// let next = MessageInfo { offset: Some(1), timestamp_ms: Some(1_050), ..first };
    /// let own = lifecycle.process(&next, RemoteInfo::default(), AmbientInfo::default(), 1_200).unwrap();
    /// let elapsed = Duration::from_millis(3);
    /// let reused = kept.finish_with_e2e(HandlerResult::Returned, elapsed, e2e_latency_ms(next.timestamp_ms, 1_200));
    /// assert_eq!(reused.metrics, own.finish(HandlerResult::Returned, elapsed).metrics);
    /// assert_eq!(reused.metrics.last().map(|m| (m.instrument, m.value)), Some((Instrument::E2eLatency, 0.15)));
    /// ```
    pub fn finish_with_e2e(&self, result: HandlerResult<'_>, elapsed: Duration, e2e_latency_ms: Option<f64>) -> Finish {
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
        if let Some(latency_ms) = e2e_latency_ms {
            metrics.push(MetricRecord {
                instrument: Instrument::E2eLatency,
                value: latency_ms / 1000.0,
                attributes: metric_attributes,
            });
        }
        Finish {
            metrics,
            ..self.finish_span(result, elapsed)
        }
    }

    /// [`finish`](Self::finish) without the metric records (`metrics` is empty), for an executor
    /// that records no metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, RemoteInfo, Status};
    /// use kafka_trace::span::MessageInfo;
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 1_500).unwrap();
    /// let failed = HandlerResult::Failed { error_type: "Timeout" };
    /// let span_only = recipe.finish_span(failed, Duration::from_millis(20));
    /// assert!(span_only.metrics.is_empty());
    /// assert_eq!(span_only.status, Status::Error("Timeout".into()));
    /// assert_eq!(span_only, kafka_trace::lifecycle::Finish { metrics: Vec::new(), ..recipe.finish(failed, Duration::from_millis(20)) });
    /// ```
    pub fn finish_span(&self, result: HandlerResult<'_>, elapsed: Duration) -> Finish {
        let _ = elapsed; // the span ends now
        let error = match result {
            HandlerResult::Returned => None,
            HandlerResult::Failed { error_type: e } => Some(error_type(e)),
        };
        Finish {
            attributes: error_attributes(error),
            status: status(error),
            end: SpanEnd::Now,
            metrics: Vec::new(),
        }
    }
}

/// Where the value of one metric record of a handler's finish comes from, for an executor that
/// keeps the finish of a returned handler per recipe template and fills in the values per
/// message ([`ProcessRecipe::returned_finish`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MetricValueSource {
    /// This value, for every message.
    Constant(f64),
    /// The handler's elapsed time in seconds.
    ElapsedSeconds,
    /// The recipe's end-to-end latency in seconds (its span's `e2e_latency_ms` / 1000).
    E2eLatencySeconds,
}

impl ProcessRecipe {
    /// [`finish`](Self::finish) of a handler that returned, with where each metric record's
    /// value comes from (in the order of `metrics`). Nothing else in it depends on the elapsed
    /// time or the latency, so an executor may keep it for every message of the same recipe
    /// template (the same attributes but for the message-dependent values, the same latency
    /// presence) and only fill in the values.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, MetricValueSource, RemoteInfo};
    /// use kafka_trace::span::MessageInfo;
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), timestamp_ms: Some(1_000), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, RemoteInfo { valid: true }, AmbientInfo::default(), 1_500).unwrap();
    /// let (mut finish, sources) = recipe.returned_finish();
    /// for (m, source) in finish.metrics.iter_mut().zip(&sources) {
    ///     m.value = match source {
    ///         MetricValueSource::Constant(v) => *v,
    ///         MetricValueSource::ElapsedSeconds => 0.02,
    ///         MetricValueSource::E2eLatencySeconds => recipe.span.e2e_latency_ms.unwrap() / 1000.0,
    ///     };
    /// }
    /// assert_eq!(finish, recipe.finish(HandlerResult::Returned, Duration::from_millis(20)));
    /// ```
    pub fn returned_finish(&self) -> (Finish, Vec<MetricValueSource>) {
        let finish = self.finish(HandlerResult::Returned, Duration::ZERO);
        let sources = finish
            .metrics
            .iter()
            .map(|m| match m.instrument {
                Instrument::ProcessDuration => MetricValueSource::ElapsedSeconds,
                Instrument::E2eLatency => MetricValueSource::E2eLatencySeconds,
                _ => MetricValueSource::Constant(m.value),
            })
            .collect();
        (finish, sources)
    }
}

impl SendRecipe {
    /// [`finish`](Self::finish) of a send acknowledged on `partition`, with where each metric
    /// record's value comes from (in the order of `metrics`):
    /// [`MetricValueSource::ElapsedSeconds`] is the send's duration as `finish` records it (the
    /// broker latency when given, else the elapsed time). The metric records' attributes depend
    /// on nothing else (never on the offset, the elapsed time or the latency), so an executor may
    /// keep them per recipe template and partition and only fill in the values. The finish's span
    /// attributes are those of offset 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Lifecycle, MetricValueSource, SendResult};
    /// use kafka_trace::span::MessageInfo;
    ///
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().send(&message).unwrap();
    /// let (mut finish, sources) = recipe.acked_finish(3);
    /// for (m, source) in finish.metrics.iter_mut().zip(&sources) {
    ///     m.value = match source {
    ///         MetricValueSource::Constant(v) => *v,
    ///         _ => 0.004, // the broker latency
    ///     };
    /// }
    /// let own = recipe.finish(SendResult::Acked { partition: 3, offset: 77 }, Duration::from_millis(9), Some(Duration::from_millis(4)));
    /// assert_eq!(finish.metrics, own.metrics);
    /// ```
    pub fn acked_finish(&self, partition: i32) -> (Finish, Vec<MetricValueSource>) {
        let finish = self.finish(SendResult::Acked { partition, offset: 0 }, Duration::ZERO, None);
        let sources = finish
            .metrics
            .iter()
            .map(|m| match m.instrument {
                Instrument::OperationDuration => MetricValueSource::ElapsedSeconds,
                _ => MetricValueSource::Constant(m.value),
            })
            .collect();
        (finish, sources)
    }
}

#[cfg(test)]
mod acked_finish_tests {
    use super::*;
    use crate::lifecycle::Lifecycle;
    use crate::span::{ClientInfo, MessageInfo, Options};

    #[test]
    fn filling_the_sources_gives_finish_for_every_partition_elapsed_and_latency() {
        let client = ClientInfo { client_id: Some("c".into()), ..ClientInfo::default() }.with_bootstrap("k:9092");
        let lifecycle = Lifecycle::new(Options::default(), client);
        for requested in [None, Some(2)] {
            let message = MessageInfo { topic: "orders", partition: requested, payload_len: Some(1), ..MessageInfo::default() };
            let recipe = lifecycle.send(&message).unwrap();
            for partition in [0, 2, 7] {
                let (template, sources) = recipe.acked_finish(partition);
                assert_eq!(sources.len(), template.metrics.len());
                assert_eq!(sources.iter().filter(|s| **s == MetricValueSource::ElapsedSeconds).count(), 1);
                for (elapsed, latency) in [(Duration::from_millis(9), None), (Duration::from_millis(9), Some(Duration::from_micros(1_500)))] {
                    let own = recipe.finish(SendResult::Acked { partition, offset: 41 }, elapsed, latency);
                    let mut filled = template.metrics.clone();
                    for (m, source) in filled.iter_mut().zip(&sources) {
                        m.value = match source {
                            MetricValueSource::Constant(v) => *v,
                            MetricValueSource::ElapsedSeconds => latency.unwrap_or(elapsed).as_secs_f64(),
                            MetricValueSource::E2eLatencySeconds => unreachable!("a send has no end-to-end latency"),
                        };
                    }
                    assert_eq!(filled, own.metrics);
                }
            }
        }
    }
}

#[cfg(test)]
mod returned_finish_tests {
    use super::*;
    use crate::lifecycle::{AmbientInfo, Lifecycle, RemoteInfo};
    use crate::span::{ClientInfo, MessageInfo, Options};

    #[test]
    fn filling_the_sources_gives_finish_for_every_elapsed_and_latency() {
        let client = ClientInfo { client_id: Some("c".into()), consumer_group: Some("g".into()), ..ClientInfo::default() };
        let lifecycle = Lifecycle::new(Options::default(), client);
        for timestamp in [None, Some(1_000), Some(99_999)] {
            let message = MessageInfo { topic: "orders", partition: Some(2), offset: Some(7), key: Some(b"k"), payload_len: Some(3), timestamp_ms: timestamp };
            for batch in [false, true] {
                let recipe = if batch {
                    lifecycle.batch_process(&message, RemoteInfo { valid: true }, 5_000).unwrap()
                } else {
                    lifecycle.process(&message, RemoteInfo { valid: false }, AmbientInfo::default(), 5_000).unwrap()
                };
                let (kept, sources) = recipe.returned_finish();
                assert_eq!(kept.metrics.len(), sources.len());
                assert_eq!(sources.contains(&MetricValueSource::E2eLatencySeconds), recipe.span.e2e_latency_ms.is_some());
                for elapsed in [Duration::ZERO, Duration::from_micros(1_234), Duration::from_secs(3)] {
                    let mut filled = kept.clone();
                    for (m, s) in filled.metrics.iter_mut().zip(&sources) {
                        m.value = match s {
                            MetricValueSource::Constant(v) => *v,
                            MetricValueSource::ElapsedSeconds => elapsed.as_secs_f64(),
                            MetricValueSource::E2eLatencySeconds => recipe.span.e2e_latency_ms.unwrap() / 1000.0,
                        };
                    }
                    assert_eq!(filled, recipe.finish(HandlerResult::Returned, elapsed), "timestamp {timestamp:?}, batch {batch}, elapsed {elapsed:?}");
                }
            }
        }
    }
}

impl PollRecipe {
    /// Ends a receive call; `elapsed` is from the call until it returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{Instrument, Lifecycle, PollResult};
    /// use kafka_trace::span::AttributeValue;
    ///
    /// let recipe = Lifecycle::default().poll(&["orders"], 2).unwrap();
    /// let finish = recipe.finish(PollResult::Failed { error_type: "Timeout" }, Duration::from_millis(100));
    /// assert_eq!(finish.metrics.len(), 1);
    /// assert_eq!((finish.metrics[0].instrument, finish.metrics[0].value), (Instrument::OperationDuration, 0.1));
    /// assert!(finish.metrics[0].attributes.contains(&("error.type", AttributeValue::String("Timeout".into()))));
    /// ```
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
///
/// # Examples
///
/// ```
/// let (a, b) = (kafka_trace::lifecycle::now_ms(), kafka_trace::span::now_ms());
/// assert!(b >= a && b - a < 60_000);
/// ```
pub fn now_ms() -> i64 {
    span::now_ms()
}
