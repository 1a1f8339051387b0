//! The Rust soak of scripts/soak.sh: MESSAGES traced messages produce -> consume -> forward ->
//! consume through kafka-trace's rdkafka adapters, spans exported over OTLP (the endpoint of the
//! OTEL_* environment; the soak's receiver is alternately up and down). Prints one JSON line:
//! messages lost and duplicated at the last consumer, span counters, resident memory after
//! warm-up (a tenth of the messages) and at the end.
//!
//!     soak MESSAGES BOOTSTRAP IN_TOPIC OUT_TOPIC
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_trace::otlp::Telemetry;
use kafka_trace::rdkafka::{TraceConfig, TracedConsumer, TracedThreadedProducer};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message;
use opentelemetry_sdk::trace::SdkTracer;

/// glibc's `struct mallinfo2`: what the allocator holds and what of it is in use.
#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

unsafe extern "C" {
    fn mallinfo2() -> MallInfo2;
    fn malloc_trim(pad: usize) -> i32;
}

/// Heap bytes in use (kB) and bytes the allocator holds free (kB), all arenas.
fn heap_kb() -> (u64, u64) {
    // SAFETY: glibc's mallinfo2 takes no arguments and returns a plain struct.
    let m = unsafe { mallinfo2() };
    (((m.uordblks + m.hblkhd) / 1024) as u64, (m.fordblks / 1024) as u64)
}

