//! The `traceparent` header: `version-traceid-parentid-flags`, W3C Trace Context Level 2.
//!
//! Parsing and formatting never allocate: ids are fixed arrays and output goes to a caller buffer.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::codec::traceparent::{TraceFlags, TraceParent, TRACEPARENT_LEN};
//!
//! let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! assert_eq!(parent.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert_eq!(parent.flags, TraceFlags::SAMPLED);
//! let encoded: [u8; TRACEPARENT_LEN] = parent.encode();
//! assert_eq!(&encoded[..], b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! ```

use core::fmt;

use super::{hex, trim_ows};
use crate::ErrorCode;

/// 16-byte trace id. The all-zero id is invalid on the wire and never produced by [`TraceParent::parse`].
///
/// # Examples
///
/// ```
/// use kafka_trace::TraceId;
///
/// let id = TraceId([0x4b; 16]);
/// assert_eq!(id.to_string(), "4b".repeat(16));
/// assert!(!TraceId::default().is_valid());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// 8-byte span (parent) id. The all-zero id is invalid on the wire.
///
/// # Examples
///
/// ```
/// use kafka_trace::SpanId;
///
/// let id = SpanId([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// assert_eq!(format!("{id:?}"), "SpanId(00f067aa0ba902b7)");
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

/// The 8 trace flag bits, kept whole so flags we do not know yet survive a hop.
///
/// # Examples
///
/// ```
/// use kafka_trace::TraceFlags;
///
/// let received = TraceFlags(0x83); // sampled, random and an unknown bit
/// assert!(received.is_sampled());
/// assert_eq!(received.propagated(), TraceFlags(0x03));
/// assert_eq!(format!("{received:?}"), "TraceFlags(83)");
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(pub u8);

impl TraceFlags {
    /// The caller may have recorded this trace.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The trace-id's right-most 7 bytes are random (Trace Context Level 2).
    pub const RANDOM: TraceFlags = TraceFlags(0x02);

    /// The flags a child writes: only sampled and random. W3C Trace Context Level 2 reserves the
    /// other bits and asks whoever propagates to set them to zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceFlags;
    ///
    /// assert_eq!(TraceFlags(0xff).propagated(), TraceFlags(0x03));
    /// assert_eq!(TraceFlags::RANDOM.propagated(), TraceFlags::RANDOM);
    /// ```
    pub const fn propagated(self) -> Self {
        Self(self.0 & 0x03)
    }

    /// Whether the sampled bit is set.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceFlags;
    ///
    /// assert!(TraceFlags(0x01).is_sampled());
    /// assert!(!TraceFlags::RANDOM.is_sampled());
    /// ```
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }
}

macro_rules! hex_id {
    ($ty:ident, $len:literal, $hex:literal) => {
        impl $ty {
            /// Parses lowercase hex of exactly the right length.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use kafka_trace::", stringify!($ty), ";")]
            ///
            #[doc = concat!("let id = ", stringify!($ty), "::from_hex(b\"", $hex, "\").unwrap();")]
            #[doc = concat!("assert_eq!(id.to_string(), \"", $hex, "\");")]
            #[doc = concat!("assert_eq!(", stringify!($ty), "::from_hex(b\"", $hex, "0\"), None); // too long")]
            #[doc = concat!("assert_eq!(", stringify!($ty), "::from_hex(\"", $hex, "\".to_uppercase().as_bytes()), None);")]
            /// ```
            pub fn from_hex(hex: &[u8]) -> Option<Self> {
                hex::decode::<$len>(hex).map(Self)
            }

            /// Whether this id may appear on the wire (not all zeros).
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use kafka_trace::", stringify!($ty), ";")]
            ///
            #[doc = concat!("assert!(", stringify!($ty), "::from_hex(b\"", $hex, "\").unwrap().is_valid());")]
            #[doc = concat!("assert!(!", stringify!($ty), "([0; ", $len, "]).is_valid());")]
            /// ```
            pub fn is_valid(&self) -> bool {
                self.0 != [0u8; $len]
            }

            /// Lowercase hex on the stack.
            ///
            /// # Examples
            ///
            /// ```
            #[doc = concat!("use kafka_trace::", stringify!($ty), ";")]
            ///
            #[doc = concat!("let id = ", stringify!($ty), "::from_hex(b\"", $hex, "\").unwrap();")]
            #[doc = concat!("assert_eq!(&id.to_hex(), b\"", $hex, "\");")]
            /// ```
            pub fn to_hex(&self) -> [u8; 2 * $len] {
                let mut out = [0u8; 2 * $len];
                hex::encode_into(&self.0, &mut out);
                out
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let hex = self.to_hex();
                // Hex digits are ASCII, so this conversion cannot fail.
                f.write_str(core::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self)
            }
        }
    };
}

