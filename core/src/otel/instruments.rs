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
#[derive(Clone, Debug)]
pub struct Instruments {
    created: Vec<(Instrument, Created)>,
}

impl Instruments {
    /// Creates the instruments on `meter`.
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

    /// Records one value on its instrument with its attribute set.
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
    pub fn record_all(&self, records: &[MetricRecord]) {
        for record in records {
            self.record(record);
        }
    }
}
