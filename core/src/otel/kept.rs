//! Span names kept for the life of the process, so that the SDK's span builder (whose name is a
//! `Cow<'static, str>`) takes a [`super::StartCache`] entry's name without a heap copy per span.
//!
//! Bounded: at most [`SPAN_NAME_CAPACITY`] distinct names and [`SPAN_NAME_BYTES`] bytes of them
//! in the whole process, whatever the number of caches, clients or topics. A name past either
//! bound is not kept: its entry's spans copy it, as a span started from a recipe does.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

/// How many distinct span names the process keeps for [`super::StartCache`] entries, across
/// every cache: the span builder takes a kept name without a copy. Past it, names are copied.
pub const SPAN_NAME_CAPACITY: usize = 4096;

/// How many bytes of span names the process keeps for [`super::StartCache`] entries, across
/// every cache. Past it, names are copied.
pub const SPAN_NAME_BYTES: usize = 1 << 20;

/// The kept names and their total length.
#[derive(Default)]
struct Names {
    kept: HashSet<&'static str>,
    bytes: usize,
}

impl Names {
    /// `name` as a kept name, kept now if within `capacity` names and `max_bytes` bytes.
    fn get(&mut self, name: &str, capacity: usize, max_bytes: usize) -> Cow<'static, str> {
        if let Some(kept) = self.kept.get(name) {
            return Cow::Borrowed(*kept);
        }
        if self.kept.len() >= capacity || self.bytes + name.len() > max_bytes {
            return Cow::Owned(name.to_owned());
        }
        let kept: &'static str = Box::leak(name.to_owned().into_boxed_str());
        self.kept.insert(kept);
        self.bytes += name.len();
        Cow::Borrowed(kept)
    }
}

static NAMES: LazyLock<Mutex<Names>> = LazyLock::new(Mutex::default);

/// `name` borrowed from the process's kept names (kept now if the bounds allow), else owned.
pub(super) fn span_name(name: &str) -> Cow<'static, str> {
    match NAMES.lock() {
        Ok(mut names) => names.get(name, SPAN_NAME_CAPACITY, SPAN_NAME_BYTES),
        Err(_) => Cow::Owned(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_name_is_one_allocation_shared_by_every_caller() {
        let (a, b) = (span_name("send kt-names-test"), span_name(&String::from("send kt-names-test")));
        match (&a, &b) {
            (Cow::Borrowed(a), Cow::Borrowed(b)) => assert_eq!((a.as_ptr(), *a), (b.as_ptr(), "send kt-names-test")),
            other => panic!("not kept: {other:?}"),
        }
    }

    #[test]
    fn names_past_either_bound_are_copied_not_kept() {
        let mut names = Names::default();
        assert!(matches!(names.get("send a", 2, 12), Cow::Borrowed("send a")));
        // 6 + 7 bytes > 12: over the byte bound.
        assert!(matches!(names.get("send bb", 2, 12), Cow::Owned(ref s) if s == "send bb"));
        assert!(matches!(names.get("send b", 2, 12), Cow::Borrowed("send b")));
        // Two names kept: over the name bound; kept ones are still found.
        assert!(matches!(names.get("c", 2, 12), Cow::Owned(ref s) if s == "c"));
        assert!(matches!(names.get("send a", 2, 12), Cow::Borrowed("send a")));
        assert_eq!((names.kept.len(), names.bytes), (2, 12));
    }
}
