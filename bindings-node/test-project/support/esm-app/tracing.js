// The ESM app's tracing file (what a user's `--import ./tracing.js` would be): a tracer provider
// with an in-memory exporter and kafka-trace's KafkaJsInstrumentation. ES module.
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { KafkaJsInstrumentation } from 'kafka-trace';

export const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
registerInstrumentations({ instrumentations: [new KafkaJsInstrumentation()], tracerProvider: provider });
globalThis.__ktExporter = exporter;
