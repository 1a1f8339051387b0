// Producer + consumer throughput of Confluent's client (@confluentinc/kafka-javascript, its KafkaJS
// API) on the real broker ($KAFKA_BOOTSTRAP), traced and untraced side by side:
//   bare         no OpenTelemetry at all
//   none         the OpenTelemetry SDK (AsyncLocalStorage context manager, tracer provider, batch
//                processor) but no Kafka instrumentation
//   sdk-floor    the SDK making the spans an instrumentation makes (a send span per message around
//                producer.send, a process span per message with context.with around the handler),
//                no Kafka logic and no headers
//   kafka-trace  kafka-trace's KafkaJsInstrumentation (which patches the Confluent client)
// Each run is a fresh process on a fresh one-partition topic; one warm-up message is consumed
// before the clock starts (the group join is not measured); modes alternate round by round; the
// median of the rounds is reported. Spans go to a BatchSpanProcessor whose exporter discards them.
//
// Usage: node bench/confluent.js [messages=5000] [rounds=3] [batch=100] [modes=bare,none,sdk-floor,kafka-trace]
// Env: KAFKA_BOOTSTRAP (default 127.0.0.1:9092); KT_BENCH_SAMPLING 1.0 (default, full) or e.g.
// 0.01 = ParentBased(TraceIdRatioBased(0.01)); CKJS_PATH = the @confluentinc/kafka-javascript
// package directory (default: what scripts/confluent-kafka-js.sh builds or has cached).
// Output: human lines on stderr/stdout and one `BENCH_ROW {json}` line per mode on stdout (group
// node-confluent; value = median msg/s; cpu_us_per_msg = median process CPU time, user + sys, of
// the measured window divided by the messages).
'use strict';
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const MODES_ALL = ['bare', 'none', 'sdk-floor', 'kafka-trace'];
const SAMPLING = Number(process.env.KT_BENCH_SAMPLING || '1.0');
const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092';

function parent() {
  const [n = '5000', rounds = '3', batch = '100', modes] = process.argv.slice(2);
  const modeList = modes ? modes.split(',') : MODES_ALL;
  const pkg = process.env.CKJS_PATH || execFileSync('bash', [path.join(__dirname, '..', '..', 'scripts', 'confluent-kafka-js.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const runs = new Map(modeList.map((m) => [m, []]));
  for (let r = 1; r <= Number(rounds); r++) {
    for (const mode of modeList) {
      const out = execFileSync(process.execPath, [__filename, '--child', mode, n, batch], { encoding: 'utf8', timeout: 300000, env: { ...process.env, CKJS_PATH: pkg } });
      const res = JSON.parse(out.trim().split('\n').pop());
      runs.get(mode).push(res);
      console.error(`round ${r} ${mode}: ${res.rate.toFixed(0)} msg/s, ${res.cpu.toFixed(1)} us CPU/msg, ${res.spans} spans`);
    }
  }
  const mid = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  const sampling = SAMPLING >= 1 ? 'full' : `${+(SAMPLING * 100).toFixed(3)}%`;
  const base = runs.has('bare') ? mid(runs.get('bare').map((x) => x.rate)) : NaN;
  console.log(`node ${process.version}, Confluent client, ${n} messages, send() batches of ${batch}, eachMessage, sampling ${sampling}, ${rounds} rounds, median`);
  const rows = [];
  for (const [mode, xs] of runs) {
    const rate = mid(xs.map((x) => x.rate));
    const cpu = mid(xs.map((x) => x.cpu));
    console.log(`${mode.padEnd(12)} ${rate.toFixed(0).padStart(7)} msg/s  ${((100 * rate) / base).toFixed(1)}% of bare  ${cpu.toFixed(1).padStart(6)} us CPU/msg`);
    rows.push({ group: 'node-confluent', row: `confluent-kafka-javascript producer+consumer end to end, ${n} msgs, eachMessage`, mode, sampling, value: Math.round(rate), unit: 'msg/s', cpu_us_per_msg: +cpu.toFixed(2) });
  }
  for (const row of rows) console.log(`BENCH_ROW ${JSON.stringify(row)}`);
}

/** The SDK for every mode but bare; returns [the floor tracer or undefined, a flush, a span count]. */
function sdk(mode) {
  const api = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  const { TracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace');
  const count = { spans: 0 };
  const exporter = { export: (b, done) => ((count.spans += b.length), done({ code: 0 })), shutdown: async () => {} };
  const sampler = SAMPLING >= 1 ? new AlwaysOnSampler() : new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(SAMPLING) });
  const provider = new TracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor({ exporter, maxQueueSize: 100000, maxExportBatchSize: 2048, scheduledDelayMillis: 200 })] });
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  api.trace.setGlobalTracerProvider(provider);
  if (mode === 'kafka-trace') {
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    registerInstrumentations({ instrumentations: [new (require('..').KafkaJsInstrumentation)()], tracerProvider: provider });
  } else if (mode !== 'none' && mode !== 'sdk-floor') {
    throw new Error(`unknown mode ${mode}`);
  }
  return [mode === 'sdk-floor' ? api.trace.getTracer('sdk-floor') : undefined, () => provider.forceFlush(), count];
}

