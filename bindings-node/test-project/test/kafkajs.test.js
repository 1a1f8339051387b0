// KafkaJS against the real broker ($KAFKA_BOOTSTRAP): exact parent chains, attributes, headers,
// batches, transactions, forwarding, malformed headers, metrics.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { trace, context, SpanKind, ROOT_CONTEXT } = require('@opentelemetry/api');
const { setup, waitFor, freshTopic, startConsumer, spansOf, metricPoints, BOOTSTRAP } = require('../support/helpers');
const kt = require('kafka-trace');

const { exporter, reader, kafka, tracer, instrumentation } = setup();
const [HOST, PORT] = BOOTSTRAP.split(':');
const consumers = [];
let producer;

test.before(async () => {
  producer = kafka.producer();
  await producer.connect();
});
test.after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
  await producer.disconnect().catch(() => {});
});

const hexOf = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString());

test('eachMessage: request -> send -> process -> handler child, exact attributes and headers', async () => {
  const topic = await freshTopic(kafka, 'single');
  const seen = [];
  consumers.push(
    await startConsumer(kafka, topic, {
      eachMessage: async ({ message }) => {
        const inner = tracer.startSpan('handler-work');
        inner.end();
        seen.push({ headers: { ...message.headers }, active: trace.getActiveSpan()?.spanContext(), inner: inner.spanContext() });
      },
    }),
  );
  const request = tracer.startSpan('request');
  const meta = await context.with(trace.setSpan(ROOT_CONTEXT, request), () =>
    producer.send({ topic, messages: [{ key: 'k-1', value: 'hello', headers: { other: 'x' } }] }),
  );
  request.end();
  await waitFor('the message', () => seen.length === 1 && spansOf(exporter, (s) => s.name === `process ${topic}`).length === 1);

  const send = spansOf(exporter, (s) => s.name === `send ${topic}`);
  assert.equal(send.length, 1);
  const s = send[0];
  const traceId = request.spanContext().traceId;
  assert.equal(s.kind, SpanKind.PRODUCER);
  assert.equal(s.spanContext().traceId, traceId);
  assert.equal(s.parentSpanContext.spanId, request.spanContext().spanId);
  const offset = Number(meta[0].baseOffset);
  assert.deepEqual(s.attributes, {
    'messaging.system': 'kafka',
    'messaging.operation.name': 'send',
    'messaging.operation.type': 'send',
    'messaging.client.id': 'kt-test',
    'server.address': HOST,
    'server.port': Number(PORT),
    'messaging.destination.name': topic,
    'messaging.kafka.message.key': 'k-1',
    'messaging.destination.partition.id': '0',
    'messaging.kafka.offset': offset,
  });
  // exact bytes on the wire: our traceparent, the other header kept, nothing else
  const got = seen[0].headers;
  assert.deepEqual(Object.keys(got), ['other', 'traceparent']);
  assert.equal(hexOf(got.traceparent), `00-${traceId}-${s.spanContext().spanId}-01`);
  assert.equal(hexOf(got.other), 'x');

  const p = spansOf(exporter, (x) => x.name === `process ${topic}`)[0];
  assert.equal(p.kind, SpanKind.CONSUMER);
  assert.equal(p.spanContext().traceId, traceId);
  assert.equal(p.parentSpanContext.spanId, s.spanContext().spanId);
  assert.equal(p.parentSpanContext.isRemote, true);
  const e2e = p.attributes['kafka_trace.e2e_latency_ms'];
  assert.ok(typeof e2e === 'number' && e2e >= 0 && e2e < 30000, `e2e ${e2e}`);
  assert.deepEqual(p.attributes, {
    'messaging.system': 'kafka',
    'messaging.operation.name': 'process',
    'messaging.operation.type': 'process',
    'messaging.client.id': 'kt-test',
    'server.address': HOST,
    'server.port': Number(PORT),
    'messaging.destination.name': topic,
    'messaging.destination.partition.id': '0',
    'messaging.kafka.offset': offset,
    'messaging.kafka.message.key': 'k-1',
    'messaging.consumer.group.name': `g-${topic}`,
    'kafka_trace.e2e_latency_ms': e2e,
  });
  assert.deepEqual(p.links, []);
  // the handler ran inside the process span
  assert.equal(seen[0].active.spanId, p.spanContext().spanId);
  const inner = spansOf(exporter, (x) => x.spanContext().spanId === seen[0].inner.spanId)[0];
  assert.equal(inner.parentSpanContext.spanId, p.spanContext().spanId);

  // metrics, names from the core
  const sent = (await metricPoints(reader, 'messaging.client.sent.messages')).filter((d) => d.attributes['messaging.destination.name'] === topic);
  assert.equal(sent.reduce((a, d) => a + d.value, 0), 1);
  const consumed = (await metricPoints(reader, 'messaging.client.consumed.messages')).filter((d) => d.attributes['messaging.destination.name'] === topic);
  assert.equal(consumed.reduce((a, d) => a + d.value, 0), 1);
  assert.equal(consumed[0].attributes['messaging.consumer.group.name'], `g-${topic}`);
  const proc = (await metricPoints(reader, 'messaging.process.duration')).filter((d) => d.attributes['messaging.destination.name'] === topic);
  assert.equal(proc[0].value.count, 1);
});

