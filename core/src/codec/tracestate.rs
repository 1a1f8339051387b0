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
/// let members: Vec<Member<'_>> = state.members().iter().collect();
/// assert_eq!(members, [Member { key: "rojo", value: "00f067aa0ba902b7" }]);
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
/// It keeps the header values themselves, checked but neither copied nor split: a state is a few
/// words however many members it has, and [`members`](Self::members) splits the values again on
/// demand, by the rules the parse checked them with (the same members, in the same order).
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
    /// The header values that hold members, in order (a value with none is left out).
    parts: Parts<'a>,
    /// How many members (a repeated key is not one): at most [`MAX_MEMBERS`].
    len: u8,
    /// Bit `i` set: the `i`-th non-empty member of the values (counted over all of them)
    /// repeats an earlier key, so it is not a member.
    repeats: u32,
    /// Whether the one value kept is the normalized list itself (plain members only, joined by
    /// single commas, no repeated key), so that the owned copy is one copy of it.
    exact: bool,
}

/// How many header values a state holds inline. Only a list split over more non-empty header
/// fields than this allocates (a Kafka record is always read from one value).
const INLINE_PARTS: usize = 2;

/// The header values of a state, in order.
#[derive(Clone, Default)]
struct Parts<'a> {
    inline: [&'a [u8]; INLINE_PARTS],
    inline_len: u8,
    /// All of them, once there are more than [`INLINE_PARTS`] (boxed: one word while unused).
    /// Each value kept holds a member, so at most [`MAX_MEMBERS`] are.
    spilled: Option<Box<ArrayVec<&'a [u8], MAX_MEMBERS>>>,
}

impl<'a> Parts<'a> {
    #[inline(always)]
    fn as_slice(&self) -> &[&'a [u8]] {
        match &self.spilled {
            None => self.inline.get(..self.inline_len as usize).unwrap_or_default(),
            Some(spilled) => spilled,
        }
    }

    #[inline(always)]
    fn push(&mut self, part: &'a [u8]) {
        match self.inline.get_mut(self.inline_len as usize) {
            Some(slot) if self.spilled.is_none() => {
                *slot = part;
                self.inline_len += 1;
            }
            _ => self.spill(part),
        }
    }

    #[cold]
    fn spill(&mut self, part: &'a [u8]) {
        let inline = self.inline;
        let spilled = self.spilled.get_or_insert_with(|| Box::new(inline.into_iter().collect()));
        // Never full: see the field.
        let _ = spilled.try_push(part);
    }
}

/// What a parse carries from member to member and value to value (not part of its result).
#[derive(Default)]
struct Reader {
    /// Non-empty members read so far, repeated keys included.
    seen: usize,
    /// One bit per key read (see [`key_bit`]): a clear bit proves a key new without looking back.
    keys: u64,
}

/// Equal when the members are; how the list was written does not matter.
impl PartialEq for TraceState<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.members() == other.members()
    }
}

impl Eq for TraceState<'_> {}

