//! `kafka-trace inspect`: the trace context of every message of a topic, then a summary.
//!
//! All partitions are assigned (no consumer group membership, nothing committed). Reading stops
//! after `--limit` messages or when no message arrived for `--timeout` seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_trace::carrier::{extract_parts, BAGGAGE, TRACEPARENT, TRACESTATE};
use kafka_trace::ErrorCode;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::headers::show_value;
use crate::{kafka, InspectArgs};

type HeaderList = Vec<(String, Option<Vec<u8>>)>;

/// One message and what the core reads from it.
struct Record {
    partition: i32,
    offset: i64,
    timestamp_ms: Option<i64>,
    key: Option<Vec<u8>>,
    headers: HeaderList,
    e2e_latency_ms: Option<f64>,
}

/// The verdict on one message's trace headers.
struct Verdict {
    /// `Ok((trace_id, span_id, flags))` or why there is no usable parent.
    parent: Result<(String, String, u8), ErrorCode>,
    tracestate: Result<Vec<(String, String)>, ErrorCode>,
    baggage: Vec<(String, String, Vec<String>)>,
    baggage_dropped: usize,
    /// Our header names present more than once (any case), with their counts.
    duplicates: BTreeMap<&'static str, usize>,
}

fn verdict(headers: &HeaderList) -> Verdict {
    let extracted = extract_parts(headers);
    let mut duplicates = BTreeMap::new();
    for name in [TRACEPARENT, TRACESTATE, BAGGAGE] {
        let count = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
        if count > 1 {
            duplicates.insert(name, count);
        }
    }
    Verdict {
        parent: extracted.parent.map(|tp| (tp.trace_id.to_string(), tp.span_id.to_string(), tp.flags.0)),
        tracestate: extracted.tracestate.map(|ts| ts.members().iter().map(|m| (m.key.to_owned(), m.value.to_owned())).collect()),
        baggage: extracted.baggage.entries().iter().map(|e| (e.key.clone(), e.value.clone(), e.properties.clone())).collect(),
        baggage_dropped: extracted.baggage.dropped(),
        duplicates,
    }
}

fn values_of(headers: &HeaderList, name: &str) -> Vec<String> {
    headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_deref().map_or_else(|| "null".to_owned(), |v| String::from_utf8_lossy(v).into_owned())).collect()
}

pub fn run(args: &InspectArgs) -> Result<(), String> {
    let bootstrap = args.bootstrap()?;
    let idle = args.timeout()?;
    let connect_timeout = idle.max(Duration::from_secs(5));
    let topic = args.topic.as_str();
    let metadata = kafka::connect(&bootstrap, connect_timeout)?;
    let partitions = kafka::partitions(&metadata, topic, connect_timeout)?;
    drop(metadata);

    let consumer: BaseConsumer = kafka::consumer_config(&bootstrap, connect_timeout)
        .set("group.id", format!("kafka-trace-inspect-{}", std::process::id()))
        .create()
        .map_err(|e| format!("cannot create a consumer: {e}"))?;
    let mut assignment = TopicPartitionList::new();
    let start = if args.from_beginning { Offset::Beginning } else { Offset::End };
    for &p in &partitions {
        assignment.add_partition_offset(topic, p, start).map_err(|e| e.to_string())?;
    }
    consumer.assign(&assignment).map_err(|e| format!("cannot assign {topic}: {e}"))?;
    eprintln!(
        "kafka-trace inspect: reading {topic} ({} partitions) at {bootstrap} from the {}; stopping {}when idle for {} s",
        partitions.len(),
        if args.from_beginning { "beginning" } else { "end" },
        args.limit.map_or(String::new(), |n| format!("after {n} messages or ")),
        idle.as_secs_f64()
    );

    let mut records = Vec::new();
    let mut last_message = Instant::now();
    let mut errors = 0usize;
    while args.limit.is_none_or(|n| (records.len() as u64) < n) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                last_message = Instant::now();
                let headers: HeaderList = message.headers().map_or_else(Vec::new, |h| h.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect());
                let timestamp_ms = message.timestamp().to_millis();
                let record = Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    timestamp_ms,
                    key: message.key().map(<[u8]>::to_vec),
                    headers,
                    e2e_latency_ms: kafka_trace::span::e2e_latency_ms(timestamp_ms, kafka::now_ms()),
                };
                if !args.json {
                    print_record(topic, &record);
                }
                records.push(record);
            }
            Some(Err(error)) => {
                errors += 1;
                eprintln!("kafka-trace inspect: warning: {error}");
                if errors >= 100 {
                    return Err(format!("giving up on {topic} after {errors} consumer errors (last: {error})"));
                }
            }
            None if last_message.elapsed() >= idle => break,
            None => {}
        }
    }
    let summary = summarize(&records);
    if args.json {
        let messages: Vec<Value> = records.iter().map(record_json).collect();
        let doc = json!({ "bootstrap": bootstrap, "topic": topic, "partitions": partitions, "messages": messages, "summary": summary });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print_summary(topic, &summary);
    }
    Ok(())
}

