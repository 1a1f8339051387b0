//! Per-situation span start templates (issue 12 item 4), like the Rust executor's
//! `otel::StartCache`: what a span's start takes besides the message's own recorded attributes
//! (name, kind, sampling attributes, parent and link sources, the handler rule, the metric
//! records of a returned handler) is the same for every message of one topic, partition and
//! parent situation, so it is taken once from a real recipe of the core and kept. A span the
//! sampler does not record then needs no recipe at all; a recording one still gets its own.
//! Bounded: past [`START_CACHE_CAPACITY`] entries, new situations are not kept (those messages
//! take the full recipe path).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many (topic, situation) entries a [`StartCache`] keeps (the Rust `START_CACHE_CAPACITY`).
pub(crate) const START_CACHE_CAPACITY: usize = 4096;

/// What a span's start depends on besides the topic and the message's recorded attributes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Situation {
    pub partition: Option<i32>,
    /// The message carried a valid remote parent.
    pub remote_valid: bool,
    /// The ambient context holds a valid span.
    pub ambient_span: bool,
    /// The message has a timestamp (an end-to-end latency record).
    pub e2e: bool,
}

type Entries<T> = HashMap<String, Vec<(Situation, Option<Arc<T>>)>>;

/// Templates by topic and situation; `None` entries remember that the core traces no span there.
pub(crate) struct StartCache<T> {
    entries: Mutex<(usize, Entries<T>)>,
    capacity: usize,
}

impl<T> StartCache<T> {
    pub(crate) fn new() -> Self {
        Self::with_capacity(START_CACHE_CAPACITY)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self { entries: Mutex::new((0, HashMap::new())), capacity }
    }

    /// `None`: not seen (or not kept); `Some(None)`: no span for it; `Some(Some(t))`: its template.
    pub(crate) fn get(&self, topic: &str, situation: Situation) -> Option<Option<Arc<T>>> {
        let entries = self.entries.lock().ok()?;
        let found = entries.1.get(topic)?.iter().find(|(s, _)| *s == situation)?;
        Some(found.1.clone())
    }

    /// Keeps `template` for `topic` and `situation`, unless the cache is full.
    pub(crate) fn put(&self, topic: &str, situation: Situation, template: Option<Arc<T>>) {
        let Ok(mut entries) = self.entries.lock() else { return };
        let (len, map) = &mut *entries;
        if *len >= self.capacity {
            return;
        }
        let list = map.entry(topic.to_owned()).or_default();
        if list.iter().any(|(s, _)| *s == situation) {
            return;
        }
        list.push((situation, template));
        *len += 1;
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32) -> Situation {
        Situation { partition: Some(partition), remote_valid: true, ambient_span: false, e2e: true }
    }

    #[test]
    fn keeps_each_topic_and_situation_once_and_stops_at_the_capacity() {
        let cache: StartCache<u32> = StartCache::with_capacity(3);
        assert_eq!(cache.get("orders", at(0)), None);
        cache.put("orders", at(0), Some(Arc::new(7)));
        cache.put("orders", at(0), Some(Arc::new(8))); // the first one stays
        cache.put("orders", Situation { remote_valid: false, ..at(0) }, None);
        assert_eq!(cache.get("orders", at(0)).flatten().as_deref(), Some(&7));
        assert_eq!(cache.get("orders", Situation { remote_valid: false, ..at(0) }), Some(None));
        assert_eq!(cache.get("orders", Situation { e2e: false, ..at(0) }), None);
        assert_eq!(cache.get("billing", at(0)), None);
        cache.put("billing", at(1), Some(Arc::new(9)));
        cache.put("billing", at(2), Some(Arc::new(10))); // past the capacity: not kept
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("billing", at(1)).flatten().as_deref(), Some(&9));
        assert_eq!(cache.get("billing", at(2)), None);
    }

    #[test]
    fn the_default_capacity_is_the_rust_executors() {
        let cache: StartCache<u32> = StartCache::new();
        assert_eq!(cache.capacity, 4096);
    }
}
