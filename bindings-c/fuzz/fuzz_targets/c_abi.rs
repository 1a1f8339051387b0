//! Drives the exported `kt_` functions of the C ABI (include/kafka_trace.h) in arbitrary order,
//! with arbitrary bytes and lengths, NULL pointers, too-small output buffers, handles of the wrong
//! type and handles that look freed, under AddressSanitizer (cargo fuzz's default) with leak
//! detection on. Oracles besides ASan: no call ever returns KT_RESULT_PANIC; the documented
//! results for NULL, foreign and "freed" handles; size queries followed by a call with the size
//! they gave succeed; every borrowed `kt_str` and every header written is readable in bounds.
//!
//! Handles live in a table the harness owns. A handle freed with `*_free` leaves the table at
//! once and is never passed again: the ABI says its handle check is best effort ("never rely on
//! it to make use-after-free safe"), so calling with a genuinely freed pointer is a use-after-free
//! the ABI does not claim to detect (ASan would rightly report it). What the ABI does detect is a
//! live pointer whose tag is not the expected one: a handle of another type, and a freed handle
//! whose memory was not reused (its tag was set to DEAD on free). The harness passes both: live
//! handles of the wrong type, and harness-owned buffers holding the DEAD tag, zeros or arbitrary
//! bytes.
//!
//! Tracers are always created in capture mode (nothing is exported, no network); everything the
//! input leaves alive is freed at the end of the input, so a leak in the library shows up.
#![no_main]

use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

use kt::*;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const OK: u32 = kt_result::Ok as u32;
const PANIC: u32 = kt_result::Panic as u32;
const NULL_ARGUMENT: u32 = kt_result::NullArgument as u32;
const INVALID_HANDLE: u32 = kt_result::InvalidHandle as u32;
const BUFFER_TOO_SMALL: u32 = kt_result::BufferTooSmall as u32;
const INVALID_ARGUMENT: u32 = kt_result::InvalidArgument as u32;

/// The tag a freed handle carries (bindings-c/src/lib.rs `DEAD`): what a freed-but-not-reused
/// handle looks like to the next call.
const DEAD: u64 = 0xdead_dead_dead_dead;
const MAX_LIVE: usize = 12;
const MAX_TRACERS_PER_INPUT: usize = 2;

const NAMES: &[&[u8]] = &[
    b"traceparent", b"TraceParent", b"tracestate", b"TRACESTATE", b"baggage", b"Baggage", b"x", b"key", b"",
];
const VALUES: &[&[u8]] = &[
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
    b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    b"userId=alice%20smith;p1;p2=v,serverNode=DF%2028",
    b"k=v",
    b"",
];
const TOPICS: &[&[u8]] = &[b"orders", b"orders.eu", b"payments", b"", b"\xff\xfe", b"or*"];
const OPTIONS: &[&[u8]] = &[
    b"strategy", b"record_message_key", b"record_body_size", b"include_topics", b"exclude_topics", b"client_id",
    b"consumer_group", b"bootstrap_servers", b"recordMessageKey", b"nope",
];
const OPTION_VALUES: &[&[u8]] = &[b"parent", b"link", b"true", b"false", b"1", b"0", b"orders.*,payments", b"*", b"host:9092,b:1"];

fn check(call: &str, r: kt_result) -> u32 {
    let r = r as u32;
    assert_ne!(r, PANIC, "{call} returned KT_RESULT_PANIC");
    // The message of any result is a static C string.
    let m = unsafe { CStr::from_ptr(kt_result_message(r)) };
    assert!(!m.to_bytes().is_empty());
    r
}

/// Bytes the harness owns for one call, and the (pointer, length) pair passed for them.
struct Input {
    _data: Box<[u8]>,
    ptr: *const u8,
    len: usize,
    /// What the convention promises for this pair, if it is not a valid input.
    expect: Option<u32>,
}

fn input(u: &mut Unstructured, pool: &[&[u8]]) -> Result<Input> {
    let mode: u8 = u.arbitrary()?;
    let data: Box<[u8]> = match mode % 8 {
        0..=2 => pool[u.choose_index(pool.len())?].to_vec().into_boxed_slice(),
        3 => {
            // A large value: a repeated pool entry (e.g. a long tracestate) up to 64 KiB.
            let base = pool[u.choose_index(pool.len())?];
            let n: u16 = u.arbitrary()?;
            let mut v = Vec::new();
            while v.len() < usize::from(n) && !base.is_empty() {
                v.extend_from_slice(base);
                v.push(b',');
            }
            v.into_boxed_slice()
        }
        _ => {
            let n = u.arbitrary_len::<u8>()?.min(512);
            u.bytes(n)?.to_vec().into_boxed_slice()
        }
    };
    let (ptr, len, expect) = match (mode >> 3) % 16 {
        // NULL with a length: KT_RESULT_NULL_ARGUMENT.
        0 => (null(), data.len().max(1), Some(NULL_ARGUMENT)),
        // NULL with 0: an empty input.
        1 => (null(), 0, None),
        // A valid pointer with a length past PTRDIFF_MAX: KT_RESULT_INVALID_ARGUMENT (or NULL_ARGUMENT
        // when the buffer is empty and its pointer dangles: never passed then).
        2 if !data.is_empty() => (data.as_ptr(), (isize::MAX as usize) + 1 + usize::from(u.arbitrary::<u8>()?), Some(INVALID_ARGUMENT)),
        // A prefix of the data.
        3 if !data.is_empty() => (data.as_ptr(), u.int_in_range(0..=data.len())?, None),
        _ => (if data.is_empty() { null() } else { data.as_ptr() }, data.len(), None),
    };
    Ok(Input { _data: data, ptr, len, expect })
}