test('eachBatch: one process span per message with its own parent; no poll span (KafkaJS has no receive call to time)', async () => {
  const topic = await freshTopic(kafka, 'batch');
  const roots = [];
  for (let i = 0; i < 3; i++) {
    const root = tracer.startSpan(`root-${i}`, {}, ROOT_CONTEXT);
    roots.push(root);
  }
  // produce all three in one sendBatch, each under its own trace? sendBatch has one ambient
  // context, so send them one by one, then consume them as one batch.
  for (let i = 0; i < 3; i++) {
    await context.with(trace.setSpan(ROOT_CONTEXT, roots[i]), () => producer.send({ topic, messages: [{ key: `k${i}`, value: `v${i}` }] }));
    roots[i].end();
  }
  const work = [];
  let batches = 0;
  consumers.push(
    await startConsumer(kafka, topic, {
      eachBatch: async ({ batch, resolveOffset }) => {
        batches++;
        for (const m of batch.messages) {
          await kt.withMessageSpan(m, async () => {
            const w = tracer.startSpan(`work-${hexOf(m.key)}`);
            w.end();
            work.push(w.spanContext().spanId);
          });
          resolveOffset(m.offset);
        }
      },
    }),
  );
  await waitFor('three process spans', () => spansOf(exporter, (s) => s.name === `process ${topic}`).length === 3 && work.length === 3);
  assert.ok(batches >= 1);
  assert.equal(spansOf(exporter, (s) => s.name.startsWith('poll')).length, 0, 'no poll span: KafkaJS fetches internally');
  const sends = spansOf(exporter, (s) => s.name === `send ${topic}`);
  const procs = spansOf(exporter, (s) => s.name === `process ${topic}`);
  for (let i = 0; i < 3; i++) {
    const send = sends.find((s) => s.attributes['messaging.kafka.message.key'] === `k${i}`);
    const proc = procs.find((s) => s.attributes['messaging.kafka.message.key'] === `k${i}`);
    assert.equal(send.parentSpanContext.spanId, roots[i].spanContext().spanId);
    assert.equal(proc.spanContext().traceId, roots[i].spanContext().traceId, `message ${i} keeps its own trace`);
    assert.equal(proc.parentSpanContext.spanId, send.spanContext().spanId);
    // the poll source is the context current when eachBatch is called: KafkaJS has none
    assert.deepEqual(proc.links, []);
    assert.equal(proc.attributes['messaging.consumer.group.name'], `g-${topic}`);
    assert.equal(proc.attributes['messaging.kafka.offset'], i);
    const w = spansOf(exporter, (s) => s.name === `work-k${i}`)[0];
    assert.equal(w.parentSpanContext.spanId, proc.spanContext().spanId, 'work inside the batch handler is a child of its message');
  }
});