fn record_json(record: &Record) -> Value {
    let v = verdict(&record.headers);
    let traceparent = match &v.parent {
        Ok((trace_id, span_id, flags)) => json!({
            "valid": true, "value": values_of(&record.headers, TRACEPARENT).first(),
            "trace_id": trace_id, "span_id": span_id, "flags": format!("{flags:02x}"), "sampled": flags & 1 == 1,
        }),
        Err(code) => json!({ "valid": false, "error": code.as_str(), "message": code.message(), "values": values_of(&record.headers, TRACEPARENT) }),
    };
    let tracestate = match &v.tracestate {
        Ok(members) => json!({ "valid": true, "members": members.iter().map(|(k, v)| [k, v]).collect::<Vec<_>>() }),
        Err(code) => json!({ "valid": false, "error": code.as_str(), "message": code.message(), "values": values_of(&record.headers, TRACESTATE) }),
    };
    let baggage = json!({
        "entries": v.baggage.iter().map(|(k, val, p)| json!({"key": k, "value": val, "properties": p})).collect::<Vec<_>>(),
        "dropped": v.baggage_dropped,
    });
    json!({
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": record.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
        "e2e_latency_ms": record.e2e_latency_ms,
        "headers": record.headers.iter().map(|(n, val)| json!({"name": n, "value": val.as_deref().map(|b| String::from_utf8_lossy(b).into_owned())})).collect::<Vec<_>>(),
        "traceparent": traceparent,
        "tracestate": tracestate,
        "baggage": baggage,
        "duplicate_headers": v.duplicates,
    })
}

