// Ours and the peer (@opentelemetry/instrumentation-kafkajs, e.g. from getNodeAutoInstrumentations())
// enabled in one process, in both orders: ours makes the spans and writes the headers of every
// message, the peer's patches are bypassed (no duplicate send/process span, one traceparent
// written by our send span), and one warning says how to disable the peer.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');

function both(order, topic, batchTopic) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, '..', 'support', 'both-child.js'), order, topic, batchTopic], { timeout: 90000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`both-child ${order} failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

for (const order of ['peer-first', 'ours-first']) {
  test(`both instrumentations enabled (${order}): one send and one process span per message, ours; one warning`, async () => {
    const topic = `kt-node-both-${order}-${process.pid}-${Date.now()}`;
    const batchTopic = `${topic}-batch`;
    const out = await both(order, topic, batchTopic);
    const peerSpans = out.spans.filter((s) => s.scope === '@opentelemetry/instrumentation-kafkajs');
    assert.deepEqual(peerSpans, [], 'the peer made no span');
    const sends = out.spans.filter((s) => s.name.startsWith('send '));
    const procs = out.spans.filter((s) => s.name.startsWith('process '));
    assert.deepEqual(sends.map((s) => s.name).sort(), [`send ${batchTopic}`, `send ${topic}`, `send ${topic}`].sort());
    assert.deepEqual(procs.map((s) => s.name).sort(), [`process ${batchTopic}`, `process ${topic}`, `process ${topic}`].sort());
    for (const s of [...sends, ...procs]) assert.equal(s.scope, 'kafka-trace');
    for (const s of sends) assert.deepEqual([s.kind, s.traceId, s.parent], [3, out.root.traceId, out.root.spanId]);
    assert.equal(out.received.length, 3);
    for (const m of out.received) {
      // Exactly one traceparent (a string, not a list), written by one of our send spans; exactly
      // one process span has that send span as parent, and an eachMessage handler runs in it.
      assert.equal(typeof m.headers.traceparent, 'string', JSON.stringify(m.headers));
      const [, traceId, spanId, flags] = m.headers.traceparent.split('-');
      const send = sends.find((s) => s.spanId === spanId);
      assert.ok(send, `traceparent ${m.headers.traceparent} is one of our send spans`);
      assert.deepEqual([traceId, flags], [out.root.traceId, '01']);
      const children = procs.filter((p) => p.parent === spanId);
      assert.equal(children.length, 1, `one process span continues send ${spanId}`);
      if (m.via === 'eachMessage') assert.equal(m.active, children[0].spanId, 'the handler runs inside our process span');
    }
    assert.equal(new Set(out.received.map((m) => m.headers.traceparent)).size, 3, 'one send span per message');
    const warned = out.warnings.filter((w) => w.code === 'KAFKA_TRACE_PEER_INSTRUMENTATION');
    assert.equal(warned.length, 1, JSON.stringify(out.warnings));
    assert.match(warned[0].message, /getNodeAutoInstrumentations\(\{ '@opentelemetry\/instrumentation-kafkajs': \{ enabled: false \} \}\)/);
  });
}
