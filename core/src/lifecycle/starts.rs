//! What a span's constant part depends on, and a bounded cache keyed by it. Every executor that
//! starts spans from per-topic templates (the Rust executor's `otel::StartCache`, the Python
//! binding's templates) keys them by the same [`Situation`], so which messages may share a
//! template is decided here once: the recipe's name, kind, sampling attributes, parent and link
//! sources, handler rule and metric records are the same for every message of one topic and one
//! situation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

use super::Operation;
use crate::span::MessageInfo;

/// How many (topic, situation) entries a [`SituationCache`] keeps. Past it, new entries are not
/// kept: those messages take the full recipe path (memory stays bounded for a client that sees
/// any number of topics).
pub const START_CACHE_CAPACITY: usize = 4096;

/// What a span's constant part depends on besides its topic.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::Situation;
/// use kafka_trace::span::MessageInfo;
///
/// // An unassigned partition (-1) names no partition, like a message that names none.
/// let unassigned = MessageInfo { topic: "orders", partition: Some(-1), ..MessageInfo::default() };
/// assert_eq!(Situation::send(&unassigned), Situation::send(&MessageInfo { topic: "orders", ..MessageInfo::default() }));
/// // A zero timestamp has no end-to-end latency, so no latency record.
/// let at = |timestamp_ms| MessageInfo { topic: "orders", timestamp_ms, ..MessageInfo::default() };
/// assert_eq!(Situation::process(&at(Some(0)), true, false), Situation::process(&at(None), true, false));
/// assert_ne!(Situation::process(&at(Some(5)), true, false), Situation::process(&at(None), true, false));
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Situation {
    operation: Operation,
    partition: Option<i32>,
    remote_valid: bool,
    ambient_span: bool,
    e2e: bool,
}

impl Situation {
    /// A send of `message`.
    pub fn send(message: &MessageInfo<'_>) -> Self {
        Self::of(Operation::Send, message, false, false)
    }

    /// A receive call's `poll` span.
    pub fn poll() -> Self {
        Self { operation: Operation::Poll, partition: None, remote_valid: false, ambient_span: false, e2e: false }
    }

    /// `message` handed to a per-message handler; `remote_valid`: it carried a valid parent;
    /// `ambient_span`: the ambient context holds a valid span.
    pub fn process(message: &MessageInfo<'_>, remote_valid: bool, ambient_span: bool) -> Self {
        Self::of(Operation::Process, message, remote_valid, ambient_span)
    }

    /// `message` of a batch handed to a batch handler.
    pub fn batch_process(message: &MessageInfo<'_>, remote_valid: bool) -> Self {
        Self::of(Operation::BatchProcess, message, remote_valid, false)
    }

    fn of(operation: Operation, message: &MessageInfo<'_>, remote_valid: bool, ambient_span: bool) -> Self {
        Self {
            operation,
            partition: message.partition.filter(|p| *p >= 0),
            remote_valid,
            ambient_span,
            e2e: message.timestamp_ms.is_some_and(|t| t > 0),
        }
    }
}

/// FNV-1a: topic names are short and the cache is read per message, where SipHash costs more.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

#[derive(Debug)]
struct Entries<T> {
    by_topic: HashMap<String, Vec<(Situation, T)>, BuildHasherDefault<Fnv>>,
    count: usize,
}

/// Values by topic and [`Situation`], bounded at a number of entries; read-mostly (every message
/// reads, a new situation writes once).
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::{Situation, SituationCache};
///
/// let cache = SituationCache::with_capacity(1);
/// cache.put("orders", Situation::poll(), "template");
/// cache.put("payments", Situation::poll(), "template");
/// assert_eq!(cache.get("orders", Situation::poll()), Some("template"));
/// assert_eq!(cache.get("payments", Situation::poll()), None); // past the bound: not kept
/// assert_eq!(cache.len(), 1);
/// ```
#[derive(Debug)]
pub struct SituationCache<T> {
    entries: RwLock<Entries<T>>,
    capacity: usize,
}

impl<T: Clone> Default for SituationCache<T> {
    fn default() -> Self {
        Self::with_capacity(START_CACHE_CAPACITY)
    }
}

impl<T: Clone> SituationCache<T> {
    /// A cache that keeps at most `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { entries: RwLock::new(Entries { by_topic: HashMap::default(), count: 0 }), capacity }
    }

    /// How many entries the cache holds.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.count)
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value kept for `topic` and `situation`; `None` when not kept.
    pub fn get(&self, topic: &str, situation: Situation) -> Option<T> {
        let entries = self.entries.read().ok()?;
        let list = entries.by_topic.get(topic)?;
        list.iter().find(|(s, _)| *s == situation).map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `topic` and `situation`, unless one is kept already or the cache is full.
    pub fn put(&self, topic: &str, situation: Situation, value: T) {
        let Ok(mut entries) = self.entries.write() else { return };
        if entries.count >= self.capacity {
            return;
        }
        let list = entries.by_topic.entry(topic.to_owned()).or_default();
        if list.iter().any(|(s, _)| *s == situation) {
            return;
        }
        list.push((situation, value));
        entries.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, remote_valid: bool) -> Situation {
        let message = MessageInfo { topic: "orders", partition: Some(partition), timestamp_ms: Some(5), ..MessageInfo::default() };
        Situation::process(&message, remote_valid, false)
    }

    #[test]
    fn keeps_each_topic_and_situation_once_and_stops_at_the_capacity() {
        let cache: SituationCache<Option<u32>> = SituationCache::with_capacity(3);
        assert_eq!(cache.get("orders", at(0, true)), None);
        cache.put("orders", at(0, true), Some(7));
        cache.put("orders", at(0, true), Some(8)); // the first one stays
        cache.put("orders", at(0, false), None);
        assert_eq!(cache.get("orders", at(0, true)), Some(Some(7)));
        assert_eq!(cache.get("orders", at(0, false)), Some(None));
        let no_timestamp = MessageInfo { topic: "orders", partition: Some(0), ..MessageInfo::default() };
        assert_eq!(cache.get("orders", Situation::process(&no_timestamp, true, false)), None);
        assert_eq!(cache.get("orders", Situation::batch_process(&no_timestamp, true)), None);
        assert_eq!(cache.get("billing", at(0, true)), None);
        cache.put("billing", at(1, true), Some(9));
        cache.put("billing", at(2, true), Some(10)); // past the capacity: not kept
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("billing", at(1, true)), Some(Some(9)));
        assert_eq!(cache.get("billing", at(2, true)), None);
    }

    #[test]
    fn the_default_capacity_is_the_start_cache_capacity() {
        let cache: SituationCache<u32> = SituationCache::default();
        assert_eq!(cache.capacity, START_CACHE_CAPACITY);
    }
}
