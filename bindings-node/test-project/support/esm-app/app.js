// An ES-module app importing kafkajs: produces one message inside a root span, consumes it, and
// prints the spans (one JSON line). Run by test/esm-hook.test.js with and without the hook.
import { Kafka, logLevel } from 'kafkajs';
import { context, trace, ROOT_CONTEXT } from '@opentelemetry/api';

const [topic] = process.argv.slice(2);
const kafka = new Kafka({ clientId: 'esm-app', brokers: [process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.NOTHING });
const exporter = globalThis.__ktExporter;
const finished = () => (exporter ? exporter.getFinishedSpans() : []);

const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
await admin.disconnect();

const producer = kafka.producer();
await producer.connect();
const root = trace.getTracer('esm-app').startSpan('esm-root', {}, ROOT_CONTEXT);
await context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic, messages: [{ key: 'k', value: 'esm' }] }));
root.end();
await producer.disconnect();

const consumer = kafka.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 100 });
await consumer.connect();
await consumer.subscribe({ topic, fromBeginning: true });
let got;
const received = new Promise((resolve) => (got = resolve));
await consumer.run({
  eachMessage: async ({ message }) => got({ headers: Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, String(v)])), active: trace.getActiveSpan()?.spanContext().spanId }),
});
const timeout = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref());
const message = await Promise.race([received, timeout(20000, 'no message')]);
// The process span ends once the handler settled: wait for it (when traced).
const deadline = Date.now() + 5000;
while (exporter && !finished().some((s) => s.name === `process ${topic}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await consumer.disconnect();
const spans = finished().map((s) => ({ name: s.name, kind: s.kind, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, parent: s.parentSpanContext?.spanId }));
process.stdout.write(JSON.stringify({ root: root.spanContext(), message, spans }) + '\n');
process.exit(0);
