//! `TraceParent::parse` on any bytes: never panics, and an accepted value re-encodes to the
//! canonical version-00 form that parses back to the same ids and flags.
#![no_main]

use kafka_trace::TraceParent;
use libfuzzer_sys::fuzz_target;

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

fuzz_target!(|data: &[u8]| {
    let Ok(tp) = TraceParent::parse(data) else { return };
    assert!(tp.trace_id.is_valid() && tp.span_id.is_valid());
    assert_ne!(tp.version, 0xff);

    let encoded = tp.encode();
    let trimmed = trim_ows(data);
    assert!(trimmed.len() >= 55);
    assert_eq!(&encoded[..2], b"00");
    assert_eq!(&encoded[2..], &trimmed[2..55], "only the version may change on re-encoding");
    if tp.version == 0 {
        assert_eq!(&encoded[..], trimmed);
    }

    let again = TraceParent::parse(&encoded).expect("the encoded form parses");
    assert_eq!(again, TraceParent { version: 0, ..tp });

    let mut buf = [0u8; 55];
    assert_eq!(tp.write_to(&mut buf), Ok(55));
    assert_eq!(buf, encoded);
    assert_eq!(tp.to_string().as_bytes(), &encoded[..]);
});
