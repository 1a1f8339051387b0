//! The core's metric instruments on an OpenTelemetry [`Meter`], and the records a [`Finish`]
//! carries, recorded on them.
//!
//! [`Finish`]: crate::lifecycle::Finish

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher as _};
use std::sync::{Arc, RwLock};

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::KeyValue;

use super::convert::key_values;
use crate::lifecycle::starts::Fnv;
use crate::lifecycle::{Instrument, InstrumentKind, MetricRecord, MetricValueSource, INSTRUMENTS};
use crate::span::{Attribute, AttributeValue};

/// How many distinct metric attribute sets [`Instruments`] keeps converted. Past it, further sets
/// are converted at every record (memory stays bounded whatever the number of topics).
pub const METRIC_SET_CAPACITY: usize = 4096;

/// The sets of one hash: each set as the core wrote it and as converted.
type SameHash = Vec<(Vec<Attribute>, Arc<[KeyValue]>)>;

/// Metric attribute sets converted to `KeyValue`s once, shared by every record of the set.
#[derive(Debug, Default)]
pub(super) struct Sets {
    by_hash: HashMap<u64, SameHash, BuildHasherDefault<Fnv>>,
    pub(super) count: usize,
}

/// A cheap hash of an attribute set: key identity and length, value kind and length and its last
/// bytes (equal sets hash equally; the full comparison settles the rest).
fn set_hash(attributes: &[Attribute]) -> u64 {
    let mut h = Fnv::default();
    for (key, value) in attributes {
        h.write_usize(key.as_ptr() as usize ^ key.len());
        match value {
            AttributeValue::String(s) => {
                let tail = &s.as_bytes()[s.len().saturating_sub(8)..];
                h.write_usize(s.len());
                h.write(tail);
            }
            AttributeValue::Int(i) => h.write_i64(*i),
            AttributeValue::Bool(b) => h.write_u8(u8::from(*b) | 2),
            AttributeValue::Double(d) => h.write_u64(d.to_bits()),
        }
    }
    h.finish()
}

/// A metric record of a template finish with its attributes converted once: every message of the
/// template records it with its own value ([`Instruments::record_resolved`]).
#[derive(Debug)]
pub(super) struct Resolved {
    instrument: Instrument,
    attributes: Arc<[KeyValue]>,
    source: MetricValueSource,
}

#[derive(Clone, Debug)]
enum Created {
    Counter(Counter<u64>),
    Histogram(Histogram<f64>),
}

/// Every instrument of [`INSTRUMENTS`], created with its name, unit, description and kind.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use kafka_trace::lifecycle::{Lifecycle, SendResult};
/// use kafka_trace::otel::Instruments;
/// use kafka_trace::span::MessageInfo;
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
///
/// let exporter = InMemoryMetricExporter::default();
/// let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
/// let instruments = Instruments::new(&provider.meter("app"));
///
/// let recipe = Lifecycle::default().send(&MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() }).unwrap();
/// let finish = recipe.finish(SendResult::Acked { partition: 0, offset: 1 }, Duration::from_millis(2), None);
/// instruments.record_all(&finish.metrics);
///
/// provider.force_flush().unwrap();
/// let exported = exporter.get_finished_metrics().unwrap();
/// let mut names: Vec<&str> = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).map(|m| m.name()).collect();
/// names.sort();
/// assert_eq!(names, ["messaging.client.operation.duration", "messaging.client.sent.messages"]);
/// ```
#[derive(Clone, Debug)]
pub struct Instruments {
    created: Vec<(Instrument, Created)>,
    /// Read-mostly: every record reads, a new set writes once.
    pub(super) sets: Arc<RwLock<Sets>>,
}

impl Instruments {
    /// Creates the instruments on `meter`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::otel::Instruments;
    ///
    /// // No SDK installed: the global meter is a no-op, recording costs nothing.
    /// let instruments = Instruments::new(&opentelemetry::global::meter("app"));
    /// # let _ = instruments;
    /// ```
    pub fn new(meter: &Meter) -> Self {
        let created = INSTRUMENTS
            .iter()
            .map(|&instrument| {
                let made = match instrument.kind() {
                    InstrumentKind::Counter => Created::Counter(
                        meter
                            .u64_counter(instrument.name())
                            .with_unit(instrument.unit())
                            .with_description(instrument.description())
                            .build(),
                    ),
                    InstrumentKind::Histogram => Created::Histogram(
                        meter
                            .f64_histogram(instrument.name())
                            .with_unit(instrument.unit())
                            .with_description(instrument.description())
                            .build(),
                    ),
                };
                (instrument, made)
            })
            .collect();
        Self { created, sets: Arc::default() }
    }

    /// `attributes` as `KeyValue`s, converted once per distinct set (bounded).
    fn key_values(&self, attributes: &[Attribute]) -> Arc<[KeyValue]> {
        let hash = set_hash(attributes);
        let found = |sets: &Sets| {
            sets.by_hash.get(&hash).and_then(|list| list.iter().find(|(a, _)| a.as_slice() == attributes)).map(|(_, kvs)| kvs.clone())
        };
        if let Some(kvs) = self.sets.read().ok().and_then(|sets| found(&sets)) {
            return kvs;
        }
        let kvs: Arc<[KeyValue]> = key_values(attributes).into();
        let Ok(mut sets) = self.sets.write() else { return kvs };
        if sets.count < METRIC_SET_CAPACITY && found(&sets).is_none() {
            sets.count += 1;
            sets.by_hash.entry(hash).or_default().push((attributes.to_vec(), kvs.clone()));
        }
        kvs
    }