hex_id!(TraceId, 16, "4bf92f3577b34da6a3ce929d0e0e4736");
hex_id!(SpanId, 8, "00f067aa0ba902b7");

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// A parsed `traceparent`: who the parent span is and how it was sampled.
///
/// # Examples
///
/// ```
/// use kafka_trace::{SpanId, TraceFlags, TraceId, TraceParent};
///
/// let parent = TraceParent::new(TraceId([0xab; 16]), SpanId([0xcd; 8]), TraceFlags::SAMPLED);
/// assert_eq!(parent.to_string(), "00-abababababababababababababababab-cdcdcdcdcdcdcdcd-01");
/// assert_eq!(TraceParent::parse(parent.to_string().as_bytes()), Ok(parent));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct TraceParent {
    /// The version read from the wire; we always write `00`.
    pub version: u8,
    /// The trace this message belongs to.
    pub trace_id: TraceId,
    /// The span that produced the message (the parent of the consumer's span).
    pub span_id: SpanId,
    /// All 8 flag bits as received.
    pub flags: TraceFlags,
}

/// Length of a version-00 traceparent, the only form we write (see the module example).
pub const TRACEPARENT_LEN: usize = 55;

impl TraceParent {
    /// A version-00 traceparent.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{SpanId, TraceFlags, TraceId, TraceParent};
    ///
    /// let parent = TraceParent::new(TraceId([1; 16]), SpanId([2; 8]), TraceFlags(0x03));
    /// assert_eq!(parent.version, 0);
    /// assert_eq!(parent.to_string(), "00-01010101010101010101010101010101-0202020202020202-03");
    /// ```
    pub const fn new(trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Self {
        Self { version: 0, trace_id, span_id, flags }
    }

    /// The same trace and flags with another span as the parent: what a child span injects.
    /// Only the [`TraceFlags::propagated`] bits are written; the received parent keeps all 8.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{SpanId, TraceParent};
    ///
    /// let received = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-81").unwrap();
    /// let child = received.with_span_id(SpanId([0x11; 8]));
    /// assert_eq!(child.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
    /// ```
    pub const fn with_span_id(self, span_id: SpanId) -> Self {
        Self::new(self.trace_id, span_id, self.flags.propagated())
    }

    /// Parses a header value. Surrounding spaces and tabs are ignored; anything else that is not
    /// exactly the W3C format is an error (the checks run in the order the test vectors document).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceParent};
    ///
    /// let parent = TraceParent::parse(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t").unwrap();
    /// assert_eq!(parent.span_id.to_string(), "00f067aa0ba902b7");
    /// assert_eq!(
    ///     TraceParent::parse(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
    ///     Err(ErrorCode::TraceparentZeroTraceId)
    /// );
    /// assert_eq!(TraceParent::parse(b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), Err(ErrorCode::TraceparentVersion));
    /// ```
    pub fn parse(value: &[u8]) -> Result<Self, ErrorCode> {
        // The common case, exactly 55 bytes of version 00 with nothing around them, skips the
        // trimming and the version rules.
        if let Ok(fixed) = <&[u8; TRACEPARENT_LEN]>::try_from(value) {
            // (A trailing space or tab would be trimmed, making the value too short.)
            if fixed[0] == b'0' && fixed[1] == b'0' && !matches!(fixed[54], b' ' | b'\t') {
                return Self::parse_fields(0, fixed);
            }
        }
        let value = trim_ows(value);
        if value.len() < 2 {
            return Err(ErrorCode::TraceparentLength);
        }
        let version = match hex::decode_pair(value[0], value[1]) {
            Some(0xff) | None => return Err(ErrorCode::TraceparentVersion),
            Some(v) => v,
        };
        match (version, value.len()) {
            (0, TRACEPARENT_LEN) => {}
            (0, _) => return Err(ErrorCode::TraceparentLength),
            (_, len) if len < TRACEPARENT_LEN => return Err(ErrorCode::TraceparentLength),
            (_, TRACEPARENT_LEN) => {}
            // Later versions may append fields, but only after another delimiter.
            _ if value[TRACEPARENT_LEN] != b'-' => return Err(ErrorCode::TraceparentDelimiter),
            _ => {}
        }
        match value.first_chunk::<TRACEPARENT_LEN>() {
            Some(fixed) => Self::parse_fields(version, fixed),
            None => Err(ErrorCode::TraceparentLength),
        }
    }

    /// The fields after the version, from the first 55 bytes (checked in the vectors' order).
    #[inline(always)]
    fn parse_fields(version: u8, value: &[u8; TRACEPARENT_LEN]) -> Result<Self, ErrorCode> {
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return Err(ErrorCode::TraceparentDelimiter);
        }
        let trace_id = TraceId(hex::decode::<16>(&value[3..35]).ok_or(ErrorCode::TraceparentTraceId)?);
        if !trace_id.is_valid() {
            return Err(ErrorCode::TraceparentZeroTraceId);
        }
        let span_id = SpanId(hex::decode::<8>(&value[36..52]).ok_or(ErrorCode::TraceparentSpanId)?);
        if !span_id.is_valid() {
            return Err(ErrorCode::TraceparentZeroSpanId);
        }
        let flags = hex::decode_pair(value[53], value[54]).ok_or(ErrorCode::TraceparentFlags)?;
        Ok(Self { version, trace_id, span_id, flags: TraceFlags(flags) })
    }

