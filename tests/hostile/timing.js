// What hostile headers cost in the Node binding (a measurement, not a test; run by
// tests/hostile/timing.sh from an app with kafka-trace installed): extractKafka, injectKafka and a
// whole process span (KafkaTracing.eachMessage) with a 1 MB tracestate, 10,000 headers and a
// traceparent array of 1,000 values. Median and max of 50 runs, in ms.
'use strict';
const { trace, ROOT_CONTEXT } = require('@opentelemetry/api');
const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
const kt = require('kafka-trace');

const TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const STATE = Buffer.from('a=' + 'x'.repeat(255) + ',' + Array.from({ length: 4000 }, (_, i) => `k${i}=${'y'.repeat(250)}`).join(','));
const MB = { traceparent: Buffer.from(TP), tracestate: STATE };
const MANY = { traceparent: Buffer.from(TP) };
for (let i = 0; i < 10000; i++) MANY[`h${i}`] = Buffer.from('v');
const COPIES = { traceparent: Array.from({ length: 1000 }, () => Buffer.from(TP)) };
const tracer = new BasicTracerProvider().getTracer('timing');
const tracing = new kt.KafkaTracing({}, { tracer, meter: null });
const ctx = trace.setSpan(ROOT_CONTEXT, tracer.startSpan('parent'));

function timed(name, f) {
  const runs = [];
  for (let i = 0; i < 50; i++) {
    const t = process.hrtime.bigint();
    f();
    runs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  runs.sort((a, b) => a - b);
  console.log(`node ${name}: median ${runs[25].toFixed(3)} ms, max ${runs[49].toFixed(3)} ms`);
}
const processSpan = (headers) => tracing.eachMessage({ topic: 't', partition: 0, message: { headers, value: Buffer.from('v'), offset: '1' } }, () => 0);

timed('extract, 1 MB tracestate', () => kt.extractKafka(ROOT_CONTEXT, MB));
timed('extract + read the tracestate, 1 MB', () => trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, MB)).traceState.serialize());
timed('extract, 10,000 headers', () => kt.extractKafka(ROOT_CONTEXT, MANY));
timed('extract, traceparent array of 1,000', () => kt.extractKafka(ROOT_CONTEXT, COPIES));
const target = { ...MANY };
timed('inject into 10,000 headers (traceparent first)', () => kt.injectKafka(ctx, target));
const last = {};
for (let i = 0; i < 10000; i++) last[`h${i}`] = Buffer.from('v');
last.traceparent = Buffer.from(TP);
timed('inject into 10,000 headers (traceparent last)', () => kt.injectKafka(ctx, last));
const none = {};
for (let i = 0; i < 10000; i++) none[`h${i}`] = Buffer.from('v');
timed('inject into 10,000 headers (no traceparent yet; appended once)', () => kt.injectKafka(ctx, none));
timed('process span, 1 MB tracestate', () => processSpan(MB));
timed('process span, 10,000 headers', () => processSpan(MANY));
