//! Property tests for the codecs and the Kafka header carrier.
//!
//! Every property states a rule from `core/testdata/README.md` (or a codec's doc comment) and checks
//! it on generated input; "never panics" properties feed arbitrary bytes biased towards each
//! header's alphabet so that the interesting branches are reached, not only the first length check.

use std::collections::HashSet;

use kafka_trace::carrier::{inject_values, TRACEPARENT};
use kafka_trace::codec::tracestate::{Member, MAX_HEADER_LEN};
use kafka_trace::{
    extract, extract_parts, inject, Baggage, BaggageEntry, ErrorCode, SpanId, TraceContext, TraceFlags, TraceId,
    TraceParent, TraceState, TraceStateBuf,
};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------------------------------------
// Shared helpers and strategies
// ---------------------------------------------------------------------------------------------

/// OWS as W3C defines it: space and tab only.
fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn trace_id() -> impl Strategy<Value = TraceId> {
    any::<[u8; 16]>().prop_filter("non-zero trace id", |b| *b != [0; 16]).prop_map(TraceId)
}

fn span_id() -> impl Strategy<Value = SpanId> {
    any::<[u8; 8]>().prop_filter("non-zero span id", |b| *b != [0; 8]).prop_map(SpanId)
}

fn flags() -> impl Strategy<Value = TraceFlags> {
    any::<u8>().prop_map(TraceFlags)
}

fn traceparent() -> impl Strategy<Value = TraceParent> {
    (trace_id(), span_id(), flags()).prop_map(|(t, s, f)| TraceParent::new(t, s, f))
}

/// Bytes that are mostly from `alphabet`, sometimes anything.
fn biased_bytes(alphabet: &'static [u8], max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![4 => select(alphabet), 1 => any::<u8>()], 0..max_len)
}

const TP_ALPHABET: &[u8] = b"0123456789abcdefABCDEF-- \t\0xg";

/// A well-formed traceparent (any version, sometimes all-zero ids) with a few random byte edits,
/// something appended now and then, and optional OWS around it.
fn near_traceparent() -> impl Strategy<Value = Vec<u8>> {
    let version = prop_oneof![3 => Just(0u8), 1 => any::<u8>()];
    let trace_id = prop_oneof![6 => any::<[u8; 16]>(), 1 => Just([0u8; 16])].prop_map(TraceId);
    let span_id = prop_oneof![6 => any::<[u8; 8]>(), 1 => Just([0u8; 8])].prop_map(SpanId);
    let suffix = prop_oneof![3 => Just(Vec::new()), 1 => biased_bytes(TP_ALPHABET, 12)];
    let edits = prop::collection::vec((any::<prop::sample::Index>(), select(TP_ALPHABET)), 0..3);
    let ows = prop_oneof![Just(""), Just(" "), Just("\t"), Just(" \t ")];
    (version, trace_id, span_id, flags(), suffix, edits, ows.clone(), ows).prop_map(
        |(v, t, s, f, suffix, edits, pre, post)| {
            let mut body = format!("{v:02x}-{}-{}-{:02x}", lower_hex(&t.0), lower_hex(&s.0), f.0).into_bytes();
            body.extend_from_slice(&suffix);
            for (at, byte) in edits {
                let i = at.index(body.len());
                body[i] = byte;
            }
            [pre.as_bytes(), &body, post.as_bytes()].concat()
        },
    )
}

/// Level 2 tracestate keys, `[a-z0-9][a-z0-9_\-*/@]{0,20}` (covers `tenant@system`).
fn ts_key() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9_\\-*/@]{0,20}"
}

/// Printable ASCII except `,` and `=`, without leading or trailing space (trimming would change
/// it), 1..=`max` bytes.
fn ts_value(max: usize) -> impl Strategy<Value = String> {
    let edge: Vec<char> = (0x21u8..=0x7e).filter(|&b| b != b',' && b != b'=').map(char::from).collect();
    let inner: Vec<char> = edge.iter().copied().chain([' ', ' ']).collect();
    prop_oneof![
        select(edge.clone()).prop_map(String::from),
        (select(edge.clone()), prop::collection::vec(select(inner), 0..=max - 2), select(edge))
            .prop_map(|(first, middle, last)| std::iter::once(first).chain(middle).chain([last]).collect()),
    ]
}

