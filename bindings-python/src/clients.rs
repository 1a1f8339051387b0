//! A traced confluent-kafka producer's `produce` and consumer's `poll` as native callables
//! (`TracedProducer`/`TracedConsumer` use them when those methods are not overridden): the same
//! steps as the Python methods, with no Python frame per message besides the client's own call,
//! the API's `get_current` and the SDK. Tracing never loses a message or raises into the
//! application: when it fails, the message goes out untraced (`produce`) or is handed back
//! unchanged (`poll`), and the client's own exceptions propagate unchanged.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};

use crate::lifecycle::{log_failure, Instruments, Lifecycle};

/// What a traced client's native methods call: the client's lifecycle, the tracer, the
/// instruments and the API's `get_current`.
struct Tracing {
    model: Py<Lifecycle>,
    tracer: Py<PyAny>,
    instruments: Py<Instruments>,
    get_current: Py<PyAny>,
}

/// `TracedProducer.produce(topic, value=None, key=None, partition=-1, on_delivery=None,
/// timestamp=0, headers=None, **kwargs)` over `produce` (the client's own): starts
/// `send {topic}`, injects it into a copy of the headers and gives the client a `PendingSend` as
/// the delivery callback (which then calls `on_delivery`, or the `callback` keyword).
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct Producing {
    tracing: Tracing,
    /// The `KafkaTracing`: its `_on_send` hook, read per message (it may be set later).
    hooks: Py<PyAny>,
    produce: Py<PyAny>,
}

#[pymethods]
impl Producing {
    /// `tracing`: `(model, tracer, instruments, get_current)`.
    #[new]
    fn new(
        tracing: (Py<Lifecycle>, Py<PyAny>, Py<Instruments>, Py<PyAny>),
        hooks: Py<PyAny>,
        produce: Py<PyAny>,
    ) -> Self {
        let (model, tracer, instruments, get_current) = tracing;
        Self { tracing: Tracing { model, tracer, instruments, get_current }, hooks, produce }
    }

    #[pyo3(signature = (topic, value = None, key = None, partition = None, on_delivery = None, timestamp = None,
                        headers = None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        topic: Bound<'py, PyAny>,
        value: Option<Bound<'py, PyAny>>,
        key: Option<Bound<'py, PyAny>>,
        partition: Option<Bound<'py, PyAny>>,
        on_delivery: Option<Bound<'py, PyAny>>,
        timestamp: Option<Bound<'py, PyAny>>,
        headers: Option<Bound<'py, PyAny>>,
        kwargs: Option<Bound<'py, PyDict>>,
    ) -> PyResult<()> {
        let none = py.None().into_bound(py);
        let kw = match &kwargs {
            Some(k) => k.copy()?,
            None => PyDict::new(py),
        };
        let user_cb = match on_delivery.filter(|cb| !cb.is_none()) {
            Some(cb) => Some(cb),
            None => kw.get_item(intern!(py, "callback"))?.inspect(|_| {
                let _ = kw.del_item(intern!(py, "callback"));
            }),
        };
        let user_cb = user_cb.filter(|cb| !cb.is_none());
        let value = value.unwrap_or_else(|| none.clone());
        let key = key.unwrap_or_else(|| none.clone());
        let partition = match partition {
            Some(p) => p,
            None => PyInt::new(py, -1).into_any(),
        };
        let timestamp = match timestamp {
            Some(t) => t,
            None => PyInt::new(py, 0).into_any(),
        };
        let headers = headers.unwrap_or_else(|| none.clone());
        kw.set_item(intern!(py, "value"), &value)?;
        kw.set_item(intern!(py, "key"), &key)?;
        kw.set_item(intern!(py, "partition"), &partition)?;
        kw.set_item(intern!(py, "timestamp"), &timestamp)?;
        let t = &self.tracing;
        // Tracing's failure sends the message untraced.
        let started = (|| -> PyResult<_> {
            let topic = topic.cast::<PyString>()?.to_cow()?;
            let chosen: i64 = partition.extract()?;
            let chosen = i32::try_from(chosen).ok().filter(|p| *p >= 0);
            let ambient = t.get_current.bind(py).call0()?;
            let key = Some(&key).filter(|k| !k.is_none());
            t.model.get().start_send(
                py,
                t.tracer.bind(py),
                t.instruments.bind(py),
                &ambient,
                &topic,
                chosen,
                key,
                Some(&value),
                &headers,
                user_cb.as_ref().map(|cb| cb.clone().unbind()),
            )
        })();
        let Ok(Some((pending, out))) = started else {
            if !headers.is_none() {
                kw.set_item(intern!(py, "headers"), &headers)?;
            }
            if let Some(cb) = &user_cb {
                kw.set_item(intern!(py, "on_delivery"), cb)?;
            }
            self.produce.bind(py).call((topic,), Some(&kw))?;
            return Ok(());
        };
        let pending = Bound::new(py, pending)?;
        let hook = self.hooks.bind(py).getattr(intern!(py, "_on_send"));
        if let Some(hook) = hook.ok().filter(|h| !h.is_none()) {
            if let Err(e) = hook.call1((pending.getattr(intern!(py, "span"))?, &topic, &value)) {
                log_failure(py, "kafka_trace hook failed", &e);
            }
        }
        kw.set_item(intern!(py, "on_delivery"), &pending)?;
        kw.set_item(intern!(py, "headers"), out)?;
        if let Err(e) = self.produce.bind(py).call((topic,), Some(&kw)) {
            let name = e.get_type(py).qualname().map(|n| n.to_string()).unwrap_or_default();
            pending.get().end(py, Some(&name), None, None, None);
            return Err(e);
        }
        Ok(())
    }
}

