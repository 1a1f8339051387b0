//! `process(msg)` as one native context manager (a confluent-kafka `Message`, an aiokafka
//! `ConsumerRecord` or a look-alike; handed to a per-message handler or one of a batch): `__enter__` reads the message, starts the span (from
//! its situation's template, or the core's process recipe), builds the handler's context and
//! attaches it; `__exit__` records the handler's exception, carries out the core's finish and
//! detaches. No Python frame runs per message besides the API's `attach`/`detach` and the SDK.
//! Anything without a `topic` goes to the Python scope (`fallback`).
//! Tracing never raises into the handler: every failure is logged to the `kafka_trace` logger.

use pyo3::intern;
use pyo3::prelude::*;

use crate::lifecycle::{log_failure, Instruments, KeptProcess, Lifecycle, Recipe, Started};

/// What a consumer's `process(msg)` scopes share: the tracer, the instruments, the `KafkaTracing`
/// (its `_on_process` hook), the Python scope for other messages (`fallback(model, message, poll)`) and the API's
/// `(get_current, attach, detach)`. Called as `scopes(model, message)` it makes one scope.
#[pyclass(frozen, module = "kafka_trace._native")]
pub struct ProcessScopes {
    tracer: Py<PyAny>,
    instruments: Py<Instruments>,
    /// The `KafkaTracing`: its `_on_process` hook, read per message (it may be set later).
    hooks: Py<PyAny>,
    fallback: Py<PyAny>,
    /// `(get_current, attach, detach)`.
    context_api: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
}

#[pymethods]
impl ProcessScopes {
    #[new]
    fn new(
        tracer: Py<PyAny>,
        instruments: Py<Instruments>,
        hooks: Py<PyAny>,
        fallback: Py<PyAny>,
        context_api: (Py<PyAny>, Py<PyAny>, Py<PyAny>),
    ) -> Self {
        Self { tracer, instruments, hooks, fallback, context_api }
    }

    /// `poll`: the context of the receive call a batch's message came in (its `poll` span), or
    /// `None` for a message handed to a per-message handler.
    #[pyo3(signature = (model, message, poll = None))]
    fn __call__(slf: &Bound<'_, Self>, model: Py<Lifecycle>, message: Py<PyAny>, poll: Option<Py<PyAny>>) -> ProcessScope {
        ProcessScope { scopes: slf.clone().unbind(), model, message, poll, state: State::Idle }
    }
}

/// What ends an open span: its recipe, or its situation's template (a span that does not record).
enum End {
    Recipe(Py<Recipe>),
    Kept(KeptProcess),
}

enum State {
    Idle,
    /// The span started; `token` is `None` when attaching its context failed.
    Open { end: End, span: Py<PyAny>, token: Option<Py<PyAny>> },
    /// The Python scope of a message that is not a confluent-kafka `Message`.
    Delegated(Py<PyAny>),
    Done,
}

/// One `process(msg)` block: makes `process {topic}` current while it runs (see the module docs).
#[pyclass(module = "kafka_trace._native")]
pub struct ProcessScope {
    scopes: Py<ProcessScopes>,
    model: Py<Lifecycle>,
    message: Py<PyAny>,
    poll: Option<Py<PyAny>>,
    state: State,
}

#[pymethods]
impl ProcessScope {
    /// The process span while (and after) the block runs, or `None`.
    #[getter]
    fn span(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(match &self.state {
            State::Open { span, .. } => Some(span.clone_ref(py)),
            State::Delegated(scope) => Some(scope.bind(py).getattr(intern!(py, "span"))?.unbind()),
            State::Idle | State::Done => None,
        })
    }