/// 1..=32 members with unique keys; values are short or, now and then, long (up to 256 bytes) so
/// that the 512-byte truncation on inject is exercised.
fn ts_members() -> impl Strategy<Value = Vec<(String, String)>> {
    let value = prop_oneof![6 => ts_value(12), 1 => ts_value(256)];
    prop::collection::vec((ts_key(), value), 1..=32).prop_map(|members| {
        let mut seen = HashSet::new();
        members.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect()
    })
}

fn join_members(members: &[(String, String)]) -> String {
    members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

const TS_ALPHABET: &[u8] = b"abz09_-*/@=,, \t=x~!AZ";

/// RFC 7230 token characters.
const TCHARS: &[u8] = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn token(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(TCHARS), 1..=max).prop_map(|b| String::from_utf8(b).unwrap())
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// A property as W3C Baggage writes it: `key` or `key=value` (value of baggage-octets, maybe empty).
fn bg_property() -> impl Strategy<Value = String> {
    let octets: Vec<u8> = (0u8..=0x7f).filter(|&b| is_baggage_octet(b)).collect();
    let value = prop::collection::vec(select(octets), 0..8).prop_map(|b| String::from_utf8(b).unwrap());
    prop_oneof![token(8), (token(8), value).prop_map(|(k, v)| format!("{k}={v}"))]
}

/// Any Unicode scalar values, including control characters, `%`, `,`, `;` and spaces.
fn bg_value() -> impl Strategy<Value = String> {
    let ch = prop_oneof![3 => any::<char>(), 2 => select(vec!['%', ',', ';', '=', ' ', '\t', 'a', 'Z', '"', '\\', 'é'])];
    prop::collection::vec(ch, 0..16).prop_map(String::from_iter)
}

fn bg_entry() -> impl Strategy<Value = BaggageEntry> {
    (token(12), bg_value(), prop::collection::vec(bg_property(), 0..3))
        .prop_map(|(key, value, properties)| BaggageEntry { key, value, properties })
}

/// Independent encoder: every byte that is not a baggage-octet, and `%`, as upper-case `%XX`.
fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b != b'%' && is_baggage_octet(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Formats a member; with `ows`, puts optional white space everywhere the grammar allows it.
fn format_entry(e: &BaggageEntry, ows: bool) -> String {
    let sp = if ows { " \t" } else { "" };
    let mut s = format!("{sp}{}{sp}={sp}{}", e.key, percent_encode(&e.value));
    for p in &e.properties {
        let p = match p.split_once('=') {
            Some((k, v)) if ows => format!("{k}{sp}={sp}{v}"),
            _ => p.clone(),
        };
        s.push_str(&format!("{sp};{sp}{p}"));
    }
    s.push_str(sp);
    s
}

fn format_baggage(entries: &[BaggageEntry], ows: bool) -> String {
    entries.iter().map(|e| format_entry(e, ows)).collect::<Vec<_>>().join(",")
}

/// The W3C Baggage limits, applied the way the README states them: the longest prefix with at
/// most 64 members and at most 8192 formatted bytes.
fn within_limits(entries: &[BaggageEntry]) -> Vec<BaggageEntry> {
    let mut out = Vec::new();
    let mut len = 0;
    for e in entries.iter().take(64) {
        let next = len + usize::from(!out.is_empty()) + format_entry(e, false).len();
        if next > 8192 {
            break;
        }
        len = next;
        out.push(e.clone());
    }
    out
}

const BG_ALPHABET: &[u8] = b"abkZ09=;,, \t%%2AF!~\"\\\xc3\xa9\xff";

// ---------------------------------------------------------------------------------------------
// (a) + (b) traceparent
// ---------------------------------------------------------------------------------------------

proptest! {
    #[test]
    fn traceparent_encode_then_parse_round_trips(tp in traceparent()) {
        let encoded = tp.encode();
        prop_assert_eq!(TraceParent::parse(&encoded), Ok(tp));
        let shown = tp.to_string();
        prop_assert_eq!(shown.as_bytes(), &encoded[..]);
        let mut buf = [0xaau8; 80];
        prop_assert_eq!(tp.write_to(&mut buf), Ok(55));
        prop_assert_eq!(&buf[..55], &encoded[..]);
        prop_assert!(buf[55..].iter().all(|&b| b == 0xaa), "write_to wrote past 55 bytes");
        // The spelled-out form, built without the library.
        let manual = format!("00-{}-{}-{:02x}", lower_hex(&tp.trace_id.0), lower_hex(&tp.span_id.0), tp.flags.0);
        prop_assert_eq!(manual.as_bytes(), &encoded[..]);
    }

    #[test]
    fn traceparent_write_to_small_buffers_fails_cleanly(tp in traceparent(), len in 0usize..55) {
        let mut buf = vec![0u8; len];
        prop_assert_eq!(tp.write_to(&mut buf), Err(ErrorCode::BufferTooSmall));
    }

    #[test]
    fn traceparent_parse_is_total_and_ok_means_canonical(
        input in prop_oneof![2 => near_traceparent(), 1 => biased_bytes(TP_ALPHABET, 70), 1 => any::<Vec<u8>>()]
    ) {
        let result = TraceParent::parse(&input);
        let trimmed = trim_ows(&input);
        if let Ok(tp) = result {
            let encoded = tp.encode();
            prop_assert!(tp.trace_id.is_valid() && tp.span_id.is_valid());
            prop_assert!(trimmed.len() >= 55);
            let version = format!("{:02x}", tp.version);
            prop_assert_eq!(&trimmed[..2], version.as_bytes());
            prop_assert_ne!(tp.version, 0xff);
            prop_assert_eq!(&encoded[..2], b"00");
            prop_assert_eq!(&encoded[2..], &trimmed[2..55]);
            if tp.version == 0 {
                prop_assert_eq!(&encoded[..], trimmed);
            } else if trimmed.len() > 55 {
                prop_assert_eq!(trimmed[55], b'-');
            }
            prop_assert_eq!(TraceParent::parse(&encoded), Ok(TraceParent { version: 0, ..tp }));
        }
    }

    /// The error is the first failing check in the README's order.
    #[test]
    fn traceparent_errors_follow_the_documented_order(input in near_traceparent()) {
        let v = trim_ows(&input);
        let hex = |s: &[u8]| s.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let expected = (|| {
            if v.len() < 2 { return Err(ErrorCode::TraceparentLength); }
            if !hex(&v[..2]) || &v[..2] == b"ff" { return Err(ErrorCode::TraceparentVersion); }
            if &v[..2] == b"00" { if v.len() != 55 { return Err(ErrorCode::TraceparentLength); } }
            else if v.len() < 55 { return Err(ErrorCode::TraceparentLength); }
            else if v.len() > 55 && v[55] != b'-' { return Err(ErrorCode::TraceparentDelimiter); }
            if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' { return Err(ErrorCode::TraceparentDelimiter); }
            if !hex(&v[3..35]) { return Err(ErrorCode::TraceparentTraceId); }
            if v[3..35].iter().all(|&b| b == b'0') { return Err(ErrorCode::TraceparentZeroTraceId); }
            if !hex(&v[36..52]) { return Err(ErrorCode::TraceparentSpanId); }
            if v[36..52].iter().all(|&b| b == b'0') { return Err(ErrorCode::TraceparentZeroSpanId); }
            if !hex(&v[53..55]) { return Err(ErrorCode::TraceparentFlags); }
            Ok(())
        })();
        prop_assert_eq!(TraceParent::parse(&input).map(|_| ()), expected, "input {:?}", String::from_utf8_lossy(&input));
    }
}

// ---------------------------------------------------------------------------------------------
// (c) tracestate
// ---------------------------------------------------------------------------------------------

/// Every member of `emitted` is in `original` with the same value, in the original's order.
fn is_ordered_subset(emitted: &TraceState<'_>, original: &[(String, String)]) -> Result<(), String> {
    let mut from = 0;
    for m in emitted.members() {
        match original[from..].iter().position(|(k, _)| k == m.key) {
            Some(i) if original[from + i].1 == m.value => from += i + 1,
            Some(_) => return Err(format!("member {}={} has another value in the original", m.key, m.value)),
            None => return Err(format!("member {}={} is not in the original (or out of order)", m.key, m.value)),
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn tracestate_valid_lists_round_trip(members in ts_members()) {
        let joined = join_members(&members);
        let buf = TraceStateBuf::parse(joined.as_bytes()).expect("generated list is valid");
        prop_assert_eq!(buf.as_str(), joined.as_str());
        prop_assert_eq!(TraceStateBuf::parse(buf.as_str().as_bytes()), Ok(buf.clone()));

        let view = buf.view();
        prop_assert_eq!(view.members().len(), members.len());
        for (k, v) in &members {
            prop_assert_eq!(view.get(k), Some(v.as_str()));
        }

        let header = buf.header_value();
        prop_assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
        prop_assert_eq!(header.is_empty(), header.as_bytes().is_empty());
        if joined.len() <= MAX_HEADER_LEN {
            // Nothing to truncate: written as is.
            prop_assert_eq!(header.as_bytes(), joined.as_bytes());
        } else {
            let back = TraceState::parse(header.as_bytes()).expect("header_value parses");
            if let Err(e) = is_ordered_subset(&back, &members) { return Err(TestCaseError::fail(e)); }
            // Members of at most 128 bytes only go once every longer member has gone.
            let dropped_short = members.iter().any(|(k, v)| k.len() + 1 + v.len() <= 128 && back.get(k).is_none());
            let kept_long = back.members().iter().any(|m| m.key.len() + 1 + m.value.len() > 128);
            prop_assert!(!(dropped_short && kept_long), "a short member went while a long one stayed: {:?}", header);
        }
    }

    #[test]
    fn tracestate_ows_and_empty_members_normalize_away(
        members in ts_members(),
        seps in prop::collection::vec(select(vec![",", " ,", ", ", "\t,\t", ",,", " , , "]), 32),
        ends in (select(vec!["", " ", "\t", ","]), select(vec!["", " ", "\t", ","])),
    ) {
        let mut spaced = String::from(ends.0);
        for (i, (k, v)) in members.iter().enumerate() {
            if i > 0 { spaced.push_str(seps[i % seps.len()]); }
            spaced.push_str(&format!("{k}={v}"));
        }
        spaced.push_str(ends.1);
        let buf = TraceStateBuf::parse(spaced.as_bytes());
        let clean = join_members(&members);
        prop_assert_eq!(buf.as_ref().map(|b| b.as_str()), Ok(clean.as_str()));
    }

    #[test]
    fn tracestate_first_member_goes_in_front(
        members in ts_members(),
        key in ts_key(),
        value in ts_value(40),
    ) {
        let joined = join_members(&members);
        let state = TraceState::parse(joined.as_bytes()).unwrap();
        let first = Member::new(&key, &value).unwrap();
        let header = state.header_value(Some(first));
        prop_assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
        let back = TraceState::parse(header.as_bytes()).unwrap();
        prop_assert_eq!(back.members().first(), Some(first));
        let rest: Vec<(String, String)> = members.iter().filter(|(k, _)| *k != key).cloned().collect();
        let after_first = header.as_bytes().splitn(2, |&b| b == b',').nth(1).unwrap_or_default();
        let back_rest = TraceState::parse(after_first).unwrap();
        if let Err(e) = is_ordered_subset(&back_rest, &rest) { return Err(TestCaseError::fail(e)); }
        prop_assert!(back.members().len() <= 32);

        // TraceStateBuf::set does the same, without truncation, and keeps at most 32 members.
        let mut buf = TraceStateBuf::parse(joined.as_bytes()).unwrap();
        buf.set(&key, &value).unwrap();
        let view = buf.view();
        prop_assert_eq!(view.members().first(), Some(first));
        prop_assert!(view.members().len() <= 32);
    }

    #[test]
    fn tracestate_parse_and_header_value_never_panic(
        input in prop_oneof![3 => biased_bytes(TS_ALPHABET, 700), 1 => any::<Vec<u8>>()],
        split in any::<prop::sample::Index>(),
    ) {
        if let Ok(state) = TraceState::parse(&input) {
            prop_assert!(state.members().len() <= 32);
            let header = state.header_value(None);
            prop_assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
            let back = TraceState::parse(header.as_bytes());
            prop_assert!(back.is_ok(), "header_value {:?} does not parse: {:?}", header, back);
            let buf = TraceStateBuf::from_state(&state);
            prop_assert_eq!(TraceStateBuf::parse(buf.as_str().as_bytes()), Ok(buf.clone()));
            let _ = state.header_value(state.members().last());
        }
        // Two header values are one list joined with ','.
        let at = split.index(input.len() + 1);
        let (a, b) = input.split_at(at);
        let joined = [a, b",", b].concat();
        prop_assert_eq!(TraceState::parse_values([a, b]), TraceState::parse(&joined));
    }
}

// ---------------------------------------------------------------------------------------------
// (d) baggage
// ---------------------------------------------------------------------------------------------

fn unique_keys(entries: Vec<BaggageEntry>) -> Vec<BaggageEntry> {
    let mut seen = HashSet::new();
    entries.into_iter().filter(|e| seen.insert(e.key.clone())).collect()
}

proptest! {
    #[test]
    fn baggage_formatted_entries_parse_back(entries in prop::collection::vec(bg_entry(), 0..70), ows in any::<bool>()) {
        let entries = within_limits(&unique_keys(entries));
        let header = format_baggage(&entries, ows);
        let parsed = Baggage::parse(header.as_bytes());
        prop_assert_eq!(parsed.entries(), &entries[..], "header {:?}", header);
        prop_assert_eq!(parsed.dropped(), 0);
        let written = parsed.to_header_string();
        prop_assert_eq!(&written, &format_baggage(&entries, false));
        let again = Baggage::parse(written.as_bytes());
        prop_assert_eq!(again.entries(), &entries[..]);
        let mut bytes = Vec::new();
        parsed.write_header(&mut bytes);
        prop_assert_eq!(bytes, written.into_bytes());
    }

    #[test]
    fn baggage_insert_then_format_round_trips(entries in prop::collection::vec((token(12), bg_value()), 0..40)) {
        let mut baggage = Baggage::default();
        for (k, v) in &entries {
            baggage.insert(k, v).unwrap();
        }
        let header = baggage.to_header_string();
        let back = Baggage::parse(header.as_bytes());
        prop_assert_eq!(back.entries(), baggage.entries());
        for (k, _) in &entries {
            let last = entries.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
            prop_assert_eq!(back.get(k), last);
        }
    }

    #[test]
    fn baggage_never_panics_and_formats_stably(
        input in prop_oneof![3 => biased_bytes(BG_ALPHABET, 400), 1 => any::<Vec<u8>>()],
        split in any::<prop::sample::Index>(),
    ) {
        let parsed = Baggage::parse(&input);
        prop_assert!(parsed.entries().len() <= 64);
        let header = parsed.to_header_string();
        prop_assert!(header.len() <= 8192);
        prop_assert!(header.is_ascii());
        let again = Baggage::parse(header.as_bytes());
        prop_assert_eq!(again.entries(), parsed.entries(), "input {:?} header {:?}", String::from_utf8_lossy(&input), header);
        prop_assert_eq!(again.to_header_string(), header);

        let at = split.index(input.len() + 1);
        let (a, b) = input.split_at(at);
        let joined = [a, b",", b].concat();
        prop_assert_eq!(Baggage::parse_values([a, b]), Baggage::parse(&joined));
    }
}

proptest! {
    // Each case formats and parses lists of up to 120 members: fewer cases keep the file fast.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Duplicates: the last occurrence wins at its own position; then the limits cut from the end.
    #[test]
    fn baggage_duplicates_and_limits_follow_the_rules(
        entries in prop::collection::vec(
            (select(vec!["a", "b", "c", "d"]).prop_map(String::from), bg_value(), prop::collection::vec(bg_property(), 0..2))
                .prop_map(|(key, value, properties)| BaggageEntry { key, value, properties }),
            0..12),
        many in prop::collection::vec(bg_entry(), 0..120),
        long in prop::collection::vec(("[a-z]{1,8}", 200usize..600, select(TCHARS)), 0..30),
    ) {
        let with_dups = format_baggage(&entries, false);
        let expected: Vec<BaggageEntry> = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| !entries[i + 1..].iter().any(|later| later.key == e.key))
            .map(|(_, e)| e.clone())
            .collect();
        let parsed = Baggage::parse(with_dups.as_bytes());
        prop_assert_eq!(parsed.entries(), &expected[..]);

        let many = unique_keys(many);
        let parsed = Baggage::parse(format_baggage(&many, false).as_bytes());
        prop_assert_eq!(parsed.entries(), &within_limits(&many)[..]);
        prop_assert_eq!(parsed.dropped(), many.len() - parsed.entries().len());

        let long: Vec<BaggageEntry> = unique_keys(
            long.into_iter()
                .map(|(key, len, c)| BaggageEntry { key, value: char::from(c).to_string().repeat(len), properties: vec![] })
                .collect(),
        );
        let parsed = Baggage::parse(format_baggage(&long, false).as_bytes());
        prop_assert_eq!(parsed.entries(), &within_limits(&long)[..]);
        prop_assert!(parsed.to_header_string().len() <= 8192);
    }
}

// ---------------------------------------------------------------------------------------------
// (e) carrier
// ---------------------------------------------------------------------------------------------

type Nullable = Vec<(String, Option<Vec<u8>>)>;

const NAMES: &[&str] =
    &["traceparent", "TraceParent", "TRACEPARENT", "tracestate", "TraceState", "baggage", "BAGGAGE", "x", "y", ""];

fn is_trace_header(name: &str) -> bool {
    ["traceparent", "tracestate", "baggage"].iter().any(|n| name.eq_ignore_ascii_case(n))
}

fn header_value() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        1 => Just(None),
        3 => traceparent().prop_map(|tp| Some(tp.encode().to_vec())),
        1 => near_traceparent().prop_map(Some),
        2 => ts_members().prop_map(|m| Some(join_members(&m).into_bytes())),
        1 => prop::collection::vec(bg_entry(), 0..5).prop_map(|e| Some(format_baggage(&e, false).into_bytes())),
        2 => biased_bytes(TS_ALPHABET, 40).prop_map(Some),
    ]
}

fn header_list() -> impl Strategy<Value = Nullable> {
    prop::collection::vec((select(NAMES).prop_map(String::from), header_value()), 0..8)
}

fn context() -> impl Strategy<Value = TraceContext> {
    let tracestate = prop_oneof![1 => Just(String::new()), 3 => ts_members().prop_map(|m| join_members(&m))];
    let baggage = prop::collection::vec(bg_entry(), 0..6).prop_map(|e| format_baggage(&unique_keys(e), false));
    (traceparent(), tracestate, baggage).prop_map(|(traceparent, ts, bg)| TraceContext {
        traceparent,
        tracestate: TraceStateBuf::parse(ts.as_bytes()).unwrap(),
        baggage: Baggage::parse(bg.as_bytes()),
    })
}

/// The parent as the README's header policy states it, computed without the carrier.
fn expected_parent(headers: &Nullable) -> Result<TraceParent, ErrorCode> {
    let values: Vec<&[u8]> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("traceparent"))
        .map(|(_, v)| trim_ows(v.as_deref().unwrap_or_default()))
        .collect();
    // Kafka carriers: the last traceparent header wins.
    match values.last() {
        None => Err(ErrorCode::Missing),
        Some(last) => TraceParent::parse(last),
    }
}