/// A header list: names and values the harness owns, with the `kt_header` array pointing at them.
struct Headers {
    _storage: Vec<Box<[u8]>>,
    list: Vec<kt_header>,
    /// Whether some header breaks the convention in a detected way (NULL name with a length).
    bad: bool,
}

fn headers(u: &mut Unstructured) -> Result<Headers> {
    let n = if u.ratio(1, 40)? { 10_000 } else { u.int_in_range(0..=12)? };
    let mut storage = Vec::new();
    let mut list = Vec::with_capacity(n);
    let mut bad = false;
    for _ in 0..n {
        let name: Box<[u8]> = if u.ratio(1, 6)? {
            let n = u.int_in_range(0..=16)?;
            u.bytes(n)?.into()
        } else { NAMES[u.choose_index(NAMES.len())?].into() };
        let value = input(u, VALUES)?;
        let (name_ptr, name_len) = match u.int_in_range(0..=30)? {
            0 => {
                bad = true;
                (null(), 1)
            }
            _ => (if name.is_empty() { null() } else { name.as_ptr() }, name.len()),
        };
        // A NULL value pointer is a Kafka null value (its length is ignored), not an error; a
        // non-NULL value with a length past PTRDIFF_MAX must be refused.
        let null_value = u.ratio(1, 10)? || value.ptr.is_null();
        if !null_value && value.expect == Some(INVALID_ARGUMENT) {
            bad = true;
        }
        list.push(kt_header {
            name: name_ptr.cast(),
            name_len,
            value: if null_value { null() } else { value.ptr },
            value_len: value.len,
        });
        storage.push(name);
        storage.push(value._data);
    }
    Ok(Headers { _storage: storage, list, bad })
}

fn list_ptr<T>(v: &[T], u: &mut Unstructured) -> Result<(*const T, usize)> {
    Ok(if v.is_empty() { (if u.arbitrary()? { null() } else { std::ptr::NonNull::dangling().as_ptr() }, 0) } else { (v.as_ptr(), v.len()) })
}

/// Reads a borrowed string in full (ASan checks every byte is in bounds and alive).
fn touch(s: &kt_str) -> u64 {
    if s.len == 0 {
        return 0;
    }
    assert!(!s.data.is_null());
    let b = unsafe { std::slice::from_raw_parts(s.data.cast::<u8>(), s.len) };
    b.iter().map(|&x| u64::from(x)).sum()
}

/// What the setter callback of kt_context_inject / kt_span_inject sees.
struct SetterState {
    calls: u32,
    fail_at: u32,
    seen: u64,
}

extern "C" fn setter(ud: *mut c_void, name: *const c_char, name_len: usize, value: *const u8, value_len: usize) -> i32 {
    let st = unsafe { &mut *ud.cast::<SetterState>() };
    assert!(!name.is_null() && name_len > 0);
    let n = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), name_len + 1) };
    assert_eq!(n[name_len], 0, "header name passed to the setter is NUL-terminated");
    st.seen += n.iter().map(|&b| u64::from(b)).sum::<u64>();
    if !value.is_null() {
        let v = unsafe { std::slice::from_raw_parts(value, value_len) };
        st.seen += v.iter().map(|&b| u64::from(b)).sum::<u64>();
    }
    st.calls += 1;
    i32::from(st.calls == st.fail_at)
}

/// The handles of one input. Freed handles leave the table at once.
#[derive(Default)]
struct Table {
    contexts: Vec<*mut kt_context>,
    configs: Vec<*mut kt_tracer_config>,
    tracers: Vec<*mut kt_tracer>,
    spans: Vec<*mut kt_span>,
    tracers_made: usize,
}

/// Harness-owned memory passed as handles: the DEAD tag of a freed handle, zeros, arbitrary bytes.
struct Fakes {
    dead: Box<[u64; 32]>,
    zero: Box<[u64; 32]>,
    junk: Box<[u64; 32]>,
}

#[derive(Clone, Copy, PartialEq)]
enum Pick {
    Null,
    Fake,
    Foreign,
    Live(usize),
}

impl Table {
    fn any_foreign(&self, not: u8) -> Option<*mut u8> {
        let all: [Option<*mut u8>; 4] = [
            self.contexts.first().map(|p| p.cast()),
            self.configs.first().map(|p| p.cast()),
            self.tracers.first().map(|p| p.cast()),
            self.spans.first().map(|p| p.cast()),
        ];
        all.iter().enumerate().filter(|(i, _)| *i as u8 != not).find_map(|(_, p)| *p)
    }
}

/// Picks a handle of one type: a live one, NULL, a fake or a live one of another type.
fn pick<T>(u: &mut Unstructured, live: &[*mut T], table: &Table, fakes: &mut Fakes, kind: u8) -> Result<(*mut T, Pick)> {
    let c: u8 = u.arbitrary()?;
    Ok(match c % 16 {
        0 => (null_mut(), Pick::Null),
        1 => {
            let f = match u.int_in_range(0..=2)? {
                0 => fakes.dead.as_mut_ptr(),
                1 => fakes.zero.as_mut_ptr(),
                _ => {
                    for w in fakes.junk.iter_mut() {
                        *w = u.arbitrary()?;
                    }
                    // An arbitrary tag that happens to be a real one is not a fake: skip those.
                    let tags = [0x6b74_5f63_7478_0001u64, 0x6b74_5f63_6667_0003, 0x6b74_5f74_7263_0004, 0x6b74_5f73_706e_0005];
                    if tags.contains(&fakes.junk[0]) {
                        fakes.junk[0] = 0;
                    }
                    fakes.junk.as_mut_ptr()
                }
            };
            (f.cast(), Pick::Fake)
        }
        2 => match table.any_foreign(kind) {
            Some(p) => (p.cast(), Pick::Foreign),
            None => (null_mut(), Pick::Null),
        },
        _ if live.is_empty() => (null_mut(), Pick::Null),
        _ => {
            let i = u.choose_index(live.len())?;
            (live[i], Pick::Live(i))
        }
    })
}

