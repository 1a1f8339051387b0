// @confluentinc/kafka-javascript (its KafkaJS-compatible API) on the real broker: the same spans,
// attributes and header policy as KafkaJS, send spans with each message's own partition and
// offset, KafkaJS <-> Confluent in both directions as one trace, transactions, sendBatch, eachBatch,
// the shared header vectors through its header shapes, and our Python consumer continuing it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { trace, context, propagation, ROOT_CONTEXT } = require('@opentelemetry/api');
const kt = require('kafka-trace');
const { setup, waitFor, freshTopic, startConsumer, spansOf, metricPoints, BOOTSTRAP } = require('../support/helpers');

const { exporter, reader, kafka, tracer } = setup();
const Confluent = require('@confluentinc/kafka-javascript');
const { KafkaJS } = Confluent;

const CLIENT_ID = 'kt-test';
const ckafka = new KafkaJS.Kafka({ kafkaJS: { brokers: [BOOTSTRAP], clientId: CLIENT_ID, logLevel: KafkaJS.logLevel.NOTHING } });
const closing = [];
test.after(async () => {
  for (const c of closing) await c.disconnect().catch(() => {});
});

async function confluentProducer(config = {}) {
  const p = ckafka.producer(config);
  await p.connect();
  closing.push(p);
  return p;
}

/** A Confluent consumer of `topic` from its beginning, running `run`. */
async function confluentConsumer(topic, run, groupId = `cg-${topic}`) {
  const c = ckafka.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } });
  await c.connect();
  await c.subscribe({ topics: [topic] });
  await c.run(run);
  closing.push(c);
  return c;
}

const named = (name) => spansOf(exporter, (s) => s.name === name);
const parentOf = (s) => s.parentSpanContext?.spanId;
const tp = (s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`;

function rooted(fn) {
  const root = tracer.startSpan('root', {}, ROOT_CONTEXT);
  return Promise.resolve(context.with(trace.setSpan(ROOT_CONTEXT, root), fn)).finally(() => root.end()).then(() => root);
}

test('instrumented: KafkaJS.Kafka is our subclass, the low-level produce is wrapped', () => {
  assert.notEqual(KafkaJS.Kafka.prototype.producer, Object.getPrototypeOf(KafkaJS.Kafka).prototype.producer);
  assert.notEqual(KafkaJS.Kafka.prototype.consumer, Object.getPrototypeOf(KafkaJS.Kafka).prototype.consumer);
  assert.equal(Confluent.Producer.prototype.produce.__wrapped, true);
});

test('Confluent -> Confluent: send and process spans with the same attributes as KafkaJS, exact parent chain', async () => {
  const topic = await freshTopic(kafka, 'ck-same');
  const kjs = kafka.producer();
  await kjs.connect();
  await kjs.send({ topic, messages: [{ key: 'kafkajs', value: 'a', partition: 0 }] });
  await kjs.disconnect();
  const producer = await confluentProducer();
  let meta;
  const root = await rooted(async () => {
    meta = await producer.send({ topic, messages: [{ key: 'confluent', value: 'b', partition: 0 }] });
  });
  assert.deepEqual(meta.map((m) => [m.topicName, m.partition, m.baseOffset]), [[topic, 0, '1']]);
  const seen = [];
  await confluentConsumer(topic, { eachMessage: async ({ message }) => void seen.push([String(message.key), String(message.headers?.traceparent)]) });
  await waitFor('two process spans', () => seen.length === 2 && named(`process ${topic}`).length === 2);
  const sends = named(`send ${topic}`);
  const [kSend, cSend] = [sends.find((s) => s.attributes['messaging.kafka.message.key'] === 'kafkajs'), sends.find((s) => s.attributes['messaging.kafka.message.key'] === 'confluent')];
  assert.equal(sends.length, 2);
  assert.equal(parentOf(cSend), root.spanContext().spanId);
  assert.equal(cSend.spanContext().traceId, root.spanContext().traceId);
  // Same names, kinds and attributes as the KafkaJS client's (only key and offset differ).
  const strip = (s) => {
    const a = { ...s.attributes };
    delete a['messaging.kafka.message.key'];
    delete a['messaging.kafka.offset'];
    return [s.name, s.kind, a, s.status.code];
  };
  assert.deepEqual(strip(cSend), strip(kSend));
  assert.equal(cSend.attributes['messaging.kafka.offset'], 1);
  assert.equal(cSend.attributes['messaging.client.id'], CLIENT_ID);
  assert.equal(cSend.attributes['messaging.destination.partition.id'], '0');
  assert.deepEqual(seen.find((s) => s[0] === 'confluent'), ['confluent', tp(cSend)]);
  const procs = named(`process ${topic}`);
  const cProc = procs.find((s) => s.attributes['messaging.kafka.message.key'] === 'confluent');
  assert.equal(parentOf(cProc), cSend.spanContext().spanId);
  assert.equal(cProc.attributes['messaging.consumer.group.name'], `cg-${topic}`);
  assert.equal(cProc.attributes['messaging.kafka.offset'], 1);
  // The same metrics, with the same attribute sets, for both clients' messages.
  const points = async (name) => (await metricPoints(reader, name)).filter((d) => d.attributes['messaging.destination.name'] === topic);
  for (const name of ['messaging.client.sent.messages', 'messaging.client.consumed.messages']) {
    const got = await points(name);
    assert.equal(got.reduce((a, d) => a + d.value, 0), 2, name);
    assert.equal(got.length, 1, `${name}: both clients' messages share one attribute set`);
  }
  assert.equal((await points('messaging.process.duration'))[0].value.count, 2);
  assert.equal((await points('messaging.client.consumed.messages'))[0].attributes['messaging.consumer.group.name'], `cg-${topic}`);
});