    /// Writes the version-00 form into the first 55 bytes of `out` and returns 55.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceParent};
    ///
    /// let parent = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    /// let mut buf = [0u8; 64];
    /// assert_eq!(parent.write_to(&mut buf), Ok(55));
    /// assert_eq!(&buf[..55], b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// assert_eq!(parent.write_to(&mut [0u8; 54]), Err(ErrorCode::BufferTooSmall));
    /// ```
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, ErrorCode> {
        let out: &mut [u8; TRACEPARENT_LEN] = out
            .get_mut(..TRACEPARENT_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ErrorCode::BufferTooSmall)?;
        *out = self.encode();
        Ok(TRACEPARENT_LEN)
    }

    /// The version-00 header value on the stack. A later version is written back as `00`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceParent;
    ///
    /// let later = TraceParent::parse(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").unwrap();
    /// assert_eq!(&later.encode(), b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    /// ```
    pub fn encode(&self) -> [u8; TRACEPARENT_LEN] {
        let mut out = [b'-'; TRACEPARENT_LEN];
        out[0] = b'0';
        out[1] = b'0';
        hex::encode_into(&self.trace_id.0, &mut out[3..35]);
        hex::encode_into(&self.span_id.0, &mut out[36..52]);
        out[53..55].copy_from_slice(&hex::encode_byte(self.flags.0));
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        f.write_str(core::str::from_utf8(&encoded).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_formats_the_spec_example() {
        let tp = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(tp.version, 0);
        assert_eq!(tp.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id.to_string(), "00f067aa0ba902b7");
        assert_eq!(tp.flags, TraceFlags::SAMPLED);
        assert_eq!(&tp.encode()[..], EXAMPLE);
    }

    #[test]
    fn table_of_errors() {
        let cases: &[(&[u8], ErrorCode)] = &[
            (b"", ErrorCode::TraceparentLength),
            (b"0", ErrorCode::TraceparentLength),
            (b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentVersion),
            (b"0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentVersion),
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", ErrorCode::TraceparentLength),
            (b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", ErrorCode::TraceparentDelimiter),
            (b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentDelimiter),
            (b"00-4BF92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentTraceId),
            (b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ErrorCode::TraceparentZeroTraceId),
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01", ErrorCode::TraceparentSpanId),
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ErrorCode::TraceparentZeroSpanId),
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", ErrorCode::TraceparentFlags),
            // 55 bytes whose last one is white space: trimmed first, so too short, not bad flags.
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\t", ErrorCode::TraceparentLength),
            (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0 ", ErrorCode::TraceparentLength),
        ];
        for (input, want) in cases {
            assert_eq!(TraceParent::parse(input), Err(*want), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn later_versions_read_the_first_55_bytes() {
        let tp = TraceParent::parse(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-comes-next").unwrap();
        assert_eq!(tp.version, 0xcc);
        assert_eq!(tp.flags, TraceFlags(0x03));
        assert_eq!(&tp.encode()[..2], b"00");
    }

    #[test]
    fn write_to_rejects_small_buffers() {
        let tp = TraceParent::parse(EXAMPLE).unwrap();
        assert_eq!(tp.write_to(&mut [0u8; 54]), Err(ErrorCode::BufferTooSmall));
        let mut buf = [0u8; 64];
        assert_eq!(tp.write_to(&mut buf), Ok(55));
        assert_eq!(&buf[..55], EXAMPLE);
    }
}
