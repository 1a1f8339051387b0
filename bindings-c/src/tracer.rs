//! The tracer: the core's `Lifecycle` for one client, an SDK tracer and the core's instruments,
//! exporting over OTLP (the core's `otlp::Telemetry`) or capturing in memory.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_trace_core::lifecycle::Lifecycle;
use kafka_trace_core::otel::{Executor, StartCache};
use kafka_trace_core::otlp::{SpanStats, Telemetry};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::capture::{CaptureMetrics, CaptureSpans, Store};
use crate::config::{kt_tracer_config, Config};
use crate::{ffi_boundary, handle_free, handle_ref, handle_new, kt_result, try_ffi, write_out, Opaque};

/// What happened to the spans a tracer ended (see kt_tracer_stats()).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default)]
pub struct kt_span_stats {
    /// Sampled spans that ended.
    pub ended: u64,
    /// Spans the OTLP receiver accepted (in capture mode: spans captured).
    pub exported: u64,
    /// Spans sent that the receiver did not accept (unreachable, timed out, refused).
    pub export_failed: u64,
    /// Spans never sent: dropped from the full queue (the queue is bounded and never blocks the
    /// caller), or still queued (0 after kt_tracer_shutdown()).
    pub dropped: u64,
}

impl From<SpanStats> for kt_span_stats {
    fn from(s: SpanStats) -> Self {
        Self { ended: s.ended, exported: s.exported, export_failed: s.export_failed, dropped: s.dropped }
    }
}

/// Traces one Kafka client: starts its spans from the core's recipes and exports them (and the
/// messaging metrics) over OTLP/HTTP from a bounded queue on a background thread, so starting and
/// ending spans never blocks on the network; or, in capture mode, keeps them in memory.
pub struct kt_tracer {
    _private: [u8; 0],
}

/// Where the telemetry goes.
enum Backend {
    Otlp(Telemetry),
    Capture { tracer_provider: SdkTracerProvider, meter_provider: SdkMeterProvider, store: Arc<Store> },
}

/// What spans share with their tracer.
pub(crate) struct Shared {
    pub(crate) lifecycle: Lifecycle,
    pub(crate) executor: Executor<SdkTracer>,
    /// Span starts of `lifecycle`, cached per topic (bounded).
    pub(crate) starts: StartCache,
}

pub(crate) struct Tracer {
    backend: Backend,
    pub(crate) shared: Arc<Shared>,
    shut_down: AtomicBool,
}

impl Opaque for kt_tracer {
    type Inner = Tracer;
    const MAGIC: u64 = 0x6b74_5f74_7263_0004;
}

impl Tracer {
    pub(crate) fn new(cfg: &Config) -> Result<Self, kt_result> {
        let backend = if cfg.capture {
            let store = Arc::new(Store::default());
            let mut resource = Resource::builder();
            if let Some(name) = &cfg.otlp.service_name {
                resource = resource.with_service_name(name.clone());
            }
            let resource = resource.build();
            let tracer_provider =
                SdkTracerProvider::builder().with_resource(resource.clone()).with_span_processor(CaptureSpans(store.clone())).build();
            let meter_provider = SdkMeterProvider::builder()
                .with_resource(resource)
                .with_reader(PeriodicReader::builder(CaptureMetrics(store.clone())).build())
                .build();
            Backend::Capture { tracer_provider, meter_provider, store }
        } else {
            Backend::Otlp(Telemetry::new(&cfg.otlp).map_err(|_| kt_result::TelemetrySetup)?)
        };
        let (tracer_provider, meter_provider) = match &backend {
            Backend::Otlp(t) => (&t.tracer_provider, &t.meter_provider),
            Backend::Capture { tracer_provider, meter_provider, .. } => (tracer_provider, meter_provider),
        };
        let tracer = tracer_provider.tracer(env!("CARGO_PKG_NAME"));
        let meter = (!cfg.no_metrics).then(|| meter_provider.meter(env!("CARGO_PKG_NAME")));
        let executor = Executor::new(tracer, meter.as_ref());
        let shared = Arc::new(Shared { lifecycle: Lifecycle::new(cfg.options.clone(), cfg.client.clone()), executor, starts: StartCache::default() });
        Ok(Self { backend, shared, shut_down: AtomicBool::new(false) })
    }

