// The span-model vectors (core/testdata/span_model_vectors.json, schema in SPAN_MODEL_VECTORS.md)
// through the package's public API, unchanged: every case runs through `KafkaTracing` (the
// executor the KafkaJS patches use) with KafkaJS-shaped records and payloads, on an SDK with the
// sampler ParentBased(AlwaysOn), an InMemorySpanExporter and an in-memory metric exporter read by
// a PeriodicExportingMetricReader (collected by hand). One test per case.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { trace, context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor, ParentBasedSampler, AlwaysOnSampler } = require('@opentelemetry/sdk-trace');
const { MeterProvider, InMemoryMetricExporter, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const kt = require('kafka-trace');

const VECTORS = process.env.KT_SPAN_VECTORS || path.join(__dirname, '..', '..', '..', 'core', 'testdata', 'span_model_vectors.json');
const doc = JSON.parse(fs.readFileSync(VECTORS, 'utf8'));

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const KINDS = { producer: SpanKind.PRODUCER, consumer: SpanKind.CONSUMER, client: SpanKind.CLIENT };
const camel = Object.fromEntries(kt.NAMES.optionNames.map(([snake, c]) => [snake, c]));

/** Options and client of a case, spelled as the core's OPTION_NAMES give them to Node. */
function optionsOf(c) {
  const out = {};
  for (const [k, v] of Object.entries({ ...c.options, ...c.client })) {
    assert.ok(camel[k], `option ${k} is in the core's OPTION_NAMES`);
    out[camel[k]] = v;
  }
  return out;
}

function bytesOf(h) {
  if (typeof h.value === 'string') return Buffer.from(h.value, 'utf8');
  if (typeof h.value_hex === 'string') return Buffer.from(h.value_hex, 'hex');
  return null;
}

/** A header list as KafkaJS hands it over: an object, repeated names as arrays. */
function asKafkaObject(headers) {
  const obj = {};
  for (const h of headers) {
    const v = bytesOf(h);
    if (Object.prototype.hasOwnProperty.call(obj, h.name)) obj[h.name] = [].concat(obj[h.name], [v]);
    else obj[h.name] = v;
  }
  return obj;
}

/** A KafkaJS headers object back to a list of [name, text or null]. */
function listOf(obj) {
  const out = [];
  for (const [name, v] of Object.entries(obj ?? {})) {
    for (const x of Array.isArray(v) ? v : [v]) out.push([name, x === null || x === undefined ? null : Buffer.from(x).toString('latin1')]);
  }
  return out;
}

function kafkaMessage(m) {
  const msg = {
    value: m.value_len === null ? null : Buffer.alloc(m.value_len ?? 0, 0x61),
    headers: asKafkaObject(m.headers ?? []),
  };
  if (typeof m.key === 'string') msg.key = m.key;
  else if (typeof m.key_hex === 'string') msg.key = Buffer.from(m.key_hex, 'hex');
  if (typeof m.timestamp_ms === 'number') msg.timestamp = String(m.timestamp_ms);
  if (typeof m.offset === 'number') msg.offset = String(m.offset);
  return msg;
}

function errorNamed(name) {
  const e = new Error(`vector error ${name}`);
  e.name = name;
  return e;
}

function valueOf(typed) {
  const [kind, v] = Object.entries(typed)[0];
  assert.ok(['string', 'int', 'double', 'bool'].includes(kind), `value kind ${kind}`);
  return v;
}
const attrsOf = (typed) => Object.fromEntries(Object.entries(typed).map(([k, v]) => [k, valueOf(v)]));
const sortedEntries = (o) => Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** ParentBased(AlwaysOn), recording the attribute keys it is given at each span's start, by span name. */
class KeyRecordingSampler {
  constructor() {
    this.inner = new ParentBasedSampler({ root: new AlwaysOnSampler() });
    this.keys = new Map();
  }
  shouldSample(ctx, traceId, name, kind, attributes, links) {
    if (!this.keys.has(name)) this.keys.set(name, []);
    this.keys.get(name).push(Object.keys(attributes ?? {}));
    return this.inner.shouldSample(ctx, traceId, name, kind, attributes, links);
  }
  toString() {
    return `KeyRecording{${this.inner.toString()}}`;
  }
}

async function runCase(c) {
  const exporter = new InMemorySpanExporter();
  const sampler = new KeyRecordingSampler();
  const provider = new TracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const tracer = provider.getTracer('runner');
  const run = { sendSpans: [], handlerBaggage: undefined, handlerRan: false, headersOut: undefined };
  const tracing = new kt.KafkaTracing(optionsOf(c), {
    tracer: provider.getTracer('kafka-trace'),
    meter: meterProvider.getMeter('kafka-trace'),
    producerHook: (span) => run.sendSpans.push(span.spanContext()),
  });
  // The forward's producer: the same options, its own metrics stay out of the case's.
  const forwarder = new kt.KafkaTracing(optionsOf(c), {
    tracer: provider.getTracer('kafka-trace'),
    meter: null,
    producerHook: (span) => run.sendSpans.push(span.spanContext()),
  });

  // The ambient context.
  let ambient = ROOT_CONTEXT;
  let ambientSpan;
  if (c.ambient?.span) {
    ambientSpan = tracer.startSpan('ambient', {}, ROOT_CONTEXT);
    ambient = trace.setSpan(ambient, ambientSpan);
  }
  if (c.ambient?.baggage?.length) {
    ambient = propagation.setBaggage(ambient, propagation.createBaggage(Object.fromEntries(c.ambient.baggage.map(([k, v]) => [k, { value: v }]))));
  }
  let pollSpan;
  const r = c.result;

  const handler = async (message) => {
    run.handlerRan = true;
    const bag = propagation.getBaggage(context.active());
    run.handlerBaggage = bag ? bag.getAllEntries().map(([k, e]) => [k, e.value]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : [];
    if (c.forward) {
      const out = { value: message.value, headers: message.headers };
      if (message.key !== undefined) out.key = message.key;
      await forwarder.send([{ topic: c.forward.topic, messages: [out] }], async () => [{ topicName: c.forward.topic, partition: 0, errorCode: 0, baseOffset: '0' }]);
      run.headersOut = listOf(out.headers);
    }
    if (r.kind === 'raised') throw errorNamed(r.error_type);
  };

  await context.with(ambient, async () => {
    if (c.operation === 'send') {
      const m = kafkaMessage(c.message);
      if (typeof c.message.partition === 'number') m.partition = c.message.partition;
      const ack = async () => {
        if (r.kind === 'send_failed') throw errorNamed(r.error_type);
        return [{ topicName: c.message.topic, partition: r.partition, errorCode: 0, baseOffset: String(r.offset) }];
      };
      await tracing.send([{ topic: c.message.topic, messages: [m] }], ack).catch((e) => assert.equal(r.kind, 'send_failed', String(e)));
      run.headersOut = listOf(m.headers);
    } else if (c.operation === 'process') {
      const m = kafkaMessage(c.message);
      const payload = { topic: c.message.topic, partition: c.message.partition ?? -1, message: m };
      await tracing.eachMessage(payload, () => handler(m)).catch((e) => assert.equal(r.kind, 'raised', String(e)));
    } else if (c.operation === 'batch_process') {
      pollSpan = tracer.startSpan('poll-source', {}, ROOT_CONTEXT);
      const m = kafkaMessage(c.message);
      const payload = { batch: { topic: c.message.topic, partition: c.message.partition ?? -1, messages: [m] } };
      const batchHandler = async () => {
        for (const msg of payload.batch.messages) {
          await kt.withMessageSpan(msg, () => handler(msg)).catch((e) => assert.equal(r.kind, 'raised', String(e)));
        }
      };
      await tracing.eachBatch(payload, batchHandler, trace.setSpan(ROOT_CONTEXT, pollSpan));
    } else if (c.operation === 'poll') {
      const receive = async () => {
        if (r.kind === 'poll_failed') throw errorNamed(r.error_type);
        return new Array(c.poll.message_count).fill({});
      };
      await tracing.poll(c.poll.topics, receive).catch((e) => assert.equal(r.kind, 'poll_failed', String(e)));
    } else {
      assert.fail(`unknown operation ${c.operation}`);
    }
  });
  ambientSpan?.end();
  pollSpan?.end();

  // ---- checks
  const expect = c.expect;
  const runnerNames = new Set(['ambient', 'poll-source']);
  const forwardName = c.forward ? `send ${c.forward.topic}` : undefined;
  const spans = exporter.getFinishedSpans().filter((s) => !runnerNames.has(s.name) && !(forwardName && s.name === forwardName && s.kind === SpanKind.PRODUCER && c.operation !== 'send'));
  if (c.operation !== 'send' && c.operation !== 'poll') assert.ok(run.handlerRan, 'the handler ran');

  if (!expect.traced || expect.span === null) {
    assert.deepEqual(spans.map((s) => s.name), [], 'no exported span');
  } else {
    assert.equal(spans.length, 1, `exactly one span, got ${spans.map((s) => s.name)}`);
    const s = spans[0];
    const want = expect.span;
    assert.equal(s.name, want.name);
    assert.equal(s.kind, KINDS[want.kind]);
    assert.deepEqual(sortedEntries(s.attributes), sortedEntries(attrsOf(want.attributes)), 'attributes');
    // The sampler saw exactly the core's sampling attributes, in order, once for this span.
    assert.ok(Array.isArray(want.sampler_keys), 'the vector has sampler_keys');
    assert.deepEqual(sampler.keys.get(want.name), [want.sampler_keys], 'sampler keys');
    if (want.status.code === 'error') assert.deepEqual([s.status.code, s.status.message], [SpanStatusCode.ERROR, want.status.description], 'status');
    else assert.equal(s.status.code, SpanStatusCode.UNSET, 'status');
    const remote = c.message ? kt.headerList.extract(c.message.headers.flatMap((h) => [h.name, bytesOf(h)])).traceparent : null;
    const idsOf = (name) => {
      if (name === 'ambient') return ambientSpan && [ambientSpan.spanContext().traceId, ambientSpan.spanContext().spanId];
      if (name === 'poll') return pollSpan && [pollSpan.spanContext().traceId, pollSpan.spanContext().spanId];
      if (name === 'remote') return remote && [remote[1], remote[2]];
      return undefined;
    };
    if (want.parent === 'none') assert.equal(s.parentSpanContext, undefined, 'a root span');
    else {
      assert.ok(s.parentSpanContext, `a parent (${want.parent})`);
      assert.deepEqual([s.spanContext().traceId, s.parentSpanContext.spanId], idsOf(want.parent), `parent ${want.parent}`);
    }
    assert.deepEqual(s.links.map((l) => [l.context.traceId, l.context.spanId]), want.links.map(idsOf), 'links');
  }

  if (expect.handler_baggage !== undefined) assert.deepEqual(run.handlerBaggage, expect.handler_baggage, 'handler baggage');

  // metrics: the exact set of data points
  await reader.forceFlush();
  const exported = metricExporter.getMetrics();
  const points = [];
  const last = exported[exported.length - 1];
  for (const sm of last?.scopeMetrics ?? []) {
    for (const m of sm.metrics) {
      for (const d of m.dataPoints) {
        const histogram = typeof d.value === 'object';
        const count = histogram ? d.value.count : d.value;
        if (count === 0) continue;
        points.push({ name: m.descriptor.name, kind: histogram ? 'histogram' : 'counter', attributes: sortedEntries(d.attributes), count, value: histogram ? d.value.sum : d.value });
      }
    }
  }
  const wantPoints = expect.metrics.map((m) => ({ name: m.name, kind: m.kind, attributes: sortedEntries(attrsOf(m.attributes)), count: m.count }));
  const key = (p) => JSON.stringify([p.name, p.kind, p.attributes, p.count]);
  assert.deepEqual(points.map(key).sort(), wantPoints.map(key).sort(), 'metric data points');
  for (const p of points) {
    if (p.name === 'kafka_trace.e2e.latency') assert.equal(p.value, 0, 'e2e latency of a far-future timestamp');
    if (p.kind === 'counter') assert.equal(p.value, p.count);
  }

  // headers
  if (expect.headers_out !== undefined) {
    const spanIds = run.sendSpans.map((sc) => sc.spanId);
    assert.ok(spanIds.length <= 1, 'one send span at most');
    const got = run.headersOut;
    assert.ok(got, 'the headers went out');
    const send = run.sendSpans[0];
    const want = expect.headers_out.map((h) => {
      let v = h.value_hex !== undefined ? Buffer.from(h.value_hex, 'hex').toString('latin1') : h.value;
      if (typeof v === 'string' && /\{span\}|\{trace\}/.test(v)) {
        assert.ok(send, 'a send span wrote the placeholders');
        v = v.replace('{span}', send.spanId).replace('{trace}', send.traceId);
      }
      return [h.name, v];
    });
    if (send) {
      // the span that wrote the headers: a fresh, valid span id (exported or not)
      assert.match(send.spanId, /^[0-9a-f]{16}$/);
      assert.notEqual(send.spanId, '0'.repeat(16));
      for (const h of c.message?.headers ?? []) if (typeof h.value === 'string') assert.ok(!h.value.includes(send.spanId), 'a new span id');
    }
    const baggageSet = (list) => list.map(([n, v]) => (n === 'baggage' && v !== null ? [n, v.split(',').sort().join(',')] : [n, v]));
    assert.deepEqual(baggageSet(got), baggageSet(want), 'headers out');
  }
  await meterProvider.shutdown();
  await provider.shutdown();
}

test('span-model vectors: schema, size, and a tampered file fails', async () => {
  assert.equal(doc.schema_version, 1);
  assert.ok(doc.cases.length >= 60, `only ${doc.cases.length} cases`);
  assert.equal(new Set(doc.cases.map((c) => c.name)).size, doc.cases.length, 'unique names');
  // a tampered expectation is caught: one case with a changed span name must fail
  const tampered = structuredClone(doc.cases.find((c) => c.expect.span));
  tampered.expect.span.name += ' (tampered)';
  await assert.rejects(runCase(tampered));
});

for (const c of doc.cases) {
  test(`span-model vector ${c.name}`, () => runCase(c));
}
