//! The `tracestate` header: up to 32 vendor `key=value` members, W3C Trace Context Level 2.
//!
//! [`TraceState`] borrows its members from the header bytes (no allocation while parsing);
//! [`TraceStateBuf`] is the owned, normalized form a context keeps after the headers are gone.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::codec::tracestate::{TraceState, MAX_HEADER_LEN, MAX_MEMBERS};
//! use kafka_trace::ErrorCode;
//!
//! let state = TraceState::parse(b"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
//! assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
//!
//! // More than MAX_MEMBERS members discard the whole list.
//! let many: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("k{i}=v")).collect();
//! assert_eq!(TraceState::parse(many.join(",").as_bytes()), Err(ErrorCode::TracestateTooManyMembers));
//!
//! // What is injected never exceeds MAX_HEADER_LEN bytes.
//! let long = format!("a={},b={}", "x".repeat(256), "y".repeat(256));
//! let value = TraceState::parse(long.as_bytes()).unwrap().header_value(None);
//! assert!(value.as_bytes().len() <= MAX_HEADER_LEN);
//! assert_eq!(value.as_bytes(), format!("a={}", "x".repeat(256)).as_bytes());
//! ```

use arrayvec::ArrayVec;

use super::trim_ows;
use crate::ErrorCode;

/// At most this many members; more discards the whole tracestate (see the module example).
pub const MAX_MEMBERS: usize = 32;
/// Longest tracestate we write; longer lists are truncated on inject (see the module example).
pub const MAX_HEADER_LEN: usize = 512;
/// Members longer than this are the first to go when truncating.
const LONG_MEMBER_LEN: usize = 128;

/// One `key=value` member, already validated (both are printable ASCII).
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::tracestate::{Member, TraceState};
///
/// let state = TraceState::parse(b"rojo=00f067aa0ba902b7").unwrap();
/// assert_eq!(state.members(), &[Member { key: "rojo", value: "00f067aa0ba902b7" }]);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// Vendor key, e.g. `rojo` or `tenant@system`.
    pub key: &'a str,
    /// Opaque vendor value.
    pub value: &'a str,
}

impl<'a> Member<'a> {
    /// Validates a member given as separate key and value (e.g. one a tracer wants to add).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::codec::tracestate::Member;
    /// use kafka_trace::ErrorCode;
    ///
    /// let member = Member::new("tenant@vendor", "abc").unwrap();
    /// assert_eq!((member.key, member.value), ("tenant@vendor", "abc"));
    /// assert_eq!(Member::new("Rojo", "1"), Err(ErrorCode::TracestateKey));
    /// assert_eq!(Member::new("rojo", "a,b=c"), Err(ErrorCode::TracestateValue));
    /// ```
    pub fn new(key: &'a str, value: &'a str) -> Result<Self, ErrorCode> {
        if !is_valid_key(key.as_bytes()) {
            return Err(ErrorCode::TracestateKey);
        }
        if !is_valid_value(value.as_bytes()) {
            return Err(ErrorCode::TracestateValue);
        }
        Ok(Self { key, value })
    }

    fn encoded_len(&self) -> usize {
        self.key.len() + 1 + self.value.len()
    }
}

/// A validated tracestate borrowing from the header values it was parsed from.
///
/// # Examples
///
/// ```
/// use kafka_trace::TraceState;
///
/// let header = b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_vec();
/// let state = TraceState::parse(&header).unwrap();
/// let keys: Vec<&str> = state.members().iter().map(|m| m.key).collect();
/// assert_eq!(keys, ["rojo", "congo"]);
/// ```
#[derive(Clone, Default)]
pub struct TraceState<'a> {
    members: ArrayVec<Member<'a>, MAX_MEMBERS>,
    /// The one header value all members were read from, when there is one: if it is as long as
    /// the normalized list, it is that list (members keep their order and each is followed by at
    /// least one separator, so equal lengths leave room for nothing but single commas), and the
    /// owned copy is one copy of it. Not part of the state's identity.
    source: Option<&'a str>,
}

/// Equal when the members are; how the list was written does not matter.
impl PartialEq for TraceState<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.members == other.members
    }
}

impl Eq for TraceState<'_> {}

impl core::fmt::Debug for TraceState<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TraceState").field("members", &self.members).finish()
    }
}

