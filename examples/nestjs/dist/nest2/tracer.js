"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.sdk = void 0;
// OpenTelemetry for nest2, as in the tutorial: NodeSDK, OTLP export, HTTP instrumentation and
// kafka-trace's KafkaJS instrumentation (which also covers @nestjs/microservices' Kafka transport).
// Import this file before anything else.
const sdk_node_1 = require("@opentelemetry/sdk-node");
const exporter_trace_otlp_http_1 = require("@opentelemetry/exporter-trace-otlp-http");
const instrumentation_http_1 = require("@opentelemetry/instrumentation-http");
const resources_1 = require("@opentelemetry/resources");
const kafka_trace_1 = require("kafka-trace");
exports.sdk = new sdk_node_1.NodeSDK({
    // OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) picks the collector / Jaeger.
    traceExporter: new exporter_trace_otlp_http_1.OTLPTraceExporter(),
    textMapPropagator: new kafka_trace_1.KafkaTracePropagator(),
    instrumentations: [new instrumentation_http_1.HttpInstrumentation(), new kafka_trace_1.KafkaJsInstrumentation({ strategy: 'parent' })],
    resource: (0, resources_1.resourceFromAttributes)({ 'service.name': 'nest2' }),
});
exports.sdk.start();
const shutdown = () => exports.sdk.shutdown().finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