fn check_injected(before: &Nullable, after: &Nullable, ctx: &TraceContext) -> Result<(), TestCaseError> {
    let count = |name: &str| after.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    prop_assert_eq!(count("traceparent"), 1);
    prop_assert_eq!(after.iter().filter(|(n, _)| n == TRACEPARENT).count(), 1, "name must be lowercase");
    prop_assert!(count("tracestate") <= 1);
    prop_assert!(count("baggage") <= 1);
    for (n, _) in after.iter().filter(|(n, _)| is_trace_header(n)) {
        prop_assert_eq!(n.clone(), n.to_ascii_lowercase());
    }

    let others = |h: &Nullable| h.iter().filter(|(n, _)| !is_trace_header(n)).cloned().collect::<Vec<_>>();
    prop_assert_eq!(others(after), others(before), "non-trace headers changed");

    let find = |name: &str| after.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    prop_assert_eq!(find("traceparent"), Some(Some(ctx.traceparent.encode().to_vec())));
    let ts = ctx.tracestate.header_value();
    prop_assert_eq!(find("tracestate"), (!ts.is_empty()).then(|| Some(ts.as_bytes().to_vec())));
    let bg = ctx.baggage.to_header_string();
    prop_assert_eq!(find("baggage"), (!bg.is_empty()).then(|| Some(bg.clone().into_bytes())));

    // In place: a name that was present keeps the position of its first occurrence among the
    // surviving headers; one that was absent is appended after everything else.
    for name in ["traceparent", "tracestate", "baggage"] {
        let Some(pos) = after.iter().position(|(n, _)| n == name) else { continue };
        let first_before = before.iter().position(|(n, _)| n.eq_ignore_ascii_case(name));
        let others_before_it = after[..pos].iter().filter(|(n, _)| !is_trace_header(n)).count();
        match first_before {
            Some(i) => {
                let expected = before[..i].iter().filter(|(n, _)| !is_trace_header(n)).count();
                prop_assert_eq!(others_before_it, expected, "{} moved", name);
            }
            None => prop_assert_eq!(others_before_it, others(before).len(), "{} not appended at the end", name),
        }
    }

    let got = extract(after);
    prop_assert_eq!(got.as_ref().map(|c| c.traceparent), Some(ctx.traceparent));
    let got = got.unwrap();
    prop_assert_eq!(got.tracestate, TraceStateBuf::parse(ts.as_bytes()).unwrap());
    prop_assert_eq!(got.baggage.entries(), ctx.baggage.entries());
    Ok(())
}

