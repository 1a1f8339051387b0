//! Header values built from key/value pairs that a host SDK keeps in its own maps (for example
//! Python's `opentelemetry.trace.TraceState` and the `opentelemetry.baggage` dict), so a binding
//! hands over the pairs and never joins, escapes or truncates a header itself.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::encode::{baggage_from_pairs, tracestate_from_pairs};
//!
//! let tracestate = tracestate_from_pairs([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]).unwrap();
//! assert_eq!(tracestate.as_bytes(), b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
//! assert_eq!(baggage_from_pairs([("user", "alice smith")]), "user=alice%20smith");
//! ```

use crate::codec::baggage::Baggage;
use crate::codec::tracestate::{HeaderValue, Member, TraceState, MAX_MEMBERS};
use crate::ErrorCode;

/// The `tracestate` value to inject for `pairs` (in the host's order, the newest vendor first).
/// Every pair is validated as a Level 2 member; the first invalid pair, or more than 32 pairs,
/// discards the whole list (as when reading). Duplicate keys keep the first. The result is
/// truncated like every injected tracestate; an empty result means "write no header".
///
/// # Examples
///
/// ```
/// use kafka_trace::encode::tracestate_from_pairs;
/// use kafka_trace::ErrorCode;
///
/// let value = tracestate_from_pairs([("rojo", "1"), ("congo", "2"), ("rojo", "3")]).unwrap();
/// assert_eq!(value.as_bytes(), b"rojo=1,congo=2"); // the first of duplicate keys is kept
/// // A value that would smuggle in a second member is refused, not split.
/// assert_eq!(tracestate_from_pairs([("k", "a,b=c")]), Err(ErrorCode::TracestateValue));
/// assert!(tracestate_from_pairs([]).unwrap().is_empty());
/// ```
pub fn tracestate_from_pairs<'a, I>(pairs: I) -> Result<HeaderValue, ErrorCode>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut joined = Vec::with_capacity(128);
    for (count, (key, value)) in pairs.into_iter().enumerate() {
        if count == MAX_MEMBERS {
            return Err(ErrorCode::TracestateTooManyMembers);
        }
        // Validating each pair first keeps a value such as "a,b=c" from turning into two members.
        Member::new(key, value)?;
        if !joined.is_empty() {
            joined.push(b',');
        }
        joined.extend_from_slice(key.as_bytes());
        joined.push(b'=');
        joined.extend_from_slice(value.as_bytes());
    }
    let value = TraceState::parse(&joined)?.header_value(None);
    Ok(value)
}

/// The `baggage` value to inject for `pairs` (values not encoded yet). Pairs whose key is not a
/// token are dropped, a later duplicate replaces the earlier value, and the W3C limits apply.
/// Empty when there is nothing to write.
///
/// # Examples
///
/// ```
/// use kafka_trace::encode::baggage_from_pairs;
///
/// assert_eq!(baggage_from_pairs([("a", "1"), ("bad key", "x"), ("n", "é"), ("a", "2")]), "a=2,n=%C3%A9");
/// assert_eq!(baggage_from_pairs([]), "");
/// ```
pub fn baggage_from_pairs<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut baggage = Baggage::default();
    for (key, value) in pairs {
        // An invalid key only loses that member, as when reading.
        let _ = baggage.insert(key, value);
    }
    baggage.to_header_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracestate_pairs_join_in_order() {
        let v = tracestate_from_pairs([("rojo", "00f067aa0ba902b7"), ("congo", "t61rcWkgMzE")]).unwrap();
        assert_eq!(v.as_bytes(), b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
        assert!(tracestate_from_pairs([]).unwrap().is_empty());
    }

    #[test]
    fn tracestate_pairs_are_validated_one_by_one() {
        assert_eq!(tracestate_from_pairs([("k", "a,b=c")]), Err(ErrorCode::TracestateValue));
        assert_eq!(tracestate_from_pairs([("K", "v")]), Err(ErrorCode::TracestateKey));
        let many: Vec<(String, &str)> = (0..33).map(|i| (format!("k{i}"), "v")).collect();
        let err = tracestate_from_pairs(many.iter().map(|(k, v)| (k.as_str(), *v)));
        assert_eq!(err, Err(ErrorCode::TracestateTooManyMembers));
    }

    #[test]
    fn tracestate_pairs_are_truncated_like_any_inject() {
        let long = "x".repeat(250);
        let v = tracestate_from_pairs([("a", long.as_str()), ("b", long.as_str()), ("c", "1"), ("d", long.as_str())]).unwrap();
        assert_eq!(v.as_bytes(), format!("a={long},b={long},c=1").as_bytes());
    }

    #[test]
    fn baggage_pairs_are_encoded_and_bad_keys_dropped() {
        assert_eq!(baggage_from_pairs([("user", "alice smith"), ("bad key", "x"), ("n", "é")]), "user=alice%20smith,n=%C3%A9");
        assert_eq!(baggage_from_pairs([("a", "1"), ("a", "2")]), "a=2");
        assert_eq!(baggage_from_pairs([]), "");
    }
}
