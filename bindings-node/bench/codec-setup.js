// The inputs bench/propagation.js and bench/insns.js share: KafkaJS Buffer headers (traceparent +
// 3-member tracestate + content-type), the peer W3CTraceContextPropagator with a Buffer-decoding
// getter, and contexts to inject on each side. KT_PACKAGE: another build of the package to load
// (e.g. an installed copy of an older one), default this one.
'use strict';
const { ROOT_CONTEXT, trace } = require('@opentelemetry/api');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const kt = require(process.env.KT_PACKAGE || '..');

// What a KafkaJS consumer hands over: Buffer values.
const headers = {
  traceparent: Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
  tracestate: Buffer.from('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,vendor3=abc123'),
  'content-type': Buffer.from('application/json'),
};
const bufferGetter = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    if (v === undefined || v === null) return undefined;
    return Array.isArray(v) ? v.map((x) => x.toString()) : v.toString();
  },
};
const w3c = new W3CTraceContextPropagator();

// Contexts to inject: each side continues the trace it extracted (own TraceState objects), as a
// producer span of a consumer that forwards would.
const child = (ctx) => {
  const sc = trace.getSpanContext(ctx);
  return trace.setSpanContext(ROOT_CONTEXT, { ...sc, spanId: 'b7ad6b7169203331', isRemote: false });
};
const oursCtx = child(kt.extractKafka(ROOT_CONTEXT, headers));
const w3cCtx = child(w3c.extract(ROOT_CONTEXT, headers, bufferGetter));

// Single-message inject: a fresh span per op, as a producer's sends have (one span context
// injected over and over would let the JIT and branch predictor learn its ids); FRESH contexts
// per side (a power of two), the same span ids on both.
const FRESH = 4096;
const freshIds = Array.from({ length: FRESH }, (_, i) => Buffer.from((BigInt(i + 7) * 0x9e3779b97f4a7c15n).toString(16).padStart(16, '0').slice(-16)).toString('latin1'));
const freshOf = (ctx) => freshIds.map((spanId) => trace.setSpanContext(ROOT_CONTEXT, { ...trace.getSpanContext(ctx), spanId }));

// Extract with a fresh message per op: FRESH header sets as a consumer gets them (each its own
// Buffers), the tracestate and content-type as above; `freshHeaders` a new span id per message
// in one trace (the messages of one send), `newTraceHeaders` also a new trace id per message.
const tpOf = (traceId, spanId) => Buffer.from(`00-${traceId}-${spanId}-01`);
const headersOf = (tp) => ({ traceparent: tp, tracestate: Buffer.from(headers.tracestate), 'content-type': Buffer.from(headers['content-type']) });
const freshHeaders = freshIds.map((spanId) => headersOf(tpOf('4bf92f3577b34da6a3ce929d0e0e4736', spanId)));
const newTraceHeaders = freshIds.map((spanId, i) => headersOf(tpOf(freshIds[(i * 7 + 1) & (FRESH - 1)] + spanId, spanId)));

module.exports = { kt, headers, bufferGetter, w3c, oursCtx, w3cCtx, FRESH, oursFresh: freshOf(oursCtx), w3cFresh: freshOf(w3cCtx), freshHeaders, newTraceHeaders };
