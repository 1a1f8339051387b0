// The three example services as separate processes, with their own tracer.ts (NodeSDK + OTLP),
// against the real broker ($KAFKA_BOOTSTRAP) and an in-test OTLP/HTTP JSON receiver:
// GET nest1/kafka -> Kafka -> nest2 handler -> Kafka -> nest3 handler must be ONE trace with the
// exact parent chain, the Nest pattern on the process spans.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092';
const KIND = { SERVER: 2, PRODUCER: 4, CONSUMER: 5, INTERNAL: 1 };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function otlpReceiver() {
  const spans = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        const doc = JSON.parse(body);
        for (const rs of doc.resourceSpans || []) {
          const service = (rs.resource?.attributes || []).find((a) => a.key === 'service.name')?.value?.stringValue;
          for (const ss of rs.scopeSpans || []) for (const s of ss.spans || []) spans.push({ ...s, service, scope: ss.scope?.name });
        }
      } catch {
        /* not JSON: ignore */
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return { spans, server };
}

async function waitFor(what, cond, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(name, env) {
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'dist', name, 'main.js')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const ready = waitFor(`${name} ready`, () => {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${out}`);
    return out.includes(`${name} ready`);
  }, 60000);
  return { child, ready, output: () => out };
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

const attr = (span, key) => {
  const a = (span.attributes || []).find((x) => x.key === key);
  return a && (a.value.stringValue ?? a.value.intValue ?? a.value.boolValue ?? a.value.doubleValue);
};

test('HTTP -> nest1 -> Kafka -> nest2 -> Kafka -> nest3 is one trace with the exact parent chain; request-reply too', async () => {
  const { spans, server } = otlpReceiver();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const run = `kt-nest-${process.pid}-${Date.now()}.`;
  const ports = [await freePort(), await freePort(), await freePort()];
  const env = (i) => ({
    PORT: String(ports[i]),
    KAFKA_BOOTSTRAP_SERVERS: BOOTSTRAP,
    TOPIC_PREFIX: run,
    GROUP_PREFIX: run,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${server.address().port}`,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
  });
  const services = [start('nest3', env(2)), start('nest2', env(1)), start('nest1', env(0))];
  try {
    await Promise.all(services.map((s) => s.ready));
    const { body } = await get(`http://127.0.0.1:${ports[0]}/kafka`);
    const { traceId } = JSON.parse(body);
    assert.match(traceId, /^[0-9a-f]{32}$/);
    const created = `${run}order.created`;
    const shipped = `${run}order.shipped`;
    // Each service exports on its own schedule (and a process span ends after its handler's own
    // emit): wait until every expected span of the trace has arrived, then check the exact chain.
    const expected = [`send ${created}`, `process ${created}`, `send ${shipped}`, `process ${shipped}`, 'record-shipment'];
    await waitFor('the whole chain at the OTLP receiver', () =>
      expected.every((name) => spans.some((s) => s.traceId === traceId && s.name === name)) && spans.some((s) => s.traceId === traceId && s.kind === KIND.SERVER), 30000);
    const inTrace = spans.filter((s) => s.traceId === traceId);
    const one = (pred, what) => {
      const found = inTrace.filter(pred);
      assert.equal(found.length, 1, `exactly one ${what} in the trace (got ${found.map((s) => s.name).join(', ')})`);
      return found[0];
    };
    const httpSpan = one((s) => s.service === 'nest1' && s.kind === KIND.SERVER, 'nest1 HTTP server span');
    const send1 = one((s) => s.name === `send ${created}`, 'nest1 send');
    const proc2 = one((s) => s.name === `process ${created}`, 'nest2 process');
    const send2 = one((s) => s.name === `send ${shipped}`, 'nest2 send');
    const proc3 = one((s) => s.name === `process ${shipped}`, 'nest3 process');
    const work3 = one((s) => s.name === 'record-shipment', 'nest3 handler span');
    assert.ok(!httpSpan.parentSpanId, 'the HTTP request is the root');
    assert.deepEqual(
      [send1, proc2, send2, proc3, work3].map((s) => [s.service, s.kind, s.parentSpanId]),
      [
        ['nest1', KIND.PRODUCER, httpSpan.spanId],
        ['nest2', KIND.CONSUMER, send1.spanId],
        ['nest2', KIND.PRODUCER, proc2.spanId],
        ['nest3', KIND.CONSUMER, send2.spanId],
        ['nest3', KIND.INTERNAL, proc3.spanId],
      ],
    );
    assert.equal(attr(proc2, 'kafka_trace.nestjs.pattern'), created);
    assert.equal(attr(proc3, 'kafka_trace.nestjs.pattern'), shipped);
    assert.equal(attr(proc2, 'messaging.consumer.group.name'), `${run}nest2-server`);
    assert.equal(attr(send1, 'messaging.destination.name'), created);
    assert.equal(attr(proc3, 'messaging.system'), 'kafka');
    // The seed's other instrumentations run beside ours (Nest's only covers @nestjs/core < 12, so
    // with Nest 12 it makes no span); no span of the peer's kafkajs instrumentation anywhere.
    const scopes = new Set(inTrace.map((s) => s.scope));
    assert.ok(scopes.has('@opentelemetry/instrumentation-http') && scopes.has('kafka-trace'), [...scopes].join(', '));
    assert.ok(!scopes.has('@opentelemetry/instrumentation-kafkajs'));
    console.log(`scopes in the trace: ${[...scopes].sort().join(', ')}`);

    // Request-reply: GET /quote -> ClientKafka.send -> @MessagePattern in nest2 -> reply -> nest1.
    // nest1's reply consumer must own its partition first: until then Nest refuses to send (500).
    const quote = `${run}order.quote`;
    const reply = await waitFor('nest1 ready to send a request (reply partition assigned)', async () => {
      const { status, body } = await get(`http://127.0.0.1:${ports[0]}/quote`);
      return status === 200 ? JSON.parse(body) : undefined;
    }, 60000);
    assert.deepEqual(reply.quote, { item: 'book', price: 12 });
    const expectedQ = [`send ${quote}`, `process ${quote}`, `send ${quote}.reply`, `process ${quote}.reply`];
    await waitFor('the request-reply spans at the OTLP receiver', () =>
      expectedQ.every((name) => spans.some((s) => s.traceId === reply.traceId && s.name === name)) && spans.some((s) => s.traceId === reply.traceId && s.kind === KIND.SERVER), 30000);
    const q = spans.filter((s) => s.traceId === reply.traceId);
    const only = (pred, what) => {
      const found = q.filter(pred);
      assert.equal(found.length, 1, `exactly one ${what} (got ${found.map((s) => s.name).join(', ')})`);
      return found[0];
    };
    const qHttp = only((s) => s.service === 'nest1' && s.kind === KIND.SERVER, 'GET /quote span');
    const qSend = only((s) => s.name === `send ${quote}`, 'request send');
    const qProc = only((s) => s.name === `process ${quote}`, 'nest2 @MessagePattern process');
    const rSend = only((s) => s.name === `send ${quote}.reply`, 'reply send');
    const rProc = only((s) => s.name === `process ${quote}.reply`, 'reply process');
    assert.deepEqual(
      [qSend, qProc, rSend, rProc].map((s) => [s.service, s.kind, s.parentSpanId]),
      [
        ['nest1', KIND.PRODUCER, qHttp.spanId],
        ['nest2', KIND.CONSUMER, qSend.spanId],
        ['nest2', KIND.PRODUCER, qProc.spanId],
        ['nest1', KIND.CONSUMER, rSend.spanId],
      ],
    );
    assert.equal(attr(qProc, 'kafka_trace.nestjs.pattern'), quote);
  } catch (e) {
    for (const s of services) console.error(s.output());
    console.error(JSON.stringify(spans.map((s) => [s.service, s.name, s.kind, s.traceId, s.spanId, s.parentSpanId])));
    throw e;
  } finally {
    for (const s of services) s.child.kill('SIGTERM');
    await Promise.all(services.map((s) => (s.child.exitCode !== null ? null : new Promise((r) => s.child.once('exit', r)))));
    server.close();
  }
});
