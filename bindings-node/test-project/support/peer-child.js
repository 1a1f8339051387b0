// A separate process instrumented with the existing peer, @opentelemetry/instrumentation-kafkajs
// (and @opentelemetry/core's W3C propagator), for the interop test. Prints one JSON line.
'use strict';
const { trace, context, propagation, SpanKind, ROOT_CONTEXT } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');

const [mode, topic, outTopic] = process.argv.slice(2);
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
registerInstrumentations({ instrumentations: [new KafkaJsInstrumentation()], tracerProvider: provider });
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'peer', brokers: [process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.NOTHING });

async function main() {
  if (mode === 'produce') {
    const producer = kafka.producer();
    await producer.connect();
    const root = trace.getTracer('peer').startSpan('peer-root', {}, ROOT_CONTEXT);
    await context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic, messages: [{ key: 'peer', value: 'x' }] }));
    root.end();
    await producer.disconnect();
    const send = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.PRODUCER);
    return { traceId: root.spanContext().traceId, rootSpanId: root.spanContext().spanId, sendSpanId: send.spanContext().spanId, sendParent: send.parentSpanContext?.spanId };
  }
  if (mode === 'forward') {
    // A forwarder: consumes from `topic` and sends each message on to `outTopic` with its headers.
    const producer = kafka.producer();
    await producer.connect();
    const consumer = kafka.consumer({ groupId: `peer-${topic}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let done;
    const forwarded = new Promise((r) => (done = r));
    await consumer.run({
      eachMessage: async ({ message }) => {
        await producer.send({ topic: outTopic, messages: [{ key: message.key, value: message.value, headers: message.headers }] });
        done();
      },
    });
    await Promise.race([forwarded, new Promise((_, rej) => setTimeout(() => rej(new Error('no message in 20 s')), 20000))]);
    const deadline = Date.now() + 10000;
    const find = (kind) => exporter.getFinishedSpans().find((s) => s.kind === kind);
    while (!(find(SpanKind.CONSUMER) && find(SpanKind.PRODUCER)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await consumer.disconnect();
    await producer.disconnect();
    const [proc, send] = [find(SpanKind.CONSUMER), find(SpanKind.PRODUCER)];
    return {
      process: { name: proc.name, traceId: proc.spanContext().traceId, spanId: proc.spanContext().spanId, parent: proc.parentSpanContext?.spanId },
      send: { name: send.name, traceId: send.spanContext().traceId, spanId: send.spanContext().spanId, parent: send.parentSpanContext?.spanId },
    };
  }
  const consumer = kafka.consumer({ groupId: `peer-${topic}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let done;
  const got = new Promise((r) => (done = r));
  await consumer.run({ eachMessage: async ({ message }) => done(message) });
  const message = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no message in 20 s')), 20000))]);
  const deadline = Date.now() + 10000;
  let span;
  while (!(span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.CONSUMER)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await consumer.disconnect();
  return {
    headers: Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [k, String(v)])),
    name: span?.name,
    traceId: span?.spanContext().traceId,
    parentSpanId: span?.parentSpanContext?.spanId,
    links: (span?.links || []).map((l) => l.context.spanId),
  };
}

main().then(
  (r) => {
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  },
  (e) => {
    process.stderr.write(String(e && e.stack) + '\n');
    process.exit(1);
  },
);
