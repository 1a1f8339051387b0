// Extract and inject on KafkaJS headers, side by side in one process:
// kafka-trace (native core) vs @opentelemetry/core's W3CTraceContextPropagator with a
// Buffer-decoding getter. Rounds alternate between the contenders; the median of the rounds is
// reported. Usage: node bench/propagation.js [iterations-per-round=200000] [rounds=7]
// Output: the human table, then one `BENCH_ROW {json}` line per case on stdout (group node-codec,
// value = median wall ns/op, cpu_us_per_msg = median process CPU time per op in microseconds,
// which is what to compare on a loaded machine). The single-message inject rows inject a fresh
// span context per op (4,096 of them, the same ids on both sides; see codec-setup.js).
'use strict';
const { ROOT_CONTEXT, trace, defaultTextMapSetter } = require('@opentelemetry/api');
const { kt, headers, bufferGetter, w3c, oursCtx, w3cCtx, FRESH, oursFresh, w3cFresh, freshHeaders } = require('./codec-setup');

const N = Number(process.argv[2] || 200000);
const ROUNDS = Number(process.argv[3] || 7);
const ours = new kt.KafkaTracePropagator();

// Both sides must read and write the same thing.
const a = trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, headers));
const b = trace.getSpanContext(w3c.extract(ROOT_CONTEXT, headers, bufferGetter));
if (a.traceId !== b.traceId || a.spanId !== b.spanId || a.traceState.serialize() !== b.traceState.serialize()) throw new Error('extract disagrees');
const ha = {};
kt.injectKafka(oursCtx, ha);
const hb = {};
w3c.inject(w3cCtx, hb, defaultTextMapSetter);
if (JSON.stringify(ha) !== JSON.stringify(hb)) throw new Error(`inject disagrees: ${JSON.stringify(ha)} vs ${JSON.stringify(hb)}`);

// The headers of a 100-message send, message by message (the instrumentation writes a whole
// send in one native call).
const SEND = 100;
const sendContexts = [];
for (let i = 0; i < SEND; i++) sendContexts.push(trace.setSpanContext(ROOT_CONTEXT, { ...trace.getSpanContext(oursCtx), spanId: (i + 1).toString(16).padStart(16, '0') }));
const w3cSendContexts = sendContexts.map((c) => trace.setSpanContext(ROOT_CONTEXT, { ...trace.getSpanContext(c), traceState: trace.getSpanContext(w3cCtx).traceState }));
const rawGetter = { keys: (c) => Object.keys(c), get: (c, k) => c[k] };

let op = 0;

const cases = {
  'extract: kafka-trace extractKafka (KafkaJS headers)': () => kt.extractKafka(ROOT_CONTEXT, headers),
  'extract: kafka-trace KafkaTracePropagator (raw Buffer getter)': () => ours.extract(ROOT_CONTEXT, headers, rawGetter),
  'extract: @opentelemetry/core W3CTraceContextPropagator (Buffer getter)': () => w3c.extract(ROOT_CONTEXT, headers, bufferGetter),
  'inject: kafka-trace injectKafka (KafkaJS headers)': () => kt.injectKafka(oursFresh[op++ & (FRESH - 1)], {}),
  'inject: kafka-trace KafkaTracePropagator': () => ours.inject(oursFresh[op++ & (FRESH - 1)], {}, defaultTextMapSetter),
  'inject: @opentelemetry/core W3CTraceContextPropagator': () => w3c.inject(w3cFresh[op++ & (FRESH - 1)], {}, defaultTextMapSetter),
  'inject x100 (one send): kafka-trace injectKafka': () => {
    for (let i = 0; i < SEND; i++) kt.injectKafka(sendContexts[i], {});
  },
  'inject x100 (one send): @opentelemetry/core W3CTraceContextPropagator': () => {
    for (let i = 0; i < SEND; i++) w3c.inject(w3cSendContexts[i], {}, defaultTextMapSetter);
  },
  // A new message per op (a new span id, one trace: the messages of one send); the rows above
  // extract one message over and over, which the addon answers as "the same parent".
  'extract, a new message per op: kafka-trace extractKafka': () => kt.extractKafka(ROOT_CONTEXT, freshHeaders[op++ & (FRESH - 1)]),
  'extract, a new message per op: @opentelemetry/core W3CTraceContextPropagator': () => w3c.extract(ROOT_CONTEXT, freshHeaders[op++ & (FRESH - 1)], bufferGetter),
};

let sink = 0;
function round(fn, name) {
  const x100 = name.includes('x100');
  const n = x100 ? Math.max(1, Math.floor(N / SEND)) : N;
  const ops = x100 ? n * SEND : n;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink ^= fn() ? 1 : 0;
  const wall = Number(process.hrtime.bigint() - t0) / ops;
  const c = process.cpuUsage(c0);
  return { wall, cpu: ((c.user + c.system) * 1000) / ops };
}
for (const [k, fn] of Object.entries(cases)) round(fn, k); // warm up
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) for (const [k, fn] of Object.entries(cases)) samples[k].push(round(fn, k));
const median = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
const result = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, { wall: median(xs.map((x) => x.wall)), cpu: median(xs.map((x) => x.cpu)) }]));
console.log(`node ${process.version}, ${N} iterations x ${ROUNDS} rounds, median ns/op wall (CPU) (x100 cases: per message)`);
for (const [k, v] of Object.entries(result)) console.log(`${v.wall.toFixed(0).padStart(7)} (${v.cpu.toFixed(0).padStart(6)})  ${k}`);
const keys = Object.keys(result);
const ratio = (peer, ours) => `${(result[keys[peer]].wall / result[keys[ours]].wall).toFixed(2)}x (CPU ${(result[keys[peer]].cpu / result[keys[ours]].cpu).toFixed(2)}x)`;
console.log(`extract speed-up vs W3CTraceContextPropagator: ${ratio(2, 0)} extractKafka, ${ratio(2, 1)} propagator`);
console.log(`extract speed-up, a new message per op: ${ratio(9, 8)}`);
console.log(`inject  speed-up vs W3CTraceContextPropagator: ${ratio(5, 3)} injectKafka, ${ratio(5, 4)} propagator, ${ratio(7, 6)} 100-message send`);
const rows = {
  [keys[0]]: ['extract KafkaJS Buffer headers (traceparent + 3-member tracestate)', 'kafka-trace'],
  [keys[2]]: ['extract KafkaJS Buffer headers (traceparent + 3-member tracestate)', 'peer'],
  [keys[1]]: ['extract through TextMapPropagator (Buffer getter)', 'kafka-trace'],
  [keys[3]]: ['inject one message into KafkaJS headers', 'kafka-trace'],
  [keys[5]]: ['inject one message into KafkaJS headers', 'peer'],
  [keys[4]]: ['inject through TextMapPropagator', 'kafka-trace'],
  [keys[6]]: ['inject per message, 100-message send', 'kafka-trace'],
  [keys[7]]: ['inject per message, 100-message send', 'peer'],
  [keys[8]]: ['extract KafkaJS Buffer headers, a new message (span id) per op', 'kafka-trace'],
  [keys[9]]: ['extract KafkaJS Buffer headers, a new message (span id) per op', 'peer'],
};
for (const [k, [row, mode]] of Object.entries(rows)) {
  const r = result[k];
  console.log(`BENCH_ROW ${JSON.stringify({ group: 'node-codec', row, mode, sampling: 'full', value: +r.wall.toFixed(1), unit: 'ns/op', cpu_us_per_msg: +(r.cpu / 1000).toFixed(4) })}`);
}
if (sink === 42) console.log('');
