//! Codec and carrier micro-benchmarks, kafka-trace side by side with `opentelemetry_sdk`'s
//! `TraceContextPropagator`, on the same inputs and in the same run.
//!
//! Run with `scripts/bench.sh` (which also prints the markdown table), or directly:
//! `cargo bench -p kafka-trace --bench codec -- --noplot`.
//!
//! Groups and functions (criterion ids are `group/function`):
//! - `traceparent`: `kafka_trace/parse`, `kafka_trace/format` (`write_to` a stack buffer),
//!   `kafka_trace/encode` (the `[u8; 55]` returned by value).
//! - `extract` (traceparent + 3-member tracestate):
//!   - `kafka_trace/extract_parts`: borrowed result, no allocation.
//!   - `kafka_trace/extract_owned`: `kafka_trace::extract`, allocates the normalized tracestate.
//!   - `otel_sdk/hashmap`: `TraceContextPropagator::extract` on a `HashMap<String, String>`, the
//!     SDK's ordinary carrier.
//!   - `otel_sdk/kafka_headers`: the same propagator reading the very same Kafka header `Vec`
//!     through an `Extractor` that decodes the bytes with `std::str::from_utf8`.
//!
//!   Each result, ours and the SDK's, is observed in place (`black_box(&result)`) and dropped
//!   inside the timed loop; it is not moved into `black_box` or returned to criterion, since that
//!   copies it first (a harness cost, not an extract cost; our borrowed result was about a
//!   kilobyte until its tracestate kept header values instead of a member array).
//! - `inject`:
//!   - `kafka_trace/reused`: into a `Vec` that already holds the previous injection (forwarding).
//!   - `kafka_trace/fresh`: into a new empty `Vec` per iteration, dropped inside the timed loop
//!     (made, written and dropped per message, as a producer does).
//!   - `kafka_trace/fresh_bulk_drop`: the same, but the `Vec` is returned, so criterion drops each
//!     batch's outputs after timing: the allocator grows and trims its heap over a batch of live
//!     carriers (page faults included), which no producer does; kept for comparison.
//!   - `kafka_trace/inject_values_reused`: the pre-encoded path (`inject_values`) into a reused
//!     `Vec`, with the tracestate header value computed once outside the loop (reference only).
//!   - `otel_sdk/fresh_hashmap`, `otel_sdk/fresh_hashmap_bulk_drop`, `otel_sdk/reused_hashmap`:
//!     `inject_context` into a new `HashMap<String, String>` (dropped inside / after the timing,
//!     exactly as ours) or a reused one.
//!
//! `KT_BENCH_CLOCK=cpu` measures the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`,
//! Linux) instead of wall time, so time spent descheduled on a busy shared machine is not
//! counted. Cache and branch-predictor pollution from the other processes still is. Results land
//! in the same `target/criterion` directories, so criterion's "change since last run" lines are
//! meaningless when switching clocks.

#[cfg(target_os = "linux")]
#[path = "support/cpu_clock.rs"]
mod cpu_clock;

use std::collections::HashMap;
use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion};
use kafka_trace::carrier::{self, Headers as _};
use kafka_trace::{TraceContext, TraceParent};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123";

type KafkaHeaders = Vec<(String, Vec<u8>)>;

fn kafka_headers() -> KafkaHeaders {
    vec![
        ("traceparent".to_owned(), TRACEPARENT.as_bytes().to_vec()),
        ("tracestate".to_owned(), TRACESTATE.as_bytes().to_vec()),
    ]
}

fn otel_hashmap() -> HashMap<String, String> {
    HashMap::from([
        ("traceparent".to_owned(), TRACEPARENT.to_owned()),
        ("tracestate".to_owned(), TRACESTATE.to_owned()),
    ])
}

/// What an application would write to let the SDK read Kafka headers: names in any ASCII case
/// (as our carrier does), values decoded from bytes as UTF-8.
struct KafkaHeaderExtractor<'a>(&'a KafkaHeaders);

impl Extractor for KafkaHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .and_then(|(_, value)| std::str::from_utf8(value).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_str()).collect()
    }
}

fn kafka_context() -> TraceContext {
    let ctx = kafka_trace::extract(&kafka_headers()).expect("valid example headers");
    assert_eq!(ctx.tracestate.as_str(), TRACESTATE);
    ctx
}

fn otel_context() -> Context {
    let span_context = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_str(TRACESTATE).unwrap(),
    );
    Context::new().with_remote_span_context(span_context)
}

