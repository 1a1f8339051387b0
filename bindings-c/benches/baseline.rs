//! The Rust core's own figure for the C benchmark (`bindings-c/bench/bench.c`): the same three
//! operations on the same 2-header input, called directly in Rust, timed the same way (best of 31
//! rounds of N iterations). `cargo bench -p kafka-trace-c --bench baseline [-- N]`.

use std::hint::black_box;
use std::time::Instant;

use kafka_trace_core::carrier::extract;
use kafka_trace_core::setter::inject_each;
use kafka_trace_core::{SpanId, TraceContext};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TS: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123";

/// Where injected headers land: fixed slots, like the C benchmark's callback.
struct Sink {
    name: [[u8; 16]; 3],
    value: [[u8; 512]; 3],
    len: [usize; 3],
    n: usize,
}

impl Sink {
    fn set(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), ()> {
        let i = self.n % 3;
        self.n += 1;
        self.name[i][..name.len()].copy_from_slice(name.as_bytes());
        let v = value.unwrap_or_default();
        self.value[i][..v.len()].copy_from_slice(v);
        self.len[i] = v.len();
        Ok(())
    }
}

fn main() {
    // Arguments: [ITERATIONS [OPERATION 0|1|2]] (cargo bench adds `--bench`, which is skipped).
    let numbers: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let iters = numbers.first().copied().unwrap_or(200_000);
    let only = numbers.get(1).copied();
    let headers: Vec<(String, Vec<u8>)> =
        vec![("traceparent".into(), TP.as_bytes().to_vec()), ("tracestate".into(), TS.as_bytes().to_vec())];
    let mut sink = Sink { name: [[0; 16]; 3], value: [[0; 512]; 3], len: [0; 3], n: 0 };
    let mut ctx: TraceContext = extract(&headers).expect("valid");
    inject_each(&ctx, |n, v| sink.set(n, v)).unwrap();
    assert_eq!((sink.len[0], sink.len[1]), (55, TS.len()));
    let span = SpanId([1, 2, 3, 4, 5, 6, 7, 8]);

    let mut op = 0u64;
    let mut run = |label: &str, f: &mut dyn FnMut()| {
        op += 1;
        if only.is_some_and(|o| o != op - 1) {
            return;
        }
        let best = (0..31)
            .map(|_| {
                let t0 = Instant::now();
                for _ in 0..iters {
                    f();
                }
                t0.elapsed().as_nanos() as f64 / iters as f64
            })
            .fold(f64::INFINITY, f64::min);
        println!("rust/{label:<16} {best:8.1} ns/op");
    };
    run("extract", &mut || ctx = black_box(extract(black_box(&headers))).expect("valid"));
    run("inject", &mut || inject_each(black_box(&ctx), |n, v| sink.set(n, v)).unwrap());
    run("extract+inject", &mut || {
        let got = extract(black_box(&headers)).expect("valid").child(span);
        inject_each(black_box(&got), |n, v| sink.set(n, v)).unwrap();
    });
}