test('each send span ends with its own message partition and offset, whatever the partitioner did', async () => {
  const topic = await freshTopic(kafka, 'ck-spread', 3);
  const producer = await confluentProducer();
  const messages = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
  // Two concurrent sends to the same partitions: their messages interleave in the partitions.
  await Promise.all([producer.send({ topic, messages: messages.slice(0, 6) }), producer.send({ topic, messages: messages.slice(6) })]);
  const got = new Map();
  await confluentConsumer(topic, { eachMessage: async ({ partition, message }) => void got.set(String(message.key), [partition, Number(message.offset)]) });
  await waitFor('all 12 messages', () => got.size === 12);
  const sends = named(`send ${topic}`);
  assert.equal(sends.length, 12);
  const partitions = new Set();
  for (const s of sends) {
    const key = s.attributes['messaging.kafka.message.key'];
    const [partition, offset] = got.get(key);
    partitions.add(partition);
    assert.deepEqual([s.attributes['messaging.destination.partition.id'], s.attributes['messaging.kafka.offset']], [String(partition), offset], key);
  }
  assert.ok(partitions.size > 1, 'the keys spread over several partitions');
});

test('KafkaJS producer -> Confluent consumer -> Confluent forward -> KafkaJS consumer: one trace, exact parent chain', async () => {
  const a = await freshTopic(kafka, 'ck-fwd-a');
  const b = await freshTopic(kafka, 'ck-fwd-b');
  const fwd = await confluentProducer();
  let forwarded = 0;
  await confluentConsumer(a, {
    eachMessage: async ({ message }) => {
      await fwd.send({ topic: b, messages: [{ key: message.key, value: message.value, headers: message.headers }] });
      forwarded++;
    },
  });
  const kjs = kafka.producer();
  await kjs.connect();
  const root = await rooted(() => kjs.send({ topic: a, messages: [{ key: 'k', value: 'v' }] }));
  await kjs.disconnect();
  let headers;
  closing.push(await startConsumer(kafka, b, { eachMessage: async ({ message }) => void (headers = message.headers) }));
  await waitFor('the KafkaJS process span on b', () => forwarded === 1 && headers && named(`process ${b}`).length === 1);
  const chain = [named(`send ${a}`)[0], named(`process ${a}`)[0], named(`send ${b}`)[0], named(`process ${b}`)[0]];
  const traceId = root.spanContext().traceId;
  assert.deepEqual(
    chain.map((s) => [s.spanContext().traceId, parentOf(s)]),
    [
      [traceId, root.spanContext().spanId],
      [traceId, chain[0].spanContext().spanId],
      [traceId, chain[1].spanContext().spanId],
      [traceId, chain[2].spanContext().spanId],
    ],
  );
  // One traceparent: the forwarder rewrote the copied header, never added a second one.
  assert.equal(String(headers.traceparent), tp(chain[2]));
});

