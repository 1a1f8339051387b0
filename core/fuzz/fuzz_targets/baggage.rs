//! `Baggage::parse` on any bytes: never panics, stays within the W3C limits, and what it writes
//! parses back to the same entries and is written again byte for byte.
#![no_main]

use kafka_trace::Baggage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = Baggage::parse(data);
    assert!(parsed.entries().len() <= 64);
    let header = parsed.to_header_string();
    assert!(header.len() <= 8192, "formatted baggage is {} bytes", header.len());
    assert!(header.is_ascii());
    assert_eq!(header.is_empty(), parsed.is_empty());

    let again = Baggage::parse(header.as_bytes());
    assert_eq!(again.entries(), parsed.entries(), "header {header:?}");
    assert_eq!(again.dropped(), 0);
    assert_eq!(again.to_header_string(), header);

    // Several header values are one list joined with ','.
    let (a, b) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    assert_eq!(Baggage::parse_values([a, b]), Baggage::parse(&[a, b",", b].concat()));
});
