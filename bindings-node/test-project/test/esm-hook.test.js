// An ES-module app ("type": "module") that imports kafkajs is traced through the documented hook:
//   node --import kafka-trace/register --import ./tracing.js app.js
// Real broker; exact parent chain root -> send -> process -> handler. Without the hook (same
// tracing file) the ESM import of kafkajs is not patched: no send/process spans, no headers.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFile } = require('node:child_process');

const APP = path.join(__dirname, '..', 'support', 'esm-app');

function run(imports, topic) {
  const args = [...imports.flatMap((i) => ['--import', i]), path.join(APP, 'app.js'), topic];
  return new Promise((resolve, reject) => {
    // cwd = the app: `--import` specifiers resolve from there, as in a user's project.
    execFile(process.execPath, args, { cwd: APP, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`esm app failed: ${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()));
    });
  });
}

const topicName = (what) => `kt-node-esm-${what}-${process.pid}-${Date.now()}`;

test('ESM app with --import kafka-trace/register: root -> send -> process -> handler, one trace', async () => {
  const topic = topicName('hook');
  const out = await run(['kafka-trace/register', './tracing.js'], topic);
  const root = out.root;
  const sends = out.spans.filter((s) => s.name === `send ${topic}`);
  const procs = out.spans.filter((s) => s.name === `process ${topic}`);
  assert.equal(sends.length, 1, JSON.stringify(out.spans));
  assert.equal(procs.length, 1, JSON.stringify(out.spans));
  const [send] = sends;
  const [proc] = procs;
  assert.deepEqual([send.kind, send.traceId, send.parent], [3, root.traceId, root.spanId]);
  assert.deepEqual([proc.kind, proc.traceId, proc.parent], [4, root.traceId, send.spanId]);
  assert.equal(out.message.headers.traceparent, `00-${root.traceId}-${send.spanId}-01`);
  assert.equal(out.message.active, proc.spanId, 'the handler runs inside the process span');
});

test('the same ESM app without the hook is not traced (the hook is what patches the ESM import)', async () => {
  const topic = topicName('nohook');
  const out = await run(['./tracing.js'], topic);
  assert.deepEqual(out.spans.map((s) => s.name), ['esm-root']);
  assert.equal(out.message.headers.traceparent, undefined);
});