test('Confluent producer -> KafkaJS consumer: the process span is the send span\'s child', async () => {
  const topic = await freshTopic(kafka, 'ck-to-kjs');
  const producer = await confluentProducer();
  const root = await rooted(() => producer.send({ topic, messages: [{ key: 'x', value: 'y' }] }));
  let headers;
  closing.push(await startConsumer(kafka, topic, { eachMessage: async ({ message }) => void (headers = message.headers) }));
  await waitFor('the process span', () => headers && named(`process ${topic}`).length === 1);
  const send = named(`send ${topic}`)[0];
  const proc = named(`process ${topic}`)[0];
  assert.deepEqual([parentOf(send), parentOf(proc)], [root.spanContext().spanId, send.spanContext().spanId]);
  assert.equal(String(headers.traceparent), tp(send));
});

test('sendBatch: one send span and one traceparent per message over two topics; eachBatch: one process span per message', async () => {
  const a = await freshTopic(kafka, 'ck-batch-a');
  const b = await freshTopic(kafka, 'ck-batch-b');
  const producer = await confluentProducer();
  await rooted(() =>
    producer.sendBatch({
      topicMessages: [
        { topic: a, messages: [{ key: 'a0', value: '0' }, { key: 'a1', value: '1' }] },
        { topic: b, messages: [{ key: 'b0', value: '0', headers: { other: 'kept' } }] },
      ],
    }),
  );
  const received = [];
  for (const t of [a, b]) {
    await confluentConsumer(t, {
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          kt.withMessageSpan(m, () => received.push([String(m.key), m.headers, trace.getActiveSpan()?.spanContext().spanId]));
        }
      },
    });
  }
  await waitFor('three processed messages', () => received.length === 3 && named(`process ${a}`).length + named(`process ${b}`).length === 3);
  const sends = [...named(`send ${a}`), ...named(`send ${b}`)];
  assert.equal(sends.length, 3);
  for (const [key, headers, active] of received) {
    const send = sends.find((s) => s.attributes['messaging.kafka.message.key'] === key);
    assert.equal(String(headers.traceparent), tp(send), key);
    assert.ok(!Array.isArray(headers.traceparent), 'one traceparent');
    const proc = spansOf(exporter, (s) => s.name.startsWith('process ') && s.attributes['messaging.kafka.message.key'] === key)[0];
    assert.deepEqual([parentOf(proc), active], [send.spanContext().spanId, proc.spanContext().spanId], key);
  }
  assert.equal(String(received.find((r) => r[0] === 'b0')[1].other), 'kept');
});

test('transactions: a send inside a committed transaction is traced with its offset and continued', async () => {
  const topic = await freshTopic(kafka, 'ck-tx');
  const producer = await confluentProducer({ 'transactional.id': `tx-${topic}`, kafkaJS: { idempotent: true } });
  const tx = await producer.transaction();
  const root = await rooted(() => tx.send({ topic, messages: [{ key: 'tx', value: 'v', partition: 0 }] }));
  await tx.commit();
  // A second transaction: the producer is not wrapped twice (one span per message).
  const tx2 = await producer.transaction();
  await tx2.send({ topic, messages: [{ key: 'tx2', value: 'v', partition: 0 }] });
  await tx2.commit();
  const seen = [];
  await confluentConsumer(topic, { eachMessage: async ({ message }) => void seen.push(String(message.key)) });
  await waitFor('both transactional messages processed', () => seen.length === 2 && named(`process ${topic}`).length === 2);
  const sends = named(`send ${topic}`);
  assert.equal(sends.length, 2);
  const send = sends.find((s) => s.attributes['messaging.kafka.message.key'] === 'tx');
  assert.equal(parentOf(send), root.spanContext().spanId);
  assert.equal(send.attributes['messaging.kafka.offset'], 0);
  const proc = named(`process ${topic}`).find((s) => s.attributes['messaging.kafka.message.key'] === 'tx');
  assert.equal(parentOf(proc), send.spanContext().spanId);
});