impl<'a> TraceState<'a> {
    /// Parses one header value. Spaces and tabs around members are ignored; a repeated key keeps
    /// its first value.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceState};
    ///
    /// let state = TraceState::parse(b" rojo=1 ,\tcongo=2, rojo=3").unwrap();
    /// assert_eq!(state.members().len(), 2);
    /// assert_eq!(state.get("rojo"), Some("1"));
    /// assert_eq!(TraceState::parse(b"rojo"), Err(ErrorCode::TracestateMember));
    /// ```
    pub fn parse(value: &'a [u8]) -> Result<Self, ErrorCode> {
        Self::parse_values([value])
    }

    /// Parses several header values as one list, in order (repeated HTTP fields are joined; a Kafka
    /// carrier reads only its last `tracestate` header).
    /// The first malformed member, or a 33rd member, discards the whole list.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceState};
    ///
    /// let fields: [&[u8]; 2] = [b"rojo=1", b"congo=2"];
    /// let state = TraceState::parse_values(fields).unwrap();
    /// assert_eq!(state.get("congo"), Some("2"));
    /// let bad: [&[u8]; 2] = [b"rojo=1", b"congo"];
    /// assert_eq!(TraceState::parse_values(bad), Err(ErrorCode::TracestateMember));
    /// ```
    pub fn parse_values<I>(values: I) -> Result<Self, ErrorCode>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut state = Self::default();
        state.extend_values(values)?;
        Ok(state)
    }

    /// [`parse_values`](Self::parse_values) into an empty state in place (the state is about a
    /// kilobyte: a caller that already holds one avoids moving it).
    #[inline]
    pub(crate) fn extend_values<I>(&mut self, values: I) -> Result<(), ErrorCode>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut seen = 0usize;
        for value in values {
            self.push_value(value, &mut seen)?;
        }
        Ok(())
    }

    /// Adds the members of one header value; `seen` counts the non-empty members so far.
    ///
    /// Members written the plain way (`key=value` then `,` or the end, no white space around
    /// them) are validated and sliced eight bytes at a time, off a `&str` that shrinks from the
    /// front; the first member that is not plain hands the rest to the one-pass scan, which also
    /// takes white space and empty members, and a member that one does not accept (an invalid
    /// one, or one it does not handle) hands the rest to the member-by-member path, so the first
    /// bad member still decides the error.
    #[inline]
    fn push_value(&mut self, value: &'a [u8], seen: &mut usize) -> Result<(), ErrorCode> {
        // One UTF-8 check per header value lets members be sliced as `&str` directly; a value
        // that is not UTF-8 takes the member-by-member path.
        self.source = None;
        let Ok(text) = core::str::from_utf8(value) else {
            return self.push_members_slowly(value, seen);
        };
        let only_source = self.members.is_empty();
        let mut rest = text;
        while let Some((member, next)) = plain_member(rest) {
            *seen += 1;
            if *seen > MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            self.push_first(member);
            rest = next;
        }
        if rest.is_empty() {
            if only_source {
                self.source = Some(text);
            }
            return Ok(());
        }
        self.push_scanned(text, text.len() - rest.len(), only_source, seen)
    }

    /// The one-pass scan of `text` from `i`: white space and empty members between members.
    fn push_scanned(&mut self, text: &'a str, mut i: usize, only_source: bool, seen: &mut usize) -> Result<(), ErrorCode> {
        let bytes = text.as_bytes();
        let len = bytes.len();
        loop {
            // Skip white space and empty members.
            while i < len && class(bytes[i]) & SKIP != 0 {
                i += 1;
            }
            if i == len {
                if only_source {
                    self.source = Some(text);
                }
                return Ok(());
            }
            let start = i;
            *seen += 1;
            if *seen > MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            match scan_member(bytes, start) {
                Some((eq, value_end, next)) => {
                    // The member is ASCII, so every offset in it is a character boundary.
                    let (Some(key), Some(value)) = (text.get(start..eq), text.get(eq + 1..value_end)) else {
                        *seen -= 1;
                        return self.push_members_slowly(&bytes[start..], seen);
                    };
                    self.push_first(Member { key, value });
                    i = next;
                }
                None => {
                    *seen -= 1;
                    return self.push_members_slowly(&bytes[start..], seen);
                }
            }
        }
    }

    /// The member-by-member path (also the reference the one-pass path agrees with).
    #[cold]
    fn push_members_slowly(&mut self, value: &'a [u8], seen: &mut usize) -> Result<(), ErrorCode> {
        for raw in value.split(|&b| b == b',') {
            let raw = trim_ows(raw);
            if raw.is_empty() {
                continue;
            }
            *seen += 1;
            if *seen > MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            self.push_first(parse_member(raw)?);
        }
        Ok(())
    }

    /// Duplicate keys are not allowed on the wire; the first one is the vendor's latest.
    #[inline(always)]
    fn push_first(&mut self, member: Member<'a>) {
        if !self.members.iter().any(|m| m.key == member.key) {
            // At most MAX_MEMBERS members were counted, so this always fits.
            let _ = self.members.try_push(member);
        }
    }

    /// The members in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// let state = TraceState::parse(b"b=2,a=1").unwrap();
    /// let pairs: Vec<(&str, &str)> = state.members().iter().map(|m| (m.key, m.value)).collect();
    /// assert_eq!(pairs, [("b", "2"), ("a", "1")]);
    /// ```
    pub fn members(&self) -> &[Member<'a>] {
        &self.members
    }

    /// The value for `key`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// let state = TraceState::parse(b"rojo=00f067aa0ba902b7").unwrap();
    /// assert_eq!(state.get("rojo"), Some("00f067aa0ba902b7"));
    /// assert_eq!(state.get("congo"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.members.iter().find(|m| m.key == key).map(|m| m.value)
    }

    /// Whether there are no members.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// assert!(TraceState::parse(b" , ").unwrap().is_empty());
    /// assert!(!TraceState::parse(b"rojo=1").unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The header value to inject, with `first` (if any) moved or added to the front and the list
    /// truncated to 512 bytes: long members (over 128 bytes) go first, from the end, then members
    /// from the end. An empty result means "write no tracestate header".
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::codec::tracestate::{Member, TraceState};
    ///
    /// let state = TraceState::parse(b"rojo=1,congo=2").unwrap();
    /// let ours = Member::new("congo", "3").unwrap();
    /// assert_eq!(state.header_value(Some(ours)).as_bytes(), b"congo=3,rojo=1");
    /// assert!(TraceState::default().header_value(None).is_empty());
    /// ```
    pub fn header_value(&self, first: Option<Member<'_>>) -> HeaderValue {
        let mut candidates: ArrayVec<Member<'_>, { MAX_MEMBERS + 1 }> = ArrayVec::new();
        candidates.extend(first);
        for m in &self.members {
            if first.is_none_or(|f| f.key != m.key) {
                candidates.push(*m);
            }
        }
        // Adding our member may exceed the member limit: the oldest entries at the end go.
        candidates.truncate(MAX_MEMBERS);
        let mut keep = [true; MAX_MEMBERS + 1];
        let joined_len = |keep: &[bool]| -> usize {
            let (count, bytes) = candidates
                .iter()
                .zip(keep)
                .filter(|(_, k)| **k)
                .fold((0usize, 0usize), |(n, len), (m, _)| (n + 1, len + m.encoded_len()));
            bytes + count.saturating_sub(1)
        };
        while joined_len(&keep) > MAX_HEADER_LEN {
            let kept = |i: &usize| keep[*i];
            let victim = (0..candidates.len())
                .rev()
                .filter(kept)
                .find(|&i| candidates[i].encoded_len() > LONG_MEMBER_LEN)
                .or_else(|| (0..candidates.len()).rev().find(kept));
            match victim {
                Some(i) => keep[i] = false,
                None => break,
            }
        }
        let mut out = HeaderValue::default();
        for (m, _) in candidates.iter().zip(keep).filter(|(_, k)| *k) {
            if !out.bytes.is_empty() {
                out.push(b",");
            }
            out.push(m.key.as_bytes());
            out.push(b"=");
            out.push(m.value.as_bytes());
        }
        out
    }
}