/// Resident memory (kB) once glibc has given back the free pages it keeps (`malloc_trim(0)`), so
/// the warm-up and end samples compare memory the process holds, not the allocator's cache of
/// freed memory (which grows with fragmentation and the 30+ threads' arenas: up to 68 MB free
/// inside 80 MB RSS at the end of a 100,000-message run, 1 MB of it in use). Node's end sample is
/// taken after a forced collection for the same reason.
fn rss_trimmed_kb() -> u64 {
    // SAFETY: malloc_trim only returns free pages to the system.
    unsafe { malloc_trim(0) };
    rss_kb()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// Sends with retries while librdkafka's queue is full (tracing never drops a message).
fn send(producer: &TracedThreadedProducer<SdkTracer>, topic: &str, payload: &[u8]) {
    let mut record: BaseRecord<'_, (), [u8]> = BaseRecord::to(topic).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
}

fn consumer_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("client.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "16384");
    c
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args[0].parse().expect("MESSAGES");
    let (bootstrap, in_topic, out_topic) = (args[1].clone(), args[2].clone(), args[3].clone());
    let started = Instant::now();
    let telemetry = Telemetry::from_env().expect("OTLP setup");
    let tracer = telemetry.tracer();
    let mut pc = ClientConfig::new();
    pc.set("bootstrap.servers", &bootstrap)
        .set("client.id", "soak-rust")
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        // Every message in librdkafka's queue, or delivered but whose delivery report the
        // polling thread has not served yet, holds its send span (about 3 KB with the rdkafka
        // message). The polling thread falls behind the senders on a busy machine, so the queue
        // bound is the memory bound: 100,000 (librdkafka's default) let the heap grow ~300 MB
        // over the first 200,000 messages (RELIABILITY.md §3); 10,000 keeps it near 30 MB.
        .set("queue.buffering.max.messages", "10000");
    let producer = Arc::new(TracedThreadedProducer::new(&pc, tracer.clone(), TraceConfig::default()).expect("producer"));

    // The last consumer: counts every sequence number it sees.
    let seen = Arc::new((0..n).map(|_| std::sync::atomic::AtomicU8::new(0)).collect::<Vec<_>>());
    let unique = Arc::new(AtomicU64::new(0));
    let dups = Arc::new(AtomicU64::new(0));
    let rss_warm = Arc::new(AtomicU64::new(0));
    let rss_last = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The producer stays at most WINDOW messages ahead of the last consumer, so the clients'
    // queues reach their steady size early and the memory figures compare like with like.
    const WINDOW: u64 = 20_000;
    // Nine tenths through, or earlier when the producer's last WINDOW messages would overlap it.
    let end_sample_at = n.saturating_sub((n / 10).max(2 * WINDOW)).max((n / 10).max(1) + 1);
    let sink = {
        let (seen, unique, dups, rss_warm, rss_last, done) =
            (seen.clone(), unique.clone(), dups.clone(), rss_warm.clone(), rss_last.clone(), done.clone());
        let cfg = consumer_config(&bootstrap, &format!("{out_topic}-sink"));
        let traced = TracedConsumer::new(&cfg, tracer.clone(), TraceConfig::default());
        let topic = out_topic.clone();
        std::thread::spawn(move || {
            let consumer: BaseConsumer = cfg.create().expect("sink consumer");
            consumer.subscribe(&[&topic]).expect("subscribe");
            while !done.load(Ordering::SeqCst) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else { continue };
                let _ = traced.process_sync(&m, || {
                    let i: u64 = std::str::from_utf8(m.payload().unwrap_or_default()).ok().and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
                    if let Some(slot) = seen.get(i as usize) {
                        if slot.fetch_add(1, Ordering::SeqCst) == 0 {
                            let u = unique.fetch_add(1, Ordering::SeqCst) + 1;
                            if u == (n / 10).max(1) {
                                let before = rss_kb();
                                rss_warm.store(rss_trimmed_kb(), Ordering::SeqCst);
                                eprintln!("soak-rust: warm-up: RSS {} MB, {} MB after malloc_trim", before / 1024, rss_warm.load(Ordering::SeqCst) / 1024);
                            }
                            if u == end_sample_at {
                                // The end sample, taken like the warm-up one while the producer is
                                // still sending (it stops WINDOW messages before the end), so both
                                // compare the same working set (once the queues drain the trimmed
                                // RSS falls to ~20 MB, which would hide growth).
                                rss_last.store(rss_trimmed_kb(), Ordering::SeqCst);
                            }
                            if u % (n / 10).max(1) == 0 {
                                let (used, free) = heap_kb();
                                eprintln!("soak-rust: {u} messages, RSS {} MB, heap in use {} MB, allocator free {} MB", rss_kb() / 1024, used / 1024, free / 1024);
                            }
                        } else {
                            dups.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok::<_, KafkaError>(())
                });
            }
        })
    };
    // The forwarder: each consumed message is sent on inside its process span.
    let forwarder = {
        let (producer, done) = (producer.clone(), done.clone());
        let cfg = consumer_config(&bootstrap, &format!("{in_topic}-forwarder"));
        let traced = TracedConsumer::new(&cfg, tracer.clone(), TraceConfig::default());
        let (inp, out) = (in_topic.clone(), out_topic.clone());
        std::thread::spawn(move || {
            let consumer: BaseConsumer = cfg.create().expect("forwarder consumer");
            consumer.subscribe(&[&inp]).expect("subscribe");
            while !done.load(Ordering::SeqCst) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else { continue };
                let _ = traced.process_sync(&m, || {
                    send(&producer, &out, m.payload().unwrap_or_default());
                    Ok::<_, KafkaError>(())
                });
            }
        })
    };
    for i in 0..n {
        while i >= WINDOW && i - unique.load(Ordering::SeqCst) > WINDOW {
            std::thread::sleep(Duration::from_millis(1));
        }
        send(&producer, &in_topic, i.to_string().as_bytes());
        if std::env::var_os("KT_SOAK_DEBUG").is_some() && i % 10_000 == 0 {
            let (used, _) = heap_kb();
            eprintln!("debug: sent {i} sunk {} in_flight {} spans_ended {} heap {} MB", unique.load(Ordering::SeqCst), producer.inner().in_flight_count(), telemetry.span_stats().ended, used / 1024);
        }
    }
    let mut last = (0, Instant::now());
    while unique.load(Ordering::SeqCst) < n {
        let u = unique.load(Ordering::SeqCst);
        if u != last.0 {
            last = (u, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(120) {
            break; // no progress for 2 minutes: report what is missing
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Late duplicates would arrive within a few polls.
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::SeqCst);
    sink.join().expect("sink");
    forwarder.join().expect("forwarder");
    let _ = producer.flush(Duration::from_secs(30));
    let rss_end_untrimmed = rss_kb();
    let (heap_end, free_end) = heap_kb();
    let rss_shut = rss_trimmed_kb();
    eprintln!(
        "soak-rust: end sample ({end_sample_at} messages): RSS {} MB after malloc_trim; at the end, threads joined: RSS {} MB, heap in use {} MB, allocator free {} MB, {} MB after malloc_trim",
        rss_last.load(Ordering::SeqCst) / 1024,
        rss_end_untrimmed / 1024,
        heap_end / 1024,
        free_end / 1024,
        rss_shut / 1024
    );
    let rss_end = match rss_last.load(Ordering::SeqCst) {
        0 => rss_shut, // the last message never came: the run failed anyway
        v => v,
    };
    let stats = telemetry.shutdown(Duration::from_secs(5));
    let received = unique.load(Ordering::SeqCst);
    println!(
        "{{\"binding\": \"rust\", \"messages\": {n}, \"received\": {received}, \"lost\": {}, \"duplicated\": {}, \"spans_ended\": {}, \"spans_exported\": {}, \"spans_export_failed\": {}, \"spans_dropped\": {}, \"rss_warm_kb\": {}, \"rss_end_kb\": {rss_end}, \"rss_end_untrimmed_kb\": {rss_end_untrimmed}, \"live_heap_end_kb\": {heap_end}, \"seconds\": {:.1}}}",
        n - received,
        dups.load(Ordering::SeqCst),
        stats.ended,
        stats.exported,
        stats.export_failed,
        stats.dropped,
        rss_warm.load(Ordering::SeqCst),
        started.elapsed().as_secs_f64()
    );
}
