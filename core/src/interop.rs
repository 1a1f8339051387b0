//! Small pure helpers that bindings need to mirror their host SDK's propagation API without
//! re-implementing any rule: which of our headers a name is, `tracestate` edits a host
//! `TraceState` object offers (`unset`), and baggage with properties given entry by entry.
//!
//! Everything here is defined in terms of [`crate::carrier`] and [`crate::codec`], so the bytes
//! are exactly those of [`crate::carrier::inject`].
//!
//! # Examples
//!
//! ```
//! use kafka_trace::interop::{tracestate_unset, HeaderKind};
//! use kafka_trace::TraceStateBuf;
//!
//! assert_eq!(HeaderKind::of(b"TraceParent").header_name(), Some("traceparent"));
//! let state = TraceStateBuf::parse(b"rojo=1,congo=2").unwrap();
//! assert_eq!(tracestate_unset(&state, "rojo").as_str(), "congo=2");
//! ```

use crate::carrier::{BAGGAGE, TRACEPARENT, TRACESTATE};
use crate::codec::baggage::Baggage;
use crate::codec::tracestate::{TraceState, TraceStateBuf};
use crate::ErrorCode;

/// Span attribute for the NestJS `@EventPattern`/`@MessagePattern` pattern that handled a message
/// (not in the semantic conventions, hence our own namespace; candidate for [`crate::semconv`]).
///
/// # Examples
///
/// ```
/// assert_eq!(kafka_trace::interop::NESTJS_PATTERN, "kafka_trace.nestjs.pattern");
/// ```
pub const NESTJS_PATTERN: &str = "kafka_trace.nestjs.pattern";

/// Which of our headers a Kafka header name is.
///
/// # Examples
///
/// ```
/// use kafka_trace::interop::HeaderKind;
///
/// let names = ["traceparent", "TRACESTATE", "Baggage", "tenant"];
/// let kinds: Vec<u8> = names.iter().map(|n| HeaderKind::of(n.as_bytes()) as u8).collect();
/// assert_eq!(kinds, [1, 2, 3, 0]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HeaderKind {
    /// Not ours.
    Other = 0,
    /// `traceparent`, in any ASCII case.
    Traceparent = 1,
    /// `tracestate`, in any ASCII case.
    Tracestate = 2,
    /// `baggage`, in any ASCII case.
    Baggage = 3,
}

impl HeaderKind {
    /// Classifies a header name with the read policy of [`crate::carrier`] (any ASCII case).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::interop::HeaderKind;
    ///
    /// assert_eq!(HeaderKind::of(b"TraceState"), HeaderKind::Tracestate);
    /// assert_eq!(HeaderKind::of(b"traceparent2"), HeaderKind::Other);
    /// ```
    pub fn of(name: &[u8]) -> Self {
        if name.eq_ignore_ascii_case(TRACEPARENT.as_bytes()) {
            Self::Traceparent
        } else if name.eq_ignore_ascii_case(TRACESTATE.as_bytes()) {
            Self::Tracestate
        } else if name.eq_ignore_ascii_case(BAGGAGE.as_bytes()) {
            Self::Baggage
        } else {
            Self::Other
        }
    }

    /// The name we write for this kind (`None` for [`HeaderKind::Other`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::interop::HeaderKind;
    ///
    /// assert_eq!(HeaderKind::of(b"BAGGAGE").header_name(), Some("baggage"));
    /// assert_eq!(HeaderKind::Other.header_name(), None);
    /// ```
    pub const fn header_name(self) -> Option<&'static str> {
        match self {
            Self::Other => None,
            Self::Traceparent => Some(TRACEPARENT),
            Self::Tracestate => Some(TRACESTATE),
            Self::Baggage => Some(BAGGAGE),
        }
    }

    /// The kind with this numeric value (unknown values are [`HeaderKind::Other`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::interop::HeaderKind;
    ///
    /// assert_eq!(HeaderKind::from_u8(1), HeaderKind::Traceparent);
    /// assert_eq!(HeaderKind::from_u8(HeaderKind::Baggage as u8), HeaderKind::Baggage);
    /// assert_eq!(HeaderKind::from_u8(200), HeaderKind::Other);
    /// ```
    pub const fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::Traceparent,
            2 => Self::Tracestate,
            3 => Self::Baggage,
            _ => Self::Other,
        }
    }
}

/// The normalized tracestate without `key` (unchanged when absent).
///
/// # Examples
///
/// ```
/// use kafka_trace::interop::tracestate_unset;
/// use kafka_trace::TraceStateBuf;
///
/// let state = TraceStateBuf::parse(b"rojo=1,congo=2,ours=3").unwrap();
/// assert_eq!(tracestate_unset(&state, "congo").as_str(), "rojo=1,ours=3");
/// assert_eq!(tracestate_unset(&state, "absent"), state);
/// ```
pub fn tracestate_unset(state: &TraceStateBuf, key: &str) -> TraceStateBuf {
    let view = state.view();
    let mut out = String::with_capacity(state.as_str().len());
    for m in view.members().iter().filter(|m| m.key != key) {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(m.key);
        out.push('=');
        out.push_str(m.value);
    }
    // Built from members of a valid list, so it parses; stay total regardless.
    TraceStateBuf::parse(out.as_bytes()).unwrap_or_default()
}

