//! The hot paths allocate nothing: a counting global allocator checks it.
//!
//! Tests run on parallel threads, so the count is per thread: a `thread_local!` with a `const`
//! initializer (plain TLS, no lazy initialization and no destructor, so reading it from inside the
//! allocator never allocates or recurses). Only allocations and reallocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use kafka_trace::carrier::inject_values;
use kafka_trace::{extract_parts, ErrorCode, TraceParent, TraceState, TraceStateBuf};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with` so an allocation during thread teardown is not a panic inside the allocator.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// thread-local `Cell<usize>`, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations made on this thread meanwhile.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = black_box(f());
    let after = ALLOCATIONS.with(Cell::get);
    (result, after - before)
}

#[track_caller]
fn assert_no_alloc<R>(what: &str, f: impl FnOnce() -> R) -> R {
    let (result, n) = allocations(f);
    assert_eq!(n, 0, "{what} allocated {n} time(s)");
    result
}

const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TS: &[u8] = b"rojo=00f067aa0ba902b7, congo=t61rcWkgMzE,\tvendor3@tenant=abc123";

#[test]
fn the_counter_sees_a_deliberate_allocation() {
    let (v, n) = allocations(|| Vec::<u8>::with_capacity(black_box(16)));
    assert!(n >= 1, "a Vec::with_capacity(16) was not counted");
    drop(v);
    let (s, n) = allocations(|| black_box(String::from("x")).repeat(black_box(100)));
    assert!(n >= 1, "String::repeat was not counted");
    drop(s);
    let ((), n) = allocations(|| {
        let mut v = black_box(Vec::<u8>::with_capacity(1));
        v.extend_from_slice(black_box(&[0u8; 64]));
        black_box(&v);
    });
    assert!(n >= 2, "allocation + reallocation counted {n}");
}

#[test]
fn traceparent_parse_does_not_allocate() {
    let valid = black_box(TP);
    let tp = assert_no_alloc("parse(valid)", || TraceParent::parse(valid));
    assert!(tp.is_ok());
    let padded = black_box(&b" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t "[..]);
    assert!(assert_no_alloc("parse(padded)", || TraceParent::parse(padded)).is_ok());
    let later = black_box(&b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-next"[..]);
    assert!(assert_no_alloc("parse(later version)", || TraceParent::parse(later)).is_ok());

    let invalid: &[(&[u8], ErrorCode)] = &[
        (b"", ErrorCode::TraceparentLength),
        (b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentVersion),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", ErrorCode::TraceparentLength),
        (b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentDelimiter),
        (b"00-4BF92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ErrorCode::TraceparentTraceId),
        (b"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ErrorCode::TraceparentZeroTraceId),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01", ErrorCode::TraceparentSpanId),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ErrorCode::TraceparentZeroSpanId),
        (b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", ErrorCode::TraceparentFlags),
    ];
    for &(input, want) in invalid {
        let input = black_box(input);
        let got = assert_no_alloc("parse(invalid)", || TraceParent::parse(input));
        assert_eq!(got, Err(want));
    }
}

#[test]
fn traceparent_encode_and_write_to_do_not_allocate() {
    let tp = TraceParent::parse(TP).unwrap();
    let encoded = assert_no_alloc("encode", || black_box(&tp).encode());
    assert_eq!(&encoded[..], TP);
    let mut buf = [0u8; 64];
    let n = assert_no_alloc("write_to", || black_box(&tp).write_to(black_box(&mut buf)));
    assert_eq!(n, Ok(55));
    assert_eq!(&buf[..55], TP);
    let mut small = [0u8; 10];
    let err = assert_no_alloc("write_to(small)", || black_box(&tp).write_to(black_box(&mut small)));
    assert_eq!(err, Err(ErrorCode::BufferTooSmall));
}

#[test]
fn tracestate_parse_and_header_value_do_not_allocate() {
    let input = black_box(TS);
    let state = assert_no_alloc("TraceState::parse(3 members)", || TraceState::parse(input)).unwrap();
    assert_eq!(state.members().len(), 3);
    let header = assert_no_alloc("TraceState::header_value", || state.header_value(None));
    assert_eq!(header.as_bytes(), b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3@tenant=abc123");
    let first = kafka_trace::codec::tracestate::Member::new("kt", "1").unwrap();
    let header = assert_no_alloc("TraceState::header_value(first)", || state.header_value(Some(first)));
    assert!(header.as_bytes().starts_with(b"kt=1,rojo="));
    let bad = black_box(&b"rojo=1,Bad=2"[..]);
    assert_eq!(assert_no_alloc("TraceState::parse(invalid)", || TraceState::parse(bad)), Err(ErrorCode::TracestateKey));

    // The owned form allocates once when built, but not when it is read or written out.
    let buf = TraceStateBuf::parse(TS).unwrap();
    let header = assert_no_alloc("TraceStateBuf::header_value", || buf.header_value());
    assert_eq!(header.as_bytes(), buf.as_str().as_bytes());
}

#[test]
fn extract_parts_without_baggage_does_not_allocate() {
    let headers: Vec<(String, Vec<u8>)> = vec![
        ("key".into(), b"order-17".to_vec()),
        ("traceparent".into(), TP.to_vec()),
        ("TraceState".into(), TS.to_vec()),
    ];
    let extracted = assert_no_alloc("extract_parts", || extract_parts(black_box(&headers)));
    assert_eq!(extracted.parent, TraceParent::parse(TP));
    assert_eq!(extracted.tracestate.as_ref().map(|s| s.members().len()), Ok(3));
    assert!(extracted.baggage.is_empty());

    // A message with no trace headers at all costs nothing either.
    let plain: Vec<(String, Vec<u8>)> = vec![("key".into(), b"v".to_vec())];
    let extracted = assert_no_alloc("extract_parts(no trace headers)", || extract_parts(black_box(&plain)));
    assert_eq!(extracted.parent, Err(ErrorCode::Missing));
}

#[test]
fn inject_values_into_existing_headers_does_not_allocate() {
    // `inject_values` is documented as the allocation-free path: when the headers are already
    // there (a forwarded or retried message), they are rewritten in place.
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("TraceParent".into(), TP.to_vec()),
        ("k".into(), b"v".to_vec()),
        ("tracestate".into(), Vec::with_capacity(128)),
        ("baggage".into(), Vec::with_capacity(64)),
        ("baggage".into(), b"stale=1".to_vec()),
    ];
    let tp = TraceParent::parse(TP).unwrap();
    assert_no_alloc("inject_values", || inject_values(&mut headers, &tp, b"kt=1,rojo=2", b"user=alice"));
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["traceparent", "k", "tracestate", "baggage"]);
    assert_eq!(headers[3].1, b"user=alice");
}
