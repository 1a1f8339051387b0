// End-to-end KafkaJS producer + consumer throughput on the real broker ($KAFKA_BOOTSTRAP),
// with the OpenTelemetry SDK but no Kafka instrumentation, with @opentelemetry/instrumentation-kafkajs, and with kafka-trace's
// KafkaJsInstrumentation. Each run is a fresh process (instrumentations patch kafkajs globally)
// on a fresh topic; modes alternate round by round; the median of the rounds is reported.
// Spans go to a BatchSpanProcessor with an exporter that discards them.
// Usage: node bench/e2e.js [messages=20000] [rounds=3] [batch=100]
'use strict';
const { execFileSync } = require('node:child_process');

// bare: no OpenTelemetry at all; none: the OpenTelemetry SDK (AsyncLocalStorage context
// manager, tracer provider, batch processor) but no Kafka instrumentation: the baseline the
// instrumentations are compared with.
const MODES = ['bare', 'none', 'peer', 'kafka-trace'];

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4]), Number(process.argv[5])).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e) => {
      process.stderr.write(String(e && e.stack) + '\n');
      process.exit(1);
    },
  );
} else {
  const N = Number(process.argv[2] || 20000);
  const ROUNDS = Number(process.argv[3] || 3);
  const BATCH = Number(process.argv[4] || 100);
  const results = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES) {
      const out = execFileSync(process.execPath, [__filename, '--child', mode, String(N), String(BATCH)], { encoding: 'utf8', timeout: 300000 });
      const res = JSON.parse(out.trim().split('\n').pop());
      results[mode].push(res);
      console.error(`round ${r + 1} ${mode}: ${res.msgsPerSec.toFixed(0)} msg/s (${res.ms.toFixed(0)} ms, ${res.spans} spans)`);
    }
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  console.log(`node ${process.version}, ${N} messages, send() batches of ${BATCH}, eachMessage, ${ROUNDS} rounds, median`);
  const none = median(results.none.map((x) => x.msgsPerSec));
  for (const mode of MODES) {
    const m = median(results[mode].map((x) => x.msgsPerSec));
    console.log(`${mode.padEnd(12)} ${m.toFixed(0).padStart(7)} msg/s  ${((100 * m) / none).toFixed(1)}% of none  spans/run ${results[mode][0].spans}`);
  }
}

async function child(mode, N, BATCH) {
  const api = require('@opentelemetry/api');
  let spans = 0;
  if (mode !== 'bare') {
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    const { TracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace');
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    const exporter = {
      export: (batch, done) => {
        spans += batch.length;
        done({ code: 0 });
      },
      shutdown: async () => {},
    };
    const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 100000, maxExportBatchSize: 2048, scheduledDelayMillis: 200 })] });
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    api.trace.setGlobalTracerProvider(provider);
    let instrumentation;
    if (mode === 'none') {
      instrumentation = undefined;
    } else if (mode === 'peer') {
      const { W3CTraceContextPropagator } = require('@opentelemetry/core');
      api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      instrumentation = new (require('@opentelemetry/instrumentation-kafkajs').KafkaJsInstrumentation)();
    } else {
      instrumentation = new (require('..').KafkaJsInstrumentation)();
    }
    if (instrumentation) registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });
    process.on('beforeExit', () => provider.forceFlush());
    child.flush = () => provider.forceFlush();
  }
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: `bench-${mode}`, brokers: [process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092'], logLevel: logLevel.NOTHING });
  const topic = `kt-bench-${mode}-${process.pid}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ groupId: topic, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let received = 0;
  let done;
  const all = new Promise((r) => (done = r));
  const joined = new Promise((r) => consumer.on(consumer.events.GROUP_JOIN, r));
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (++received === N) done(performance.now());
      void message;
    },
  });
  await joined;
  const value = Buffer.alloc(100, 'x');
  const tracer = api.trace.getTracer('bench');
  const t0 = performance.now();
  // one request span per send(), as an HTTP handler producing a batch would have
  for (let i = 0; i < N; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) messages.push({ key: `k${j}`, value, headers: { 'content-type': 'application/octet-stream' } });
    const span = tracer.startSpan('request');
    await api.context.with(api.trace.setSpan(api.context.active(), span), () => producer.send({ topic, messages }));
    span.end();
  }
  const t1 = await all;
  if (child.flush) await child.flush();
  await consumer.disconnect();
  await producer.disconnect();
  const ms = t1 - t0;
  return { mode, ms, msgsPerSec: (N * 1000) / ms, spans };
}
