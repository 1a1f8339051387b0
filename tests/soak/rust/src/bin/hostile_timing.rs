//! What hostile headers cost in the Rust core (run by tests/hostile/timing.sh; a measurement, not
//! a test): extract and inject with a 1 MB tracestate, 10,000 headers, 1,000 traceparent copies.
//! Prints one line per case: median and max of 50 runs in milliseconds.
use std::time::Instant;

use kafka_trace::{extract, inject};

const TP: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn big_state() -> Vec<u8> {
    let mut s = format!("a={}", "x".repeat(255));
    for i in 0..4000 {
        s.push_str(&format!(",k{i}={}", "y".repeat(250)));
    }
    s.into_bytes()
}

fn time(name: &str, mut f: impl FnMut()) {
    let mut runs: Vec<f64> = (0..50)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    runs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("rust {name}: median {:.3} ms, max {:.3} ms", runs[runs.len() / 2], runs[runs.len() - 1]);
}

type List = Vec<(String, Option<Vec<u8>>)>;

fn main() {
    let state = big_state();
    let mb: List = vec![("traceparent".into(), Some(TP.to_vec())), ("tracestate".into(), Some(state))];
    let mut many: List = (0..10_000).map(|i| (format!("h{i}"), Some(b"v".to_vec()))).collect();
    many.push(("traceparent".into(), Some(TP.to_vec())));
    let copies: List = (0..1000).map(|_| ("traceparent".into(), Some(TP.to_vec()))).collect();
    let ctx = extract(&mb).expect("a parent");
    time("extract, 1 MB tracestate", || assert!(extract(&mb).is_some()));
    time("extract, 10,000 headers", || assert!(extract(&many).is_some()));
    time("extract, 1,000 traceparent copies", || assert!(extract(&copies).is_some()));
    time("inject into 10,000 headers", || {
        let mut h = many.clone();
        inject(&ctx, &mut h);
    });
    time("(clone of 10,000 headers alone)", || {
        let _h = many.clone();
    });
}