test('a failed send ends its span with an error status and rethrows the client\'s error unchanged', async () => {
  const producer = await confluentProducer({ 'message.timeout.ms': 2000 });
  const topic = `kt-node-ck-missing-${process.pid}-${Date.now()}`;
  const err = await producer.send({ topic, messages: [{ key: 'lost', value: 'v', partition: 7 }] }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err instanceof Error, 'the send failed');
  await waitFor('the failed send span', () => named(`send ${topic}`).length === 1);
  const span = named(`send ${topic}`)[0];
  assert.equal(span.status.code, 2);
  assert.equal(typeof span.attributes['error.type'], 'string');
});

// The shared vectors: headers written exactly as listed (the low-level producer, untraced), read
// by the Confluent consumer (its header shape: an object, repeated names as arrays) and continued
// by our process span. Cases whose list that shape cannot carry losslessly are left out (the
// order of one kind's values across different spellings), as in vectors.test.js.
const VECTORS = process.env.KT_VECTORS || path.join(__dirname, '..', '..', '..', 'core', 'testdata', 'trace_context_vectors.json');
const cases = JSON.parse(fs.readFileSync(VECTORS, 'utf8')).cases;
const headerBytes = (h) => (typeof h.value === 'string' ? Buffer.from(h.value, 'utf8') : typeof h.value_hex === 'string' ? Buffer.from(h.value_hex, 'hex') : null);
function carried(c) {
  const byKind = new Map();
  for (const h of c.headers) {
    if (headerBytes(h) === null) return false;
    const k = kt.headerKind(h.name);
    if (k === 0) continue;
    if (!byKind.has(k)) byKind.set(k, []);
    byKind.get(k).push(h.name);
  }
  for (const names of byKind.values()) {
    const grouped = [...new Set(names)].flatMap((n) => names.filter((x) => x === n));
    if (grouped.join('\n') !== names.join('\n')) return false;
  }
  return true;
}

test('shared header vectors through the Confluent consumer\'s header shape', async () => {
  const topic = await freshTopic(kafka, 'ck-vectors');
  const chosen = cases.filter(carried);
  assert.ok(chosen.length >= 200, `${chosen.length} of ${cases.length} cases carried`);
  const raw = new Confluent.Producer({ 'bootstrap.servers': BOOTSTRAP, dr_cb: true });
  await new Promise((resolve, reject) => raw.connect({}, (err) => (err ? reject(err) : resolve())));
  let delivered = 0;
  raw.on('delivery-report', () => delivered++);
  raw.setPollInterval(20);
  chosen.forEach((c, i) => raw.produce(topic, 0, Buffer.from('v'), String(i), Date.now(), null, c.headers.map((h) => ({ [h.name]: headerBytes(h) }))));
  await waitFor('every vector delivered', () => delivered === chosen.length);
  await new Promise((resolve) => raw.disconnect(resolve));
  const seen = new Map();
  await confluentConsumer(topic, {
    eachMessage: async ({ message }) => {
      const ctx = context.active();
      const kept = ctx.getValue(kt.KEPT_REMOTE);
      const bag = propagation.getBaggage(ctx);
      seen.set(Number(String(message.key)), {
        kept: kept && [kept.traceId, kept.spanId, kept.traceFlags.toString(16).padStart(2, '0'), kept.traceState ? kept.traceState.serialize() : ''],
        baggage: bag ? bag.getAllEntries().map(([k, e]) => [k, e.value, e.metadata ? e.metadata.toString() : '']) : [],
        span: trace.getActiveSpan()?.spanContext(),
      });
    },
  });
  await waitFor('every vector processed', () => seen.size === chosen.length, 60000);
  const procs = new Map(named(`process ${topic}`).map((s) => [s.spanContext().spanId, s]));
  const problems = [];
  chosen.forEach((c, i) => {
    const got = seen.get(i);
    const want = c.expect.traceparent;
    // The handler's span: exported with the remote parent (or as a root) when sampled; under the
    // SDK's ParentBased sampler an unsampled parent gives a span that is never exported.
    const span = procs.get(got.span?.spanId);
    const wantKept = want && [want.trace_id, want.span_id, want.flags, c.expect.tracestate.map(([k, v]) => `${k}=${v}`).join(',')];
    const wantBag = c.expect.baggage.map((b) => [b.key, b.value, b.properties.join(';')]);
    const sampled = !want || (parseInt(want.flags, 16) & 1) === 1;
    const parent = [want ? want.trace_id : got.span?.traceId, sampled ? (want ? want.span_id : null) : 'not exported'];
    const gotParent = [got.span?.traceId, span ? parentOf(span) ?? null : 'not exported'];
    if (JSON.stringify([got.kept ?? null, got.baggage, gotParent]) !== JSON.stringify([wantKept, wantBag, parent])) {
      problems.push(`${c.name}: got ${JSON.stringify([got.kept, got.baggage, gotParent])} want ${JSON.stringify([wantKept, wantBag, parent])}`);
    }
  });
  assert.deepEqual(problems, []);
});

