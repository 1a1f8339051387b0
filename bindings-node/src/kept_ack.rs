//! The finish of an acknowledged send kept per (template, partition): the core's
//! `SendRecipe::acked_finish` says the metric records of such a finish depend on nothing else,
//! so the plan (found by comparing every metric attribute) and the metric numbers are made once
//! and each message only takes its own span attributes (the core's `finish_span`) and duration.

use std::rc::Rc;
use std::time::Duration;

use kafka_trace::lifecycle::{Finish, MetricValueSource, PartitionCache, SpanEnd, Status};

use crate::layout::{write_delta, END_AT, METRIC_AT, METRIC_SLOTS};

/// One kept finish.
pub struct KeptAck {
    /// The plan index of the acknowledged finish.
    pub plan: u32,
    /// Its metric values in plan order, None where the send's duration goes.
    metrics: Vec<Option<f64>>,
    /// The span attribute keys, status and end it was made with: a message's own finish must
    /// have the same ones for the plan to be its (an offset the broker did not give drops a key).
    keys: Vec<&'static str>,
    status: Status,
    end_now: bool,
}

impl KeptAck {
    /// From the core's `acked_finish` and the plan index of that finish.
    pub fn new(finish: &Finish, sources: &[MetricValueSource], plan: u32) -> Option<Self> {
        let metrics = sources
            .iter()
            .take(METRIC_SLOTS)
            .map(|s| match s {
                MetricValueSource::Constant(v) => Some(Some(*v)),
                MetricValueSource::ElapsedSeconds => Some(None),
                MetricValueSource::E2eLatencySeconds => None, // not a send's: not kept
            })
            .collect::<Option<Vec<_>>>()?;
        if sources.len() != finish.metrics.len() {
            return None;
        }
        Some(Self {
            plan,
            metrics,
            keys: finish.attributes.iter().map(|(k, _)| *k).collect(),
            status: finish.status.clone(),
            end_now: matches!(finish.end, SpanEnd::Now),
        })
    }

    /// Writes what `write_finish` writes for the full finish of a message whose span finish
    /// (the core's `finish_span`, without a broker latency) is `span`, and returns the bit set of
    /// its span attributes; None (nothing written) when `span` is not of this finish's shape.
    pub fn fill(&self, span: &Finish, elapsed: Duration, out: &mut [f64]) -> Option<u32> {
        let same = span.attributes.len() == self.keys.len()
            && span.attributes.iter().zip(&self.keys).all(|((k, _), kept)| k == kept)
            && span.status == self.status
            && self.end_now
            && matches!(span.end, SpanEnd::Now);
        if !same || out.len() <= END_AT {
            return None;
        }
        let bits = write_delta(&span.attributes, out);
        for (j, v) in self.metrics.iter().enumerate() {
            out[METRIC_AT + j] = v.unwrap_or_else(|| elapsed.as_secs_f64());
        }
        out[END_AT] = f64::NAN;
        Some(bits)
    }
}

/// The kept finishes of one client: per send template (by index), the core's bounded
/// per-partition cache, as the Rust executor and the Python binding keep theirs. A partition whose
/// finish cannot be kept holds `None` (its sends take the full finish); one past the cache's bound
/// is made again for every send.
#[derive(Default)]
pub struct KeptAcks(Vec<PartitionCache<Option<Rc<KeptAck>>>>);

impl KeptAcks {
    #[cfg(test)]
    pub fn get(&self, template: u32, partition: i32) -> Option<Rc<KeptAck>> {
        self.0.get(template as usize)?.get(partition).flatten()
    }

    /// The finish kept for `template` acknowledged on `partition`, `make`'s the first time.
    pub fn get_or_make(&mut self, template: u32, partition: i32, make: impl FnOnce() -> Option<KeptAck>) -> Option<Rc<KeptAck>> {
        let index = template as usize;
        if self.0.len() <= index {
            self.0.resize_with(index + 1, PartitionCache::default);
        }
        self.0[index].get_or_insert_with(partition, || make().map(Rc::new))
    }
}