/// A tracestate header value ready to write, at most 512 bytes, on the stack.
///
/// # Examples
///
/// ```
/// use kafka_trace::TraceStateBuf;
///
/// let value = TraceStateBuf::parse(b"rojo=1, congo=2").unwrap().header_value();
/// assert_eq!(value.as_bytes(), b"rojo=1,congo=2");
/// assert_eq!(format!("{value:?}"), "HeaderValue(\"rojo=1,congo=2\")");
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct HeaderValue {
    bytes: ArrayVec<u8, MAX_HEADER_LEN>,
}

impl HeaderValue {
    fn push(&mut self, part: &[u8]) {
        // Truncation above guarantees the joined list fits; never panic if that ever changes.
        let _ = self.bytes.try_extend_from_slice(part);
    }

    /// The bytes to write.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// let value = TraceState::parse(b"rojo=1").unwrap().header_value(None);
    /// assert_eq!(value.as_bytes(), b"rojo=1");
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether there is nothing to write.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceStateBuf;
    ///
    /// assert!(TraceStateBuf::default().header_value().is_empty());
    /// assert!(!TraceStateBuf::parse(b"rojo=1").unwrap().header_value().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl core::fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeaderValue({:?})", String::from_utf8_lossy(&self.bytes))
    }
}