fn print_record(topic: &str, record: &Record) {
    let v = verdict(&record.headers);
    let key = record.key.as_ref().map_or_else(|| "null".to_owned(), |k| show_value(&Some(k.clone())));
    let latency = record.e2e_latency_ms.map_or_else(String::new, |ms| format!("  e2e {ms:.0} ms"));
    println!("{topic}[{}]@{}  key={key}{latency}", record.partition, record.offset);
    match &v.parent {
        Ok((trace_id, span_id, flags)) => {
            println!("  traceparent  valid    trace {trace_id} span {span_id} flags {flags:02x}{}", if flags & 1 == 1 { " (sampled)" } else { "" })
        }
        Err(ErrorCode::Missing) => println!("  traceparent  missing  a consumer starts a new root trace"),
        Err(code) => println!("  traceparent  INVALID  {}: {}  {:?}", code.as_str(), code.message(), values_of(&record.headers, TRACEPARENT)),
    }
    match &v.tracestate {
        Ok(members) if members.is_empty() => {}
        Ok(members) => println!("  tracestate   {}", members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")),
        Err(code) => println!("  tracestate   DISCARDED {}: {}  {:?}", code.as_str(), code.message(), values_of(&record.headers, TRACESTATE)),
    }
    if !v.baggage.is_empty() || v.baggage_dropped > 0 {
        let entries: Vec<String> = v.baggage.iter().map(|(k, val, _)| format!("{k}={val:?}")).collect();
        let dropped = if v.baggage_dropped > 0 { format!(" ({} members dropped)", v.baggage_dropped) } else { String::new() };
        println!("  baggage      {}{dropped}", entries.join(", "));
    }
    if !v.duplicates.is_empty() {
        println!("  DUPLICATE    {}", v.duplicates.iter().map(|(n, c)| format!("{n} ×{c}")).collect::<Vec<_>>().join(", "));
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn summarize(records: &[Record]) -> Value {
    let mut valid = 0usize;
    let mut missing = 0usize;
    let mut invalid: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut tracestate_discarded: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut duplicate_messages = 0usize;
    let mut duplicates_by_name: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut traces = BTreeSet::new();
    let mut baggage_dropped = 0usize;
    for record in records {
        let v = verdict(&record.headers);
        match &v.parent {
            Ok((trace_id, _, _)) => {
                valid += 1;
                traces.insert(trace_id.clone());
            }
            Err(ErrorCode::Missing) => missing += 1,
            Err(code) => *invalid.entry(code.as_str()).or_default() += 1,
        }
        if let Err(code) = &v.tracestate {
            *tracestate_discarded.entry(code.as_str()).or_default() += 1;
        }
        baggage_dropped += v.baggage_dropped;
        if !v.duplicates.is_empty() {
            duplicate_messages += 1;
            for name in v.duplicates.keys() {
                *duplicates_by_name.entry(name).or_default() += 1;
            }
        }
    }
    let mut latencies: Vec<f64> = records.iter().filter_map(|r| r.e2e_latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    let coverage = if records.is_empty() { 0.0 } else { (valid as f64 * 1000.0 / records.len() as f64).round() / 10.0 };
    json!({
        "messages": records.len(),
        "with_valid_context": valid,
        "coverage_pct": coverage,
        "missing": missing,
        "invalid": invalid.values().sum::<usize>(),
        "invalid_by_reason": invalid,
        "tracestate_discarded_by_reason": tracestate_discarded,
        "baggage_members_dropped": baggage_dropped,
        "messages_with_duplicate_headers": duplicate_messages,
        "duplicate_headers_by_name": duplicates_by_name,
        "distinct_traces": traces.len(),
        "e2e_latency_ms": {
            "count": latencies.len(),
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "max": latencies.last(),
        },
    })
}

fn print_summary(topic: &str, s: &Value) {
    let map_text = |v: &Value| match v.as_object() {
        Some(m) if !m.is_empty() => m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        _ => "none".to_owned(),
    };
    let ms = |v: &Value| v.as_f64().map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"));
    println!();
    println!("== {topic}: {} messages", s["messages"]);
    println!("  coverage        {}/{} ({}%) with a valid trace context", s["with_valid_context"], s["messages"], s["coverage_pct"]);
    println!("  missing         {} without a traceparent", s["missing"]);
    println!("  invalid         {}", map_text(&s["invalid_by_reason"]));
    println!("  tracestate      discarded: {}", map_text(&s["tracestate_discarded_by_reason"]));
    println!("  duplicates      {} messages with repeated trace headers ({})", s["messages_with_duplicate_headers"], map_text(&s["duplicate_headers_by_name"]));
    println!("  traces          {} distinct", s["distinct_traces"]);
    let l = &s["e2e_latency_ms"];
    println!("  e2e latency     p50 {}  p90 {}  p99 {}  max {}  (record timestamp → read)", ms(&l["p50"]), ms(&l["p90"]), ms(&l["p99"]), ms(&l["max"]));
}
