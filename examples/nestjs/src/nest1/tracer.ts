// OpenTelemetry for nest1, as in the tutorial: NodeSDK, OTLP export, the tutorial's
// Nest, HTTP and Express instrumentations, and kafka-trace's KafkaJS instrumentation in place of the
// tutorial's (it also covers @nestjs/microservices' Kafka transport).
// Import this file before anything else.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { KafkaJsInstrumentation, KafkaTracePropagator } from 'kafka-trace';

export const sdk = new NodeSDK({
  // OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318) picks the collector / Jaeger.
  traceExporter: new OTLPTraceExporter(),
  textMapPropagator: new KafkaTracePropagator(),
  instrumentations: [
    new NestInstrumentation(),
    new HttpInstrumentation(),
    new ExpressInstrumentation(),
    new KafkaJsInstrumentation({ strategy: 'parent' }),
  ],
  resource: resourceFromAttributes({ 'service.name': 'nest1' }),
});
sdk.start();

const shutdown = () => sdk.shutdown().finally(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