/// An owned, normalized tracestate (`k=v,k2=v2`, no white space, no duplicates, untruncated).
///
/// # Examples
///
/// ```
/// use kafka_trace::TraceStateBuf;
///
/// let mut state = TraceStateBuf::parse(b" rojo=1 ,congo=2").unwrap();
/// assert_eq!(state.as_str(), "rojo=1,congo=2");
/// state.set("congo", "3").unwrap();
/// assert_eq!(state.as_str(), "congo=3,rojo=1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceStateBuf(String);

impl TraceStateBuf {
    /// Copies a parsed tracestate.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{TraceState, TraceStateBuf};
    ///
    /// let header = b"rojo=1,\tcongo=2".to_vec();
    /// let owned = TraceStateBuf::from_state(&TraceState::parse(&header).unwrap());
    /// drop(header); // the copy outlives the header bytes
    /// assert_eq!(owned.as_str(), "rojo=1,congo=2");
    /// ```
    pub fn from_state(state: &TraceState<'_>) -> Self {
        let len = state.members().iter().map(|m| m.encoded_len() + 1).sum::<usize>().saturating_sub(1);
        if let Some(source) = state.source.filter(|s| s.len() == len) {
            return Self(source.to_owned());
        }
        let mut out = String::with_capacity(len);
        for m in state.members() {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(m.key);
            out.push('=');
            out.push_str(m.value);
        }
        Self(out)
    }

    /// Parses and normalizes one header value.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceStateBuf};
    ///
    /// assert_eq!(TraceStateBuf::parse(b"rojo=1,rojo=2").unwrap().as_str(), "rojo=1");
    /// assert_eq!(TraceStateBuf::parse(b"rojo=1,UPPER=2"), Err(ErrorCode::TracestateKey));
    /// ```
    pub fn parse(value: &[u8]) -> Result<Self, ErrorCode> {
        TraceState::parse(value).map(|s| Self::from_state(&s))
    }

    /// The normalized list.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceStateBuf;
    ///
    /// assert_eq!(TraceStateBuf::parse(b"a=1 , b=2").unwrap().as_str(), "a=1,b=2");
    /// assert_eq!(TraceStateBuf::default().as_str(), "");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A borrowed view with member access.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceStateBuf;
    ///
    /// let state = TraceStateBuf::parse(b"rojo=1,congo=2").unwrap();
    /// assert_eq!(state.view().get("congo"), Some("2"));
    /// assert_eq!(state.view().members().len(), 2);
    /// ```
    pub fn view(&self) -> TraceState<'_> {
        // The string was built from a valid list, so this cannot fail; stay total regardless.
        TraceState::parse(self.0.as_bytes()).unwrap_or_default()
    }

    /// Puts `key=value` first (replacing any old value), as a vendor does when it continues a trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{ErrorCode, TraceStateBuf};
    ///
    /// let mut state = TraceStateBuf::parse(b"rojo=1,congo=2").unwrap();
    /// state.set("ours", "x").unwrap();
    /// assert_eq!(state.as_str(), "ours=x,rojo=1,congo=2");
    /// assert_eq!(state.set("ours", "a=b"), Err(ErrorCode::TracestateValue));
    /// assert_eq!(state.as_str(), "ours=x,rojo=1,congo=2"); // unchanged on error
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ErrorCode> {
        let first = Member::new(key, value)?;
        let normalized = {
            let view = self.view();
            let mut next = TraceState::default();
            next.members.push(first);
            for m in view.members().iter().filter(|m| m.key != key).take(MAX_MEMBERS - 1) {
                next.members.push(*m);
            }
            Self::from_state(&next)
        };
        *self = normalized;
        Ok(())
    }

    /// Whether there are no members.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceStateBuf;
    ///
    /// assert!(TraceStateBuf::parse(b"").unwrap().is_empty());
    /// assert!(!TraceStateBuf::parse(b"rojo=1").unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The truncated value to inject (see [`TraceState::header_value`] for the truncation rule).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceStateBuf;
    ///
    /// let (x, y) = ("x".repeat(256), "y".repeat(256));
    /// let state = TraceStateBuf::parse(format!("a={x},b={y},c=1").as_bytes()).unwrap();
    /// assert_eq!(state.as_str().len(), 521); // kept whole
    /// // On inject the last long member goes first.
    /// assert_eq!(state.header_value().as_bytes(), format!("a={x},c=1").as_bytes());
    /// ```
    pub fn header_value(&self) -> HeaderValue {
        // The stored list is already normalized, so when it fits it is written as it is;
        // re-parsing it would cost more than the whole carrier write.
        if self.0.len() <= MAX_HEADER_LEN {
            let mut out = HeaderValue::default();
            out.push(self.0.as_bytes());
            return out;
        }
        self.view().header_value(None)
    }
}