impl core::fmt::Debug for TraceState<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TraceState").field("members", &self.members()).finish()
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

    /// [`parse_values`](Self::parse_values) into an empty state the caller holds.
    #[inline]
    pub(crate) fn extend_values<I>(&mut self, values: I) -> Result<(), ErrorCode>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut read = Reader::default();
        for value in values {
            self.push_value(value, &mut read)?;
        }
        Ok(())
    }

    /// Checks the members of one header value and keeps the value if it has any.
    ///
    /// Members written the plain way (`key=value` then `,` or the end, no white space around
    /// them) are checked eight bytes at a time; the first member that is not plain hands the rest
    /// to the one-pass scan, which also takes white space and empty members, and a member that
    /// one does not accept (an invalid one, or one it does not handle) hands the rest to the
    /// member-by-member path, so the first bad member still decides the error. Nothing is
    /// converted to `str` here: the checks prove every byte of a valid list ASCII, and the
    /// members are made when they are read.
    #[inline]
    fn push_value(&mut self, value: &'a [u8], read: &mut Reader) -> Result<(), ErrorCode> {
        let before = read.seen;
        let mut i = 0;
        while let Some((eq, end)) = plain_member(value, i) {
            self.accept(value, i, eq, read)?;
            // Past the `,` (or past the end, where no member starts).
            i = end + 1;
        }
        // Past the end: the last member ended the value, so every member was plain.
        let plain = i == value.len() + 1;
        if !plain && i < value.len() {
            self.push_scanned(value, i, read)?;
        }
        if read.seen != before {
            self.exact = before == 0 && plain && self.repeats == 0;
            self.parts.push(value);
        }
        Ok(())
    }

    /// The one-pass scan of `value` from `i`: white space and empty members between members.
    fn push_scanned(&mut self, value: &'a [u8], mut i: usize, read: &mut Reader) -> Result<(), ErrorCode> {
        let len = value.len();
        loop {
            // Skip white space and empty members.
            while i < len && class(value[i]) & SKIP != 0 {
                i += 1;
            }
            if i == len {
                return Ok(());
            }
            if read.seen == MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            match scan_member(value, i) {
                Some((eq, _, next)) => {
                    self.accept(value, i, eq, read)?;
                    i = next;
                }
                None => return self.push_members_slowly(value, i, read),
            }
        }
    }

    /// The member-by-member path from `from` (a member's first byte): the reference the faster
    /// paths agree with, and the one that decides the error.
    #[cold]
    fn push_members_slowly(&mut self, value: &'a [u8], from: usize, read: &mut Reader) -> Result<(), ErrorCode> {
        let mut start = from;
        for raw in value.get(from..).unwrap_or_default().split(|&b| b == b',') {
            let at = start;
            start += raw.len() + 1;
            let member = trim_ows(raw);
            if member.is_empty() {
                continue;
            }
            if read.seen == MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            let eq = validate_member(member)?;
            // Where the trimmed member starts in `value`.
            let first = at + raw.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
            self.accept(value, first, first + eq, read)?;
        }
        Ok(())
    }

    /// Counts the valid member at `start` (its `=` at `eq`). Duplicate keys are not allowed on the
    /// wire: the first one is the vendor's latest, a later one is marked as a repeat.
    #[inline(always)]
    fn accept(&mut self, value: &[u8], start: usize, eq: usize, read: &mut Reader) -> Result<(), ErrorCode> {
        if read.seen == MAX_MEMBERS {
            return Err(ErrorCode::TracestateTooManyMembers);
        }
        let bit = key_bit(value, start, eq);
        if read.keys & bit != 0 && self.repeats_key(value, start, eq) {
            self.repeats |= 1 << read.seen;
        } else {
            read.keys |= bit;
            self.len += 1;
        }
        read.seen += 1;
        Ok(())
    }

    /// Whether the key `value[start..eq]` is one of the members read before it: those of the
    /// values kept so far and those of `value` before `start`.
    #[cold]
    fn repeats_key(&self, value: &[u8], start: usize, eq: usize) -> bool {
        let key = value.get(start..eq).unwrap_or_default();
        let before = value.get(..start).unwrap_or_default();
        self.parts.as_slice().iter().copied().chain([before]).flat_map(raw_members).any(|(k, _)| k == key)
    }

    /// The members in order: a small view over the state, whose [`iter`](Members::iter) makes
    /// them from the header values as it goes.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// let state = TraceState::parse(b"b=2,a=1").unwrap();
    /// let pairs: Vec<(&str, &str)> = state.members().iter().map(|m| (m.key, m.value)).collect();
    /// assert_eq!(pairs, [("b", "2"), ("a", "1")]);
    /// assert_eq!(state.members().len(), 2);
    /// assert_eq!(state.members().get(1).map(|m| m.key), Some("a"));
    /// ```
    pub fn members(&self) -> Members<'_, 'a> {
        Members { state: self }
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
        self.members().iter().find(|m| m.key == key).map(|m| m.value)
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
        self.len == 0
    }

    /// The normalized list borrowed from the header, when the one value read is that list already
    /// (plain members joined by single commas, no repeated key: what a producer writes); `None`
    /// otherwise, and when empty. A caller keeping tracestates can then compare a new message's
    /// with its own before paying for [`TraceStateBuf::from_state`]'s copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::TraceState;
    ///
    /// assert_eq!(TraceState::parse(b"rojo=1,congo=2").unwrap().as_normalized(), Some("rojo=1,congo=2"));
    /// assert_eq!(TraceState::parse(b"rojo=1, congo=2").unwrap().as_normalized(), None);
    /// assert_eq!(TraceState::parse(b"").unwrap().as_normalized(), None);
    /// ```
    pub fn as_normalized(&self) -> Option<&'a str> {
        match self.parts.as_slice() {
            [part] if self.exact => Some(part_str(part)),
            _ => None,
        }
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
        for m in self.members() {
            if first.is_none_or(|f| f.key != m.key) {
                candidates.push(m);
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


/// The members of a [`TraceState`], in order: a view of two words, made by
/// [`TraceState::members`]. Its methods take it by value, so `state.members().iter()` borrows the
/// state, not the view.
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::tracestate::Member;
/// use kafka_trace::TraceState;
///
/// let state = TraceState::parse(b"rojo=1, congo=2,rojo=3").unwrap();
/// let members = state.members();
/// assert_eq!((members.len(), members.is_empty()), (2, false));
/// assert_eq!(members.first(), Some(Member { key: "rojo", value: "1" }));
/// assert_eq!(members.last(), members.get(1));
/// let backwards: Vec<&str> = members.iter().rev().map(|m| m.key).collect();
/// assert_eq!(backwards, ["congo", "rojo"]);
/// ```
#[derive(Copy, Clone)]
pub struct Members<'s, 'a> {
    state: &'s TraceState<'a>,
}

impl<'s, 'a> Members<'s, 'a> {
    /// How many members (at most [`MAX_MEMBERS`]).
    pub fn len(self) -> usize {
        self.state.len as usize
    }

    /// Whether there are none.
    pub fn is_empty(self) -> bool {
        self.state.len == 0
    }

    /// The members in order (and backwards with `rev`).
    pub fn iter(self) -> Iter<'s, 'a> {
        let state = self.state;
        Iter {
            parts: state.parts.as_slice().iter(),
            front: "",
            back: "",
            front_index: 0,
            back_index: u32::from(state.len) + state.repeats.count_ones(),
            repeats: state.repeats,
            remaining: state.len as usize,
        }
    }

    /// The member at `index` (0 = the first one written), if there is one.
    pub fn get(self, index: usize) -> Option<Member<'a>> {
        if index >= self.len() {
            return None;
        }
        self.iter().nth(index)
    }

    /// The first member, if any.
    pub fn first(self) -> Option<Member<'a>> {
        self.iter().next()
    }

    /// The last member, if any.
    pub fn last(self) -> Option<Member<'a>> {
        self.iter().next_back()
    }
}