proptest! {
    #[test]
    fn carrier_extract_never_panics_and_follows_the_policy(headers in header_list()) {
        let extracted = extract_parts(&headers);
        prop_assert_eq!(extracted.parent, expected_parent(&headers));
        if extracted.parent.is_err() {
            prop_assert_eq!(&extracted.tracestate, &Ok(TraceState::default()));
        } else {
            // Only the last tracestate header is read (a null value reads as no members).
            let last = headers.iter().rev().find(|(n, _)| n.eq_ignore_ascii_case("tracestate")).map(|(_, v)| v.as_deref());
            let expected = match last {
                None | Some(None) => Ok(TraceState::default()),
                Some(Some(value)) => TraceState::parse(value),
            };
            prop_assert_eq!(&extracted.tracestate, &expected);
        }
        let bg_values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("baggage")).filter_map(|(_, v)| v.as_deref());
        prop_assert_eq!(&extracted.baggage, &Baggage::parse_values(bg_values));
        prop_assert_eq!(extract(&headers).is_some(), extracted.parent.is_ok());

        // The same list through the other Headers impl (a null value read as empty: same parent).
        let plain: Vec<(String, Vec<u8>)> = headers.iter().map(|(n, v)| (n.clone(), v.clone().unwrap_or_default())).collect();
        prop_assert_eq!(extract_parts(&plain).parent, expected_parent(&headers));
    }

    #[test]
    fn carrier_inject_writes_exactly_one_context(headers in header_list(), ctx in context()) {
        let mut after = headers.clone();
        inject(&ctx, &mut after);
        check_injected(&headers, &after, &ctx)?;

        // Injecting again changes nothing.
        let mut twice = after.clone();
        inject(&ctx, &mut twice);
        prop_assert_eq!(&twice, &after);

        // The non-null list behaves the same.
        let mut plain: Vec<(String, Vec<u8>)> = headers.iter().map(|(n, v)| (n.clone(), v.clone().unwrap_or_default())).collect();
        inject(&ctx, &mut plain);
        let as_nullable: Nullable = plain.into_iter().map(|(n, v)| (n, Some(v))).collect();
        let after_non_null: Nullable = after.iter().map(|(n, v)| (n.clone(), Some(v.clone().unwrap_or_default()))).collect();
        prop_assert_eq!(as_nullable, after_non_null);
    }

    #[test]
    fn carrier_continue_or_new_root_then_inject(headers in header_list(), child in span_id(), root in trace_id()) {
        let extracted = extract_parts(&headers);
        let baggage = extracted.baggage.clone();
        let ctx = match extracted.into_context() {
            Some(parent) => parent.child(child),
            None => TraceContext::new_root(root, child, TraceFlags::SAMPLED, baggage),
        };
        prop_assert_eq!(ctx.traceparent.version, 0);
        let mut after = headers.clone();
        inject(&ctx, &mut after);
        check_injected(&headers, &after, &ctx)?;

        // The allocation-free path writes the same bytes.
        let mut raw = headers.clone();
        let ts = ctx.tracestate.header_value();
        inject_values(&mut raw, &ctx.traceparent, ts.as_bytes(), ctx.baggage.to_header_string().as_bytes());
        prop_assert_eq!(raw, after);
    }
}
