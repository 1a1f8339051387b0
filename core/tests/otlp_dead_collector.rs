//! A collector that is not there must cost spans, never the application: ending spans does not
//! wait for it, and every span is accounted for as exported, failed or dropped.

use std::time::Duration;

use kafka_trace::otlp::{OtlpConfig, Telemetry};
use opentelemetry::trace::{Span as _, Tracer as _};

/// A port nothing listens on: bind, read the port, close.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[test]
fn spans_for_a_dead_collector_are_counted_not_waited_for() {
    let config = OtlpConfig {
        service_name: Some("dead-collector-test".into()),
        endpoint: Some(format!("http://127.0.0.1:{}", closed_port())),
        export_timeout: Some(Duration::from_millis(500)),
        max_queue_size: Some(256),
        ..OtlpConfig::default()
    };
    let telemetry = Telemetry::new(&config).expect("setup never contacts the collector");
    let tracer = telemetry.tracer();
    for i in 0..20_000 {
        let mut span = tracer.start(format!("span {i}"));
        span.end();
    }
    let before_shutdown = telemetry.span_stats();
    assert_eq!(before_shutdown.ended, 20_000);
    assert_eq!(before_shutdown.exported, 0);

    let stats = telemetry.shutdown(Duration::from_secs(2));
    assert_eq!(stats.ended, 20_000);
    assert_eq!(stats.exported, 0, "nothing can reach a closed port");
    assert_eq!(stats.export_failed + stats.dropped, 20_000, "{stats:?}");
    assert!(stats.dropped > 0, "a 256-span queue cannot hold 20,000 spans: {stats:?}");
}
