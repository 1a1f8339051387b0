// Metrics stay bounded, and the remote parent decides sampling, on the real broker
// ($KAFKA_BOOTSTRAP) through the instrumented KafkaJS producer and consumer.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { trace, context, ROOT_CONTEXT } = require('@opentelemetry/api');
const { setup, waitFor, freshTopic, startConsumer, spansOf, metricPoints } = require('../support/helpers');
const kt = require('kafka-trace');

const { exporter, reader, kafka, tracer, instrumentation } = setup();
const consumers = [];
const producers = [];
test.after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
  for (const p of producers) await p.disconnect().catch(() => {});
});

async function producer() {
  const p = kafka.producer();
  await p.connect();
  producers.push(p);
  return p;
}

const text = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString());

test('1,000 messages over 3 partitions: a handful of series per instrument, only the core metric keys', async () => {
  const topic = await freshTopic(kafka, 'cardinality', 3);
  const N = 1000;
  let handled = 0;
  consumers.push(await startConsumer(kafka, topic, { eachMessage: async () => void handled++ }));
  const p = await producer();
  const root = tracer.startSpan('cardinality-root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), async () => {
    for (let start = 0; start < N; start += 100) {
      const messages = [];
      for (let i = start; i < start + 100; i++) messages.push({ key: `key-${i}`, value: `v${i}`, partition: i % 3 });
      await p.send({ topic, messages });
    }
  });
  root.end();
  await waitFor('1,000 process spans', () => handled === N && spansOf(exporter, (s) => s.name === `process ${topic}`).length === N, 60000);

  const allowed = new Set(kt.NAMES.metricAttributeKeys);
  const names = kt.NAMES.instruments.map((i) => i.name);
  const seriesOf = async (name) => (await metricPoints(reader, name)).filter((d) => d.attributes['messaging.destination.name'] === topic);
  // per instrument: one series per partition (send: the acknowledged one; process: the consumed one)
  const expected = {
    'messaging.client.operation.duration': 3, // sends only: KafkaJS has no receive call to time
    'messaging.client.sent.messages': 3,
    'messaging.client.consumed.messages': 3,
    'messaging.process.duration': 3,
    'kafka_trace.e2e.latency': 3,
  };
  assert.deepEqual(Object.keys(expected).sort(), names.slice().sort(), 'the core names these instruments');
  for (const name of names) {
    const series = await seriesOf(name);
    assert.equal(series.length, expected[name], `${name}: ${series.length} attribute sets`);
    for (const d of series) {
      for (const k of Object.keys(d.attributes)) assert.ok(allowed.has(k), `${name} carries ${k}, outside METRIC_ATTRIBUTE_KEYS`);
      assert.ok(['0', '1', '2'].includes(d.attributes['messaging.destination.partition.id']), `${name} per partition`);
    }
    const total = series.reduce((a, d) => a + (typeof d.value === 'number' ? d.value : d.value.count), 0);
    assert.equal(total, N, `${name} counts every message once`);
  }
  // spans keep the per-message attributes the metrics never carry: the offsets from the core's batch acks
  const sends = spansOf(exporter, (s) => s.name === `send ${topic}`);
  assert.equal(sends.length, N);
  const byPartition = [[], [], []];
  for (const s of sends) byPartition[Number(s.attributes['messaging.destination.partition.id'])].push(s.attributes['messaging.kafka.offset']);
  for (const offsets of byPartition) assert.deepEqual(offsets.sort((a, b) => a - b), [...Array(offsets.length).keys()]);
});

test('an unsampled remote parent: no recorded process span, the forward carries -00 in the same trace', async () => {
  const inTopic = await freshTopic(kafka, 'unsampled-in');
  const outTopic = await freshTopic(kafka, 'unsampled-out');
  const traceId = '5bf92f3577b34da6a3ce929d0e0e4736';
  instrumentation.disable();
  const raw = await producer();
  await raw.send({ topic: inTopic, messages: [{ value: 'u', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-00` } }] });
  instrumentation.enable();
  const p = await producer();
  const final = [];
  const seen = [];
  consumers.push(
    await startConsumer(kafka, inTopic, {
      eachMessage: async ({ message }) => {
        const active = trace.getActiveSpan();
        seen.push({ recording: active?.isRecording(), traceId: active?.spanContext().traceId });
        await p.send({ topic: outTopic, messages: [{ value: message.value }] });
      },
    }),
  );
  consumers.push(await startConsumer(kafka, outTopic, { eachMessage: async ({ message }) => void final.push(message) }));
  await waitFor('the forwarded message', () => final.length === 1);
  assert.deepEqual(seen, [{ recording: false, traceId }], 'the handler runs in a non-recording process span of the remote trace');
  const tp = text(final[0].headers.traceparent);
  assert.match(tp, new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
  assert.notEqual(tp.slice(36, 52), '00f067aa0ba902b7');
  assert.equal(spansOf(exporter, (s) => s.name === `process ${inTopic}`).length, 0, 'no recorded process span');
  assert.equal(spansOf(exporter, (s) => s.name === `send ${outTopic}`).length, 0, 'no recorded forward send span');
});

test('Level 2: a send inside a handler keeps the random flag and every tracestate member the core accepted', async () => {
  const inTopic = await freshTopic(kafka, 'level2-in');
  const outTopic = await freshTopic(kafka, 'level2-out');
  const traceId = '6bf92f3577b34da6a3ce929d0e0e4736';
  // a multi-tenant key with a 241-character tenant: valid under Level 2, refused by the JS SDK's TraceState grammar
  const longKey = `${'t'.repeat(241)}@vendor`;
  const tracestate = `${longKey}=v1,rojo=00f067aa0ba902b7`;
  instrumentation.disable();
  const raw = await producer();
  await raw.send({ topic: inTopic, messages: [{ value: 'l2', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-03`, tracestate } }] });
  instrumentation.enable();
  const p = await producer();
  const final = [];
  consumers.push(await startConsumer(kafka, inTopic, { eachMessage: async ({ message }) => void (await p.send({ topic: outTopic, messages: [{ value: message.value }] })) }));
  consumers.push(await startConsumer(kafka, outTopic, { eachMessage: async ({ message }) => void final.push(message) }));
  await waitFor('the forwarded message', () => final.length === 1 && spansOf(exporter, (s) => s.name === `send ${outTopic}`).length === 1);
  const send = spansOf(exporter, (s) => s.name === `send ${outTopic}`)[0];
  assert.equal(text(final[0].headers.traceparent), `00-${traceId}-${send.spanContext().spanId}-03`);
  assert.equal(text(final[0].headers.tracestate), tracestate);
});