/// Both sides must read and write the same thing, or the comparison means nothing.
fn check_equivalence() {
    let propagator = TraceContextPropagator::new();
    let headers = kafka_headers();

    let ours = carrier::extract_parts(&headers);
    assert_eq!(ours.parent.unwrap().to_string(), TRACEPARENT);
    assert_eq!(ours.tracestate.unwrap().members().len(), 3);

    for cx in [propagator.extract(&otel_hashmap()), propagator.extract(&KafkaHeaderExtractor(&headers))] {
        let span = cx.span();
        let sc = span.span_context();
        assert!(sc.is_valid() && sc.is_remote());
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sc.trace_state().header(), TRACESTATE);
    }

    let mut ours = KafkaHeaders::new();
    kafka_trace::inject(&kafka_context(), &mut ours);
    let mut theirs = HashMap::new();
    propagator.inject_context(&otel_context(), &mut theirs);
    assert_eq!(ours.header_count(), 2);
    for (name, value) in &ours {
        assert_eq!(theirs.get(name).map(String::as_bytes), Some(value.as_slice()), "{name}");
    }
}

/// Makes an extract's result observable to the optimizer and drops it, the same for both sides.
/// The result is passed to `black_box` by reference, where it was built: moving it into
/// `black_box` (or returning it to criterion) copies it first, which no caller that reads the
/// result in place does. When the borrowed `Extracted` held up to 32 tracestate members inline
/// (about a kilobyte), that copy cost ~136 instructions per call and the SDK's `Context` (a few
/// words) next to nothing, so it measured the harness rather than the extract.
#[inline(always)]
fn observe<T>(result: T) {
    black_box(&result);
}

fn traceparent<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("traceparent");
    let input = TRACEPARENT.as_bytes();
    g.bench_function("kafka_trace/parse", |b| b.iter(|| TraceParent::parse(black_box(input))));

    let tp = TraceParent::parse(input).unwrap();
    g.bench_function("kafka_trace/format", |b| {
        b.iter(|| {
            let mut buf = [0u8; 64];
            let n = black_box(&tp).write_to(&mut buf).unwrap();
            black_box(buf);
            n
        })
    });
    g.bench_function("kafka_trace/encode", |b| b.iter(|| black_box(&tp).encode()));
    g.finish();
}

fn extract<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("extract");
    let headers = kafka_headers();
    let map = otel_hashmap();
    let propagator = TraceContextPropagator::new();

    // Every result is observed where it was made (`observe`) and dropped inside the loop, on
    // both sides: see `observe` for why it is not returned to criterion.
    g.bench_function("kafka_trace/extract_parts", |b| b.iter(|| observe(carrier::extract_parts(black_box(&headers)))));
    g.bench_function("kafka_trace/extract_owned", |b| b.iter(|| observe(kafka_trace::extract(black_box(&headers)))));
    g.bench_function("otel_sdk/hashmap", |b| b.iter(|| observe(black_box(&propagator).extract(black_box(&map)))));
    g.bench_function("otel_sdk/kafka_headers", |b| {
        b.iter(|| observe(black_box(&propagator).extract(&KafkaHeaderExtractor(black_box(&headers)))))
    });
    g.finish();
}