/// Validates `key=value` and returns the position of the `=`.
fn validate_member(raw: &[u8]) -> Result<usize, ErrorCode> {
    let eq = raw.iter().position(|&b| b == b'=').ok_or(ErrorCode::TracestateMember)?;
    if !is_valid_key(&raw[..eq]) {
        return Err(ErrorCode::TracestateKey);
    }
    if !is_valid_value(&raw[eq + 1..]) {
        return Err(ErrorCode::TracestateValue);
    }
    Ok(eq)
}

fn parse_member(raw: &[u8]) -> Result<Member<'_>, ErrorCode> {
    let eq = validate_member(raw)?;
    let (key, value) = (&raw[..eq], &raw[eq + 1..]);
    // Both were just checked to be ASCII, so these conversions cannot fail.
    let key = core::str::from_utf8(key).map_err(|_| ErrorCode::TracestateKey)?;
    let value = core::str::from_utf8(value).map_err(|_| ErrorCode::TracestateValue)?;
    Ok(Member { key, value })
}

/// Byte classes for the one-pass member scan.
const KEY_FIRST: u8 = 1; // [a-z0-9]
const KEY: u8 = 2; // [a-z0-9_\-*/@]
const VALUE: u8 = 4; // printable ASCII other than `,` and `=` (space included)
const SKIP: u8 = 8; // space, tab and `,` between members
const OWS: u8 = 16; // space and tab

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        if b != b',' as usize && b != b'=' as usize {
            table[b] = VALUE;
        }
        b += 1;
    }
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            table[b] |= KEY_FIRST | KEY;
        }
        if matches!(c, b'_' | b'-' | b'*' | b'/' | b'@') {
            table[b] |= KEY;
        }
        b += 1;
    }
    table[b' ' as usize] |= SKIP | OWS;
    table[b'\t' as usize] |= SKIP | OWS;
    table[b',' as usize] |= SKIP;
    table
};

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASSES[b as usize]
}

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Each lane's high bit set where the lane (< 0x80) is `>= bound` (carry-free lane additions;
/// a lane >= 0x80 carries into the next one).
#[inline(always)]
const fn at_least(x: u64, bound: u8) -> u64 {
    x.wrapping_add(LANES * (0x80 - bound as u64)) & HIGH
}

/// High bit set in the lanes that are not value bytes (printable ASCII other than `,` and `=`).
///
/// Only the lowest marked lane is exact: the lane tests borrow and carry across lanes, but only
/// out of a lane that is a stop itself, so a wrong mark only ever sits above a right one. Every
/// caller reads the lowest mark alone.
#[inline(always)]
fn value_stops(word: u64) -> u64 {
    let below_space = word.wrapping_sub(LANES * 0x20); // borrows (high bit) below 0x20
    let delete = word.wrapping_add(LANES); // 0x7f turns into 0x80
    let comma = word ^ (LANES * b',' as u64); // zero where `,`
    let equals = word ^ (LANES * b'=' as u64); // zero where `=`
    // Non-ASCII lanes by their own high bit; the others where a test sets it.
    HIGH & (word
        | (!word & (below_space | delete))
        | (comma.wrapping_sub(LANES) & !comma)
        | (equals.wrapping_sub(LANES) & !equals))
}

/// High bit set in the lanes that are not `[a-z0-9]`; as with [`value_stops`], only the lowest
/// mark is exact (a lane carries only out of a non-ASCII lane, a stop itself).
#[inline(always)]
fn alnum_stops(word: u64) -> u64 {
    let below_digits = !at_least(word, b'0');
    let past_digits = at_least(word, b'9' + 1) & !at_least(word, b'a');
    let past_letters = at_least(word, b'z' + 1);
    // Non-ASCII lanes by their own high bit.
    HIGH & (word | below_digits | past_digits | past_letters)
}

