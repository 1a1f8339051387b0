// End-to-end KafkaJS producer + consumer throughput on the real broker ($KAFKA_BOOTSTRAP), side
// by side: no OpenTelemetry, the SDK alone, the SDK floor (the same two spans made directly with
// the SDK), @opentelemetry/instrumentation-kafkajs, and kafka-trace's KafkaJsInstrumentation.
//
// One worker process per mode (instrumentations patch kafkajs globally), all started first, each
// on its own topic with its consumer joined and warmed up (JIT, pools, the group join outside
// every measured window). Then rounds: in each, every worker in turn produces and consumes one
// window of `messages` while the others sit idle; the order rotates by one mode per round, so
// each mode takes each place equally often and a slow spell on the shared machine lands on
// different modes. A worker flushes its spans before it answers, so nothing of one window runs
// during the next. The report is the median per mode, its spread (lowest-highest), and the
// median of the per-round CPU ratios kafka-trace / peer (paired within a round).
//
// Usage: node bench/e2e.js [messages=10000] [rounds=11] [batch=100] [modes=bare,none,sdk-floor,peer,kafka-trace] [warm-up=3000]
// Env: KAFKA_BOOTSTRAP (default 127.0.0.1:9092); KT_BENCH_SAMPLING 1.0 (default, full) or e.g.
// 0.01 = ParentBased(TraceIdRatioBased(0.01)) for every mode with an SDK.
// KT_BENCH_WORKER_ARGS: extra node options for the workers (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
// Output: human lines on stderr/stdout, and one `BENCH_ROW {json}` line per mode on stdout
// (group node-kafkajs; value = median msg/s; cpu_us_per_msg = median process CPU time, user +
// sys, of the measured window divided by the messages).
'use strict';
const { fork } = require('node:child_process');

// bare: no OpenTelemetry at all; none: the OpenTelemetry SDK (AsyncLocalStorage context manager,
// tracer provider, batch processor) but no Kafka instrumentation; sdk-floor: the SDK making the
// spans an instrumentation makes (one send span per message around producer.send, one process
// span per message with context.with around the handler), no Kafka logic and no headers.
const ALL_MODES = ['bare', 'none', 'sdk-floor', 'peer', 'kafka-trace'];
const SAMPLING = Number(process.env.KT_BENCH_SAMPLING || '1.0');

if (process.argv[2] === '--worker') {
  worker(process.argv[3], Number(process.argv[4])).catch((e) => {
    process.stderr.write(`worker ${process.argv[3]}: ${e && e.stack}\n`);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    process.stderr.write(`${e && e.stack}\n`);
    process.exit(1);
  });
}

/** A worker process: `ask(message)` resolves with its next answer. */
function start(mode, batch) {
  const execArgv = (process.env.KT_BENCH_WORKER_ARGS || '').split(' ').filter(Boolean);
  const child = fork(__filename, ['--worker', mode, String(batch)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = [];
  child.on('message', (m) => waiting.shift()?.resolve(m));
  child.on('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`worker ${mode} exited with ${code}`));
  });
  // A send to a worker that died: its exit above already failed the run.
  child.on('error', () => {});
  // A worker that never answers (a lost message, a stuck broker) fails the run instead of hanging it.
  const next = () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`worker ${mode}: no answer in 300 s`));
      }, 300000);
      const settle = (f) => (v) => {
        clearTimeout(timer);
        f(v);
      };
      waiting.push({ resolve: settle(resolve), reject: settle(reject) });
    });
  return {
    mode,
    child,
    ready: next(),
    ask(message) {
      const answer = next();
      child.send(message);
      return answer;
    },
  };
}

