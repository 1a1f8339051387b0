//! The core's span model (`kafka_trace::span`) and header reading results as Python values.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::sync::PyOnceLock;

use kafka_trace::carrier::extract_parts as core_extract_parts;
use kafka_trace::semconv::metrics;
use kafka_trace::span::{
    self, Attribute, AttributeValue, ClientInfo, ContextSource, MessageInfo, Options, Outcome,
    SpanKind, SpanSpec, Strategy, TopicFilter,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString, PyTuple};

use crate::headers::RawHeaders;

const AMBIENT: u8 = 0;
const REMOTE: u8 = 1;
const POLL: u8 = 2;

fn source(s: ContextSource) -> u8 {
    match s {
        ContextSource::Ambient => AMBIENT,
        ContextSource::Remote => REMOTE,
        ContextSource::Poll => POLL,
    }
}

/// One shared `str` per attribute key of the core (keys are `&'static str` constants).
fn key_object<'py>(py: Python<'py>, key: &'static str) -> Bound<'py, PyString> {
    static KEYS: PyOnceLock<Mutex<HashMap<&'static str, Py<PyString>>>> = PyOnceLock::new();
    let keys = KEYS.get_or_init(py, || Mutex::new(HashMap::new()));
    match keys.lock() {
        Ok(mut map) => map
            .entry(key)
            .or_insert_with(|| PyString::intern(py, key).unbind())
            .bind(py)
            .clone(),
        Err(_) => PyString::intern(py, key),
    }
}

fn attributes<'py>(py: Python<'py>, attrs: &[Attribute]) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in attrs {
        let key = key_object(py, key);
        match value {
            AttributeValue::String(s) => dict.set_item(key, s)?,
            AttributeValue::Int(i) => dict.set_item(key, i)?,
            AttributeValue::Bool(b) => dict.set_item(key, b)?,
            AttributeValue::Double(d) => dict.set_item(key, d)?,
        }
    }
    Ok(dict)
}

/// Bytes of a key or value: `bytes`, `bytearray` or `str` (UTF-8); anything else is unknown.
fn bytes_of(obj: Option<&Bound<'_, PyAny>>) -> Option<Vec<u8>> {
    let obj = obj?;
    if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.as_bytes().to_vec())
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow().ok().map(|s| s.into_owned().into_bytes())
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        Some(b.to_vec())
    } else {
        None
    }
}

fn len_of(obj: Option<&Bound<'_, PyAny>>) -> Option<usize> {
    let obj = obj.filter(|o| !o.is_none())?;
    if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.as_bytes().len())
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_cow().ok().map(|s| s.len())
    } else {
        // A value a serializer will encode later: not a tombstone, size unknown.
        Some(obj.len().unwrap_or(0))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Options and client of one traced producer or consumer; returns the core's span specs.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct SpanModel {
    options: Options,
    client: ClientInfo,
    kinds: [Py<PyAny>; 3],
}

impl SpanModel {
    fn spec<'py>(&self, py: Python<'py>, spec: &SpanSpec) -> PyResult<Bound<'py, PyTuple>> {
        let kind = match spec.kind {
            SpanKind::Producer => &self.kinds[0],
            SpanKind::Consumer => &self.kinds[1],
            SpanKind::Client => &self.kinds[2],
        };
        let links = PyTuple::new(py, spec.links.iter().map(|l| source(*l)))?;
        PyTuple::new(
            py,
            [
                PyString::new(py, &spec.name).into_any(),
                kind.bind(py).clone(),
                attributes(py, &spec.attributes)?.into_any(),
                attributes(py, &spec.metric_attributes())?.into_any(),
                source(spec.parent).into_pyobject(py)?.into_any(),
                links.into_any(),
                spec.e2e_latency_ms.into_pyobject(py)?.into_any(),
            ],
        )
    }

    fn outcome<'py>(
        py: Python<'py>,
        outcome: &Outcome,
    ) -> PyResult<(Bound<'py, PyDict>, Option<String>)> {
        Ok((attributes(py, &outcome.attributes)?, outcome.error.clone()))
    }
}