impl<'s, 'a> IntoIterator for Members<'s, 'a> {
    type Item = Member<'a>;
    type IntoIter = Iter<'s, 'a>;

    fn into_iter(self) -> Iter<'s, 'a> {
        self.iter()
    }
}

/// Equal when they hold the same members in the same order.
impl PartialEq for Members<'_, '_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Members<'_, '_> {}

impl core::fmt::Debug for Members<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The members of a [`TraceState`], made from its header values as they are read (see
/// [`Members::iter`]).
#[derive(Clone, Debug)]
pub struct Iter<'s, 'a> {
    /// The values neither end has started on.
    parts: core::slice::Iter<'s, &'a [u8]>,
    /// What is left of the value the front is reading.
    front: &'a str,
    /// What is left of the value the back is reading.
    back: &'a str,
    /// Non-empty members the front has read, repeats included.
    front_index: u32,
    /// Non-empty members before the back's position, repeats included.
    back_index: u32,
    repeats: u32,
    /// Members not given out yet.
    remaining: usize,
}

impl<'a> Iter<'_, 'a> {
    /// The next member from the front, or from the back.
    #[inline(always)]
    fn step(&mut self, from_back: bool) -> Option<Member<'a>> {
        while self.remaining != 0 {
            let (text, other) = if from_back { (&mut self.back, &mut self.front) } else { (&mut self.front, &mut self.back) };
            let member = if from_back { split_last_member(text) } else { split_first_member(text) };
            let Some(member) = member else {
                *text = match if from_back { self.parts.next_back() } else { self.parts.next() } {
                    Some(part) => part_str(part),
                    // The other end's value is the last one left.
                    None if !other.is_empty() => core::mem::take(other),
                    None => return None,
                };
                continue;
            };
            let index = if from_back {
                self.back_index = self.back_index.wrapping_sub(1);
                self.back_index
            } else {
                self.front_index += 1;
                self.front_index - 1
            };
            // Not a repeat of an earlier key.
            if self.repeats.checked_shr(index).unwrap_or(0) & 1 == 0 {
                self.remaining -= 1;
                return Some(member);
            }
        }
        None
    }
}