async function main() {
  const N = Number(process.argv[2] || 10000);
  const ROUNDS = Number(process.argv[3] || 11);
  const BATCH = Number(process.argv[4] || 100);
  const MODES = process.argv[5] ? process.argv[5].split(',') : ALL_MODES;
  const WARMUP = Number(process.argv[6] || Math.min(3000, N));
  for (const m of MODES) if (!ALL_MODES.includes(m)) throw new Error(`unknown mode ${m}`);
  // Started together (module loading, connecting and the group join are mostly waiting), then
  // warmed up one at a time.
  const workers = MODES.map((mode) => start(mode, BATCH));
  await Promise.all(workers.map((w) => w.ready));
  // With KT_BENCH_WORKER_ARGS (e.g. --cpu-prof), each window's process.hrtime in microseconds,
  // the clock of a CPU profile's timestamps, so a profile can be cut to the windows.
  const stamps = (res) => (process.env.KT_BENCH_WORKER_ARGS ? ` [${res.hr0}, ${res.hr1}]` : '');
  for (const w of workers) {
    const warm = await w.ask({ run: WARMUP });
    console.error(`${w.mode}: warm-up ${WARMUP} messages, ${warm.cpuUsPerMsg.toFixed(1)} us CPU/msg${stamps(warm)}`);
  }
  const results = Object.fromEntries(MODES.map((m) => [m, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < workers.length; k++) {
      const w = workers[(k + r) % workers.length];
      const res = await w.ask({ run: N });
      results[w.mode].push(res);
      console.error(`round ${r + 1} ${w.mode}: ${res.msgsPerSec.toFixed(0)} msg/s, ${res.cpuUsPerMsg.toFixed(1)} us CPU/msg (${res.ms.toFixed(0)} ms, ${res.spans} spans)${stamps(res)}`);
    }
  }
  await Promise.all(workers.map((w) => w.ask({ stop: true })));

  const median = (xs) => {
    const s = xs.slice().sort((a, b) => a - b);
    const h = s.length >> 1;
    return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
  };
  const spread = (xs, digits) => `${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)}`;
  const sampling = SAMPLING >= 1 ? 'full' : `${+(SAMPLING * 100).toFixed(3)}%`;
  const load = require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`node ${process.version}, ${N} messages a window, send() batches of ${BATCH}, eachMessage, sampling ${sampling}, ${ROUNDS} rounds (warm-up ${WARMUP}), median (lowest-highest), load ${load}`);
  const none = results.none ? median(results.none.map((x) => x.msgsPerSec)) : NaN;
  const rows = [];
  for (const mode of MODES) {
    const rates = results[mode].map((x) => x.msgsPerSec);
    const cpus = results[mode].map((x) => x.cpuUsPerMsg);
    const m = median(rates);
    const cpu = median(cpus);
    console.log(
      `${mode.padEnd(12)} ${m.toFixed(0).padStart(7)} msg/s (${spread(rates, 0)})  ${((100 * m) / none).toFixed(1)}% of none  ${cpu.toFixed(1).padStart(6)} us CPU/msg (${spread(cpus, 1)})  spans/window ${results[mode][0].spans}`,
    );
    rows.push({ group: 'node-kafkajs', row: `kafkajs producer+consumer end to end, ${N} msgs, eachMessage`, mode, sampling, value: Math.round(m), unit: 'msg/s', cpu_us_per_msg: +cpu.toFixed(2) });
  }
  if (results.peer && results['kafka-trace']) {
    // Paired within a round (the two windows of one round are seconds apart): CPU peer / ours.
    const ratios = results.peer.map((p, i) => p.cpuUsPerMsg / results['kafka-trace'][i].cpuUsPerMsg);
    const rateRatios = results.peer.map((p, i) => results['kafka-trace'][i].msgsPerSec / p.msgsPerSec);
    console.log(`kafka-trace vs peer, per round: CPU ${median(ratios).toFixed(3)}x (${spread(ratios, 3)}), msg/s ${median(rateRatios).toFixed(3)}x (${spread(rateRatios, 3)})`);
  }
  for (const row of rows) console.log(`BENCH_ROW ${JSON.stringify(row)}`);
}

async function worker(mode, BATCH) {
  const api = require('@opentelemetry/api');
  let spans = 0;
  let floorTracer;
  let flush = async () => {};
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
      instrumentation = new (require(process.env.KT_PACKAGE || '..').KafkaJsInstrumentation)();
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
    if (instrumentation) registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });
    flush = () => provider.forceFlush();
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
  let target = Infinity;
  let done;
  const joined = new Promise((r) => consumer.on(consumer.events.GROUP_JOIN, r));
  let handler = async ({ message }) => {
    if (++received === target) done(performance.now());
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
  let sent = 0;

  /** One measured window: n messages produced and consumed. */
  async function window(n) {
    const all = new Promise((r) => (done = r));
    target = received + n;
    const spans0 = spans;
    const hr0 = Number(process.hrtime.bigint() / 1000n);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    // one request span per send(), as an HTTP handler producing a batch would have
    for (let i = 0; i < n; i += BATCH) {
      const messages = [];
      for (let j = i; j < Math.min(n, i + BATCH); j++) messages.push({ key: `k${sent + j}`, value, headers: { 'content-type': 'application/octet-stream' } });
      const span = tracer.startSpan('request');
      await api.context.with(api.trace.setSpan(api.context.active(), span), () => send(messages));
      span.end();
    }
    sent += n;
    const t1 = await all;
    const cpu = process.cpuUsage(cpu0);
    const hr1 = Number(process.hrtime.bigint() / 1000n);
    await flush();
    const ms = t1 - t0;
    return { mode, hr0, hr1, ms, msgsPerSec: (n * 1000) / ms, cpuUsPerMsg: (cpu.user + cpu.system) / n, spans: spans - spans0 };
  }

  // The parent gone (killed, or its output closed): nothing will ask for another window.
  process.on('disconnect', () => process.exit(0));
  process.on('message', async (m) => {
    if (m.run) {
      process.send(await window(m.run));
    } else if (m.stop) {
      await flush();
      await consumer.disconnect();
      await producer.disconnect();
      process.send({ stopped: true }, () => process.disconnect());
    }
  });
  process.send({ ready: true });
}
