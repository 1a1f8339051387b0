//! The `baggage` header, W3C Baggage: `key=value;property` members, values percent-encoded.
//!
//! Baggage is user data of arbitrary size, so unlike `traceparent` it is decoded into owned
//! strings; a message without a baggage header costs nothing.
//!
//! # Examples
//!
//! ```
//! use kafka_trace::codec::baggage::{Baggage, MAX_MEMBERS};
//!
//! let baggage = Baggage::parse(b"user=alice%20smith;pii, tenant = acme");
//! assert_eq!(baggage.get("user"), Some("alice smith"));
//! assert_eq!(baggage.to_header_string(), "user=alice%20smith;pii,tenant=acme");
//!
//! // Members beyond MAX_MEMBERS are dropped from the end and counted.
//! let many: Vec<String> = (0..MAX_MEMBERS + 2).map(|i| format!("k{i}=v")).collect();
//! let baggage = Baggage::parse(many.join(",").as_bytes());
//! assert_eq!((baggage.entries().len(), baggage.dropped()), (MAX_MEMBERS, 2));
//! ```

use super::trim_ows;
use crate::ErrorCode;

/// We always keep at least this many members (the W3C minimum); later members are dropped (see
/// the module example).
pub const MAX_MEMBERS: usize = 64;
/// We always keep at least this many formatted bytes (the W3C minimum); later members are dropped.
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::baggage::{Baggage, MAX_BYTES};
///
/// let big = "x".repeat(MAX_BYTES - 2); // "a=" + big is exactly MAX_BYTES
/// let baggage = Baggage::parse(format!("a={big},b=1").as_bytes());
/// assert_eq!(baggage.get("b"), None);
/// assert_eq!(baggage.to_header_string().len(), MAX_BYTES);
/// ```
pub const MAX_BYTES: usize = 8192;

/// One baggage member, value decoded.
///
/// # Examples
///
/// ```
/// use kafka_trace::{Baggage, BaggageEntry};
///
/// let baggage = Baggage::parse(b"user=alice%20smith; pii ;ttl=60");
/// assert_eq!(
///     baggage.entries(),
///     &[BaggageEntry { key: "user".into(), value: "alice smith".into(), properties: vec!["pii".into(), "ttl=60".into()] }]
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BaggageEntry {
    /// The key (an RFC 7230 token).
    pub key: String,
    /// The percent-decoded value; invalid UTF-8 became U+FFFD.
    pub value: String,
    /// Properties as written without white space: `p` or `p=v`.
    pub properties: Vec<String>,
}

impl BaggageEntry {
    fn encoded_len(&self) -> usize {
        let value: usize = self.value.bytes().map(|b| if needs_escape(b) { 3 } else { 1 }).sum();
        let props: usize = self.properties.iter().map(|p| 1 + p.len()).sum();
        self.key.len() + 1 + value + props
    }
}

/// A decoded baggage list, in wire order, within the W3C limits.
///
/// # Examples
///
/// ```
/// use kafka_trace::Baggage;
///
/// let mut baggage = Baggage::parse(b"tenant=acme");
/// baggage.insert("user", "alice smith").unwrap();
/// assert_eq!(baggage.to_header_string(), "tenant=acme,user=alice%20smith");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Baggage {
    entries: Vec<BaggageEntry>,
    dropped: usize,
}

impl Baggage {
    /// Parses one header value. Malformed members are dropped and counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let baggage = Baggage::parse(b"k=caf%C3%A9,bad key=1,n=%zz");
    /// assert_eq!(baggage.get("k"), Some("café"));
    /// assert_eq!(baggage.get("n"), Some("%zz")); // an invalid escape stays as it is
    /// assert_eq!(baggage.dropped(), 1);
    /// ```
    pub fn parse(value: &[u8]) -> Self {
        Self::parse_values([value])
    }

