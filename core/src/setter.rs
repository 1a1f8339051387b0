//! Setter-style injection, for carriers that can only set or remove a header by name (a C
//! callback over librdkafka's `rd_kafka_header_remove` + `rd_kafka_header_add`, a JavaScript
//! object, ...), as opposed to [`crate::carrier::inject`], which edits an ordered list in place.
//!
//! [`inject_each`] calls the setter once per header name we own, always in the order
//! `traceparent`, `tracestate`, `baggage`, with `Some(value)` to write that header (replacing every
//! header of that name) or `None` to remove every header of that name. The values are exactly
//! what [`crate::carrier::inject`] writes, so both paths put the same bytes on the wire.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::setter::inject_each;
//! use kafka_trace::{inject, Baggage, SpanId, TraceContext, TraceFlags, TraceId};
//!
//! let context = TraceContext::new_root(TraceId([7; 16]), SpanId([8; 8]), TraceFlags::SAMPLED, Baggage::parse(b"k=v"));
//! let mut set: Vec<(String, Vec<u8>)> = Vec::new();
//! inject_each::<()>(&context, |name, value| {
//!     if let Some(v) = value {
//!         set.push((name.to_string(), v.to_vec()));
//!     }
//!     Ok(())
//! })
//! .unwrap();
//! let mut injected: Vec<(String, Vec<u8>)> = Vec::new();
//! inject(&context, &mut injected);
//! assert_eq!(set, injected); // the same bytes either way
//! ```

use crate::carrier::{TraceContext, BAGGAGE, TRACEPARENT, TRACESTATE};

/// Calls `set(name, value)` for `traceparent`, `tracestate` and `baggage`, in that order.
/// `value` is `None` when that header must be removed (no tracestate, no baggage). Stops at the
/// first error the setter returns and passes it on.
///
/// # Examples
///
/// A carrier that can only set or remove by name (here a map):
///
/// ```
/// use std::collections::BTreeMap;
///
/// use kafka_trace::setter::inject_each;
/// use kafka_trace::{extract, SpanId};
///
/// let received: Vec<(String, Vec<u8>)> = vec![
///     ("traceparent".into(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
///     ("tracestate".into(), b"rojo=1".to_vec()),
/// ];
/// let context = extract(&received).unwrap().child(SpanId([0x55; 8]));
///
/// let mut map: BTreeMap<&str, Vec<u8>> = BTreeMap::from([("baggage", b"stale=1".to_vec())]);
/// inject_each::<()>(&context, |name, value| {
///     match value {
///         Some(v) => map.insert(name, v.to_vec()),
///         None => map.remove(name),
///     };
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(map["traceparent"], b"00-4bf92f3577b34da6a3ce929d0e0e4736-5555555555555555-01");
/// assert_eq!(map["tracestate"], b"rojo=1");
/// assert!(!map.contains_key("baggage"));
///
/// // The first error stops the calls and is returned.
/// let mut calls = Vec::new();
/// let result = inject_each(&context, |name, _| {
///     calls.push(name);
///     if name == "tracestate" { Err("full") } else { Ok(()) }
/// });
/// assert_eq!((result, calls), (Err("full"), vec!["traceparent", "tracestate"]));
/// ```
pub fn inject_each<E>(context: &TraceContext, mut set: impl FnMut(&'static str, Option<&[u8]>) -> Result<(), E>) -> Result<(), E> {
    set(TRACEPARENT, Some(&context.traceparent.encode()))?;
    let tracestate = context.tracestate.header_value();
    set(TRACESTATE, (!tracestate.is_empty()).then_some(tracestate.as_bytes()))?;
    if context.baggage.is_empty() {
        set(BAGGAGE, None)
    } else {
        let baggage = context.baggage.to_header_string();
        set(BAGGAGE, Some(baggage.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carrier::{extract, inject};
    use crate::codec::traceparent::SpanId;

    type List = Vec<(String, Option<Vec<u8>>)>;

    fn apply(list: &mut List, name: &str, value: Option<&[u8]>) {
        list.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            list.push((name.to_owned(), Some(v.to_vec())));
        }
    }

    fn context(tracestate: &str, baggage: &str) -> TraceContext {
        let mut h: List = vec![("traceparent".into(), Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()))];
        if !tracestate.is_empty() {
            h.push(("tracestate".into(), Some(tracestate.as_bytes().to_vec())));
        }
        if !baggage.is_empty() {
            h.push(("baggage".into(), Some(baggage.as_bytes().to_vec())));
        }
        extract(&h).unwrap().child(SpanId([7; 8]))
    }

    #[test]
    fn same_bytes_as_carrier_inject() {
        for (ts, bg) in [("", ""), ("rojo=1,congo=2", ""), ("", "user=alice;p"), ("a=1", "k=v%20w")] {
            let ctx = context(ts, bg);
            let mut via_setter: List = vec![("tracestate".into(), Some(b"old=1".to_vec())), ("baggage".into(), Some(b"x=1".to_vec()))];
            let mut calls = Vec::new();
            inject_each::<()>(&ctx, |name, value| {
                calls.push((name, value.is_some()));
                apply(&mut via_setter, name, value);
                Ok(())
            })
            .unwrap();
            assert_eq!(calls.iter().map(|c| c.0).collect::<Vec<_>>(), [TRACEPARENT, TRACESTATE, BAGGAGE]);
            assert_eq!(calls[1].1, !ts.is_empty());
            assert_eq!(calls[2].1, !bg.is_empty());
            let mut via_inject: List = Vec::new();
            inject(&ctx, &mut via_inject);
            via_setter.sort();
            via_inject.sort();
            assert_eq!(via_setter, via_inject, "tracestate {ts:?} baggage {bg:?}");
        }
    }

    #[test]
    fn stops_at_the_first_error() {
        let ctx = context("a=1", "k=v");
        let mut seen = 0;
        let result = inject_each(&ctx, |name, _| {
            seen += 1;
            if name == TRACESTATE {
                Err("full")
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err("full"));
        assert_eq!(seen, 2);
    }
}