impl<'a> Iterator for Iter<'_, 'a> {
    type Item = Member<'a>;

    #[inline]
    fn next(&mut self) -> Option<Member<'a>> {
        self.step(false)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'_, 'a> {
    fn next_back(&mut self) -> Option<Member<'a>> {
        self.step(true)
    }
}

impl ExactSizeIterator for Iter<'_, '_> {}

impl core::iter::FusedIterator for Iter<'_, '_> {}

/// A kept header value as `str`. Its members were checked, which proves every byte of it ASCII,
/// so this never fails (and stays total if it ever did).
#[inline]
fn part_str(part: &[u8]) -> &str {
    core::str::from_utf8(part).unwrap_or_default()
}

/// The first member of `text` (the rest of a checked value), and `text` moved past it.
#[inline]
fn split_first_member<'a>(text: &mut &'a str) -> Option<Member<'a>> {
    while !text.is_empty() {
        let end = text.bytes().position(|b| b == b',').unwrap_or(text.len());
        let (piece, rest) = text.split_at_checked(end)?;
        *text = rest.get(1..).unwrap_or_default();
        if let Some(member) = member_of(piece) {
            return Some(member);
        }
    }
    None
}

/// The last member of `text` (what is left of a checked value), and `text` cut before it.
#[inline]
fn split_last_member<'a>(text: &mut &'a str) -> Option<Member<'a>> {
    while !text.is_empty() {
        let start = text.bytes().rposition(|b| b == b',').map_or(0, |i| i + 1);
        let (rest, piece) = text.split_at_checked(start)?;
        *text = rest.get(..rest.len().saturating_sub(1)).unwrap_or_default();
        if let Some(member) = member_of(piece) {
            return Some(member);
        }
    }
    None
}

/// The member a piece between commas of a checked value holds: `None` for an empty one (white
/// space only). Splits at the first `=`, as the parse did.
#[inline]
fn member_of(piece: &str) -> Option<Member<'_>> {
    let bytes = piece.as_bytes();
    let start = bytes.iter().position(|&b| b != b' ' && b != b'\t')?;
    let end = bytes.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    let member = piece.get(start..end)?;
    let eq = member.bytes().position(|b| b == b'=').unwrap_or(member.len());
    let (key, value) = member.split_at_checked(eq)?;
    Some(Member { key, value: value.get(1..).unwrap_or_default() })
}