    /// Parses several header values as one list. Malformed members are dropped (and counted),
    /// the last of several equal keys wins, and members beyond the limits are dropped from the end.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let headers: [&[u8]; 2] = [b"a=1,b=2", b"a=3"];
    /// let baggage = Baggage::parse_values(headers);
    /// assert_eq!(baggage.to_header_string(), "b=2,a=3");
    /// assert_eq!(baggage.dropped(), 1);
    /// ```
    pub fn parse_values<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        // Validate on borrowed slices first: a hostile header with many members costs one
        // pass and one index vector, and only the members that survive are decoded.
        let mut raw = Vec::new();
        let mut malformed = 0;
        for value in values {
            for member in value.split(|&b| b == b',') {
                let member = trim_ows(member);
                if member.is_empty() {
                    continue;
                }
                match RawMember::parse(member) {
                    Some(m) => raw.push(m),
                    None => malformed += 1,
                }
            }
        }
        let survivors = last_of_each_key(&raw);
        let mut baggage = Self { entries: Vec::new(), dropped: malformed + raw.len() - survivors.len() };
        let mut bytes = 0usize;
        for (i, member) in survivors.iter().map(|&i| (i, &raw[i])) {
            let entry = member.decode();
            let next = bytes + usize::from(!baggage.entries.is_empty()) + entry.encoded_len();
            if baggage.entries.len() == MAX_MEMBERS || next > MAX_BYTES {
                // Limits cut from the end: this member and every later one go.
                baggage.dropped += survivors.iter().filter(|&&j| j >= i).count();
                break;
            }
            bytes = next;
            baggage.entries.push(entry);
        }
        baggage
    }

    /// The members in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let baggage = Baggage::parse(b"b=2,a=1");
    /// let keys: Vec<&str> = baggage.entries().iter().map(|e| e.key.as_str()).collect();
    /// assert_eq!(keys, ["b", "a"]);
    /// ```
    pub fn entries(&self) -> &[BaggageEntry] {
        &self.entries
    }

    /// The value for `key`, if present.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let baggage = Baggage::parse(b"user=alice");
    /// assert_eq!(baggage.get("user"), Some("alice"));
    /// assert_eq!(baggage.get("User"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.value.as_str())
    }

    /// How many received members were malformed, duplicated or over the limits.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// assert_eq!(Baggage::parse(b"a=1,a=2,=3,b=\"q\"").dropped(), 3);
    /// ```
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Whether there are no members.
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// assert!(Baggage::parse(b"bad key=1").is_empty());
    /// assert!(!Baggage::parse(b"k=v").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to `value` (replacing an old entry in place, else appending).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::{Baggage, ErrorCode};
    ///
    /// let mut baggage = Baggage::parse(b"a=1,b=2");
    /// baggage.insert("a", "3").unwrap();
    /// assert_eq!(baggage.to_header_string(), "a=3,b=2");
    /// assert_eq!(baggage.insert("not a token", "x"), Err(ErrorCode::BaggageMember));
    /// ```
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), ErrorCode> {
        if !is_token(key.as_bytes()) {
            return Err(ErrorCode::BaggageMember);
        }
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => entry.value = value.to_owned(),
            None => self.entries.push(BaggageEntry { key: key.to_owned(), value: value.to_owned(), properties: Vec::new() }),
        }
        self.enforce_limits();
        Ok(())
    }

    /// Appends the header value to `out` (nothing when empty).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let mut out = b"prefix:".to_vec();
    /// Baggage::parse(b"k=a%2Cb").write_header(&mut out);
    /// assert_eq!(out, b"prefix:k=a%2Cb");
    /// ```
    pub fn write_header(&self, out: &mut Vec<u8>) {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(entry.key.as_bytes());
            out.push(b'=');
            percent_encode_into(entry.value.as_bytes(), out);
            for p in &entry.properties {
                out.push(b';');
                out.extend_from_slice(p.as_bytes());
            }
        }
    }

    /// The header value as a string (empty when there is no baggage).
    ///
    /// # Examples
    ///
    /// ```
    /// use kafka_trace::Baggage;
    ///
    /// let mut baggage = Baggage::default();
    /// assert_eq!(baggage.to_header_string(), "");
    /// baggage.insert("n", "é 100%").unwrap();
    /// assert_eq!(baggage.to_header_string(), "n=%C3%A9%20100%25");
    /// ```
    pub fn to_header_string(&self) -> String {
        let mut out = Vec::new();
        self.write_header(&mut out);
        // Everything written is ASCII: keys are tokens and values are percent-encoded.
        String::from_utf8(out).unwrap_or_default()
    }

    fn enforce_limits(&mut self) {
        let mut bytes = 0usize;
        let mut fits = 0usize;
        for entry in &self.entries {
            let next = bytes + usize::from(fits > 0) + entry.encoded_len();
            if fits == MAX_MEMBERS || next > MAX_BYTES {
                break;
            }
            bytes = next;
            fits += 1;
        }
        self.dropped += self.entries.len() - fits;
        self.entries.truncate(fits);
    }
}

/// A member that passed the grammar, still borrowing the header bytes.
struct RawMember<'a> {
    key: &'a [u8],
    value: &'a [u8],
    /// Everything after the first `;`, when there is one.
    properties: Option<&'a [u8]>,
}

