//! The Kafka header carrier: any header list extracts without panicking; injecting the continued
//! (or new root) context leaves exactly one context that extracts back to what was injected.
//!
//! Input format (also written by `scripts/fuzz.sh` for the seed corpus), repeated:
//! - name: one byte `t`; `t < 0x80` picks `NAMES[t % NAMES.len()]`, otherwise the next `t & 0x7f`
//!   bytes are the name (lossy UTF-8);
//! - value: a little-endian `u16` length (`0xffff` = Kafka null value) then that many bytes
//!   (fewer if the input ends); a name with no length bytes left has a null value.
#![no_main]

use kafka_trace::{extract, extract_parts, inject, SpanId, TraceContext, TraceFlags, TraceId, TraceParent};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 8] = ["traceparent", "TraceParent", "tracestate", "TRACESTATE", "baggage", "Baggage", "x", "key"];

type List = Vec<(String, Option<Vec<u8>>)>;

fn decode(mut data: &[u8]) -> List {
    let mut out = Vec::new();
    while let Some((&tag, rest)) = data.split_first() {
        data = rest;
        let name = if tag < 0x80 {
            NAMES[tag as usize % NAMES.len()].to_owned()
        } else {
            let n = usize::from(tag & 0x7f).min(data.len());
            let (name, rest) = data.split_at(n);
            data = rest;
            String::from_utf8_lossy(name).into_owned()
        };
        let value = match data {
            [lo, hi, rest @ ..] => {
                let len = u16::from_le_bytes([*lo, *hi]);
                data = rest;
                if len == u16::MAX {
                    None
                } else {
                    let (value, rest) = data.split_at(usize::from(len).min(data.len()));
                    data = rest;
                    Some(value.to_vec())
                }
            }
            _ => {
                data = &[];
                None
            }
        };
        out.push((name, value));
    }
    out
}

fn is_ours(name: &str) -> bool {
    ["traceparent", "tracestate", "baggage"].iter().any(|n| name.eq_ignore_ascii_case(n))
}

fuzz_target!(|data: &[u8]| {
    let headers = decode(data);
    let extracted = extract_parts(&headers);
    let baggage = extracted.baggage.clone();
    let continued = extracted.clone().into_context();
    assert_eq!(continued.is_some(), extracted.parent.is_ok());

    let ctx = match continued {
        Some(parent) => parent.child(SpanId(*b"\x01child\x02\x03")),
        None => TraceContext::new_root(
            TraceId(*b"\x0anew-root-trace\x0b"),
            SpanId(*b"\x01root-sp"),
            TraceFlags::SAMPLED,
            baggage,
        ),
    };
    assert_eq!(ctx.traceparent.version, 0);

    let mut after: List = headers.clone();
    inject(&ctx, &mut after);

    let count = |name: &str| after.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
    assert_eq!(count("traceparent"), 1);
    assert!(after.iter().any(|(n, _)| n == "traceparent"));
    assert!(count("tracestate") <= 1);
    assert!(count("baggage") <= 1);
    let others = |list: &List| list.iter().filter(|(n, _)| !is_ours(n)).cloned().collect::<Vec<_>>();
    assert_eq!(others(&after), others(&headers), "non-trace headers changed");

    let re = extract_parts(&after);
    assert_eq!(re.parent, Ok(TraceParent { version: 0, ..ctx.traceparent }));
    let written_state = ctx.tracestate.header_value();
    let expected_state = kafka_trace::TraceState::parse(written_state.as_bytes()).expect("header_value parses");
    assert_eq!(re.tracestate, Ok(expected_state));
    assert_eq!(re.baggage.entries(), ctx.baggage.entries());

    let again = extract(&after).expect("injected context extracts");
    assert_eq!(again.traceparent, ctx.traceparent);
    assert_eq!(again.baggage.entries(), ctx.baggage.entries());

    // Injecting the same context twice is the same as once.
    let mut twice = after.clone();
    inject(&ctx, &mut twice);
    assert_eq!(twice, after);
});
