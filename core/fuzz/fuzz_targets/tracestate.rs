//! `TraceState::parse` on any bytes: never panics; the plain-member path agrees with the general
//! ones; the members made on demand are those of an eager split; an accepted list survives `TraceStateBuf` normalization unchanged, and `header_value` stays within 512 bytes and only keeps original
//! members (in order, same values).
#![no_main]

use kafka_trace::codec::tracestate::{Member, Members, MAX_HEADER_LEN};
use kafka_trace::{TraceState, TraceStateBuf};
use libfuzzer_sys::fuzz_target;

/// Every member of `emitted` appears in `original` with the same value, in the same order.
fn assert_ordered_subset(emitted: Members<'_, '_>, original: Members<'_, '_>) {
    let original: Vec<Member<'_>> = original.iter().collect();
    let mut from = 0;
    for m in emitted {
        let i = original[from..]
            .iter()
            .position(|o| o.key == m.key)
            .unwrap_or_else(|| panic!("emitted member {}={} not in the original, or out of order", m.key, m.value));
        assert_eq!(original[from + i].value, m.value, "value of {} changed", m.key);
        from += i + 1;
    }
}

fuzz_target!(|data: &[u8]| {
    // Two header values (split at the first NUL, which a valid list never contains) are one list.
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let joined = [a, b",", b].concat();
    assert_eq!(TraceState::parse_values([a, b]), TraceState::parse(&joined));
    // A leading space changes nothing, but sends the whole list past the plain-member path
    // (`key=value` then `,`) to the one-pass scan and the member-by-member path: all agree.
    assert_eq!(TraceState::parse(&[b" ", data].concat()), TraceState::parse(data));

    let Ok(state) = TraceState::parse(data) else { return };
    assert!(state.members().len() <= 32);

    // The members are made on demand from the header value: the same as splitting it eagerly
    // (at `,`, trimmed, empty ones skipped, at the first `=`, the first of a repeated key kept),
    // from either end, by index and by key.
    let mut eager: Vec<Member<'_>> = Vec::new();
    let text = std::str::from_utf8(data).expect("an accepted list is ASCII");
    for piece in text.split(',').map(|p| p.trim_matches([' ', '\t'])).filter(|p| !p.is_empty()) {
        let (key, value) = piece.split_once('=').expect("an accepted member has '='");
        if !eager.iter().any(|m| m.key == key) {
            eager.push(Member { key, value });
        }
    }
    assert_eq!(state.members().iter().collect::<Vec<_>>(), eager);
    assert_eq!(state.members().len(), eager.len());
    assert!(state.members().iter().rev().eq(eager.iter().rev().copied()));
    for (i, m) in eager.iter().enumerate() {
        assert_eq!(state.members().get(i), Some(*m));
        assert_eq!(state.get(m.key), Some(m.value));
    }

    let header = state.header_value(None);
    assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
    let back = TraceState::parse(header.as_bytes()).expect("header_value parses");
    assert_ordered_subset(back.members(), state.members());

    let buf = TraceStateBuf::from_state(&state);
    assert_eq!(TraceStateBuf::parse(buf.as_str().as_bytes()), Ok(buf.clone()));
    assert_eq!(buf.view().members(), state.members());
    assert_eq!(buf.header_value(), header);

    // Our own member in front (as a vendor continuing the trace writes it).
    if let Some(last) = state.members().last() {
        let header = state.header_value(Some(last));
        assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
        let back = TraceState::parse(header.as_bytes()).expect("header_value(first) parses");
        if last.key.len() + 1 + last.value.len() <= 128 {
            assert_eq!(back.members().first(), Some(last));
        }
        let mut owned = buf.clone();
        owned.set(last.key, last.value).expect("a parsed member is valid");
        assert_eq!(owned.view().members().first(), Some(last));
        assert_eq!(owned.view().members().len(), state.members().len());
    }
});