#[pymethods]
impl SpanModel {
    #[new]
    #[pyo3(signature = (span_kinds, *, strategy = "parent", record_message_key = true, record_body_size = false,
                        include_topics = Vec::new(), exclude_topics = Vec::new(), client_id = None, group_id = None,
                        bootstrap_servers = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        span_kinds: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
        strategy: &str,
        record_message_key: bool,
        record_body_size: bool,
        include_topics: Vec<String>,
        exclude_topics: Vec<String>,
        client_id: Option<String>,
        group_id: Option<String>,
        bootstrap_servers: Option<&str>,
    ) -> PyResult<Self> {
        let strategy = Strategy::parse(strategy).ok_or_else(|| {
            crate::KafkaTraceError::new_err(format!(
                "unknown strategy {strategy:?} (expected 'parent' or 'link')"
            ))
        })?;
        let options = Options {
            strategy,
            record_message_key,
            record_body_size,
            topics: TopicFilter {
                include: include_topics,
                exclude: exclude_topics,
            },
        };
        let mut client = ClientInfo {
            client_id,
            consumer_group: group_id,
            ..Default::default()
        };
        if let Some(servers) = bootstrap_servers {
            client = client.with_bootstrap(servers);
        }
        Ok(Self {
            options,
            client,
            kinds: [span_kinds.0, span_kinds.1, span_kinds.2],
        })
    }

    /// The same options for another client.
    #[pyo3(signature = (*, client_id = None, group_id = None, bootstrap_servers = None))]
    fn with_client(
        &self,
        py: Python<'_>,
        client_id: Option<String>,
        group_id: Option<String>,
        bootstrap_servers: Option<&str>,
    ) -> Self {
        let mut client = ClientInfo {
            client_id,
            consumer_group: group_id,
            ..Default::default()
        };
        if let Some(servers) = bootstrap_servers {
            client = client.with_bootstrap(servers);
        }
        Self {
            options: self.options.clone(),
            client,
            kinds: self.kinds.each_ref().map(|k| k.clone_ref(py)),
        }
    }

    #[getter]
    fn strategy(&self) -> &'static str {
        match self.options.strategy {
            Strategy::Parent => "parent",
            Strategy::Link => "link",
        }
    }

    /// Whether `topic` is traced (include/exclude filter).
    fn allows(&self, topic: &str) -> bool {
        self.options.topics.allows(topic)
    }

    /// The `send {topic}` spec: `(name, kind, attributes, metric_attributes, parent, links, e2e_latency_ms)`.
    #[pyo3(signature = (topic, partition = None, key = None, value = None))]
    fn send<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: Option<i32>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let key = bytes_of(key);
        let message = MessageInfo {
            topic,
            partition,
            offset: None,
            key: key.as_deref(),
            payload_len: len_of(value),
            timestamp_ms: None,
        };
        self.spec(py, &span::send_span(&message, &self.client, &self.options))
    }

    /// Attributes and error of a delivered message: `(attributes, None)`.
    fn send_outcome<'py>(
        &self,
        py: Python<'py>,
        partition: i32,
        offset: i64,
    ) -> PyResult<(Bound<'py, PyDict>, Option<String>)> {
        Self::outcome(py, &span::send_outcome(Ok((partition, offset))))
    }

    /// Attributes and status description of a failed operation: `(attributes, description)`.
    fn error_outcome<'py>(
        &self,
        py: Python<'py>,
        error_type: &str,
    ) -> PyResult<(Bound<'py, PyDict>, Option<String>)> {
        Self::outcome(py, &span::error_outcome(error_type))
    }

    /// The `process {topic}` spec of one message (`batch=True`: inside a polled batch).
    #[pyo3(signature = (topic, partition, offset, key, value, timestamp_ms, remote_valid, ambient_valid, batch = false, now_ms = None))]
    #[allow(clippy::too_many_arguments)]
    fn process<'py>(
        &self,
        py: Python<'py>,
        topic: &str,
        partition: Option<i32>,
        offset: Option<i64>,
        key: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        timestamp_ms: Option<i64>,
        remote_valid: bool,
        ambient_valid: bool,
        batch: bool,
        now_ms: Option<i64>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let key = bytes_of(key);
        let message = MessageInfo {
            topic,
            partition,
            offset,
            key: key.as_deref(),
            payload_len: len_of(value),
            timestamp_ms,
        };
        let now = now_ms.unwrap_or_else(self::now_ms);
        let spec = if batch {
            span::batch_process_span(&message, &self.client, &self.options, remote_valid, now)
        } else {
            span::process_span(
                &message,
                &self.client,
                &self.options,
                remote_valid,
                ambient_valid,
                now,
            )
        };
        self.spec(py, &spec)
    }

    /// The `poll {topic}` spec of a received batch.
    fn poll<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<String>,
        message_count: usize,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.spec(py, &span::poll_span(&topics, message_count, &self.client))
    }
}

