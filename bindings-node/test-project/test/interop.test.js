// Interop with the existing peer instrumentation (@opentelemetry/instrumentation-kafkajs), each
// side in its own process as in a real deployment: both directions continue one trace.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { trace, context, ROOT_CONTEXT } = require('@opentelemetry/api');
const { setup, waitFor, freshTopic, startConsumer, spansOf } = require('../support/helpers');

const { exporter, kafka, tracer } = setup();
const consumers = [];
test.after(async () => {
  for (const c of consumers) await c.disconnect().catch(() => {});
});

function peer(mode, topic, outTopic = '') {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, '..', 'support', 'peer-child.js'), mode, topic, outTopic], { timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`peer ${mode} failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

test('a message produced with @opentelemetry/instrumentation-kafkajs is continued by ours', async () => {
  const topic = await freshTopic(kafka, 'peer-to-us');
  const produced = await peer('produce', topic);
  assert.equal(produced.sendParent, produced.rootSpanId);
  let received = 0;
  consumers.push(await startConsumer(kafka, topic, { eachMessage: async () => void received++ }));
  await waitFor('our process span', () => received === 1 && spansOf(exporter, (s) => s.name === `process ${topic}`).length === 1);
  const p = spansOf(exporter, (s) => s.name === `process ${topic}`)[0];
  assert.equal(p.spanContext().traceId, produced.traceId);
  assert.equal(p.parentSpanContext.spanId, produced.sendSpanId);
});

test('a message produced with ours is continued by @opentelemetry/instrumentation-kafkajs', async () => {
  const topic = await freshTopic(kafka, 'us-to-peer');
  const producer = kafka.producer();
  await producer.connect();
  const root = tracer.startSpan('our-root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic, messages: [{ key: 'ours', value: 'y' }] }));
  root.end();
  await producer.disconnect();
  const send = spansOf(exporter, (s) => s.name === `send ${topic}`)[0];
  const consumed = await peer('consume', topic);
  assert.equal(consumed.headers.traceparent, `00-${root.spanContext().traceId}-${send.spanContext().spanId}-01`);
  assert.equal(consumed.traceId, root.spanContext().traceId);
  assert.equal(consumed.parentSpanId, send.spanContext().spanId);
});

// Mixed fleets: one unbroken trace through a forwarder of the other kind, both directions.
test('ours -> peer-instrumented forwarder -> ours: one trace, exact parent chain', async () => {
  const a = await freshTopic(kafka, 'fwd-ours-a');
  const b = await freshTopic(kafka, 'fwd-ours-b');
  const producer = kafka.producer();
  await producer.connect();
  const root = tracer.startSpan('our-root', {}, ROOT_CONTEXT);
  await context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic: a, messages: [{ key: 'k', value: 'v' }] }));
  root.end();
  await producer.disconnect();
  const send = spansOf(exporter, (s) => s.name === `send ${a}`)[0];
  const fwd = await peer('forward', a, b);
  let headers;
  consumers.push(await startConsumer(kafka, b, { eachMessage: async ({ message }) => void (headers = message.headers) }));
  await waitFor('our process span on the forwarded topic', () => headers && spansOf(exporter, (s) => s.name === `process ${b}`).length === 1);
  const proc = spansOf(exporter, (s) => s.name === `process ${b}`)[0];
  const traceId = root.spanContext().traceId;
  assert.deepEqual(
    [send, fwd.process, fwd.send, proc].map((s) => [s.traceId ?? s.spanContext().traceId, s.parent ?? s.parentSpanContext?.spanId]),
    [
      [traceId, root.spanContext().spanId],
      [traceId, send.spanContext().spanId],
      [traceId, fwd.process.spanId],
      [traceId, fwd.send.spanId],
    ],
  );
  assert.equal(String(headers.traceparent), `00-${traceId}-${fwd.send.spanId}-01`);
});

test('peer -> our forwarder -> peer: one trace, exact parent chain', async () => {
  const a = await freshTopic(kafka, 'fwd-peer-a');
  const b = await freshTopic(kafka, 'fwd-peer-b');
  const produced = await peer('produce', a);
  const producer = kafka.producer();
  await producer.connect();
  let forwarded = 0;
  consumers.push(
    await startConsumer(kafka, a, {
      eachMessage: async ({ message }) => {
        await producer.send({ topic: b, messages: [{ key: message.key, value: message.value, headers: message.headers }] });
        forwarded++;
      },
    }),
  );
  await waitFor('our forward', () => forwarded === 1 && spansOf(exporter, (s) => s.name === `process ${a}`).length === 1);
  await producer.disconnect();
  const proc = spansOf(exporter, (s) => s.name === `process ${a}`)[0];
  const send = spansOf(exporter, (s) => s.name === `send ${b}`)[0];
  const consumed = await peer('consume', b);
  assert.deepEqual(
    [proc, send].map((s) => [s.spanContext().traceId, s.parentSpanContext?.spanId]),
    [
      [produced.traceId, produced.sendSpanId],
      [produced.traceId, proc.spanContext().spanId],
    ],
  );
  assert.equal(consumed.headers.traceparent, `00-${produced.traceId}-${send.spanContext().spanId}-01`);
  assert.deepEqual([consumed.traceId, consumed.parentSpanId], [produced.traceId, send.spanContext().spanId]);
});