/// The eight bytes of `bytes` from `i`; lanes past the end are zero (a byte of no class).
#[inline(always)]
fn word_at(bytes: &[u8], i: usize) -> u64 {
    match bytes.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        Some(word) => u64::from_le_bytes(*word),
        None => tail_word(bytes, i),
    }
}

/// [`word_at`] with fewer than eight bytes left.
#[inline(always)]
fn tail_word(bytes: &[u8], i: usize) -> u64 {
    let len = bytes.len();
    if i >= len {
        return 0;
    }
    match bytes.last_chunk::<8>() {
        // The last eight bytes, shifted down so lane 0 is byte `i` (by 8 to 56 bits).
        Some(last) => u64::from_le_bytes(*last) >> (8 * (i + 8 - len)),
        None => bytes[i..].iter().rev().fold(0, |word, &b| (word << 8) | b as u64),
    }
}

/// The end of the run of key bytes (`[a-z0-9_\-*/@]`) from `i`: eight bytes at a time for
/// `[a-z0-9]`, stepping over the other key bytes one by one.
#[inline(always)]
fn key_end(bytes: &[u8], mut i: usize) -> usize {
    loop {
        // An all-alphanumeric word has no stop: 64 / 8 moves on by a whole word.
        let at = i + (alnum_stops(word_at(bytes, i)).trailing_zeros() / 8) as usize;
        match bytes.get(at) {
            // The usual end of a key, checked before the class table.
            Some(b'=') => return at,
            Some(&b) if class(b) & KEY != 0 => i = at + 1,
            _ => return at.min(bytes.len()),
        }
    }
}

/// The end of the run of value bytes from `i` (at most the end of `bytes`, for `i` up to there;
/// `i` itself past it).
#[inline(always)]
fn value_end(bytes: &[u8], i: usize) -> usize {
    let Some(mut rest) = bytes.get(i..) else {
        return i;
    };
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let stop = value_stops(u64::from_le_bytes(*word));
        if stop != 0 {
            return bytes.len() - rest.len() + (stop.trailing_zeros() / 8) as usize;
        }
        rest = tail;
    }
    // Fewer than eight bytes left: the zero lane at the end stops a run that reaches it.
    let at = bytes.len() - rest.len();
    at + (value_stops(tail_word(bytes, at)).trailing_zeros() / 8) as usize
}

/// The member `text` starts with when it is written the plain way (`key=value` and then `,` or
/// the end), and the text after that `,`; `None` for anything else.
#[inline(always)]
fn plain_member(text: &str) -> Option<(Member<'_>, &str)> {
    let bytes = text.as_bytes();
    if !matches!(bytes.first(), Some(b'a'..=b'z' | b'0'..=b'9')) {
        return None;
    }
    let eq = key_end(bytes, 1);
    if eq > 256 || bytes.get(eq) != Some(&b'=') {
        return None;
    }
    // `eq` is a byte of `text`, so this is at most the end of `text`.
    let end = value_end(bytes, eq + 1);
    // 1 to 256 bytes of value, not ending in a space.
    if end.wrapping_sub(eq + 2) >= 256 || bytes.get(end - 1) == Some(&b' ') {
        return None;
    }
    // Every split below is at a byte just compared with an ASCII one (or at the end), so the
    // `&str` splits cost no character-boundary work.
    let (member, next) = text.split_at_checked(end)?;
    let next = match next.as_bytes().first() {
        None => next,
        Some(b',') => next.strip_prefix(',')?,
        Some(_) => return None,
    };
    let (key, value) = member.split_at(eq);
    Some((Member { key, value: value.strip_prefix('=')? }, next))
}

/// Scans the valid member starting at `start` (not white space, not `,`): the position of its
/// `=`, the end of its value (trailing spaces excluded) and where the next member may start.
/// `None` for anything not plainly valid; the caller then takes the member-by-member path.
#[inline(always)]
fn scan_member(bytes: &[u8], start: usize) -> Option<(usize, usize, usize)> {
    let len = bytes.len();
    if class(bytes[start]) & KEY_FIRST == 0 {
        return None;
    }
    let mut i = key_end(bytes, start + 1);
    if i == len || bytes[i] != b'=' || i - start > 256 {
        return None;
    }
    let eq = i;
    i = value_end(bytes, i + 1);
    // Trailing spaces are OWS, not value; the `=` at `eq` ends this loop at the latest.
    let mut value_end = i;
    while let Some(b' ') = bytes.get(value_end.wrapping_sub(1)) {
        value_end -= 1;
    }
    if value_end == eq + 1 || value_end - eq - 1 > 256 {
        return None;
    }
    while i < len && class(bytes[i]) & OWS != 0 {
        i += 1;
    }
    match bytes.get(i) {
        None => Some((eq, value_end, i)),
        Some(b',') => Some((eq, value_end, i + 1)),
        Some(_) => None,
    }
}