/// A required handle argument that is not a live one is refused: KT_RESULT_NULL_ARGUMENT for
/// NULL, KT_RESULT_INVALID_HANDLE for a foreign or freed-looking one; when another argument is
/// also wrong, which refusal wins is not specified, but the call is refused.
fn expect_handle(p: Pick, r: u32, call: &str) {
    const REFUSALS: [u32; 4] = [NULL_ARGUMENT, INVALID_HANDLE, INVALID_ARGUMENT, kt_result::InvalidUtf8 as u32];
    match p {
        Pick::Null => assert!(REFUSALS.contains(&r) && r != INVALID_HANDLE, "{call} with a NULL handle gave {r}"),
        Pick::Fake | Pick::Foreign => assert!(REFUSALS.contains(&r), "{call} with a foreign or freed-looking handle gave {r}"),
        Pick::Live(_) => {}
    }
}

const CTX: u8 = 0;
const CFG: u8 = 1;
const TRC: u8 = 2;
const SPN: u8 = 3;

fn message(u: &mut Unstructured, keep: &mut Vec<Box<dyn std::any::Any>>) -> Result<(kt_message, bool)> {
    let topic = input(u, TOPICS)?;
    let key = input(u, VALUES)?;
    let hs = headers(u)?;
    let mut bad = topic.expect.is_some() || hs.bad;
    // A NULL key is "no key"; a non-NULL key with an impossible length must be refused.
    let key_null: bool = u.arbitrary::<bool>()? || key.ptr.is_null();
    if !key_null && key.expect == Some(INVALID_ARGUMENT) {
        bad = true;
    }
    let (hp, hn) = list_ptr(&hs.list, u)?;
    let (hp, hn) = if u.ratio(1, 30)? {
        bad = true;
        (null(), hn.max(1))
    } else {
        (hp, hn)
    };
    let m = kt_message {
        topic: topic.ptr.cast(),
        topic_len: topic.len,
        partition: u.int_in_range(-2..=5)?,
        offset: u.arbitrary()?,
        key: if key_null { null() } else { key.ptr },
        key_len: key.len,
        payload: if u.arbitrary()? { null() } else { b"payload".as_ptr().cast() },
        payload_len: u.arbitrary()?,
        timestamp_ms: u.arbitrary()?,
        headers: hp,
        header_count: hn,
    };
    keep.push(Box::new(topic._data));
    keep.push(Box::new(key._data));
    keep.push(Box::new(hs));
    Ok((m, bad))
}

fn topics_arg(u: &mut Unstructured, keep: &mut Vec<Box<dyn std::any::Any>>) -> Result<(Vec<kt_str>, bool)> {
    let n = u.int_in_range(0..=4)?;
    let mut v = Vec::new();
    let mut bad = false;
    for _ in 0..n {
        let t = input(u, TOPICS)?;
        if t.expect.is_some() {
            bad = true;
        }
        v.push(kt_str { data: t.ptr.cast(), len: t.len });
        keep.push(Box::new(t._data));
    }
    Ok((v, bad))
}

/// What the ABI's text convention makes of a (pointer, length) pair: its bytes, or the refusal.
fn text_of(i: &Input) -> std::result::Result<&[u8], u32> {
    if i.len == 0 {
        Ok(&[])
    } else if i.ptr.is_null() {
        Err(NULL_ARGUMENT)
    } else if i.len > isize::MAX as usize {
        Err(INVALID_ARGUMENT)
    } else {
        Ok(unsafe { std::slice::from_raw_parts(i.ptr, i.len) })
    }
}

/// The result a setter taking UTF-8 text gives for `i`, when `accept` says what it does with text.
fn text_result(i: &Input, accept: impl Fn(&str) -> u32) -> u32 {
    match text_of(i) {
        Err(e) => e,
        Ok(b) => match std::str::from_utf8(b) {
            Ok(t) => accept(t),
            Err(_) => kt_result::InvalidUtf8 as u32,
        },
    }
}

const PROTOCOLS: &[&[u8]] = &[b"http/protobuf", b"grpc", b" GRPC ", b"HTTP/Protobuf", b"http/json", b"grpc\0", b"", b"\xff\xfe"];
const HEADER_NAMES: &[&[u8]] = &[b"api-key", b"Authorization", b"", b"   ", b"bad name", b"x\r\ny", b"\xc3\x28"];
const HEADER_VALUES: &[&[u8]] = &[b"secret", b"Bearer abc", b"", b"line\nbreak", b"\x7f", b"\xc3\x28"];
/// Paths for the TLS files: none of them a device that reads forever.
const TLS_PATHS: &[&[u8]] = &[b"/nonexistent/kt-fuzz/ca.pem", b"/dev/null", b"/etc/hostname", b"", b".", b"\xff/ca.pem"];

