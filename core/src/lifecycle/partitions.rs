//! Values kept per acknowledged partition, bounded: what an executor converts once per (send
//! template, partition) — the metric records of a send acknowledged on that partition
//! ([`super::SendRecipe::acked_finish`]) in its language's types — and reuses for every later
//! message of the template acknowledged there. One cache and one policy for every executor that
//! keeps them (the Rust executor's send templates, the Python binding's).
//!
//! **Policy: a fixed bound on partition ids, no eviction.** Kafka numbers a topic's partitions
//! `0..n`, so the cache keeps the partitions `0..capacity` (and the unknown partition, any negative
//! id, whose records are all alike: no partition attribute) the first time each is asked for, and
//! never evicts one. A partition id at or past the bound is never kept: its value is made on every
//! call, which costs what a miss costs and nothing more. An evicting cache (keep the most recent
//! `k`) would churn on a topic with more than `k` partitions written round-robin or by key hash:
//! nearly every message would miss, and each miss would also convert and evict, costing more than
//! no cache at all. Lookups index a vector by partition id: no search, whatever the count.
//!
//! Memory: at most `capacity + 1` slots per cache, grown only up to the highest partition id
//! asked for.

use std::sync::RwLock;

/// How many partitions (ids `0..PARTITION_CACHE_CAPACITY`, plus the unknown partition) a
/// [`PartitionCache`] keeps by default: every partition of all but the largest topics.
pub const PARTITION_CACHE_CAPACITY: usize = 1024;

/// Values by partition id, kept for ids `0..capacity` and for the unknown partition (any negative
/// id), never evicted; read-mostly (every message reads, a new partition writes once). See the
/// [module documentation](self) for why the bound is on ids and nothing is evicted.
///
/// # Examples
///
/// ```
/// use kafka_trace::lifecycle::PartitionCache;
///
/// let cache = PartitionCache::with_capacity(2);
/// let mut made = 0;
/// for partition in [0, 1, 0, 1, 5, 5, -1, -1] {
///     let value = cache.get_or_insert_with(partition, || {
///         made += 1;
///         format!("records of partition {partition}")
///     });
///     assert_eq!(value, format!("records of partition {partition}"));
/// }
/// // 0, 1 and the unknown partition are made once each; 5 is past the bound: made each time.
/// assert_eq!((made, cache.len()), (5, 3));
/// assert_eq!(cache.get(5), None);
/// ```
#[derive(Debug)]
pub struct PartitionCache<T> {
    /// Slot 0: the unknown partition; slot `p + 1`: partition `p`.
    slots: RwLock<Vec<Option<T>>>,
    capacity: usize,
}

impl<T: Clone> Default for PartitionCache<T> {
    fn default() -> Self {
        Self::with_capacity(PARTITION_CACHE_CAPACITY)
    }
}

