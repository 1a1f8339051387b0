//! The core's metric instruments on an OpenTelemetry [`Meter`], and the records a [`Finish`]
//! carries, recorded on them.
//!
//! [`Finish`]: crate::lifecycle::Finish

use opentelemetry::metrics::{Counter, Histogram, Meter};

use super::convert::key_values;
use crate::lifecycle::{Instrument, InstrumentKind, MetricRecord, INSTRUMENTS};

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
        Self { created }
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
        let Some((_, created)) = self.created.iter().find(|(i, _)| *i == record.instrument) else { return };
        let attributes = key_values(&record.attributes);
        match created {
            // Counters count messages: whole, non-negative numbers.
            Created::Counter(counter) => counter.add(record.value.max(0.0).round() as u64, &attributes),
            Created::Histogram(histogram) => histogram.record(record.value, &attributes),
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