test('transactions: send inside a committed transaction is traced and continued', async () => {
  const topic = await freshTopic(kafka, 'tx');
  const txProducer = kafka.producer({ transactionalId: `tx-${topic}`, idempotent: true, maxInFlightRequests: 1 });
  await txProducer.connect();
  const got = [];
  consumers.push(await startConsumer(kafka, topic, { eachMessage: async ({ message }) => void got.push(message) }, { readUncommitted: false }));
  const root = tracer.startSpan('tx-root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), async () => {
    const tx = await txProducer.transaction();
    await tx.send({ topic, messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2' }] });
    await tx.commit();
  });
  root.end();
  await txProducer.disconnect();
  await waitFor('two committed messages', () => got.length === 2 && spansOf(exporter, (s) => s.name === `process ${topic}`).length === 2);
  const sends = spansOf(exporter, (s) => s.name === `send ${topic}`);
  assert.equal(sends.length, 2);
  for (const s of sends) assert.equal(s.parentSpanContext.spanId, root.spanContext().spanId);
  assert.deepEqual(sends.map((s) => s.attributes['messaging.kafka.offset']).sort(), [0, 1]);
  for (const p of spansOf(exporter, (s) => s.name === `process ${topic}`)) {
    const send = sends.find((s) => s.attributes['messaging.kafka.message.key'] === p.attributes['messaging.kafka.message.key']);
    assert.equal(p.parentSpanContext.spanId, send.spanContext().spanId);
  }
});

test('forwarding a consumed message rewrites its trace headers instead of duplicating them', async () => {
  const inTopic = await freshTopic(kafka, 'fwd-in');
  const outTopic = await freshTopic(kafka, 'fwd-out');
  // produced before any consumer runs, with the instrumentation off: an upstream (untraced here) producer that wrote a mixed-case context and a vendor state
  const upstream = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  instrumentation.disable();
  const raw = kafka.producer();
  await raw.connect();
  await raw.send({ topic: inTopic, messages: [{ value: 'm', headers: { a: '1', TraceParent: upstream, tracestate: 'rojo=1', baggage: 'k=v' } }] });
  await raw.disconnect();
  instrumentation.enable();
  const final = [];
  consumers.push(
    await startConsumer(kafka, inTopic, {
      eachMessage: async ({ message }) => {
        // forward the message as is, headers included (mixed-case copies and all)
        await producer.send({ topic: outTopic, messages: [{ key: message.key, value: message.value, headers: message.headers }] });
      },
    }),
  );
  consumers.push(await startConsumer(kafka, outTopic, { eachMessage: async ({ message }) => void final.push(message) }));
  await waitFor('the forwarded message', () => final.length === 1 && spansOf(exporter, (s) => s.name === `process ${outTopic}`).length === 1);
  const h = final[0].headers;
  assert.deepEqual(Object.keys(h), ['a', 'traceparent', 'tracestate', 'baggage']);
  for (const k of Object.keys(h)) assert.ok(!Array.isArray(h[k]), `${k} is not repeated`);
  const fwdSend = spansOf(exporter, (s) => s.name === `send ${outTopic}`)[0];
  const firstProcess = spansOf(exporter, (s) => s.name === `process ${inTopic}`)[0];
  assert.equal(firstProcess.parentSpanContext.spanId, 'b7ad6b7169203331');
  assert.equal(fwdSend.parentSpanContext.spanId, firstProcess.spanContext().spanId);
  assert.equal(hexOf(h.traceparent), `00-0af7651916cd43dd8448eb211c80319c-${fwdSend.spanContext().spanId}-01`);
  assert.equal(hexOf(h.tracestate), 'rojo=1');
  assert.equal(hexOf(h.baggage), 'k=v');
  assert.equal(hexOf(h.a), '1');
  const last = spansOf(exporter, (s) => s.name === `process ${outTopic}`)[0];
  assert.equal(last.parentSpanContext.spanId, fwdSend.spanContext().spanId);
});

test('malformed, duplicated and non-UTF-8 headers never throw into handlers and start new roots', async () => {
  const topic = await freshTopic(kafka, 'bad');
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const bad = [
    { traceparent: 'garbage' },
    { traceparent: Buffer.from([0xff, 0xfe, 0x00, 0x80]) },
    { traceparent: [tp, 'garbage'] }, // the last header wins, and it is invalid
    { TRACEPARENT: tp.toUpperCase() },
    { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
    { traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'a=1' },
    { traceparent: '', baggage: Buffer.from([0xc3, 0x28, 0x3d]) },
    { tracestate: Buffer.from([0xe2, 0x82]) },
  ];
  // the last traceparent wins (Kafka headers are ordered; Java reads lastHeader)
  const good = [{ traceparent: tp, tracestate: 'Bad Key=1' }, { traceparent: [tp, ` ${tp}\t`] }, { traceparent: ['garbage', tp] }];
  instrumentation.disable();
  const raw = kafka.producer();
  await raw.connect();
  await raw.send({ topic, messages: [...bad, ...good].map((headers, i) => ({ key: `m${i}`, value: 'x', headers })) });
  await raw.disconnect();
  instrumentation.enable();
  const handled = [];
  consumers.push(
    await startConsumer(kafka, topic, {
      eachMessage: async ({ message }) => {
        handled.push(Number(message.offset));
      },
    }),
  );
  const total = bad.length + good.length;
  await waitFor('every message handled', () => handled.length === total && spansOf(exporter, (s) => s.name === `process ${topic}`).length === total);
  assert.deepEqual(handled, [...Array(total).keys()], 'in order, none lost');
  const procs = spansOf(exporter, (s) => s.name === `process ${topic}`);
  for (let i = 0; i < total; i++) {
    const p = procs.find((s) => s.attributes['messaging.kafka.offset'] === i);
    if (i < bad.length) {
      assert.equal(p.parentSpanContext, undefined, `message ${i} starts a new root`);
      assert.notEqual(p.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    } else {
      assert.equal(p.parentSpanContext.spanId, '00f067aa0ba902b7', `message ${i} continues`);
      assert.equal(p.spanContext().traceState?.serialize() ?? '', '', 'a bad tracestate is dropped');
    }
  }
});

test('options: topic filter, key option, old spellings, bad strategy', async () => {
  const tracing = new kt.KafkaTracing({ excludeTopics: ['*.dlq'], recordMessageKey: false });
  assert.equal(tracing.recipes.allows('orders.dlq'), false);
  assert.equal(tracing.recipes.allows('orders'), true);
  const messages = [{ key: 'k', value: 'v' }];
  await tracing.send([{ topic: 'orders.dlq', messages: [{ key: 'd', value: 'v' }] }, { topic: 'orders', messages }], async () => []);
  const sent = spansOf(exporter, (s) => s.name === 'send orders' && s.attributes['messaging.destination.name'] === 'orders');
  assert.equal(sent.length, 1);
  assert.equal(sent[0].attributes['messaging.kafka.message.key'], undefined);
  assert.equal(spansOf(exporter, (s) => s.name === 'send orders.dlq').length, 0);
  assert.ok(messages[0].headers.traceparent, 'the traced message carries a context');
  assert.throws(() => new kt.KafkaJsInstrumentation({ strategy: 'sideways' }), /strategy/);
  // an old spelling still works, with a deprecation warning
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  const old = new kt.KafkaTracing({ brokers: 'old-host:9999', groupId: 'old-group' });
  await new Promise((r) => setImmediate(r));
  process.off('warning', onWarning);
  assert.deepEqual(warnings.map((w) => [w.name, w.message]), [
    ['DeprecationWarning', 'kafka-trace: option "groupId" is deprecated, use "consumerGroup"'],
    ['DeprecationWarning', 'kafka-trace: option "brokers" is deprecated, use "bootstrapServers"'],
  ]);
  await old.send([{ topic: 'old-spelling', messages: [{ value: 'v' }] }], async () => []);
  const s = spansOf(exporter, (x) => x.name === 'send old-spelling')[0];
  assert.equal(s.attributes['server.address'], 'old-host');
  assert.equal(s.attributes['server.port'], 9999);
});

test('strategy link: the process span starts its own trace and links to the producer', async () => {
  const topic = await freshTopic(kafka, 'link');
  const before = instrumentation.getConfig();
  instrumentation.setConfig({ ...before, strategy: 'link' });
  let got = 0;
  try {
    consumers.push(await startConsumer(kafka, topic, { eachMessage: async () => void got++ }));
  } finally {
    instrumentation.setConfig(before);
  }
  const root = tracer.startSpan('link-root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic, messages: [{ value: 'l' }] }));
  root.end();
  await waitFor('the linked process span', () => got === 1 && spansOf(exporter, (s) => s.name === `process ${topic}`).length === 1);
  const send = spansOf(exporter, (s) => s.name === `send ${topic}`)[0];
  const p = spansOf(exporter, (s) => s.name === `process ${topic}`)[0];
  assert.equal(p.parentSpanContext, undefined, 'no ambient span: a new root');
  assert.notEqual(p.spanContext().traceId, root.spanContext().traceId);
  assert.deepEqual(p.links.map((l) => [l.context.traceId, l.context.spanId]), [[send.spanContext().traceId, send.spanContext().spanId]]);
});
