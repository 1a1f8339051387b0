//! Strings kept for the life of the process: the span names and the sampling attributes' string
//! values of [`super::StartCache`] entries. The SDK's span builder takes a kept name (a
//! `Cow<'static, str>`) without a heap copy, and a span's copy of a kept value (a `&'static str`)
//! is a plain copy: no allocation, no reference count shared between threads.
//!
//! Bounded: at most [`KEPT_STRINGS`] distinct strings and [`KEPT_STRING_BYTES`] bytes of them in
//! the whole process, whatever the number of caches, clients or topics. Past either bound a
//! string is not kept: its entry's spans copy their name, as a span started from a recipe does,
//! and share their values by reference count.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};

use opentelemetry::{KeyValue, StringValue, Value};

use crate::span::{Attribute, AttributeValue};

/// How many distinct strings (span names, sampling attribute values) the process keeps for
/// [`super::StartCache`] entries, across every cache. Past it, strings are copied or shared.
pub const KEPT_STRINGS: usize = 4096;

/// How many bytes of strings the process keeps for [`super::StartCache`] entries, across every
/// cache. Past it, strings are copied or shared.
pub const KEPT_STRING_BYTES: usize = 1 << 20;

/// The kept strings and their total length.
#[derive(Default)]
struct Kept {
    strings: HashSet<&'static str>,
    bytes: usize,
}

impl Kept {
    /// `s` as a kept string, kept now if within `capacity` strings and `max_bytes` bytes.
    fn get(&mut self, s: &str, capacity: usize, max_bytes: usize) -> Option<&'static str> {
        if let Some(kept) = self.strings.get(s) {
            return Some(kept);
        }
        if self.strings.len() >= capacity || self.bytes + s.len() > max_bytes {
            return None;
        }
        let kept: &'static str = Box::leak(s.to_owned().into_boxed_str());
        self.strings.insert(kept);
        self.bytes += s.len();
        Some(kept)
    }
}

static KEPT: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);

/// `s` from the process's kept strings (kept now if the bounds allow).
fn kept(s: &str) -> Option<&'static str> {
    KEPT.lock().ok()?.get(s, KEPT_STRINGS, KEPT_STRING_BYTES)
}

/// A span name: borrowed from the kept strings, else owned.
pub(super) fn span_name(name: &str) -> Cow<'static, str> {
    kept(name).map_or_else(|| Cow::Owned(name.to_owned()), Cow::Borrowed)
}

/// A sampling attribute: its string value kept, else reference counted (a clone bumps a count).
pub(super) fn kept_key_value((key, value): &Attribute) -> KeyValue {
    let value = match value {
        AttributeValue::String(s) => Value::String(kept(s).map_or_else(|| StringValue::from(Arc::<str>::from(s.as_str())), StringValue::from)),
        AttributeValue::Int(i) => Value::I64(*i),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Double(d) => Value::F64(*d),
    };
    KeyValue::new(*key, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_string_is_one_allocation_shared_by_every_caller() {
        let (a, b) = (span_name("send kt-kept-test"), span_name(&String::from("send kt-kept-test")));
        match (&a, &b) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert_eq!((a.as_ptr(), *a), (b.as_ptr(), "send kt-kept-test")),
            other => panic!("not kept: {other:?}"),
        }
        let value = kept_key_value(&("messaging.destination.name", AttributeValue::String("send kt-kept-test".into())));
        assert_eq!(value, KeyValue::new("messaging.destination.name", "send kt-kept-test"));
        assert_eq!(value.value.as_str().as_ptr(), a.as_ptr());
        assert_eq!(kept_key_value(&("messaging.destination.partition.id", AttributeValue::Int(3))), KeyValue::new("messaging.destination.partition.id", 3));
    }

    #[test]
    fn strings_past_either_bound_are_not_kept() {
        let mut kept = Kept::default();
        assert_eq!(kept.get("send a", 2, 12), Some("send a"));
        // 6 + 7 bytes > 12: over the byte bound.
        assert_eq!(kept.get("send bb", 2, 12), None);
        assert_eq!(kept.get("send b", 2, 12), Some("send b"));
        // Two strings kept: over the count bound; kept ones are still found.
        assert_eq!(kept.get("c", 2, 12), None);
        assert_eq!(kept.get("send a", 2, 12), Some("send a"));
        assert_eq!((kept.strings.len(), kept.bytes), (2, 12));
    }
}
