// The per-message path without a broker, side by side in one process: kafka-trace's executor
// (the one its KafkaJS patches use), @opentelemetry/instrumentation-kafkajs's own patch functions
// (peer) and the SDK floor (the two spans made directly with the SDK), each around a no-op send
// (100 messages a call, acked at once) and a no-op eachMessage handler over KafkaJS-shaped
// messages (Buffer key, value and headers with a traceparent, string offset and timestamp).
// Modes alternate round by round in the same process; the report is the lowest CPU time (user +
// sys) per message of the rounds, so it holds up on a loaded machine better than wall time.
//
// Usage: node bench/path.js [messages per round=20000] [rounds=7] [modes=sdk-floor,peer,kafka-trace]
// Env: KT_BENCH_SAMPLING 1.0 (default) or e.g. 0.01 = ParentBased(TraceIdRatioBased(0.01)).
// Output: one line per mode: send ns/msg, process ns/msg, both; `BENCH_ROW` lines (group
// node-path, unit ns/op, value = send + process CPU ns per message).
'use strict';
const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
// KT_PACKAGE: another build of the package (e.g. an installed copy of an older one).
const kt = require(process.env.KT_PACKAGE || '..');

const N = Number(process.argv[2] || 20000);
const ROUNDS = Number(process.argv[3] || 7);
const MODES = (process.argv[4] || 'sdk-floor,peer,kafka-trace').split(',');
const SAMPLING = Number(process.env.KT_BENCH_SAMPLING || '1.0');
const BATCH = 100;
const TOPIC = 'orders';

let exported = 0;
const exporter = { export: (b, done) => ((exported += b.length), done({ code: 0 })), shutdown: async () => {} };
const sampler = SAMPLING >= 1 ? new AlwaysOnSampler() : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(SAMPLING) });
const provider = new TracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 100000, maxExportBatchSize: 2048, scheduledDelayMillis: 200 })] });
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.trace.setGlobalTracerProvider(provider);
api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());

const value = Buffer.alloc(100, 'x');
const ack = (n) => Promise.resolve([{ topicName: TOPIC, partition: 0, errorCode: 0, baseOffset: String(n) }]);
/** Messages as a KafkaJS consumer hands them over, with parents from sampled and unsampled traces. */
function consumed(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const trace = (BigInt(i + 1) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32);
    const flags = SAMPLING >= 1 || i % Math.round(1 / SAMPLING) === 0 ? '01' : '00';
    const tp = `00-${trace}-00f067aa0ba902b7-${flags}`;
    out.push({ key: Buffer.from(`k${i}`), value, timestamp: String(Date.now()), offset: String(i), headers: { 'content-type': Buffer.from('application/octet-stream'), traceparent: Buffer.from(tp) } });
  }
  return out;
}
const messages = consumed(N);

function floorPaths() {
  const tracer = api.trace.getTracer('sdk-floor');
  const sendAttrs = { 'messaging.system': 'kafka', 'messaging.operation.name': 'send', 'messaging.operation.type': 'send', 'messaging.destination.name': TOPIC, 'messaging.client.id': 'bench', 'server.address': '127.0.0.1', 'server.port': 9092 };
  const processAttrs = { ...sendAttrs, 'messaging.operation.name': 'process', 'messaging.operation.type': 'process', 'messaging.consumer.group.name': 'g' };
  return {
    send: async (batch) => {
      const spans = batch.map((m) => tracer.startSpan(`send ${TOPIC}`, { kind: api.SpanKind.PRODUCER, attributes: { ...sendAttrs, 'messaging.kafka.message.key': m.key } }));
      try {
        return await ack(0);
      } finally {
        for (const s of spans) s.end();
      }
    },
    each: (payload, handler) => {
      const span = tracer.startSpan(`process ${TOPIC}`, { kind: api.SpanKind.CONSUMER, attributes: { ...processAttrs, 'messaging.destination.partition.id': String(payload.partition), 'messaging.kafka.offset': Number(payload.message.offset) } });
      return api.context.with(api.trace.setSpan(api.context.active(), span), () => handler(payload)).then((v) => {
        span.end();
        return v;
      });
    },
  };
}

