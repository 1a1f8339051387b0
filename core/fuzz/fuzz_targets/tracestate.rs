//! `TraceState::parse` on any bytes: never panics; the plain-member path agrees with the general
//! ones; an accepted list survives `TraceStateBuf` normalization unchanged, and `header_value` stays within 512 bytes and only keeps original
//! members (in order, same values).
#![no_main]

use kafka_trace::codec::tracestate::{Member, MAX_HEADER_LEN};
use kafka_trace::{TraceState, TraceStateBuf};
use libfuzzer_sys::fuzz_target;

/// Every member of `emitted` appears in `original` with the same value, in the same order.
fn assert_ordered_subset(emitted: &[Member<'_>], original: &[Member<'_>]) {
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

    let header = state.header_value(None);
    assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
    let back = TraceState::parse(header.as_bytes()).expect("header_value parses");
    assert_ordered_subset(back.members(), state.members());

    let buf = TraceStateBuf::from_state(&state);
    assert_eq!(TraceStateBuf::parse(buf.as_str().as_bytes()), Ok(buf.clone()));
    assert_eq!(buf.view().members(), state.members());
    assert_eq!(buf.header_value(), header);

    // Our own member in front (as a vendor continuing the trace writes it).
    if let Some(last) = state.members().last().copied() {
        let header = state.header_value(Some(last));
        assert!(header.as_bytes().len() <= MAX_HEADER_LEN);
        let back = TraceState::parse(header.as_bytes()).expect("header_value(first) parses");
        if last.key.len() + 1 + last.value.len() <= 128 {
            assert_eq!(back.members().first(), Some(&last));
        }
        let mut owned = buf.clone();
        owned.set(last.key, last.value).expect("a parsed member is valid");
        assert_eq!(owned.view().members().first(), Some(&last));
        assert_eq!(owned.view().members().len(), state.members().len());
    }
});