/// Level 2 key: `[a-z0-9]` then up to 255 of `[a-z0-9_\-*/@]`.
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::tracestate::is_valid_key;
///
/// assert!(is_valid_key(b"tenant@vendor"));
/// assert!(!is_valid_key(b"Vendor"));
/// assert!(!is_valid_key(b"_vendor"));
/// ```
pub fn is_valid_key(key: &[u8]) -> bool {
    let is_key_char = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@');
    match key {
        [first, rest @ ..] => {
            matches!(first, b'a'..=b'z' | b'0'..=b'9') && rest.len() <= 255 && rest.iter().all(is_key_char)
        }
        [] => false,
    }
}

/// 1 to 256 printable ASCII bytes other than `,` and `=`, not ending in a space.
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::tracestate::is_valid_value;
///
/// assert!(is_valid_value(b"t61rcWkgMzE"));
/// assert!(!is_valid_value(b"a=b"));
/// assert!(!is_valid_value(b"trailing "));
/// assert!(!is_valid_value(b""));
/// ```
pub fn is_valid_value(value: &[u8]) -> bool {
    (1..=256).contains(&value.len())
        && value.iter().all(|&b| matches!(b, 0x20..=0x7e) && b != b',' && b != b'=')
        && value.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_members_in_order_and_skips_empty_ones() {
        let ts = TraceState::parse(b" rojo=00f067aa0ba902b7 ,, congo=t61rcWkgMzE,\tvendor3=abc123 ").unwrap();
        let keys: Vec<_> = ts.members().iter().map(|m| m.key).collect();
        assert_eq!(keys, ["rojo", "congo", "vendor3"]);
        assert_eq!(ts.get("congo"), Some("t61rcWkgMzE"));
    }

    /// The one-pass scan against the member-by-member path on many small lists built from the
    /// bytes that matter (separators, white space, key and value classes, non-ASCII).
    #[test]
    fn one_pass_agrees_with_the_member_by_member_path() {
        fn slowly(value: &[u8]) -> Result<TraceState<'_>, ErrorCode> {
            let mut state = TraceState::default();
            let mut seen = 0;
            state.push_members_slowly(value, &mut seen).map(|()| state)
        }
        let alphabet: &[&[u8]] = &[
            b"a", b"z", b"0", b"9", b"_", b"-", b"*", b"/", b"@", b"=", b",", b" ", b"\t", b"A", b"~", b"!", b"\n",
            b"\x7f", "\u{e9}".as_bytes(), b"\xff", b"k=v", b"rojo=1", b",x=2", b"  ,", b"=", b"a=", b"b= ",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let parts = (next() % 12) as usize;
            let mut value = Vec::new();
            for _ in 0..parts {
                value.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            let parsed = TraceState::parse(&value);
            assert_eq!(parsed, slowly(&value), "{:?}", String::from_utf8_lossy(&value));
            if let Ok(state) = &parsed {
                assert_eq!(TraceStateBuf::from_state(state).as_str(), joined(state), "{:?}", String::from_utf8_lossy(&value));
            }
        }
        let long_key = format!("{}=1", "k".repeat(256));
        let longer_key = format!("{}=1", "k".repeat(257));
        let long_value = format!("k={}", "v".repeat(256));
        let longer_value = format!("k={}", "v".repeat(257));
        for value in [long_key, longer_key, long_value, longer_value] {
            assert_eq!(TraceState::parse(value.as_bytes()), slowly(value.as_bytes()), "{} bytes", value.len());
        }
    }

    fn joined(state: &TraceState<'_>) -> String {
        state.members().iter().map(|m| format!("{}={}", m.key, m.value)).collect::<Vec<_>>().join(",")
    }

    /// The owned copy takes the header value whole only when it is exactly the normalized list.
    #[test]
    fn the_owned_copy_is_the_normalized_list_however_the_values_were_written() {
        let cases: &[(&[&[u8]], &str, bool)] = &[
            (&[b"a=1,b=2"], "a=1,b=2", true),
            (&[b"a=1"], "a=1", true),
            (&[b"a=1,b=2,"], "a=1,b=2", false),
            (&[b",a=1"], "a=1", false),
            (&[b"a=1 ,b=2"], "a=1,b=2", false),
            (&[b"a=1, b=2"], "a=1,b=2", false),
            (&[b"a=1,,b=2"], "a=1,b=2", false),
            (&[b"a=1,a=2"], "a=1", false),
            (&[b"a=1\t"], "a=1", false),
            (&[b"a= 1"], "a= 1", true),
            (&[b""], "", true),
            (&[b"a=1", b"b=2"], "a=1,b=2", false),
            (&[b" , ", b"b=2"], "b=2", true),
            (&[b"a=1,b=2", b""], "a=1,b=2", false),
            (&[b"a=1", b"a=2"], "a=1", false),
        ];
        for (values, want, whole) in cases {
            let state = TraceState::parse_values(values.iter().copied()).unwrap();
            assert_eq!(TraceStateBuf::from_state(&state).as_str(), *want, "{values:?}");
            assert_eq!(joined(&state), *want, "{values:?}");
            assert_eq!(state.source.is_some_and(|s| s.len() == want.len()), *whole, "{values:?}");
        }
    }

    #[test]
    fn word_classes_agree_with_the_table_for_every_byte_in_every_lane() {
        for (lane, base) in (0..8).flat_map(|lane| [(lane, *b"ab=c,d e"), (lane, *b"abcd9 0z")]) {
            for b in 0..=255u8 {
                let mut word = base;
                word[lane] = b;
                let x = u64::from_le_bytes(word);
                for (stops, bit) in [(value_stops as fn(u64) -> u64, VALUE), (alnum_stops, KEY_FIRST)] {
                    let first = stops(x).trailing_zeros() as usize / 8;
                    let want = word.iter().position(|&c| class(c) & bit == 0).unwrap_or(8);
                    assert_eq!(first.min(8), want, "lane {lane} byte {b:#04x} class {bit}");
                }
            }
        }
    }

    /// Words read at every offset of every length, and the runs built on them, against the
    /// bytes and the class table.
    #[test]
    fn words_and_runs_agree_with_the_bytes() {
        let text = b"ab-c_d*e/f@9=v a,lue=Z,k=~x\t=,";
        for len in 0..=text.len() {
            let bytes = &text[..len];
            for i in 0..=len + 9 {
                let want: Vec<u8> = (0..8).map(|k| bytes.get(i + k).copied().unwrap_or(0)).collect();
                assert_eq!(word_at(bytes, i).to_le_bytes().to_vec(), want, "len {len} at {i}");
                let run = |bit: u8| (i.min(len)..len).find(|&j| class(bytes[j]) & bit == 0).unwrap_or(len);
                assert_eq!(key_end(bytes, i), run(KEY), "key run, len {len} at {i}");
                if i <= len {
                    assert_eq!(value_end(bytes, i), run(VALUE), "value run, len {len} at {i}");
                }
            }
        }
    }

    #[test]
    fn discards_on_the_33rd_member() {
        let list: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let joined = list.join(",");
        assert_eq!(TraceState::parse(joined.as_bytes()), Err(ErrorCode::TracestateTooManyMembers));
        let joined32 = list[..32].join(",");
        assert_eq!(TraceState::parse(joined32.as_bytes()).unwrap().members().len(), 32);
    }

    #[test]
    fn set_moves_the_key_to_the_front() {
        let mut buf = TraceStateBuf::parse(b"a=1,b=2,c=3").unwrap();
        buf.set("b", "9").unwrap();
        assert_eq!(buf.as_str(), "b=9,a=1,c=3");
        assert_eq!(buf.set("B", "1"), Err(ErrorCode::TracestateKey));
    }

    #[test]
    fn truncates_long_members_first_then_from_the_end() {
        let long = "x".repeat(250);
        let list = format!("a={long},b={long},c=1,d={}", "y".repeat(100));
        let ts = TraceState::parse(list.as_bytes()).unwrap();
        let v = ts.header_value(None);
        // 252 + 252 + 3 + 102 + 3 separators > 512: b (the last long one) goes first.
        assert_eq!(v.as_bytes(), format!("a={long},c=1,d={}", "y".repeat(100)).as_bytes());
    }
}