/// The normalized members of a tracestate header value, or why it was discarded.
///
/// # Examples
///
/// ```
/// use kafka_trace::interop::tracestate_members;
/// use kafka_trace::ErrorCode;
///
/// let members = tracestate_members(b"rojo=1 , congo=2").unwrap();
/// assert_eq!(members, [("rojo".to_string(), "1".to_string()), ("congo".to_string(), "2".to_string())]);
/// assert_eq!(tracestate_members(b"rojo=1,=2"), Err(ErrorCode::TracestateKey));
/// ```
pub fn tracestate_members(value: &[u8]) -> Result<Vec<(String, String)>, ErrorCode> {
    let state = TraceState::parse(value)?;
    Ok(state.members().iter().map(|m| (m.key.to_owned(), m.value.to_owned())).collect())
}

/// Builds a baggage from `(key, value, properties)` entries as a host SDK hands them over
/// (`properties` is the `;`-separated property list, possibly empty). Entries whose key is not a
/// token or whose properties are malformed are dropped, the last duplicate wins, the W3C limits
/// apply: exactly what [`Baggage::parse`] does with the same members on the wire.
///
/// # Examples
///
/// ```
/// use kafka_trace::interop::baggage_from_entries;
///
/// let baggage = baggage_from_entries([("user", "alice smith", "pii"), ("bad key", "x", ""), ("tenant", "acme", "")]);
/// assert_eq!(baggage.to_header_string(), "user=alice%20smith;pii,tenant=acme");
/// assert_eq!(baggage.entries()[0].properties, ["pii"]);
/// ```
pub fn baggage_from_entries<'a, I>(entries: I) -> Baggage
where
    I: IntoIterator<Item = (&'a str, &'a str, &'a str)>,
{
    let mut wire = Vec::new();
    for (key, value, properties) in entries {
        let mut single = Baggage::default();
        if single.insert(key, value).is_err() {
            continue;
        }
        if !wire.is_empty() {
            wire.push(b',');
        }
        // `key=percent-encoded-value`, as the codec writes it.
        single.write_header(&mut wire);
        let properties = properties.trim_matches(|c| c == ' ' || c == '\t');
        if !properties.is_empty() {
            wire.push(b';');
            wire.extend_from_slice(properties.as_bytes());
        }
    }
    Baggage::parse(&wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names_in_any_case() {
        assert_eq!(HeaderKind::of(b"traceparent"), HeaderKind::Traceparent);
        assert_eq!(HeaderKind::of(b"TraceState"), HeaderKind::Tracestate);
        assert_eq!(HeaderKind::of(b"BAGGAGE"), HeaderKind::Baggage);
        assert_eq!(HeaderKind::of(b"traceparent2"), HeaderKind::Other);
        assert_eq!(HeaderKind::of(b""), HeaderKind::Other);
        for kind in [HeaderKind::Other, HeaderKind::Traceparent, HeaderKind::Tracestate, HeaderKind::Baggage] {
            assert_eq!(HeaderKind::from_u8(kind as u8), kind);
        }
        assert_eq!(HeaderKind::Tracestate.header_name(), Some(TRACESTATE));
    }

    #[test]
    fn unset_removes_one_member() {
        let ts = TraceStateBuf::parse(b"a=1,b=2,c=3").unwrap();
        assert_eq!(tracestate_unset(&ts, "b").as_str(), "a=1,c=3");
        assert_eq!(tracestate_unset(&ts, "x").as_str(), "a=1,b=2,c=3");
        assert_eq!(tracestate_unset(&TraceStateBuf::parse(b"a=1").unwrap(), "a").as_str(), "");
    }

    #[test]
    fn members_or_error() {
        assert_eq!(tracestate_members(b" a=1 ,b=2").unwrap(), vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert_eq!(tracestate_members(b"A=1"), Err(ErrorCode::TracestateKey));
    }

    #[test]
    fn baggage_entries_keep_properties_and_encode_values() {
        let b = baggage_from_entries([("user", "alice smith", "p1;p2=v"), ("bad key", "x", ""), ("n", "é", ""), ("user", "bob", "")]);
        assert_eq!(b.to_header_string(), "n=%C3%A9,user=bob");
        let b = baggage_from_entries([("user", "alice smith", "p1; p2 = v")]);
        assert_eq!(b.entries()[0].properties, ["p1", "p2=v"]);
        assert_eq!(b.to_header_string(), "user=alice%20smith;p1;p2=v");
        assert!(baggage_from_entries([("k", "v", "bad prop")]).is_empty());
    }
}