impl<T: Clone> PartitionCache<T> {
    /// A cache that keeps partitions `0..capacity` and the unknown partition.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { slots: RwLock::new(Vec::new()), capacity }
    }

    /// The slot of `partition`, `None` when it is not kept (at or past the bound).
    fn slot(&self, partition: i32) -> Option<usize> {
        match usize::try_from(partition) {
            Ok(p) if p < self.capacity => Some(p + 1),
            Ok(_) => None,
            Err(_) => Some(0),
        }
    }

    /// How many partitions the cache holds values for.
    pub fn len(&self) -> usize {
        self.slots.read().map_or(0, |slots| slots.iter().filter(|s| s.is_some()).count())
    }

    /// Whether the cache holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value kept for `partition`; `None` when none is kept.
    pub fn get(&self, partition: i32) -> Option<T> {
        let slot = self.slot(partition)?;
        self.slots.read().ok()?.get(slot)?.clone()
    }

    /// Keeps `value` for `partition`, unless one is kept already (the first stays) or the
    /// partition is past the bound. Returns whether `value` was kept.
    pub fn put(&self, partition: i32, value: T) -> bool {
        let Some(slot) = self.slot(partition) else { return false };
        let Ok(mut slots) = self.slots.write() else { return false };
        if slots.len() <= slot {
            slots.resize_with(slot + 1, || None);
        }
        if slots[slot].is_some() {
            return false;
        }
        slots[slot] = Some(value);
        true
    }

    /// The value kept for `partition`, else `make`'s (kept when the bound allows). `make` runs
    /// without the cache locked (it may call into a language runtime); two threads asking for a
    /// new partition at once may both make a value, the first one put is kept.
    pub fn get_or_insert_with(&self, partition: i32, make: impl FnOnce() -> T) -> T {
        match self.get_or_try_insert_with(partition, || Ok::<T, std::convert::Infallible>(make())) {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// [`get_or_insert_with`](Self::get_or_insert_with) with a `make` that may fail: its error is
    /// returned and nothing is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::lifecycle::PartitionCache;
    ///
    /// let cache: PartitionCache<u32> = PartitionCache::default();
    /// assert_eq!(cache.get_or_try_insert_with(3, || Err("conversion failed")), Err("conversion failed"));
    /// assert_eq!(cache.get(3), None);
    /// assert_eq!(cache.get_or_try_insert_with(3, || Ok::<_, &str>(7)), Ok(7));
    /// assert_eq!(cache.get_or_try_insert_with(3, || Err("not called")), Ok(7));
    /// ```
    pub fn get_or_try_insert_with<E>(&self, partition: i32, make: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        if let Some(value) = self.get(partition) {
            return Ok(value);
        }
        let value = make()?;
        if !self.put(partition, value.clone()) {
            // Kept by another thread meanwhile (the first stays), or past the bound.
            if let Some(kept) = self.get(partition) {
                return Ok(kept);
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_below_the_bound_is_kept_whatever_the_order_and_never_evicted() {
        let cache = PartitionCache::with_capacity(64);
        let mut made = 0;
        // A 64-partition topic written round-robin, three times, then in reverse: each partition
        // is made once (an evict-the-oldest cache of 63 would have missed on every message).
        let order: Vec<i32> = (0..64).cycle().take(3 * 64).chain((0..64).rev()).collect();
        for &p in &order {
            assert_eq!(cache.get_or_insert_with(p, || { made += 1; p * 10 }), p * 10);
        }
        assert_eq!((made, cache.len()), (64, 64));
    }

    #[test]
    fn partitions_past_the_bound_are_made_per_call_and_do_not_disturb_kept_ones() {
        let cache = PartitionCache::with_capacity(2);
        let mut made = Vec::new();
        for p in [0, 1, 2, 3, 2, 0, 1, 3] {
            assert_eq!(cache.get_or_insert_with(p, || { made.push(p); u64::from(p.unsigned_abs()) + 100 }), u64::from(p.unsigned_abs()) + 100);
        }
        // 2 and 3 (past the bound) each time; 0 and 1 once.
        assert_eq!(made, [0, 1, 2, 3, 2, 3]);
        assert_eq!((cache.get(0), cache.get(1), cache.get(2), cache.get(3)), (Some(100), Some(101), None, None));
        assert!(!cache.put(2, 0));
        assert_eq!(cache.len(), 2);
        // Slots grow to the highest kept id only (0 and 1, plus the unknown partition's).
        assert_eq!(cache.slots.read().unwrap().len(), 3);
    }

    #[test]
    fn every_negative_partition_is_the_one_unknown_partition() {
        let cache = PartitionCache::with_capacity(0);
        assert!(cache.put(-1, "unknown"));
        assert_eq!((cache.get(-1), cache.get(i32::MIN), cache.get(0)), (Some("unknown"), Some("unknown"), None));
        assert!(!cache.put(-7, "other")); // the first stays
        assert_eq!(cache.get(-7), Some("unknown"));
    }

    #[test]
    fn the_first_value_put_stays_and_a_failed_make_keeps_nothing() {
        let cache = PartitionCache::default();
        assert!(cache.is_empty());
        assert!(cache.put(5, 1));
        assert!(!cache.put(5, 2));
        assert_eq!(cache.get_or_insert_with(5, || 3), 1);
        assert_eq!(cache.get_or_try_insert_with(6, || Err::<i32, _>("failed")), Err("failed"));
        assert_eq!((cache.get(6), cache.len()), (None, 1));
        assert_eq!(cache.capacity, PARTITION_CACHE_CAPACITY);
        // The highest id within the default bound is kept, the next is not.
        let last = i32::try_from(PARTITION_CACHE_CAPACITY).unwrap() - 1;
        assert!(cache.put(last, 9));
        assert!(!cache.put(last + 1, 9));
    }
}