    fn flush(&self) -> bool {
        let (spans, metrics) = match &self.backend {
            Backend::Otlp(t) => (t.tracer_provider.force_flush(), t.meter_provider.force_flush()),
            Backend::Capture { tracer_provider, meter_provider, .. } => (tracer_provider.force_flush(), meter_provider.force_flush()),
        };
        spans.is_ok() && metrics.is_ok()
    }

    fn stats(&self) -> kt_span_stats {
        match &self.backend {
            Backend::Otlp(t) => t.span_stats().into(),
            Backend::Capture { store, .. } => kt_span_stats { ended: store.ended(), exported: store.ended(), ..Default::default() },
        }
    }

    pub(crate) fn shutdown(&self, timeout: Duration) -> kt_span_stats {
        match &self.backend {
            Backend::Otlp(t) => t.shutdown(timeout).into(),
            Backend::Capture { tracer_provider, meter_provider, .. } => {
                let _ = tracer_provider.shutdown_with_timeout(timeout);
                let _ = meter_provider.shutdown_with_timeout(timeout);
                self.stats()
            }
        }
    }

    /// The capture store, with the metrics collected so far moved into it.
    pub(crate) fn captured(&self) -> Result<&Store, kt_result> {
        match &self.backend {
            Backend::Capture { meter_provider, store, .. } => {
                if !self.shut_down.load(Ordering::Acquire) {
                    let _ = meter_provider.force_flush();
                }
                Ok(store)
            }
            Backend::Otlp(_) => Err(kt_result::NotCapturing),
        }
    }
}

/// Creates a tracer from `config` (NULL: the `OTEL_*` environment alone) into `*out`. Nothing is
/// contacted here: an unreachable receiver shows up later as failed exports (kt_tracer_stats()),
/// never as an error or a wait. KT_RESULT_TELEMETRY_SETUP when the exporter cannot be built
/// (e.g. a malformed endpoint). Free with kt_tracer_free().
///
/// Thread-safety: may be called from any thread; the config must not be modified meanwhile.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_new(config: *const kt_tracer_config, out: *mut *mut kt_tracer) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        if out.is_null() {
            return kt_result::NullArgument;
        }
        let default = Config::default();
        let cfg = if config.is_null() {
            &default
        } else {
            // SAFETY: a live config.
            try_ffi!(unsafe { handle_ref(config) })
        };
        let tracer = try_ffi!(Tracer::new(cfg));
        // SAFETY: non-null, writable by contract.
        unsafe { write_out(out, handle_new::<kt_tracer>(tracer)) };
        kt_result::Ok
    })
}

/// The tracer, refusing one that was shut down.
///
/// # Safety
/// `tracer` is NULL or live.
pub(crate) unsafe fn live_tracer<'a>(tracer: *const kt_tracer) -> Result<&'a Tracer, kt_result> {
    // SAFETY: as documented above.
    let t = unsafe { handle_ref(tracer) }?;
    if t.shut_down.load(Ordering::Acquire) {
        return Err(kt_result::ShutDown);
    }
    Ok(t)
}

/// Exports everything queued so far and waits for it (blocks; for tests and before exit).
/// KT_RESULT_EXPORT_FAILED when the receiver could not be reached or refused.
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_flush(tracer: *const kt_tracer) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { live_tracer(tracer) });
        if t.flush() {
            kt_result::Ok
        } else {
            kt_result::ExportFailed
        }
    })
}

/// The span counters so far into `*out`.
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_stats(tracer: *const kt_tracer, out: *mut kt_span_stats) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        if out.is_null() {
            return kt_result::NullArgument;
        }
        // SAFETY: non-null, writable.
        unsafe { write_out(out, t.stats()) };
        kt_result::Ok
    })
}