async function child(mode, n, batch) {
  const api = require('@opentelemetry/api');
  const [floor, flush, count] = mode === 'bare' ? [undefined, async () => {}, { spans: 0 }] : sdk(mode);
  const { KafkaJS } = require(process.env.CKJS_PATH);
  const clientId = `bench-${mode}`;
  const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers: [BOOTSTRAP], clientId, logLevel: KafkaJS.logLevel.NOTHING } });
  const topic = `kt-bench-ck-${mode}-${process.pid}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const consumer = kafka.consumer({ kafkaJS: { groupId: topic, fromBeginning: true, maxWaitTimeInMs: 50 } });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic] });
  let received = 0;
  let target = 1;
  let reached;
  let arrived = new Promise((r) => (reached = r));
  const expect = (k) => {
    target = k;
    return (arrived = new Promise((r) => (reached = r)));
  };
  let handler = async () => {
    if (++received === target) reached(performance.now());
  };
  let send = (messages) => producer.send({ topic, messages });
  if (floor !== undefined) {
    const sendAttrs = { 'messaging.system': 'kafka', 'messaging.operation.name': 'send', 'messaging.operation.type': 'send', 'messaging.destination.name': topic, 'messaging.client.id': clientId, 'server.address': '127.0.0.1', 'server.port': 9092 };
    const processAttrs = { ...sendAttrs, 'messaging.operation.name': 'process', 'messaging.operation.type': 'process', 'messaging.consumer.group.name': topic };
    const inner = handler;
    handler = (payload) => {
      const span = floor.startSpan(`process ${topic}`, { kind: api.SpanKind.CONSUMER, attributes: { ...processAttrs, 'messaging.destination.partition.id': String(payload.partition), 'messaging.kafka.offset': Number(payload.message.offset) } });
      return api.context.with(api.trace.setSpan(api.context.active(), span), () => inner(payload)).finally(() => span.end());
    };
    send = (messages) => {
      const spans = messages.map((m) => floor.startSpan(`send ${topic}`, { kind: api.SpanKind.PRODUCER, attributes: { ...sendAttrs, 'messaging.kafka.message.key': m.key } }));
      return producer.send({ topic, messages }).finally(() => spans.forEach((s) => s.end()));
    };
  }
  await consumer.run({ eachMessage: handler });
  const value = Buffer.alloc(100, 'x');
  // Warm-up: the group joined and one message went through before the clock starts.
  await send([{ key: 'warm-up', value }]);
  await arrived;
  const done = expect(n + 1);
  const tracer = api.trace.getTracer('bench');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // One request span per send(), as an HTTP handler producing a batch would have.
  for (let i = 0; i < n; i += batch) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + batch); j++) messages.push({ key: `k${j}`, value, headers: { 'content-type': 'application/octet-stream' } });
    const span = tracer.startSpan('request');
    await api.context.with(api.trace.setSpan(api.context.active(), span), () => send(messages));
    span.end();
  }
  const t1 = await done;
  const cpu = process.cpuUsage(cpu0);
  await flush();
  await consumer.disconnect();
  await producer.disconnect();
  return { mode, rate: (n * 1000) / (t1 - t0), cpu: (cpu.user + cpu.system) / n, spans: count.spans };
}

if (process.argv[2] !== '--child') parent();
else {
  const [mode, n, batch] = process.argv.slice(3);
  child(mode, Number(n), Number(batch))
    .then((r) => process.stdout.write(`${JSON.stringify(r)}\n`, () => process.exit(0)))
    .catch((e) => process.stderr.write(`${e?.stack ?? e}\n`, () => process.exit(1)));
}