impl<'a> RawMember<'a> {
    fn parse(raw: &'a [u8]) -> Option<Self> {
        let (pair, properties) = match raw.iter().position(|&b| b == b';') {
            Some(semi) => (&raw[..semi], Some(&raw[semi + 1..])),
            None => (raw, None),
        };
        let (key, value) = split_pair(pair)?;
        if !value.iter().all(|&b| is_baggage_octet(b)) {
            return None;
        }
        if let Some(props) = properties {
            if !props.split(|&b| b == b';').all(|p| property_parts(p).is_some()) {
                return None;
            }
        }
        Some(Self { key, value, properties })
    }

    fn decode(&self) -> BaggageEntry {
        let properties = self.properties.map_or_else(Vec::new, |props| props.split(|&b| b == b';').filter_map(normalize_property).collect());
        BaggageEntry { key: String::from_utf8_lossy(self.key).into_owned(), value: percent_decode(self.value), properties }
    }
}

/// The key and optional value of a property, trimmed, or `None` when it is malformed.
fn property_parts(prop: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let prop = trim_ows(prop);
    if prop.contains(&b'=') {
        let (key, value) = split_pair(prop)?;
        value.iter().all(|&b| is_baggage_octet(b)).then_some((key, Some(value)))
    } else {
        is_token(prop).then_some((prop, None))
    }
}

/// `p` or `p=v` without white space, or `None` when the property is malformed.
fn normalize_property(prop: &[u8]) -> Option<String> {
    let (key, value) = property_parts(prop)?;
    let mut out = String::from_utf8_lossy(key).into_owned();
    if let Some(value) = value {
        out.push('=');
        out.push_str(&String::from_utf8_lossy(value));
    }
    Some(out)
}

/// Indices of the members to keep, in order: the last of each key.
fn last_of_each_key(members: &[RawMember<'_>]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..members.len()).collect();
    // Sorting indices keeps this O(n log n) for hostile headers with many members.
    order.sort_by(|&a, &b| members[a].key.cmp(members[b].key).then(a.cmp(&b)));
    let mut keep = vec![true; members.len()];
    for pair in order.windows(2) {
        if members[pair[0]].key == members[pair[1]].key {
            keep[pair[0]] = false;
        }
    }
    (0..members.len()).filter(|&i| keep[i]).collect()
}

/// Splits `key OWS "=" OWS value` and checks the key is a token.
fn split_pair(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = raw.iter().position(|&b| b == b'=')?;
    let key = trim_ows(&raw[..eq]);
    let value = trim_ows(&raw[eq + 1..]);
    is_token(key).then_some((key, value))
}

fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = match raw.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex_digit(*hi).zip(hex_digit(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode_into(value: &[u8], out: &mut Vec<u8>) {
    const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value {
        if needs_escape(b) {
            out.extend_from_slice(&[b'%', UPPER_HEX[(b >> 4) as usize], UPPER_HEX[(b & 0xf) as usize]]);
        } else {
            out.push(b);
        }
    }
}

fn needs_escape(b: u8) -> bool {
    b == b'%' || !is_baggage_octet(b)
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// RFC 7230 token: one or more tchar.
///
/// # Examples
///
/// ```
/// use kafka_trace::codec::baggage::is_token;
///
/// assert!(is_token(b"user.id"));
/// assert!(!is_token(b"user id"));
/// assert!(!is_token(b""));
/// ```
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_values_and_keeps_properties() {
        let b = Baggage::parse(b"userId = alice%20smith ; p1 ; p2 = v, bad key=1, n=%C3%A9%zz");
        assert_eq!(b.get("userId"), Some("alice smith"));
        assert_eq!(b.entries()[0].properties, ["p1", "p2=v"]);
        assert_eq!(b.get("n"), Some("é%zz"));
        assert_eq!(b.dropped(), 1);
        assert_eq!(b.to_header_string(), "userId=alice%20smith;p1;p2=v,n=%C3%A9%25zz");
    }

    #[test]
    fn last_duplicate_wins_at_its_position() {
        let b = Baggage::parse(b"a=1,b=2,a=3");
        assert_eq!(b.to_header_string(), "b=2,a=3");
    }

    #[test]
    fn a_hostile_header_keeps_64_members_and_counts_the_rest() {
        let list: Vec<String> = (0..100_000).map(|i| format!("k{i}=v;p")).collect();
        let b = Baggage::parse(format!("{},bad key=1", list.join(",")).as_bytes());
        assert_eq!(b.entries().len(), 64);
        assert_eq!(b.entries()[63].properties, ["p"]);
        assert_eq!(b.dropped(), 100_000 - 64 + 1);
    }

    #[test]
    fn drops_members_beyond_64() {
        let list: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
        let b = Baggage::parse(list.join(",").as_bytes());
        assert_eq!(b.entries().len(), 64);
        assert_eq!(b.entries()[63].key, "k63");
    }
}