/// `TracedConsumer.poll(*args, **kwargs)` over `poll` (the client's own): the receive call's
/// `poll` span when it returned a message (or raised), the message handed back unchanged.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct Polling {
    tracing: Tracing,
    poll: Py<PyAny>,
}

#[pymethods]
impl Polling {
    /// `tracing`: `(model, tracer, instruments, get_current)`.
    #[new]
    fn new(tracing: (Py<Lifecycle>, Py<PyAny>, Py<Instruments>, Py<PyAny>), poll: Py<PyAny>) -> Self {
        let (model, tracer, instruments, get_current) = tracing;
        Self { tracing: Tracing { model, tracer, instruments, get_current }, poll }
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let t = &self.tracing;
        let ambient = t.get_current.bind(py).call0();
        let (start_ns, t0) = crate::lifecycle::now();
        let message = match self.poll.bind(py).call(args, kwargs) {
            Ok(m) => m,
            Err(e) => {
                let recorded = (|| -> PyResult<()> {
                    let ambient = ambient?;
                    let name = e.get_type(py).qualname()?.to_string();
                    if let Some(recipe) = t.model.get().poll_failed(py, Vec::new())? {
                        let elapsed = t0.elapsed().as_secs_f64();
                        let instruments = t.instruments.bind(py);
                        recipe.record(py, t.tracer.bind(py), instruments, &ambient, start_ns, elapsed, Some(&name))?;
                    }
                    Ok(())
                })();
                if let Err(err) = recorded {
                    log_failure(py, "kafka_trace could not record a poll span", &err);
                }
                return Err(e);
            }
        };
        if !message.is_none() {
            let recorded = (|| -> PyResult<()> {
                if !message.call_method0(intern!(py, "error"))?.is_none() {
                    return Ok(()); // an error event, not a message
                }
                let ambient = ambient?;
                let topic = message.call_method0(intern!(py, "topic"))?;
                let topic: String = if topic.is_none() { String::new() } else { topic.extract()? };
                let elapsed = t0.elapsed().as_secs_f64();
                let model = t.model.get();
                model.record_poll(py, t.tracer.bind(py), t.instruments.bind(py), &ambient, &topic, start_ns, elapsed)?;
                Ok(())
            })();
            if let Err(err) = recorded {
                log_failure(py, "kafka_trace could not record a poll span", &err);
            }
        }
        Ok(message)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Producing>()?;
    m.add_class::<Polling>()?;
    Ok(())
}
