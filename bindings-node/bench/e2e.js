// End-to-end KafkaJS producer + consumer throughput on the real broker ($KAFKA_BOOTSTRAP), side
// by side: no OpenTelemetry, the SDK alone, the SDK floor (the same two spans made directly with
// the SDK), @opentelemetry/instrumentation-kafkajs, and kafka-trace's KafkaJsInstrumentation.
// Each run is a fresh process (instrumentations patch kafkajs globally) on a fresh topic; modes
// alternate round by round; the median of the rounds is reported. Spans go to a
// BatchSpanProcessor whose exporter discards them.
//
// Usage: node bench/e2e.js [messages=10000] [rounds=3] [batch=100] [modes=bare,none,sdk-floor,peer,kafka-trace]
// Env: KAFKA_BOOTSTRAP (default 127.0.0.1:9092); KT_BENCH_SAMPLING 1.0 (default, full) or e.g.
// 0.01 = ParentBased(TraceIdRatioBased(0.01)) for every mode with an SDK.
// Output: human lines on stderr/stdout, and one `BENCH_ROW {json}` line per mode on stdout
// (group node-kafkajs; value = median msg/s; cpu_us_per_msg = median process CPU time, user +
// sys, of the measured window divided by the messages).
'use strict';
const { execFileSync } = require('node:child_process');

// bare: no OpenTelemetry at all; none: the OpenTelemetry SDK (AsyncLocalStorage context manager,
// tracer provider, batch processor) but no Kafka instrumentation; sdk-floor: the SDK making the
// spans an instrumentation makes (one send span per message around producer.send, one process
// span per message with context.with around the handler), no Kafka logic and no headers.
const ALL_MODES = ['bare', 'none', 'sdk-floor', 'peer', 'kafka-trace'];
const SAMPLING = Number(process.env.KT_BENCH_SAMPLING || '1.0');

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
  const N = Number(process.argv[2] || 10000);
  const ROUNDS = Number(process.argv[3] || 3);
  const BATCH = Number(process.argv[4] || 100);
  const MODES = process.argv[5] ? process.argv[5].split(',') : ALL_MODES;
  const results = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES) {
      const out = execFileSync(process.execPath, [__filename, '--child', mode, String(N), String(BATCH)], { encoding: 'utf8', timeout: 300000 });
      const res = JSON.parse(out.trim().split('\n').pop());
      results[mode].push(res);
      console.error(`round ${r + 1} ${mode}: ${res.msgsPerSec.toFixed(0)} msg/s, ${res.cpuUsPerMsg.toFixed(1)} us CPU/msg (${res.ms.toFixed(0)} ms, ${res.spans} spans)`);
    }
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const sampling = SAMPLING >= 1 ? 'full' : `${+(SAMPLING * 100).toFixed(3)}%`;
  console.log(`node ${process.version}, ${N} messages, send() batches of ${BATCH}, eachMessage, sampling ${sampling}, ${ROUNDS} rounds, median`);
  const none = results.none ? median(results.none.map((x) => x.msgsPerSec)) : NaN;
  const rows = [];
  for (const mode of MODES) {
    const m = median(results[mode].map((x) => x.msgsPerSec));
    const cpu = median(results[mode].map((x) => x.cpuUsPerMsg));
    console.log(`${mode.padEnd(12)} ${m.toFixed(0).padStart(7)} msg/s  ${((100 * m) / none).toFixed(1)}% of none  ${cpu.toFixed(1).padStart(6)} us CPU/msg  spans/run ${results[mode][0].spans}`);
    rows.push({ group: 'node-kafkajs', row: `kafkajs producer+consumer end to end, ${N} msgs, eachMessage`, mode, sampling, value: Math.round(m), unit: 'msg/s', cpu_us_per_msg: +cpu.toFixed(2) });
  }
  for (const row of rows) console.log(`BENCH_ROW ${JSON.stringify(row)}`);
}

async function child(mode, N, BATCH) {
  const api = require('@opentelemetry/api');
  let spans = 0;
  let floorTracer;
  if (mode !== 'bare') {
    const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
    const { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace');
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    const exporter = {
      export: (batch, done) => {
        spans += batch.length;
        done({ code: 0 });
      },
      shutdown: async () => {},
    };
    const sampler = SAMPLING >= 1 ? new AlwaysOnSampler() : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(SAMPLING) });
    const provider = new TracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 100000, maxExportBatchSize: 2048, scheduledDelayMillis: 200 })] });
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    api.trace.setGlobalTracerProvider(provider);
    let instrumentation;
    if (mode === 'none') {
      instrumentation = undefined;
    } else if (mode === 'sdk-floor') {
      floorTracer = api.trace.getTracer('sdk-floor');
    } else if (mode === 'peer') {
      const { W3CTraceContextPropagator } = require('@opentelemetry/core');
      api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
      instrumentation = new (require('@opentelemetry/instrumentation-kafkajs').KafkaJsInstrumentation)();
    } else if (mode === 'kafka-trace') {
      instrumentation = new (require('..').KafkaJsInstrumentation)();
    } else {
      throw new Error(`unknown mode ${mode}`);
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
  let handler = async ({ message }) => {
    if (++received === N) done(performance.now());
    void message;
  };
  let send = (messages) => producer.send({ topic, messages });
  if (floorTracer !== undefined) {
    // The SDK floor: what any instrumentation must at least do per message (two spans, the
    // handler run in its span's context), with attribute sets of the same size as a Kafka span's.
    const sendAttrs = { 'messaging.system': 'kafka', 'messaging.operation.name': 'send', 'messaging.operation.type': 'send', 'messaging.destination.name': topic, 'messaging.client.id': `bench-${mode}`, 'server.address': '127.0.0.1', 'server.port': 9092 };
    const processAttrs = { ...sendAttrs, 'messaging.operation.name': 'process', 'messaging.operation.type': 'process', 'messaging.consumer.group.name': topic };
    const inner = handler;
    handler = (payload) => {
      const span = floorTracer.startSpan(`process ${topic}`, { kind: api.SpanKind.CONSUMER, attributes: { ...processAttrs, 'messaging.destination.partition.id': String(payload.partition), 'messaging.kafka.offset': Number(payload.message.offset) } });
      return api.context.with(api.trace.setSpan(api.context.active(), span), () => inner(payload)).then((v) => {
        span.end();
        return v;
      });
    };
    send = async (messages) => {
      const spans = messages.map((m) => floorTracer.startSpan(`send ${topic}`, { kind: api.SpanKind.PRODUCER, attributes: { ...sendAttrs, 'messaging.kafka.message.key': m.key } }));
      try {
        return await producer.send({ topic, messages });
      } finally {
        for (const s of spans) s.end();
      }
    };
  }
  await consumer.run({ eachMessage: handler });
  await joined;
  const value = Buffer.alloc(100, 'x');
  const tracer = api.trace.getTracer('bench');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // one request span per send(), as an HTTP handler producing a batch would have
  for (let i = 0; i < N; i += BATCH) {
    const messages = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) messages.push({ key: `k${j}`, value, headers: { 'content-type': 'application/octet-stream' } });
    const span = tracer.startSpan('request');
    await api.context.with(api.trace.setSpan(api.context.active(), span), () => send(messages));
    span.end();
  }
  const t1 = await all;
  const cpu = process.cpuUsage(cpu0);
  if (child.flush) await child.flush();
  await consumer.disconnect();
  await producer.disconnect();
  const ms = t1 - t0;
  return { mode, ms, msgsPerSec: (N * 1000) / ms, cpuUsPerMsg: (cpu.user + cpu.system) / N, spans };
}
