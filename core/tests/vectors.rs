//! Runs every case of the shared test vectors (`core/testdata/trace_context_vectors.json`)
//! through the public API. The C, Node and Python suites run the same file through theirs.

use kafka_trace::carrier::{extract_parts, inject};
use kafka_trace::{ErrorCode, SpanId, TraceContext, TraceFlags, TraceId};
use serde_json::Value;

type HeaderList = Vec<(String, Option<Vec<u8>>)>;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/trace_context_vectors.json");

fn headers_from(json: &Value) -> HeaderList {
    json.as_array()
        .expect("headers is an array")
        .iter()
        .map(|h| {
            let name = h["name"].as_str().expect("header name").to_owned();
            let value = match (h.get("value"), h.get("value_hex")) {
                (Some(Value::String(s)), _) => Some(s.as_bytes().to_vec()),
                (_, Some(Value::String(x))) => Some(hex::decode(x).expect("value_hex is hex")),
                _ => None,
            };
            (name, value)
        })
        .collect()
}

fn hex_str(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Returns a description of every way `case` disagrees with the implementation.
fn check_case(case: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let headers = headers_from(&case["headers"]);
    let got = extract_parts(&headers);
    let expect = &case["expect"];

    match (&got.parent, &expect["traceparent"]) {
        (Ok(tp), Value::Object(want)) => {
            let have = serde_json::json!({
                "version": format!("{:02x}", tp.version),
                "trace_id": tp.trace_id.to_string(),
                "span_id": tp.span_id.to_string(),
                "flags": format!("{:02x}", tp.flags.0),
            });
            if have != Value::Object(want.clone()) {
                problems.push(format!("traceparent: got {have}, want {}", Value::Object(want.clone())));
            }
        }
        (Err(code), Value::Null) => {
            if expect["error"].as_str() != Some(code.as_str()) {
                problems.push(format!("error: got {}, want {}", code.as_str(), expect["error"]));
            }
        }
        (got, want) => problems.push(format!("traceparent: got {got:?}, want {want}")),
    }

    let (members, ts_error) = match &got.tracestate {
        Ok(ts) => (ts.members().iter().map(|m| serde_json::json!([m.key, m.value])).collect::<Vec<_>>(), None),
        Err(code) => (Vec::new(), Some(code.as_str())),
    };
    if Value::Array(members.clone()) != expect["tracestate"] {
        problems.push(format!("tracestate: got {members:?}, want {}", expect["tracestate"]));
    }
    if ts_error != expect.get("tracestate_error").and_then(Value::as_str) {
        problems.push(format!("tracestate_error: got {ts_error:?}, want {:?}", expect.get("tracestate_error")));
    }

    let baggage: Vec<Value> = got
        .baggage
        .entries()
        .iter()
        .map(|e| serde_json::json!({"key": e.key, "value": e.value, "properties": e.properties}))
        .collect();
    if Value::Array(baggage.clone()) != expect["baggage"] {
        problems.push(format!("baggage: got {}, want {}", Value::Array(baggage), expect["baggage"]));
    }

    if let Some(spec) = case.get("inject") {
        problems.extend(check_inject(&headers, got.clone().into_context(), got.baggage.clone(), spec));
    }
    problems
}

fn check_inject(input: &HeaderList, parent: Option<TraceContext>, baggage: kafka_trace::Baggage, spec: &Value) -> Vec<String> {
    let span_id = SpanId::from_hex(spec["span_id"].as_str().unwrap_or_default().as_bytes()).expect("inject.span_id");
    let mut context = match parent {
        Some(parent) => parent.child(span_id),
        None => {
            let trace_id = TraceId::from_hex(spec["new_root_trace_id"].as_str().unwrap_or_default().as_bytes())
                .expect("inject.new_root_trace_id");
            TraceContext::new_root(trace_id, span_id, TraceFlags::SAMPLED, baggage)
        }
    };
    if let Some(set) = spec.get("tracestate_set") {
        let (key, value) = (set["key"].as_str().unwrap_or_default(), set["value"].as_str().unwrap_or_default());
        if let Err(e) = context.tracestate.set(key, value) {
            return vec![format!("tracestate_set rejected: {e}")];
        }
    }
    let mut headers = input.clone();
    inject(&context, &mut headers);
    let want = headers_from(&spec["expect_headers"]);
    if headers == want {
        return Vec::new();
    }
    let show = |list: &HeaderList| -> Vec<String> {
        list.iter()
            .map(|(n, v)| match v {
                Some(v) => match std::str::from_utf8(v) {
                    Ok(s) => format!("{n}: {s}"),
                    Err(_) => format!("{n}: 0x{}", hex_str(v)),
                },
                None => format!("{n}: null"),
            })
            .collect()
    };
    vec![format!("inject: got {:#?}\nwant {:#?}", show(&headers), show(&want))]
}

#[test]
fn every_shared_vector_passes() {
    let text = std::fs::read_to_string(VECTORS).expect("read the shared vectors");
    let doc: Value = serde_json::from_str(&text).expect("vectors are JSON");
    assert_eq!(doc["schema_version"], 1);
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 150, "only {} vectors", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let problems = check_case(case);
            (!problems.is_empty()).then(|| format!("{}:\n  {}", case["name"], problems.join("\n  ")))
        })
        .collect();
    assert!(failures.is_empty(), "{} of {} vectors fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn vectors_cover_every_error_code() {
    let text = std::fs::read_to_string(VECTORS).expect("read the shared vectors");
    let doc: Value = serde_json::from_str(&text).expect("vectors are JSON");
    let used: Vec<&str> = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .flat_map(|c| [c["expect"].get("error"), c["expect"].get("tracestate_error")])
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // TraceparentDuplicate is the HTTP text-map rule (carrier unit tests); Kafka reads the last header.
    let parse_codes = ErrorCode::ALL
        .iter()
        .filter(|c| !matches!(c, ErrorCode::BaggageMember | ErrorCode::BufferTooSmall | ErrorCode::TraceparentDuplicate));
    for code in parse_codes {
        assert!(used.contains(&code.as_str()), "no vector expects {}", code.as_str());
    }
}