    /// Records one value on its instrument with its attribute set. A counter adds the value
    /// rounded to a whole, non-negative number.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::{Instrument, MetricRecord};
    /// use kafka_trace::otel::Instruments;
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    /// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// # let exporter = InMemoryMetricExporter::default();
    /// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// # let counted = |name: &str| -> u64 {
    /// #     provider.force_flush().unwrap();
    /// #     let exported = exporter.get_finished_metrics().unwrap();
    /// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
    /// #     match metric.map(|m| m.data()) {
    /// #         Some(AggregatedMetrics::U64(MetricData::Sum(sum))) => sum.data_points().map(|p| p.value()).sum(),
    /// #         _ => 0,
    /// #     }
    /// # };
    ///
    /// let instruments = Instruments::new(&provider.meter("app"));
    /// instruments.record(&MetricRecord { instrument: Instrument::SentMessages, value: 2.0, attributes: vec![] });
    /// instruments.record(&MetricRecord { instrument: Instrument::SentMessages, value: -1.0, attributes: vec![] });
    /// assert_eq!(counted("messaging.client.sent.messages"), 2);
    /// ```
    pub fn record(&self, record: &MetricRecord) {
        self.record_value(record.instrument, record.value, &self.key_values(&record.attributes));
    }

    fn record_value(&self, instrument: Instrument, value: f64, attributes: &[KeyValue]) {
        let Some((_, created)) = self.created.iter().find(|(i, _)| *i == instrument) else { return };
        match created {
            // Counters count messages: whole, non-negative numbers.
            Created::Counter(counter) => counter.add(value.max(0.0).round() as u64, attributes),
            Created::Histogram(histogram) => histogram.record(value, attributes),
        }
    }

    /// The metric records of a template finish (`sources`: where each value comes from, in
    /// order), their attribute sets converted once.
    pub(super) fn resolve(&self, records: &[MetricRecord], sources: &[MetricValueSource]) -> Arc<[Resolved]> {
        records
            .iter()
            .zip(sources)
            .map(|(r, source)| Resolved { instrument: r.instrument, attributes: self.key_values(&r.attributes), source: *source })
            .collect()
    }

    /// Records `resolved` with one message's values: its elapsed seconds and its end-to-end
    /// latency in seconds (without one, a record whose value it is is not recorded, as a finish
    /// without it has no such record).
    pub(super) fn record_resolved(&self, resolved: &[Resolved], elapsed_s: f64, e2e_s: Option<f64>) {
        for r in resolved {
            let value = match r.source {
                MetricValueSource::Constant(v) => v,
                MetricValueSource::ElapsedSeconds => elapsed_s,
                MetricValueSource::E2eLatencySeconds => match e2e_s {
                    Some(v) => v,
                    None => continue,
                },
            };
            self.record_value(r.instrument, value, &r.attributes);
        }
    }

    /// Records every entry of `records`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// use kafka_trace::lifecycle::{AmbientInfo, HandlerResult, Lifecycle, RemoteInfo};
    /// use kafka_trace::otel::Instruments;
    /// use kafka_trace::span::MessageInfo;
    /// # use opentelemetry::metrics::MeterProvider as _;
    /// # use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    /// # use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    /// # let exporter = InMemoryMetricExporter::default();
    /// # let provider = SdkMeterProvider::builder().with_reader(PeriodicReader::builder(exporter.clone()).build()).build();
    /// # let counted = |name: &str| -> u64 {
    /// #     provider.force_flush().unwrap();
    /// #     let exported = exporter.get_finished_metrics().unwrap();
    /// #     let metric = exported.iter().flat_map(|rm| rm.scope_metrics()).flat_map(|sm| sm.metrics()).filter(|m| m.name() == name).last();
    /// #     match metric.map(|m| m.data()) {
    /// #         Some(AggregatedMetrics::U64(MetricData::Sum(sum))) => sum.data_points().map(|p| p.value()).sum(),
    /// #         _ => 0,
    /// #     }
    /// # };
    ///
    /// let instruments = Instruments::new(&provider.meter("app"));
    /// let message = MessageInfo { topic: "orders", payload_len: Some(1), ..MessageInfo::default() };
    /// let recipe = Lifecycle::default().process(&message, RemoteInfo::default(), AmbientInfo::default(), 0).unwrap();
    /// for _ in 0..3 {
    ///     instruments.record_all(&recipe.finish(HandlerResult::Returned, Duration::from_millis(1)).metrics);
    /// }
    /// assert_eq!(counted("messaging.client.consumed.messages"), 3);
    /// ```
    pub fn record_all(&self, records: &[MetricRecord]) {
        for record in records {
            self.record(record);
        }
    }
}