/// A traceparent as read from the headers.
#[pyclass(frozen, get_all, module = "kafka_trace._native")]
pub struct TraceParentInfo {
    version: u8,
    trace_id: String,
    span_id: String,
    flags: u8,
}

/// What the core read from a header list (the shared test vectors check this).
#[pyclass(frozen, get_all, module = "kafka_trace._native")]
pub struct Extracted {
    traceparent: Option<Py<TraceParentInfo>>,
    error: Option<&'static str>,
    tracestate: Vec<(String, String)>,
    tracestate_error: Option<&'static str>,
    baggage: Vec<(String, String, Vec<String>)>,
}

/// Reads the trace context of a header list without touching OpenTelemetry.
#[pyfunction]
fn extract_parts(py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<Extracted> {
    let raw = RawHeaders::collect(headers);
    let view = raw.view();
    let parts = core_extract_parts(&view);
    let (traceparent, error) = match &parts.parent {
        Ok(tp) => (
            Some(Py::new(
                py,
                TraceParentInfo {
                    version: tp.version,
                    trace_id: tp.trace_id.to_string(),
                    span_id: tp.span_id.to_string(),
                    flags: tp.flags.0,
                },
            )?),
            None,
        ),
        Err(code) => (None, Some(code.as_str())),
    };
    let (tracestate, tracestate_error) = match &parts.tracestate {
        Ok(ts) => (
            ts.members()
                .iter()
                .map(|m| (m.key.to_owned(), m.value.to_owned()))
                .collect(),
            None,
        ),
        Err(code) => (Vec::new(), Some(code.as_str())),
    };
    let baggage = parts
        .baggage
        .entries()
        .iter()
        .map(|e| (e.key.clone(), e.value.clone(), e.properties.clone()))
        .collect();
    Ok(Extracted {
        traceparent,
        error,
        tracestate,
        tracestate_error,
        baggage,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SpanModel>()?;
    m.add_class::<Extracted>()?;
    m.add_class::<TraceParentInfo>()?;
    m.add_function(wrap_pyfunction!(extract_parts, m)?)?;
    m.add("CONTEXT_AMBIENT", AMBIENT)?;
    m.add("CONTEXT_REMOTE", REMOTE)?;
    m.add("CONTEXT_POLL", POLL)?;
    let names = PyDict::new(m.py());
    names.set_item("operation_duration", metrics::CLIENT_OPERATION_DURATION)?;
    names.set_item("sent_messages", metrics::CLIENT_SENT_MESSAGES)?;
    names.set_item("consumed_messages", metrics::CLIENT_CONSUMED_MESSAGES)?;
    names.set_item("process_duration", metrics::PROCESS_DURATION)?;
    names.set_item("e2e_latency", metrics::E2E_LATENCY)?;
    names.set_item("unit_seconds", metrics::UNIT_SECONDS)?;
    names.set_item("unit_messages", metrics::UNIT_MESSAGES)?;
    m.add("METRICS", names)?;
    Ok(())
}