// Our Python consumer (kafka_trace.confluent) continues a message the Confluent client sent.
const PYTHON = process.env.KT_PYTHON;
test('Confluent producer -> our Python consumer: the Python process span is the send span\'s child', { skip: PYTHON ? false : 'KT_PYTHON (a Python with kafka_trace and confluent-kafka) is not set' }, async () => {
  const topic = await freshTopic(kafka, 'ck-to-py');
  const producer = await confluentProducer();
  const root = await rooted(() => producer.send({ topic, messages: [{ key: 'py', value: 'v' }] }));
  const send = named(`send ${topic}`)[0];
  const out = await new Promise((resolve, reject) =>
    execFile(PYTHON, [path.join(__dirname, '..', 'support', 'confluent-py-consumer.py'), BOOTSTRAP, topic], { timeout: 90000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`python consumer failed: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout.trim().split('\n').pop())),
    ),
  );
  assert.equal(out.traceparent, tp(send));
  assert.deepEqual([out.traceId, out.parentSpanId], [root.spanContext().traceId, send.spanContext().spanId]);
  assert.equal(out.attributes['messaging.destination.name'], topic);
});

// Our Rust consumer (core/examples/rust_consumer: rdkafka + kafka_trace::rdkafka) continues it too.
// It prints its process span's trace and span ids (its parent goes to OTLP only): same trace, and
// the partition and offset our send span ended with are the ones it read.
const RUST = process.env.KT_RUST_CONSUMER;
test('Confluent producer -> our Rust consumer: same trace, the send span\'s partition and offset', { skip: RUST ? false : 'KT_RUST_CONSUMER (core/examples/rust_consumer built) is not set' }, async () => {
  const topic = await freshTopic(kafka, 'ck-to-rust');
  const producer = await confluentProducer();
  const root = await rooted(() => producer.send({ topic, messages: [{ key: 'rust', value: 'v' }] }));
  const send = named(`send ${topic}`)[0];
  const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_SCHEDULE_DELAY: '100' };
  const line = await new Promise((resolve, reject) =>
    execFile(RUST, [BOOTSTRAP, `rust-${topic}`, topic, '1'], { timeout: 90000, env }, (err, stdout, stderr) =>
      err ? reject(new Error(`rust consumer failed: ${err.message}\n${stderr}`)) : resolve(stdout.split('\n').find((l) => l.startsWith('process '))),
    ),
  );
  const [, t, partition, offset, traceId, spanId] = line.split(' ');
  assert.deepEqual(
    [t, partition, Number(offset), traceId],
    [topic, send.attributes['messaging.destination.partition.id'], send.attributes['messaging.kafka.offset'], root.spanContext().traceId],
  );
  assert.notEqual(spanId, send.spanContext().spanId);
});