fn inject<M: Measurement>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("inject");
    let ctx = kafka_context();
    let cx = otel_context();
    let propagator = TraceContextPropagator::new();

    let mut reused = KafkaHeaders::new();
    kafka_trace::inject(&ctx, &mut reused);
    g.bench_function("kafka_trace/reused", |b| b.iter(|| kafka_trace::inject(black_box(&ctx), black_box(&mut reused))));
    // A fresh carrier is made, written and dropped per message, as a producer does: the drop is
    // timed (on both sides). `*_bulk_drop` returns the carrier instead, so criterion drops each
    // batch's outputs after the timing; the allocator then grows its heap over a whole batch of
    // live carriers and trims it again (page faults included, measured: ~400k minor faults in a
    // 3 s run of ours against ~15k when dropped in the loop), which no producer does.
    g.bench_function("kafka_trace/fresh", |b| {
        b.iter_batched(
            KafkaHeaders::new,
            |mut headers| {
                kafka_trace::inject(black_box(&ctx), &mut headers);
                drop(black_box(headers));
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("kafka_trace/fresh_bulk_drop", |b| {
        b.iter_batched(
            KafkaHeaders::new,
            |mut headers| {
                kafka_trace::inject(black_box(&ctx), &mut headers);
                headers
            },
            BatchSize::SmallInput,
        )
    });
    let tracestate = ctx.tracestate.header_value();
    g.bench_function("kafka_trace/inject_values_reused", |b| {
        b.iter(|| {
            carrier::inject_values(
                black_box(&mut reused),
                black_box(&ctx.traceparent),
                black_box(tracestate.as_bytes()),
                b"",
            )
        })
    });

    g.bench_function("otel_sdk/fresh_hashmap", |b| {
        b.iter_batched(
            HashMap::<String, String>::new,
            |mut map| {
                black_box(&propagator).inject_context(black_box(&cx), &mut map);
                drop(black_box(map));
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("otel_sdk/fresh_hashmap_bulk_drop", |b| {
        b.iter_batched(
            HashMap::<String, String>::new,
            |mut map| {
                black_box(&propagator).inject_context(black_box(&cx), &mut map);
                map
            },
            BatchSize::SmallInput,
        )
    });
    let mut map = HashMap::new();
    propagator.inject_context(&cx, &mut map);
    g.bench_function("otel_sdk/reused_hashmap", |b| {
        b.iter(|| black_box(&propagator).inject_context(black_box(&cx), black_box(&mut map)))
    });
    g.finish();
}

/// Per-thread CPU time in nanoseconds, for `KT_BENCH_CLOCK=cpu`.
#[cfg(target_os = "linux")]
struct ThreadCpuTime;

#[cfg(target_os = "linux")]
impl ThreadCpuTime {
    fn now_ns() -> u64 {
        cpu_clock::now_ns(cpu_clock::THREAD)
    }
}

#[cfg(target_os = "linux")]
impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        Self::now_ns()
    }
    fn end(&self, start: u64) -> u64 {
        Self::now_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, exactly what the wall clock's formatter expects.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

fn run<M: Measurement>(criterion: Criterion<M>) {
    let mut c =
        criterion.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).configure_from_args();
    traceparent(&mut c);
    extract(&mut c);
    inject(&mut c);
    c.final_summary();
}

/// `KT_BENCH_COUNT=<operation>:<n>` runs one operation `n` times and exits, without criterion, so
/// that `valgrind --tool=callgrind` can count its instructions (run with `n` = 0 and `n` = N; the
/// difference divided by N is the per-operation figure, independent of machine load).
/// `scripts/bench.sh --instructions` does exactly that for every operation.
fn count_mode(spec: &str) {
    let (op, n) = spec.split_once(':').expect("KT_BENCH_COUNT=<operation>:<n>");
    let n: usize = n.parse().expect("KT_BENCH_COUNT count");
    let headers = kafka_headers();
    let map = otel_hashmap();
    let propagator = TraceContextPropagator::new();
    let ctx = kafka_context();
    let cx = otel_context();
    let mut reused = KafkaHeaders::new();
    kafka_trace::inject(&ctx, &mut reused);
    let mut reused_map = HashMap::new();
    propagator.inject_context(&cx, &mut reused_map);
    let input = TRACEPARENT.as_bytes();
    let tp = TraceParent::parse(input).unwrap();
    for _ in 0..n {
        match op {
            "parse" => drop(black_box(TraceParent::parse(black_box(input)))),
            "encode" => drop(black_box(black_box(&tp).encode())),
            "extract_parts" => observe(carrier::extract_parts(black_box(&headers))),
            "extract_owned" => observe(kafka_trace::extract(black_box(&headers))),
            "sdk_extract_hashmap" => observe(black_box(&propagator).extract(black_box(&map))),
            "sdk_extract_kafka_headers" => observe(black_box(&propagator).extract(&KafkaHeaderExtractor(black_box(&headers)))),
            "inject_reused" => kafka_trace::inject(black_box(&ctx), black_box(&mut reused)),
            "inject_fresh" => {
                let mut fresh = KafkaHeaders::new();
                kafka_trace::inject(black_box(&ctx), &mut fresh);
                drop(black_box(fresh));
            }
            "sdk_inject_reused" => black_box(&propagator).inject_context(black_box(&cx), black_box(&mut reused_map)),
            "sdk_inject_fresh" => {
                let mut fresh = HashMap::<String, String>::new();
                black_box(&propagator).inject_context(black_box(&cx), &mut fresh);
                drop(black_box(fresh));
            }
            other => panic!("unknown KT_BENCH_COUNT operation {other:?}"),
        }
    }
}

fn main() {
    check_equivalence();
    if let Ok(spec) = std::env::var("KT_BENCH_COUNT") {
        count_mode(&spec);
        return;
    }
    match std::env::var("KT_BENCH_CLOCK").as_deref() {
        Ok("cpu") => {
            #[cfg(target_os = "linux")]
            run(Criterion::default().with_measurement(ThreadCpuTime));
            #[cfg(not(target_os = "linux"))]
            panic!("KT_BENCH_CLOCK=cpu needs Linux");
        }
        Ok("wall") | Err(_) => run(Criterion::default()),
        Ok(other) => panic!("KT_BENCH_CLOCK must be `wall` or `cpu`, not {other:?}"),
    }
}
