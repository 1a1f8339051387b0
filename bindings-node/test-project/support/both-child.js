// A process with BOTH kafka-trace's and the peer's (@opentelemetry/instrumentation-kafkajs)
// KafkaJS instrumentation enabled, in the order given ('peer-first' | 'ours-first'), as
// getNodeAutoInstrumentations() + ours would. Sends (send, sendBatch, a transaction) inside a
// root span, consumes with eachMessage and eachBatch, prints the spans, the received headers
// and the warnings (one JSON line).
'use strict';
const { trace, context, propagation, ROOT_CONTEXT } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { KafkaJsInstrumentation: PeerInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
const { KafkaJsInstrumentation } = require('kafka-trace');

const [order, topic, batchTopic] = process.argv.slice(2);
const warnings = [];
process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
// Constructing an instrumentation enables it: construction order is hook order.
const both = order === 'peer-first' ? [new PeerInstrumentation(), new KafkaJsInstrumentation()] : [new KafkaJsInstrumentation(), new PeerInstrumentation()];
registerInstrumentations({ instrumentations: both, tracerProvider: provider });
const { Kafka, logLevel } = require('kafkajs');
const kafka = new Kafka({ clientId: 'both', brokers: [process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.NOTHING });
const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref());
const headersOf = (m) => Object.fromEntries(Object.entries(m.headers || {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]));

async function consume(t, kind, count) {
  const consumer = kafka.consumer({ groupId: `g-${t}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: t, fromBeginning: true });
  const got = [];
  let done;
  const all = new Promise((r) => (done = r));
  const record = (message) => {
    got.push({ key: String(message.key), via: kind, headers: headersOf(message), active: trace.getActiveSpan()?.spanContext().spanId });
    if (got.length === count) done();
  };
  if (kind === 'eachMessage') await consumer.run({ eachMessage: async ({ message }) => record(message) });
  else await consumer.run({ eachBatch: async ({ batch }) => batch.messages.forEach(record) });
  await Promise.race([all, timeout(20000, `${count} messages on ${t}`)]);
  await consumer.disconnect();
  return got;
}

async function main() {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }, { topic: batchTopic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ transactionalId: `tx-${topic}`, maxInFlightRequests: 1, idempotent: true });
  await producer.connect();
  const root = trace.getTracer('app').startSpan('root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), async () => {
    await producer.send({ topic, messages: [{ key: 'send', value: 'a' }] });
    await producer.sendBatch({ topicMessages: [{ topic: batchTopic, messages: [{ key: 'batch', value: 'b' }] }] });
    const tx = await producer.transaction();
    await tx.send({ topic, messages: [{ key: 'tx', value: 'c' }] });
    await tx.commit();
  });
  root.end();
  await producer.disconnect();
  const received = [...(await consume(topic, 'eachMessage', 2)), ...(await consume(batchTopic, 'eachBatch', 1))];
  const deadline = Date.now() + 5000;
  const processes = () => exporter.getFinishedSpans().filter((s) => s.name.startsWith('process ')).length;
  while (processes() < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200)); // a late duplicate would show up here (not relied on for the pass)
  const spans = exporter.getFinishedSpans().map((s) => ({
    name: s.name,
    kind: s.kind,
    scope: (s.instrumentationScope || s.instrumentationLibrary).name,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parent: s.parentSpanContext?.spanId,
  }));
  return { root: root.spanContext(), received, spans, warnings };
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
