"""An OTLP/HTTP (protobuf) receiver for tests that run real programs: it keeps every exported
span as a plain dict and the names of the exported metrics, so a test asserts on what actually
reached the wire. Used by the C ABI's plugin test and the C examples' end-to-end test.

    receiver = OtlpHttpReceiver()          # listens on 127.0.0.1, a free port
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    ...
    receiver.spans_named("send orders")    # [{"name", "service", "trace_id", ...}, ...]
    receiver.stop()

Needs the `opentelemetry-proto` package.
"""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def value_of(any_value):
    """The Python value of an OTLP AnyValue (None when unset)."""
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def span_dict(service, span):
    return {
        "service": service,
        "name": span.name,
        "kind": span.kind,
        "trace_id": span.trace_id.hex(),
        "span_id": span.span_id.hex(),
        "parent": span.parent_span_id.hex(),
        "links": len(span.links),
        "status": span.status.code,
        "start": span.start_time_unix_nano,
        "end": span.end_time_unix_nano,
        "attrs": {a.key: value_of(a.value) for a in span.attributes},
    }


class OtlpHttpReceiver:
    """Serves /v1/traces and /v1/metrics until `stop()`."""

    def __init__(self):
        self._spans, self._metric_names, self._lock = [], set(), threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def spans(self):
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def spans_named(self, name, service=None):
        return [s for s in self.spans() if s["name"] == name and (service is None or s["service"] == service)]

    def metric_names(self):
        with self._lock:
            return set(self._metric_names)

    def stop(self):
        self._server.shutdown()

    def _received_traces(self, body):
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for rs in request.resource_spans:
                service = {a.key: value_of(a.value) for a in rs.resource.attributes}.get("service.name")
                for ss in rs.scope_spans:
                    self._spans.extend(span_dict(service, s) for s in ss.spans)
        return trace_service_pb2.ExportTraceServiceResponse().SerializeToString()

    def _received_metrics(self, body):
        request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
        with self._lock:
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    self._metric_names.update(m.name for m in sm.metrics)
        return metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()

    def _handler_class(self):
        routes = {"/v1/traces": self._received_traces, "/v1/metrics": self._received_metrics}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                route = routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                reply = route(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        return Handler