fn step(u: &mut Unstructured, t: &mut Table, fakes: &mut Fakes) -> Result<()> {
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let op: u8 = u.arbitrary()?;
    match op % 44 {
        0 => {
            if t.contexts.len() < MAX_LIVE {
                let c = kt_context_new();
                assert!(!c.is_null());
                t.contexts.push(c);
            }
        }
        1 => {
            // Free: live ones leave the table; NULL and fakes are ignored by the ABI.
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            if p == Pick::Foreign {
                return Ok(()); // a foreign live handle is ignored too, but it would stay live: fine either way
            }
            unsafe { kt_context_free(c) };
            if let Pick::Live(i) = p {
                t.contexts.swap_remove(i);
            }
        }
        2 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let hs = headers(u)?;
            let (hp, hn) = list_ptr(&hs.list, u)?;
            let r = check("kt_context_extract", unsafe { kt_context_extract(c, hp, hn) });
            expect_handle(p, r, "kt_context_extract");
            if matches!(p, Pick::Live(_)) && hs.bad {
                assert!(r == NULL_ARGUMENT || r == INVALID_ARGUMENT, "kt_context_extract took a NULL name or an impossible length: {r}");
            }
        }
        3 => {
            let v = input(u, VALUES)?;
            let mut out = kt_traceparent { version: 0, trace_id: [0; 16], span_id: [0; 8], flags: 0 };
            let outp = if u.ratio(1, 8)? { null_mut() } else { &mut out as *mut _ };
            let r = check("kt_traceparent_parse", unsafe { kt_traceparent_parse(v.ptr, v.len, outp) });
            if let Some(e) = v.expect {
                assert!(r == e || (outp.is_null() && r == NULL_ARGUMENT));
            }
            if r == OK {
                // Round trip through a buffer of arbitrary size.
                let cap = u.int_in_range(0..=64)?;
                let mut buf = vec![0u8; cap].into_boxed_slice();
                let mut written = 0usize;
                let bp = if cap == 0 { null_mut() } else { buf.as_mut_ptr().cast() };
                let r = check("kt_traceparent_format", unsafe { kt_traceparent_format(&out, bp, cap, &mut written) });
                if cap < KT_TRACEPARENT_LEN as usize {
                    assert_eq!(r, BUFFER_TOO_SMALL);
                    assert_eq!(written, KT_TRACEPARENT_LEN as usize);
                } else {
                    assert_eq!(r, OK);
                    assert_eq!(written, KT_TRACEPARENT_LEN as usize);
                }
            }
        }
        4 => {
            let mut tp = kt_traceparent { version: u.arbitrary()?, trace_id: u.arbitrary()?, span_id: u.arbitrary()?, flags: u.arbitrary()? };
            let mut written = 0usize;
            let r = unsafe { kt_traceparent_format(&tp, null_mut(), 5, &mut written) };
            assert_eq!(check("kt_traceparent_format", r), NULL_ARGUMENT);
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let r = check("kt_context_set_traceparent", unsafe { kt_context_set_traceparent(c, &tp) });
            expect_handle(p, r, "kt_context_set_traceparent");
            let r = check("kt_context_traceparent", unsafe { kt_context_traceparent(c, &mut tp) });
            expect_handle(p, r, "kt_context_traceparent");
        }
        5 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let id: [u8; 8] = u.arbitrary()?;
            let idp = if u.ratio(1, 6)? { null() } else { id.as_ptr() };
            let r = check("kt_context_set_span_id", unsafe { kt_context_set_span_id(c, idp) });
            if !idp.is_null() {
                expect_handle(p, r, "kt_context_set_span_id");
            }
        }
        6 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let tid: [u8; 16] = u.arbitrary()?;
            let sid: [u8; 8] = u.arbitrary()?;
            let r = check("kt_context_set_root", unsafe { kt_context_set_root(c, tid.as_ptr(), sid.as_ptr(), u.arbitrary()?) });
            expect_handle(p, r, "kt_context_set_root");
        }
        7 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            check("kt_context_tracestate_status", unsafe { kt_context_tracestate_status(c) });
            let n = unsafe { kt_context_tracestate_len(c) };
            if !matches!(p, Pick::Live(_)) {
                assert_eq!(n, 0);
            }
            let mut k = kt_str { data: null(), len: 0 };
            let mut v = kt_str { data: null(), len: 0 };
            for i in 0..=n.min(40) {
                let r = check("kt_context_tracestate_member", unsafe { kt_context_tracestate_member(c, i, &mut k, &mut v) });
                if r == OK {
                    touch(&k);
                    touch(&v);
                }
            }
            let r = check("kt_context_tracestate_member", unsafe { kt_context_tracestate_member(c, u.arbitrary()?, null_mut(), &mut v) });
            assert_ne!(r, OK);
            let mut h = kt_str { data: null(), len: 0 };
            if check("kt_context_tracestate_header", unsafe { kt_context_tracestate_header(c, &mut h) }) == OK {
                touch(&h);
            }
            let key = input(u, VALUES)?;
            if check("kt_context_tracestate_get", unsafe { kt_context_tracestate_get(c, key.ptr.cast(), key.len, &mut v) }) == OK {
                touch(&v);
            }
        }
        8 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let k = input(u, &[b"rojo", b"congo", b"tenant@vendor", b"Bad", b""])?;
            let v = input(u, VALUES)?;
            let r = check("kt_context_tracestate_set", unsafe { kt_context_tracestate_set(c, k.ptr.cast(), k.len, v.ptr.cast(), v.len) });
            expect_handle(p, r, "kt_context_tracestate_set");
            if u.ratio(1, 8)? {
                check("kt_context_tracestate_clear", unsafe { kt_context_tracestate_clear(c) });
            }
        }
        9 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let n = unsafe { kt_context_baggage_len(c) };
            let _ = unsafe { kt_context_baggage_dropped(c) };
            if !matches!(p, Pick::Live(_)) {
                assert_eq!(n, 0);
            }
            let mut k = kt_str { data: null(), len: 0 };
            let mut v = kt_str { data: null(), len: 0 };
            for i in 0..=n.min(70) {
                let mut props = 0usize;
                let pp = if u.arbitrary()? { null_mut() } else { &mut props as *mut usize };
                if check("kt_context_baggage_member", unsafe { kt_context_baggage_member(c, i, &mut k, &mut v, pp) }) == OK {
                    touch(&k);
                    touch(&v);
                    for j in 0..=props.min(8) {
                        let mut prop = kt_str { data: null(), len: 0 };
                        if check("kt_context_baggage_property", unsafe { kt_context_baggage_property(c, i, j, &mut prop) }) == OK {
                            touch(&prop);
                        }
                    }
                }
            }
            let key = input(u, &[b"userId", b"k", b"serverNode", b""])?;
            if check("kt_context_baggage_get", unsafe { kt_context_baggage_get(c, key.ptr.cast(), key.len, &mut v) }) == OK {
                touch(&v);
            }
        }
        10 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let k = input(u, &[b"userId", b"k", b"bad key", b""])?;
            let v = input(u, VALUES)?;
            let r = check("kt_context_baggage_set", unsafe { kt_context_baggage_set(c, k.ptr.cast(), k.len, v.ptr.cast(), v.len) });
            expect_handle(p, r, "kt_context_baggage_set");
        }
        11 => {
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let mut st = SetterState { calls: 0, fail_at: u.int_in_range(0..=4)?, seen: 0 };
            let r = check("kt_context_inject", unsafe { kt_context_inject(c, Some(setter), (&mut st as *mut SetterState).cast()) });
            expect_handle(p, r, "kt_context_inject");
            let r = check("kt_context_inject", unsafe { kt_context_inject(c, None, null_mut()) });
            assert_ne!(r, OK);
        }
        12 => {
            // Buffer injection with arbitrary capacities; a size query then the size it gave.
            let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let hs = headers(u)?;
            let (hp, hn) = list_ptr(&hs.list, u)?;
            let out_cap = u.int_in_range(0..=16)?;
            let buf_len = u.int_in_range(0..=1024)?;
            let mut out = vec![kt_header { name: null(), name_len: 0, value: null(), value_len: 0 }; out_cap].into_boxed_slice();
            let mut buf = vec![0u8; buf_len].into_boxed_slice();
            let (mut count, mut used) = (usize::MAX, usize::MAX);
            let op = if out_cap == 0 { null_mut() } else { out.as_mut_ptr() };
            let bp = if buf_len == 0 { null_mut() } else { buf.as_mut_ptr() };
            let r = check("kt_context_inject_headers", unsafe { kt_context_inject_headers(c, hp, hn, op, out_cap, &mut count, bp, buf_len, &mut used) });
            expect_handle(p, r, "kt_context_inject_headers");
            let read_out = |out: &[kt_header], count: usize| {
                for h in &out[..count] {
                    touch(&kt_str { data: h.name, len: h.name_len });
                    if !h.value.is_null() {
                        touch(&kt_str { data: h.value.cast(), len: h.value_len });
                    }
                }
            };
            if r == OK {
                assert!(count <= out_cap && used <= buf_len);
                read_out(&out, count);
            } else if r == BUFFER_TOO_SMALL {
                assert!(count > out_cap || used > buf_len, "too small, yet {count} <= {out_cap} and {used} <= {buf_len}");
                if count <= 20_000 && used <= 4 << 20 {
                    let mut out2 = vec![kt_header { name: null(), name_len: 0, value: null(), value_len: 0 }; count].into_boxed_slice();
                    let mut buf2 = vec![0u8; used].into_boxed_slice();
                    let (c2, u2) = (count, used);
                    let op2 = if c2 == 0 { null_mut() } else { out2.as_mut_ptr() };
                    let bp2 = if u2 == 0 { null_mut() } else { buf2.as_mut_ptr() };
                    let r2 = check("kt_context_inject_headers", unsafe { kt_context_inject_headers(c, hp, hn, op2, c2, &mut count, bp2, u2, &mut used) });
                    assert_eq!(r2, OK, "the size a query gave is enough");
                    assert_eq!((count, used), (c2, u2));
                    read_out(&out2, count);
                }
            }
        }
        13 => {
            if t.configs.len() < MAX_LIVE {
                let c = kt_tracer_config_new();
                assert!(!c.is_null());
                t.configs.push(c);
            }
        }
        14 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            if p == Pick::Foreign {
                return Ok(());
            }
            unsafe { kt_tracer_config_free(c) };
            if let Pick::Live(i) = p {
                t.configs.swap_remove(i);
            }
        }
        15 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let name = input(u, OPTIONS)?;
            let value = input(u, OPTION_VALUES)?;
            let r = check("kt_tracer_config_set", unsafe { kt_tracer_config_set(c, name.ptr.cast(), name.len, value.ptr.cast(), value.len) });
            expect_handle(p, r, "kt_tracer_config_set");
        }
        16 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let s = input(u, &[b"svc", b"http://127.0.0.1:1", b"not a url", b"host:9092", b"parent", b"link", b"g", b""])?;
            let which = u.int_in_range(0..=5)?;
            let r = unsafe {
                match which {
                    0 => kt_tracer_config_set_service_name(c, s.ptr.cast(), s.len),
                    1 => kt_tracer_config_set_endpoint(c, s.ptr.cast(), s.len),
                    2 => kt_tracer_config_set_bootstrap_servers(c, s.ptr.cast(), s.len),
                    3 => kt_tracer_config_set_client_id(c, s.ptr.cast(), s.len),
                    4 => kt_tracer_config_set_consumer_group(c, s.ptr.cast(), s.len),
                    _ => kt_tracer_config_set_strategy(c, s.ptr.cast(), s.len),
                }
            };
            let r = check("kt_tracer_config_set_*", r);
            expect_handle(p, r, "kt_tracer_config_set_*");
            if p != Pick::Null && s.expect.is_none() {
                // fine either way
            }
        }
        17 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let b: bool = u.arbitrary()?;
            let r = unsafe {
                match u.int_in_range(0..=4)? {
                    0 => kt_tracer_config_set_record_message_key(c, b),
                    1 => kt_tracer_config_set_record_body_size(c, b),
                    2 => kt_tracer_config_set_metrics(c, b),
                    3 => kt_tracer_config_set_capture(c, b),
                    _ => kt_tracer_config_set_export_limits(c, u.arbitrary()?, u.arbitrary()?),
                }
            };
            let r = check("kt_tracer_config_set_<bool>", r);
            expect_handle(p, r, "kt_tracer_config_set_<bool>");
        }
        18 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let (topics, bad) = topics_arg(u, &mut keep)?;
            let (tp, tn) = list_ptr(&topics, u)?;
            let (tp, tn) = if u.ratio(1, 20)? { (null(), tn.max(1)) } else { (tp, tn) };
            let r = unsafe {
                if u.arbitrary()? {
                    kt_tracer_config_set_include_topics(c, tp, tn)
                } else {
                    kt_tracer_config_set_exclude_topics(c, tp, tn)
                }
            };
            let r = check("kt_tracer_config_set_*_topics", r);
            expect_handle(p, r, "kt_tracer_config_set_*_topics");
            if matches!(p, Pick::Live(_)) && (tp.is_null() && tn > 0) {
                assert_eq!(r, NULL_ARGUMENT);
            }
            let _ = bad;
        }
        19 => {
            // A tracer, always in capture mode (no network); NULL config is the environment's
            // OTLP tracer, which the harness does not create (it would export).
            if t.tracers.len() < 3 && t.tracers_made < MAX_TRACERS_PER_INPUT {
                let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
                if p == Pick::Null {
                    return Ok(());
                }
                if let Pick::Live(_) = p {
                    assert_eq!(check("kt_tracer_config_set_capture", unsafe { kt_tracer_config_set_capture(c, true) }), OK);
                }
                let mut tr: *mut kt_tracer = null_mut();
                let r = check("kt_tracer_new", unsafe { kt_tracer_new(c, &mut tr) });
                expect_handle(p, r, "kt_tracer_new");
                if r == OK {
                    assert!(!tr.is_null());
                    t.tracers.push(tr);
                    t.tracers_made += 1;
                } else {
                    assert!(tr.is_null());
                }
            }
        }
        20 => {
            let (tr, p) = pick(u, &t.tracers.clone(), t, fakes, TRC)?;
            if p == Pick::Foreign {
                return Ok(());
            }
            if let Pick::Live(i) = p {
                // Spans may outlive their tracer (they keep what they need of it).
                t.tracers.swap_remove(i);
            }
            unsafe { kt_tracer_free(tr) };
        }
        21..=24 => {
            if t.spans.len() >= MAX_LIVE {
                return Ok(());
            }
            let (tr, p) = pick(u, &t.tracers.clone(), t, fakes, TRC)?;
            let (m, bad) = message(u, &mut keep)?;
            let mp: *const kt_message = if u.ratio(1, 20)? { null() } else { &m };
            let (ps, psp) = pick(u, &t.spans.clone(), t, fakes, SPN)?;
            let (pc, pcp) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            let mut out: *mut kt_span = null_mut();
            let outp = if u.ratio(1, 30)? { null_mut() } else { &mut out as *mut *mut kt_span };
            let (call, r) = unsafe {
                match op % 44 {
                    21 => ("kt_tracer_start_send", kt_tracer_start_send(tr, mp, ps, pc, outp)),
                    22 => ("kt_tracer_start_process", kt_tracer_start_process(tr, mp, ps, pc, outp)),
                    23 => ("kt_tracer_start_batch_process", kt_tracer_start_batch_process(tr, mp, ps, pc, outp)),
                    _ => ("kt_tracer_start_poll", kt_tracer_start_poll(tr, ps, pc, outp)),
                }
            };
            let r = check(call, r);
            let is_poll = op % 44 == 24;
            let all_live = matches!(p, Pick::Live(_))
                && (is_poll || (!mp.is_null() && !bad))
                && !outp.is_null()
                && !matches!(psp, Pick::Fake | Pick::Foreign)
                && !matches!(pcp, Pick::Fake | Pick::Foreign);
            expect_handle(p, r, call);
            if matches!(psp, Pick::Fake | Pick::Foreign) || matches!(pcp, Pick::Fake | Pick::Foreign) {
                assert_ne!(r, OK, "{call} accepted a foreign or freed-looking parent");
            }
            if r == OK {
                assert!(!out.is_null());
                t.spans.push(out);
            } else {
                assert!(out.is_null(), "{call} wrote *out on error {r}");
                if all_live && !(op % 44 != 23 && !ps.is_null() && !pc.is_null()) {
                    // Everything valid: only a shut-down tracer, non-UTF-8 topic or both parents refuse.
                    assert!(
                        r == kt_result::ShutDown as u32 || r == kt_result::InvalidUtf8 as u32 || r == INVALID_ARGUMENT,
                        "{call} refused valid arguments with {r}"
                    );
                }
            }
        }
        25 => {
            let (s, _) = pick(u, &t.spans.clone(), t, fakes, SPN)?;
            let _ = unsafe { kt_span_is_traced(s) };
            let mut st = SetterState { calls: 0, fail_at: u.int_in_range(0..=4)?, seen: 0 };
            check("kt_span_inject", unsafe { kt_span_inject(s, Some(setter), (&mut st as *mut SetterState).cast()) });
            let (c, _) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
            check("kt_span_context", unsafe { kt_span_context(s, c) });
        }
        26..=30 => {
            let (s, p) = pick(u, &t.spans.clone(), t, fakes, SPN)?;
            let (call, r) = unsafe {
                match op % 44 {
                    26 => ("kt_span_end_send", kt_span_end_send(s, u.arbitrary()?, u.arbitrary()?)),
                    27 => ("kt_span_end_send_latency", kt_span_end_send_latency(s, u.arbitrary()?, u.arbitrary()?, u.arbitrary()?)),
                    28 => {
                        let e = input(u, &[b"KafkaError", b"", b"\xc3\x28"])?;
                        ("kt_span_end_error", kt_span_end_error(s, e.ptr.cast(), e.len))
                    }
                    29 => ("kt_span_end", kt_span_end(s)),
                    _ => {
                        let (topics, _) = topics_arg(u, &mut keep)?;
                        let (tp, tn) = list_ptr(&topics, u)?;
                        if u.arbitrary()? {
                            ("kt_span_end_poll", kt_span_end_poll(s, tp, tn, u.arbitrary()?))
                        } else {
                            let e = input(u, &[b"_TRANSPORT", b""])?;
                            ("kt_span_end_poll_error", kt_span_end_poll_error(s, tp, tn, e.ptr.cast(), e.len))
                        }
                    }
                }
            };
            let r = check(call, r);
            expect_handle(p, r, call);
        }
        31 => {
            let (s, p) = pick(u, &t.spans.clone(), t, fakes, SPN)?;
            if p == Pick::Foreign {
                return Ok(());
            }
            unsafe { kt_span_free(s) };
            if let Pick::Live(i) = p {
                t.spans.swap_remove(i);
            }
        }
        32 => {
            let (tr, p) = pick(u, &t.tracers.clone(), t, fakes, TRC)?;
            let mut stats = kt_span_stats { ended: 0, exported: 0, export_failed: 0, dropped: 0 };
            let r = check("kt_tracer_stats", unsafe { kt_tracer_stats(tr, &mut stats) });
            expect_handle(p, r, "kt_tracer_stats");
            if matches!(p, Pick::Live(_)) {
                assert_eq!(check("kt_tracer_stats", unsafe { kt_tracer_stats(tr, null_mut()) }), NULL_ARGUMENT);
            }
            if u.ratio(1, 4)? {
                let r = check("kt_tracer_flush", unsafe { kt_tracer_flush(tr) });
                expect_handle(p, r, "kt_tracer_flush");
            }
        }
        33 => {
            // Captured JSON: a buffer of arbitrary size, then the size the query gave.
            let (tr, p) = pick(u, &t.tracers.clone(), t, fakes, TRC)?;
            let cap = u.int_in_range(0..=256)?;
            let mut buf = vec![0u8; cap].into_boxed_slice();
            let mut len = usize::MAX;
            let bp = if cap == 0 { null_mut() } else { buf.as_mut_ptr().cast() };
            let r = check("kt_tracer_captured_json", unsafe { kt_tracer_captured_json(tr, bp, cap, &mut len) });
            expect_handle(p, r, "kt_tracer_captured_json");
            if r == OK {
                assert!(len < cap && buf[len] == 0);
            } else if r == BUFFER_TOO_SMALL {
                assert!(len + 1 > cap);
                let need = len + 1;
                let mut buf2 = vec![0u8; need].into_boxed_slice();
                let mut len2 = 0usize;
                let r2 = check("kt_tracer_captured_json", unsafe { kt_tracer_captured_json(tr, buf2.as_mut_ptr().cast(), need, &mut len2) });
                assert_eq!(r2, OK, "the size a query gave is enough");
                assert_eq!(len2, len);
                assert_eq!(buf2[len2], 0);
                let doc = std::str::from_utf8(&buf2[..len2]).expect("captured JSON is UTF-8");
                assert!(doc.starts_with('{') && doc.ends_with('}'));
            }
            if u.ratio(1, 4)? {
                check("kt_tracer_captured_clear", unsafe { kt_tracer_captured_clear(tr) });
            }
        }
        34 => {
            let (tr, p) = pick(u, &t.tracers.clone(), t, fakes, TRC)?;
            let mut stats = kt_span_stats { ended: 0, exported: 0, export_failed: 0, dropped: 0 };
            let sp = if u.arbitrary()? { null_mut() } else { &mut stats as *mut _ };
            let r = check("kt_tracer_shutdown", unsafe { kt_tracer_shutdown(tr, u.int_in_range(0..=50)?, sp) });
            expect_handle(p, r, "kt_tracer_shutdown");
        }
        35 => {
            let _ = check("kt_result_message", {
                let v: u32 = u.arbitrary()?;
                let m = unsafe { CStr::from_ptr(kt_result_message(v)) };
                assert!(!m.to_bytes().is_empty());
                kt_result::Ok
            });
            let v = unsafe { CStr::from_ptr(kt_version()) };
            assert_eq!(v.to_bytes(), KT_VERSION_STRING_BYTES);
        }
        36 => {
            // The thread's current context (what the librdkafka plugin parents sends under): from a
            // context or a span, or cleared with NULL. A live handle or NULL is accepted; a foreign
            // or freed-looking one is refused. The input's end clears it again.
            let (call, p, r) = if u.arbitrary()? {
                let (c, p) = pick(u, &t.contexts.clone(), t, fakes, CTX)?;
                ("kt_context_set_current", p, check("kt_context_set_current", unsafe { kt_context_set_current(c) }))
            } else {
                let (s, p) = pick(u, &t.spans.clone(), t, fakes, SPN)?;
                ("kt_span_set_current", p, check("kt_span_set_current", unsafe { kt_span_set_current(s) }))
            };
            match p {
                Pick::Null | Pick::Live(_) => assert_eq!(r, OK, "{call} refused a live handle or NULL: {r}"),
                Pick::Fake | Pick::Foreign => assert_eq!(r, INVALID_HANDLE, "{call} with a foreign or freed-looking handle gave {r}"),
            }
        }
        37 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let v = input(u, PROTOCOLS)?;
            let r = check("kt_tracer_config_set_protocol", unsafe { kt_tracer_config_set_protocol(c, v.ptr.cast(), v.len) });
            expect_handle(p, r, "kt_tracer_config_set_protocol");
            if matches!(p, Pick::Live(_)) {
                let want = text_result(&v, |t| match t.trim().to_ascii_lowercase().as_str() {
                    "http/protobuf" | "grpc" => OK,
                    _ => INVALID_ARGUMENT,
                });
                assert_eq!(r, want, "kt_tracer_config_set_protocol");
            }
        }
        38 => {
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let name = input(u, HEADER_NAMES)?;
            let value = input(u, HEADER_VALUES)?;
            let r = check("kt_tracer_config_add_header", unsafe {
                kt_tracer_config_add_header(c, name.ptr.cast(), name.len, value.ptr.cast(), value.len)
            });
            expect_handle(p, r, "kt_tracer_config_add_header");
            if matches!(p, Pick::Live(_)) {
                let name_r = text_result(&name, |t| if t.trim().is_empty() { INVALID_ARGUMENT } else { OK });
                let value_r = text_result(&value, |_| OK);
                // The name is read first, then the value; a blank name is refused after both.
                let want = match (text_result(&name, |_| OK), value_r) {
                    (OK, OK) => name_r,
                    (OK, e) => e,
                    (e, _) => e,
                };
                assert_eq!(r, want, "kt_tracer_config_add_header");
            }
        }
        39 => {
            // TLS files: each NULL (unset) or a path; a client certificate needs its key.
            let (c, p) = pick(u, &t.configs.clone(), t, fakes, CFG)?;
            let mut paths = Vec::new();
            for _ in 0..3 {
                let i = input(u, TLS_PATHS)?;
                // NULL means unset whatever the length: a NULL-with-length is not a refusal here.
                let i = if i.ptr.is_null() || u.ratio(1, 3)? { Input { ptr: null(), len: i.len, expect: None, _data: i._data } } else { i };
                paths.push(i);
            }
            let r = check("kt_tracer_config_set_tls_files", unsafe {
                kt_tracer_config_set_tls_files(c, paths[0].ptr.cast(), paths[0].len, paths[1].ptr.cast(), paths[1].len, paths[2].ptr.cast(), paths[2].len)
            });
            expect_handle(p, r, "kt_tracer_config_set_tls_files");
            if let Pick::Live(_) = p {
                let one = |i: &Input| if i.ptr.is_null() { OK } else { text_result(i, |_| OK) };
                let want = paths.iter().map(one).find(|&r| r != OK).unwrap_or_else(|| {
                    if paths[1].ptr.is_null() != paths[2].ptr.is_null() { INVALID_ARGUMENT } else { OK }
                });
                assert_eq!(r, want, "kt_tracer_config_set_tls_files");
                if r == OK && u.ratio(1, 8)? {
                    // An exporting tracer reads the files and checks the headers when it is made:
                    // toward a closed local port, with nothing ended on it, shut down at once.
                    let ep = b"http://127.0.0.1:1";
                    assert_eq!(check("kt_tracer_config_set_endpoint", unsafe { kt_tracer_config_set_endpoint(c, ep.as_ptr().cast(), ep.len()) }), OK);
                    assert_eq!(check("kt_tracer_config_set_capture", unsafe { kt_tracer_config_set_capture(c, false) }), OK);
                    let mut tr: *mut kt_tracer = null_mut();
                    let r = check("kt_tracer_new", unsafe { kt_tracer_new(c, &mut tr) });
                    assert!(r == OK || r == kt_result::TelemetrySetup as u32, "kt_tracer_new (OTLP) gave {r}");
                    if r == OK {
                        assert!(!tr.is_null());
                        check("kt_tracer_shutdown", unsafe { kt_tracer_shutdown(tr, 50, null_mut()) });
                        unsafe { kt_tracer_free(tr) };
                    } else {
                        assert!(tr.is_null());
                    }
                    assert_eq!(check("kt_tracer_config_set_capture", unsafe { kt_tracer_config_set_capture(c, true) }), OK);
                }
            }
        }
        _ => {
            // Extract into a live context from a message-sized hostile list, then read it back.
            if let Some(&c) = t.contexts.first() {
                let hs = headers(u)?;
                let (hp, hn) = list_ptr(&hs.list, u)?;
                check("kt_context_extract", unsafe { kt_context_extract(c, hp, hn) });
                let mut tp = kt_traceparent { version: 0, trace_id: [0; 16], span_id: [0; 8], flags: 0 };
                check("kt_context_traceparent", unsafe { kt_context_traceparent(c, &mut tp) });
            }
        }
    }
    drop(keep);
    Ok(())
}

const KT_VERSION_STRING_BYTES: &[u8] = b"0.1.0";

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut table = Table::default();
    let mut fakes = Fakes { dead: Box::new([DEAD; 32]), zero: Box::new([0; 32]), junk: Box::new([0; 32]) };
    let mut steps = 0;
    while !u.is_empty() && steps < 64 {
        if step(&mut u, &mut table, &mut fakes).is_err() {
            break;
        }
        steps += 1;
    }
    // Everything still alive is freed, in an arbitrary but fixed order (spans after their tracer
    // is fine), so LeakSanitizer sees any allocation the library forgot.
    unsafe {
        // The thread's current context is per input too.
        assert_eq!(check("kt_context_set_current", kt_context_set_current(null())), OK);
        for c in table.contexts.drain(..) {
            kt_context_free(c);
        }
        for c in table.configs.drain(..) {
            kt_tracer_config_free(c);
        }
        for tr in table.tracers.drain(..) {
            kt_tracer_free(tr);
        }
        for s in table.spans.drain(..) {
            kt_span_free(s);
        }
    }
    let _ = KT_TRACEPARENT_LEN;
});
