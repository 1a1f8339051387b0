use core::fmt;

/// Why a header could not be used. The numeric values are part of the public contract (the C ABI
/// and the shared test vectors use them) and are never reused for another meaning.
///
/// # Examples
///
/// ```
/// use kafka_trace::{ErrorCode, TraceParent};
///
/// let err = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01").unwrap_err();
/// assert_eq!(err, ErrorCode::TraceparentZeroSpanId);
/// assert_eq!(err.code(), 8);
/// assert_eq!(err.to_string(), "traceparent parent-id is all zeros (traceparent_zero_span_id)");
/// ```
#[non_exhaustive]
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No `traceparent` header: the consumer starts a new root trace.
    Missing = 1,
    /// Too short, too long for version `00`, or shorter than 55 bytes for a later version.
    TraceparentLength = 2,
    /// Version is not two lowercase hex digits, or is the forbidden `ff`.
    TraceparentVersion = 3,
    /// A `-` is missing where the format requires one.
    TraceparentDelimiter = 4,
    /// The trace-id is not 32 lowercase hex digits.
    TraceparentTraceId = 5,
    /// The trace-id is all zeros.
    TraceparentZeroTraceId = 6,
    /// The parent-id is not 16 lowercase hex digits.
    TraceparentSpanId = 7,
    /// The parent-id is all zeros.
    TraceparentZeroSpanId = 8,
    /// The flags are not two lowercase hex digits.
    TraceparentFlags = 9,
    /// Several `traceparent` headers with different values: W3C treats repeated fields as invalid.
    TraceparentDuplicate = 10,
    /// More than 32 tracestate members: the whole tracestate is discarded.
    TracestateTooManyMembers = 11,
    /// A tracestate member without `=`.
    TracestateMember = 12,
    /// A tracestate key outside the Level 2 key grammar.
    TracestateKey = 13,
    /// A tracestate value that is empty, too long or has a forbidden byte.
    TracestateValue = 14,
    /// A baggage member outside the W3C Baggage grammar.
    BaggageMember = 15,
    /// The caller's output buffer is too small; nothing useful was written.
    BufferTooSmall = 16,
}

impl ErrorCode {
    /// The stable numeric value of this code.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::Missing.code(), 1);
    /// assert_eq!(ErrorCode::BufferTooSmall.code(), 16);
    /// ```
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The stable snake_case name used in test vectors and error messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::TracestateTooManyMembers.as_str(), "tracestate_too_many_members");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::TraceparentLength => "traceparent_length",
            Self::TraceparentVersion => "traceparent_version",
            Self::TraceparentDelimiter => "traceparent_delimiter",
            Self::TraceparentTraceId => "traceparent_trace_id",
            Self::TraceparentZeroTraceId => "traceparent_zero_trace_id",
            Self::TraceparentSpanId => "traceparent_span_id",
            Self::TraceparentZeroSpanId => "traceparent_zero_span_id",
            Self::TraceparentFlags => "traceparent_flags",
            Self::TraceparentDuplicate => "traceparent_duplicate",
            Self::TracestateTooManyMembers => "tracestate_too_many_members",
            Self::TracestateMember => "tracestate_member",
            Self::TracestateKey => "tracestate_key",
            Self::TracestateValue => "tracestate_value",
            Self::BaggageMember => "baggage_member",
            Self::BufferTooSmall => "buffer_too_small",
        }
    }

    /// Every code, in numeric order (for bindings that export the table).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::ErrorCode;
    ///
    /// let codes: Vec<u32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
    /// assert_eq!(codes, (1..=16).collect::<Vec<u32>>());
    /// ```
    pub const ALL: [ErrorCode; 16] = [
        Self::Missing,
        Self::TraceparentLength,
        Self::TraceparentVersion,
        Self::TraceparentDelimiter,
        Self::TraceparentTraceId,
        Self::TraceparentZeroTraceId,
        Self::TraceparentSpanId,
        Self::TraceparentZeroSpanId,
        Self::TraceparentFlags,
        Self::TraceparentDuplicate,
        Self::TracestateTooManyMembers,
        Self::TracestateMember,
        Self::TracestateKey,
        Self::TracestateValue,
        Self::BaggageMember,
        Self::BufferTooSmall,
    ];

    /// The code with this numeric value, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::from_code(15), Some(ErrorCode::BaggageMember));
    /// assert_eq!(ErrorCode::from_code(0), None);
    /// ```
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// A one-line human explanation.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::ErrorCode;
    ///
    /// assert_eq!(ErrorCode::Missing.message(), "no traceparent header");
    /// ```
    pub const fn message(self) -> &'static str {
        match self {
            Self::Missing => "no traceparent header",
            Self::TraceparentLength => "traceparent has the wrong length",
            Self::TraceparentVersion => "traceparent version is not two lowercase hex digits or is ff",
            Self::TraceparentDelimiter => "traceparent is missing a '-' delimiter",
            Self::TraceparentTraceId => "traceparent trace-id is not 32 lowercase hex digits",
            Self::TraceparentZeroTraceId => "traceparent trace-id is all zeros",
            Self::TraceparentSpanId => "traceparent parent-id is not 16 lowercase hex digits",
            Self::TraceparentZeroSpanId => "traceparent parent-id is all zeros",
            Self::TraceparentFlags => "traceparent flags are not two lowercase hex digits",
            Self::TraceparentDuplicate => "several traceparent headers with different values",
            Self::TracestateTooManyMembers => "tracestate has more than 32 members",
            Self::TracestateMember => "tracestate member has no '='",
            Self::TracestateKey => "tracestate key is not valid",
            Self::TracestateValue => "tracestate value is not valid",
            Self::BaggageMember => "baggage member is not valid",
            Self::BufferTooSmall => "output buffer too small",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.as_str())
    }
}

impl std::error::Error for ErrorCode {}