    fn __enter__(&mut self, py: Python<'_>) -> Py<PyAny> {
        if !matches!(self.state, State::Idle) {
            return py.None();
        }
        let scopes = self.scopes.get();
        let message = self.message.bind(py);
        let started = (|| {
            let ambient = scopes.context_api.0.bind(py).call0()?;
            let poll = self.poll.as_ref().map(|p| p.bind(py));
            self.model.get().start_message(py, scopes.tracer.bind(py), message, &ambient, poll, true)
        })();
        let opened = match started {
            Ok(Started::Span(recipe, span, context)) => Ok((End::Recipe(recipe.unbind()), span, context)),
            Ok(Started::Kept(kept, span, context)) => Ok((End::Kept(kept), span, context)),
            Ok(other) => Err(Ok(other)),
            Err(e) => Err(Err(e)),
        };
        match opened {
            Ok((end, span, context)) => {
                let token = match scopes.context_api.1.bind(py).call1((context,)) {
                    Ok(t) => Some(t.unbind()),
                    Err(e) => {
                        log_failure(py, "kafka_trace could not start a process span", &e);
                        None
                    }
                };
                let hook = scopes.hooks.bind(py).getattr(intern!(py, "_on_process"));
                if let Some(hook) = hook.ok().filter(|h| !h.is_none()) {
                    if let Err(e) = hook.call1((&span, message)) {
                        log_failure(py, "kafka_trace hook failed", &e);
                    }
                }
                let out = span.clone().unbind();
                self.state = State::Open { end, span: span.unbind(), token };
                out
            }
            Err(Ok(Started::NotAMessage)) => {
                let entered = scopes
                    .fallback
                    .bind(py)
                    .call1((self.model.clone_ref(py), message, self.poll.as_ref().map(|p| p.clone_ref(py))))
                    .and_then(|scope| {
                        let span = scope.call_method0(intern!(py, "__enter__"))?;
                        Ok((scope, span))
                    });
                match entered {
                    Ok((scope, span)) => {
                        self.state = State::Delegated(scope.unbind());
                        span.unbind()
                    }
                    Err(e) => {
                        log_failure(py, "kafka_trace could not start a process span", &e);
                        self.state = State::Done;
                        py.None()
                    }
                }
            }
            Err(Ok(_)) => {
                self.state = State::Done;
                py.None()
            }
            Err(Err(e)) => {
                log_failure(py, "kafka_trace could not start a process span", &e);
                self.state = State::Done;
                py.None()
            }
        }
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
        tb: &Bound<'_, PyAny>,
    ) -> bool {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Open { end, span, token } => {
                let scopes = self.scopes.get();
                let span = span.bind(py);
                let ended = (|| -> PyResult<()> {
                    let error_type = if exc.is_none() {
                        None
                    } else {
                        let name: String = exc_type.getattr(intern!(py, "__qualname__"))?.extract()?;
                        if let Err(e) = span.call_method1(intern!(py, "record_exception"), (exc,)) {
                            log_failure(py, "kafka_trace could not record the handler's exception", &e);
                        }
                        Some(name)
                    };
                    let instruments = scopes.instruments.bind(py);
                    match &end {
                        End::Recipe(recipe) => {
                            recipe.get().end_started(py, instruments, span, error_type.as_deref(), None, None, None)
                        }
                        End::Kept(kept) => kept.end(py, instruments.get(), span, error_type.as_deref()),
                    }
                })();
                if let Err(e) = ended {
                    log_failure(py, "kafka_trace could not end a process span", &e);
                }
                if let Some(token) = token {
                    if let Err(e) = scopes.context_api.2.bind(py).call1((token,)) {
                        log_failure(py, "kafka_trace could not restore the context", &e);
                    }
                }
                false
            }
            State::Delegated(scope) => {
                if let Err(e) = scope.bind(py).call_method1(intern!(py, "__exit__"), (exc_type, exc, tb)) {
                    log_failure(py, "kafka_trace could not end a process span", &e);
                }
                false
            }
            State::Idle | State::Done => false,
        }
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ProcessScopes>()?;
    m.add_class::<ProcessScope>()?;
    Ok(())
}