/// The `(key, value)` bytes of the non-empty members of a checked list (or part of one), as
/// [`member_of`] splits them.
fn raw_members(list: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    list.split(|&b| b == b',').map(trim_ows).filter(|m| !m.is_empty()).map(|m| {
        let eq = m.iter().position(|&b| b == b'=').unwrap_or(m.len());
        let (key, value) = m.split_at(eq);
        (key, value.get(1..).unwrap_or_default())
    })
}

/// One bit of 64 for the key `value[start..eq]` (not empty), from its first byte and its length
/// (Fibonacci hashing of the two): two keys with different bits differ. Vendors' keys mostly differ
/// in one or the other; keys that share both (`t1@vendor`, `t2@vendor`) are compared in full.
#[inline(always)]
fn key_bit(value: &[u8], start: usize, eq: usize) -> u64 {
    let first = value.get(start).copied().unwrap_or(0) as u32;
    let len = eq.wrapping_sub(start) as u32;
    1u64 << ((first | len << 8).wrapping_mul(0x9e37_79b1) >> 26)
}

/// Appends `key=value`, after a `,` unless `out` is empty.
fn push_member(out: &mut String, m: Member<'_>) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(m.key);
    out.push('=');
    out.push_str(m.value);
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
        let parts = state.parts.as_slice();
        if let ([part], true) = (parts, state.exact) {
            return Self(part_str(part).to_owned());
        }
        // The values and a comma between each two: never shorter than the normalized list.
        let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for m in state.members() {
            push_member(&mut out, m);
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
        let mut out = String::with_capacity(first.encoded_len() + 1 + self.0.len());
        push_member(&mut out, first);
        for m in self.view().members().iter().filter(|m| m.key != key).take(MAX_MEMBERS - 1) {
            push_member(&mut out, m);
        }
        self.0 = out;
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

/// The member of `bytes` at `start` when it is written the plain way (`key=value` and then `,` or
/// the end): the positions of its `=` and of its end (that `,` or the end); `None` for anything
/// else.
#[inline(always)]
fn plain_member(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    if !matches!(bytes.get(start), Some(b'a'..=b'z' | b'0'..=b'9')) {
        return None;
    }
    let eq = key_end(bytes, start + 1);
    if eq - start > 256 || bytes.get(eq) != Some(&b'=') {
        return None;
    }
    // `eq` is a byte of `bytes`, so this is at most the end of `bytes`.
    let end = value_end(bytes, eq + 1);
    // 1 to 256 bytes of value, not ending in a space.
    if end.wrapping_sub(eq + 2) >= 256 || bytes.get(end - 1) == Some(&b' ') {
        return None;
    }
    match bytes.get(end) {
        None | Some(b',') => Some((eq, end)),
        Some(_) => None,
    }
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

    /// The eager reference: each header value split at `,`, members trimmed, empty ones skipped,
    /// a 33rd member or the first invalid one discarding the list, a repeated key keeping its
    /// first value, and every member made at once (what the parse kept before it kept the values).
    fn eager<'a>(values: &[&'a [u8]]) -> Result<Vec<Member<'a>>, ErrorCode> {
        let mut members: Vec<Member<'a>> = Vec::new();
        let mut seen = 0;
        for raw in values.iter().flat_map(|v| v.split(|&b| b == b',')) {
            let raw = trim_ows(raw);
            if raw.is_empty() {
                continue;
            }
            seen += 1;
            if seen > MAX_MEMBERS {
                return Err(ErrorCode::TracestateTooManyMembers);
            }
            let eq = validate_member(raw)?;
            let key = core::str::from_utf8(&raw[..eq]).unwrap();
            let value = core::str::from_utf8(&raw[eq + 1..]).unwrap();
            if !members.iter().any(|m| m.key == key) {
                members.push(Member { key, value });
            }
        }
        Ok(members)
    }

    /// Everything a state answers about its members, against the eager list.
    fn assert_members(state: &TraceState<'_>, want: &[Member<'_>], what: &str) {
        let members = state.members();
        assert_eq!(members.iter().collect::<Vec<_>>(), want, "{what}");
        assert_eq!((members.len(), members.iter().len(), state.is_empty()), (want.len(), want.len(), want.is_empty()), "{what}");
        let backwards: Vec<_> = want.iter().rev().copied().collect();
        assert_eq!(members.iter().rev().collect::<Vec<_>>(), backwards, "{what}");
        for (i, m) in want.iter().enumerate() {
            assert_eq!(members.get(i), Some(*m), "{what} [{i}]");
            assert_eq!(state.get(m.key), Some(m.value), "{what} [{i}]");
        }
        assert_eq!(members.get(want.len()), None, "{what}");
        assert_eq!((members.first(), members.last()), (want.first().copied(), want.last().copied()), "{what}");
        // From both ends: any split point, and alternating; they meet without losing or
        // repeating a member, and stay done.
        for k in 0..=want.len() {
            let mut iter = members.iter();
            let mut got: Vec<_> = iter.by_ref().take(k).collect();
            let mut tail: Vec<_> = iter.by_ref().rev().collect();
            tail.reverse();
            got.extend(tail);
            assert_eq!(got, want, "{what}, {k} from the front");
            assert_eq!((iter.next(), iter.next_back()), (None, None), "{what}");
        }
        let (mut iter, mut front, mut back, mut forward) = (members.iter(), Vec::new(), Vec::new(), true);
        while let Some(m) = if forward { iter.next() } else { iter.next_back() } {
            if forward { front.push(m) } else { back.push(m) }
            forward = !forward;
        }
        front.extend(back.into_iter().rev());
        assert_eq!(front, want, "{what}, alternating");
        assert_eq!(TraceStateBuf::from_state(state).as_str(), joined(want), "{what}");
        assert_eq!(format!("{state:?}"), format!("TraceState {{ members: {want:?} }}"), "{what}");
    }

    /// The parse (plain path, one-pass scan, member-by-member path, repeated keys, members made
    /// on demand from one or several values) against the eager reference on many small lists
    /// built from the bytes that matter (separators, white space, key and value classes,
    /// non-ASCII, keys that share their first and last bytes and their length).
    #[test]
    fn members_made_on_demand_agree_with_the_eager_reference() {
        let alphabet: &[&[u8]] = &[
            b"a", b"z", b"0", b"9", b"_", b"-", b"*", b"/", b"@", b"=", b",", b" ", b"\t", b"A", b"~", b"!", b"\n",
            b"\x7f", "\u{e9}".as_bytes(), b"\xff", b"k=v", b"rojo=1", b",x=2", b"  ,", b"=", b"a=", b"b= ", b"a1a=1",
            b",a2a=2", b"a1a=3,", b"k=w",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut accepted = 0;
        for round in 0..250_000 {
            // One value mostly; from the 200,000th on, one to four (a list split over fields).
            let count = if round < 200_000 { 1 } else { 1 + (next() % 4) as usize };
            let values: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let mut value = Vec::new();
                    for _ in 0..(next() % 12) {
                        value.extend_from_slice(alphabet[(next() % alphabet.len() as u64) as usize]);
                    }
                    value
                })
                .collect();
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let what = format!("{:?}", values.iter().map(|v| String::from_utf8_lossy(v)).collect::<Vec<_>>());
            let parsed = TraceState::parse_values(values.iter().copied());
            let want = eager(&values);
            assert_eq!(parsed.as_ref().err(), want.as_ref().err(), "{what}");
            if let (Ok(state), Ok(want)) = (&parsed, &want) {
                assert_members(state, want, &what);
                accepted += 1;
            }
        }
        // Most lists are rejected (random bytes), but enough are kept to mean something.
        assert!(accepted > 25_000, "{accepted}");
        let long_key = format!("{}=1", "k".repeat(256));
        let longer_key = format!("{}=1", "k".repeat(257));
        let long_value = format!("k={}", "v".repeat(256));
        let longer_value = format!("k={}", "v".repeat(257));
        for value in [long_key, longer_key, long_value, longer_value] {
            let want = eager(&[value.as_bytes()]);
            let parsed = TraceState::parse(value.as_bytes());
            assert_eq!(parsed.as_ref().err(), want.as_ref().err(), "{} bytes", value.len());
            if let (Ok(state), Ok(want)) = (&parsed, &want) {
                assert_members(state, want, &value);
            }
        }
    }

    /// Repeated keys count toward the 32 members read; keys that share their first and last bytes
    /// and their length are told apart; more values than a state holds inline.
    #[test]
    fn repeats_and_many_values_agree_with_the_eager_reference() {
        let keys: Vec<String> = (0..40).map(|i| format!("k{}x", (b'a' + i % 26) as char)).collect();
        for n in [1, 2, 3, 16, 31, 32, 33] {
            for repeat_every in [0, 1, 2, 5] {
                let list: Vec<String> = (0..n)
                    .map(|i| if repeat_every > 0 && i % (repeat_every + 1) == repeat_every { format!("{}=r{i}", keys[0]) } else { format!("{}={i}", keys[i]) })
                    .collect();
                for sep in [",", " , ", ",,"] {
                    let joined = list.join(sep);
                    let what = format!("{n} members, repeat every {repeat_every}, {sep:?}");
                    let want = eager(&[joined.as_bytes()]);
                    let parsed = TraceState::parse(joined.as_bytes());
                    assert_eq!(parsed.as_ref().err(), want.as_ref().err(), "{what}");
                    assert_eq!(parsed.is_ok(), n <= MAX_MEMBERS, "{what}");
                    if let (Ok(state), Ok(want)) = (&parsed, &want) {
                        assert_members(state, want, &what);
                    }
                    // One value per member: the state spills past its inline values.
                    let values: Vec<&[u8]> = list.iter().map(|m| m.as_bytes()).collect();
                    let want = eager(&values);
                    let parsed = TraceState::parse_values(values.iter().copied());
                    assert_eq!(parsed.as_ref().err(), want.as_ref().err(), "{what}, one value each");
                    if let (Ok(state), Ok(want)) = (&parsed, &want) {
                        assert_members(state, want, &format!("{what}, one value each"));
                    }
                }
            }
        }
    }

    fn joined(members: &[Member<'_>]) -> String {
        members.iter().map(|m| format!("{}={}", m.key, m.value)).collect::<Vec<_>>().join(",")
    }

    /// The owned copy takes the header value whole only when it is exactly the normalized list
    /// (values with no members left out).
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
            (&[b""], "", false),
            (&[b"a=1", b"b=2"], "a=1,b=2", false),
            (&[b" , ", b"b=2"], "b=2", true),
            (&[b"a=1,b=2", b""], "a=1,b=2", true),
            (&[b"a=1", b"a=2"], "a=1", false),
        ];
        for (values, want, whole) in cases {
            let state = TraceState::parse_values(values.iter().copied()).unwrap();
            assert_eq!(TraceStateBuf::from_state(&state).as_str(), *want, "{values:?}");
            let members: Vec<_> = state.members().iter().collect();
            assert_eq!(joined(&members), *want, "{values:?}");
            // A value with no members is not kept, so it never stops a whole copy.
            let copied_whole = matches!(state.parts.as_slice(), [part] if state.exact && part.len() == want.len());
            assert_eq!(copied_whole, *whole, "{values:?}");
            assert_eq!(state.exact, *whole, "{values:?}");
            assert_eq!(state.as_normalized(), whole.then_some(*want), "{values:?}");
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

    /// A parsed state stays a few words however many members it has: returning or moving it (an
    /// extract's result holds one) must not copy a member array again.
    #[test]
    fn a_state_is_a_few_words() {
        assert!(core::mem::size_of::<TraceState<'_>>() <= 64, "{}", core::mem::size_of::<TraceState<'_>>());
        assert!(core::mem::size_of::<Result<TraceState<'_>, ErrorCode>>() <= 64);
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
