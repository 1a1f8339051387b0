"""An OTLP/HTTP receiver for the soak (scripts/soak.sh) that is alternately up and down.

    python otlp_sink.py PORT COUNTS_FILE [UP_SECONDS DOWN_SECONDS]

Up: accepts POST /v1/traces (protobuf, gzip or not; every span counted by the resource's
service.name) and /v1/metrics (accepted, not decoded). Down: the listening socket is closed, so
exporters get "connection refused" and count the spans as failed or dropped. Writes the counts
as JSON to COUNTS_FILE every second and on SIGTERM: {"spans": {service: n}, "requests": n,
"cycles": n, "up": bool}.
"""

from __future__ import annotations

import gzip
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PORT = int(sys.argv[1])
COUNTS = sys.argv[2]
UP = float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
DOWN = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0

lock = threading.Lock()
state = {"spans": {}, "requests": 0, "cycles": 0, "up": False}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_POST(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):  # e.g. the JS exporter
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    break
                body += chunk
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.endswith("/v1/traces"):
            found = []  # (service.name, spans)
            if "json" in (self.headers.get("Content-Type") or ""):  # OTLP/JSON (the JS http exporter)
                for rs in json.loads(body or b"{}").get("resourceSpans", []):
                    attrs = rs.get("resource", {}).get("attributes", [])
                    service = next((a["value"].get("stringValue", "?") for a in attrs if a.get("key") == "service.name"), "?")
                    found.append((service, sum(len(ss.get("spans", [])) for ss in rs.get("scopeSpans", []))))
            else:
                req = ExportTraceServiceRequest()
                req.ParseFromString(body)
                for rs in req.resource_spans:
                    service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "?")
                    found.append((service, sum(len(ss.spans) for ss in rs.scope_spans)))
            with lock:
                state["requests"] += 1
                for service, n in found:
                    state["spans"][service] = state["spans"].get(service, 0) + n
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type") or "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def write():
    with lock:
        text = json.dumps(state)
    with open(COUNTS + ".tmp", "w") as f:
        f.write(text)
    import os

    os.replace(COUNTS + ".tmp", COUNTS)


stopping = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stopping.set())


def writer():
    while not stopping.wait(1.0):
        write()


threading.Thread(target=writer, daemon=True).start()
while not stopping.is_set():
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    with lock:
        state["up"] = True
    stopping.wait(UP)
    server.shutdown()
    server.server_close()
    with lock:
        state["up"] = False
        state["cycles"] += 1
    if stopping.wait(DOWN):
        break
write()