/// Capture mode (kt_tracer_config_set_capture()): writes everything captured since the tracer was
/// created or last cleared, as one NUL-terminated JSON document, into `buf` (`cap` bytes); `*len`
/// gets its length without the NUL. With `cap` too small (e.g. 0 and `buf` NULL, to ask the
/// size), KT_RESULT_BUFFER_TOO_SMALL and `*len` is the length needed (allocate `*len + 1`).
/// KT_RESULT_NOT_CAPTURING for a tracer that exports over OTLP. The document:
///
/// ```text
/// {"spans": [{"name": "send orders", "kind": "producer",          // producer|consumer|client
///             "trace_id": "<32 hex>", "span_id": "<16 hex>", "trace_flags": "01",
///             "trace_state": "k=v", "parent_span_id": "<16 hex>" or null,
///             "start_unix_nano": 1, "end_unix_nano": 2,
///             "attributes": {"messaging.system": {"string": "kafka"},   // also {"int": 7},
///                            ...},                                       // {"bool": true}, {"double": 0.5}
///             "status": {"code": "unset"} or {"code": "error", "description": "..."},
///             "links": [{"trace_id": "...", "span_id": "..."}]}, ...],   // in end order
///  "metrics": [{"name": "messaging.client.sent.messages", "kind": "counter",   // or "histogram"
///               "attributes": {...}, "count": 3, "sum": 3.0}, ...]}   // one entry per series
/// ```
///
/// Only sampled spans are captured (an unsampled parent makes a non-recording span).
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_captured_json(tracer: *const kt_tracer, buf: *mut c_char, cap: usize, len: *mut usize) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        if len.is_null() || (buf.is_null() && cap > 0) {
            return kt_result::NullArgument;
        }
        let store = try_ffi!(t.captured());
        let json = store.to_json();
        // SAFETY: non-null, writable.
        unsafe { write_out(len, json.len()) };
        if cap <= json.len() {
            return kt_result::BufferTooSmall;
        }
        // SAFETY: buf is valid for cap > json.len() bytes by contract.
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf.cast::<u8>(), json.len());
            buf.add(json.len()).write(0);
        }
        kt_result::Ok
    })
}

/// Capture mode: forgets every span and metric point captured so far (kt_tracer_stats() keeps
/// counting). KT_RESULT_NOT_CAPTURING for a tracer that exports over OTLP.
///
/// Thread-safety: may be called while other threads use the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_captured_clear(tracer: *const kt_tracer) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        try_ffi!(t.captured()).clear();
        kt_result::Ok
    })
}

/// Exports what is queued (waiting at most `timeout_ms` per signal) and stops exporting; the final
/// counts go to `*stats` (may be NULL). Later kt_tracer_start_*() calls return KT_RESULT_SHUT_DOWN;
/// a second shutdown returns KT_RESULT_SHUT_DOWN and does nothing. Still free the tracer.
///
/// Thread-safety: may be called while other threads use the tracer (their later calls fail).
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_shutdown(tracer: *const kt_tracer, timeout_ms: u64, stats: *mut kt_span_stats) -> kt_result {
    ffi_boundary!(kt_result::Panic, {
        // SAFETY: a live tracer.
        let t = try_ffi!(unsafe { handle_ref(tracer) });
        if t.shut_down.load(Ordering::Acquire) {
            return kt_result::ShutDown;
        }
        if t.shut_down.swap(true, Ordering::AcqRel) {
            return kt_result::ShutDown;
        }
        let final_stats = t.shutdown(Duration::from_millis(timeout_ms));
        if !stats.is_null() {
            // SAFETY: non-null, writable.
            unsafe { write_out(stats, final_stats) };
        }
        kt_result::Ok
    })
}

/// Frees a tracer, shutting it down first (up to 5 s) if kt_tracer_shutdown() was not called.
/// NULL is ignored.
///
/// Thread-safety: no other thread may be using the tracer.
#[no_mangle]
pub unsafe extern "C" fn kt_tracer_free(tracer: *mut kt_tracer) {
    ffi_boundary!((), {
        // SAFETY: NULL or a live tracer.
        if let Ok(t) = unsafe { handle_ref(tracer) } {
            if !t.shut_down.swap(true, Ordering::AcqRel) {
                t.shutdown(Duration::from_secs(5));
            }
        }
        // SAFETY: as above.
        unsafe { handle_free(tracer) }
    })
}