function peerPaths() {
  const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
  const inst = new KafkaJsInstrumentation();
  inst.setTracerProvider(provider);
  const client = {};
  const send = inst._getSendPatch()(() => ack(0));
  return {
    send: (batch) => send.call(client, { topic: TOPIC, messages: batch }),
    each: (payload, handler) => inst._getConsumerEachMessagePatch(client)(handler)(payload),
    // one wrapped handler per run, as KafkaJS's consumer.run does
    wrap: (handler) => inst._getConsumerEachMessagePatch(client)(handler),
  };
}

function ktPaths() {
  const opts = { clientId: 'bench', bootstrapServers: '127.0.0.1:9092' };
  const producer = new kt.KafkaTracing(opts, { tracer: api.trace.getTracer('kafka-trace') });
  const consumer = new kt.KafkaTracing({ ...opts, consumerGroup: 'g' }, { tracer: api.trace.getTracer('kafka-trace') });
  return {
    send: (batch) => producer.send([{ topic: TOPIC, messages: batch }], () => ack(0)),
    each: (payload, handler) => consumer.eachMessage(payload, () => handler(payload)),
  };
}

const makers = { 'sdk-floor': floorPaths, peer: peerPaths, 'kafka-trace': ktPaths };

async function round(p) {
  const tracer = api.trace.getTracer('bench');
  // send: batches of fresh messages inside a request span, as an HTTP handler producing would
  let c0 = process.cpuUsage();
  for (let i = 0; i < N; i += BATCH) {
    const batch = [];
    for (let j = i; j < i + BATCH; j++) batch.push({ key: `k${j}`, value, headers: { 'content-type': 'application/octet-stream' } });
    const span = tracer.startSpan('request');
    await api.context.with(api.trace.setSpan(api.context.active(), span), () => p.send(batch));
    span.end();
  }
  let c = process.cpuUsage(c0);
  const send = ((c.user + c.system) * 1000) / N;
  // process: one eachMessage per message, the handler async as KafkaJS's are
  const handler = async () => {};
  const each = p.wrap ? ((w) => (payload) => w(payload))(p.wrap(handler)) : (payload) => p.each(payload, handler);
  c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const m = messages[i];
    m.headers = { 'content-type': m.headers['content-type'], traceparent: m.headers.traceparent };
    await each({ topic: TOPIC, partition: 0, message: m, heartbeat: async () => {}, pause: () => () => {} });
  }
  c = process.cpuUsage(c0);
  const proc = ((c.user + c.system) * 1000) / N;
  await provider.forceFlush();
  return { send, proc };
}

(async () => {
  const paths = Object.fromEntries(MODES.map((m) => [m, makers[m]()]));
  const best = Object.fromEntries(MODES.map((m) => [m, { send: Infinity, proc: Infinity, both: Infinity }]));
  for (const m of MODES) await round(paths[m]); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const m of MODES) {
      const x = await round(paths[m]);
      const b = best[m];
      b.send = Math.min(b.send, x.send);
      b.proc = Math.min(b.proc, x.proc);
      b.both = Math.min(b.both, x.send + x.proc);
    }
  }
  const sampling = SAMPLING >= 1 ? 'full' : `${+(SAMPLING * 100).toFixed(3)}%`;
  const load = require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`node ${process.version}, ${N} messages a round, ${ROUNDS} rounds (lowest), sampling ${sampling}, load ${load}, spans exported ${exported}`);
  for (const m of MODES) {
    const b = best[m];
    console.log(`${m.padEnd(12)} send ${b.send.toFixed(0).padStart(6)} ns/msg  process ${b.proc.toFixed(0).padStart(6)} ns/msg  both ${b.both.toFixed(0).padStart(6)} ns/msg (CPU)`);
  }
  for (const m of MODES) console.log(`BENCH_ROW ${JSON.stringify({ group: 'node-path', row: 'send + eachMessage per message, no broker (CPU)', mode: m, sampling, value: Math.round(best[m].both), unit: 'ns/op', cpu_us_per_msg: +(best[m].both / 1000).toFixed(2) })}`);
  await provider.shutdown();
})();
