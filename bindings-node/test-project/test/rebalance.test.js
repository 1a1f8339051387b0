// Consumer-side faults on the real broker: a consumer-group rebalance in the middle of traced
// batches. Consumer A (this process) handles a 4-partition topic in eachBatch, one message at a
// time inside kt.withMessageSpan, slowly; consumer B (a child process, this file re-run with
// KT_REBALANCE_CHILD=1) joins, which aborts A's batch at its next heartbeat, handles 20 messages
// and is then SIGKILLed in the middle of a batch; A gets its partitions back after B's session
// times out and handles B's uncommitted messages again. Checked: every message handled, every
// handler run inside its own process span whose parent is that message's own send span, every
// process span A started ended (an aborted batch ends the spans of the messages it did not reach),
// and the next message's handler never sees the previous message's context.
'use strict';
const { trace, context, metrics, ROOT_CONTEXT } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const kt = require('kafka-trace');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092';
const MESSAGES = 200;
const CHILD = process.env.KT_REBALANCE_CHILD === '1';

/** Tracing with an in-memory exporter and a processor that knows which spans are still open. */
function otel() {
  const exporter = new InMemorySpanExporter();
  const open = new Set();
  const tracker = {
    onStart: (span) => open.add(span),
    onEnd: (span) => open.delete(span),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter }), tracker] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const instrumentation = new kt.KafkaJsInstrumentation();
  registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider, meterProvider: metrics.getMeterProvider() });
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: CHILD ? 'kt-rebalance-b' : 'kt-rebalance-a', brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING });
  return { exporter, open, kafka, tracer: trace.getTracer('rebalance') };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A consumer of the group: eachBatch, each message handled inside its process span. `onSeen` gets
 * each handler run; `stuckAfter`: after that many runs the handler never returns (B is killed).
 */
async function consume(kafka, topic, group, name, delayMs, onSeen, stuckAfter) {
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100, sessionTimeout: 6000, heartbeatInterval: 300, rebalanceTimeout: 6000 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let handled = 0;
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break;
        const before = trace.getActiveSpan()?.spanContext().spanId;
        await kt.withMessageSpan(m, async () => {
          const sc = trace.getActiveSpan()?.spanContext();
          onSeen({ key: m.key.toString(), consumer: name, traceId: sc?.traceId, spanId: sc?.spanId, before });
          handled++;
          if (handled === stuckAfter) await new Promise(() => {}); // killed in here
          await sleep(delayMs);
        });
        resolveOffset(m.offset);
        await heartbeat(); // throws during a rebalance: the rest of this batch is not handled here
      }
    },
  });
  return consumer;
}

if (CHILD) {
  // Consumer B: reports every handler run and every ended process span to the parent.
  const { exporter, kafka } = otel();
  const [topic, group] = process.argv.slice(2);
  let reported = 0;
  const report = () => {
    const spans = exporter.getFinishedSpans();
    for (; reported < spans.length; reported++) {
      const s = spans[reported];
      if (s.name === `process ${topic}`) {
        process.send({ span: { spanId: s.spanContext().spanId, parent: s.parentSpanContext?.spanId, key: s.attributes['messaging.kafka.message.key'] } });
      }
    }
  };
  setInterval(report, 20);
  consume(kafka, topic, group, 'B', 5, (seen) => { report(); process.send({ seen }); }, 20).catch((e) => process.send({ error: String(e) }));
} else {
  const test = require('node:test');
  const assert = require('node:assert/strict');
  const { fork } = require('node:child_process');

  test('a rebalance (B joins, then B is killed mid-batch) keeps every parent, ends every span, leaks no context', async () => {
    const { exporter, open, kafka, tracer } = otel();
    const topic = `kt-node-rebalance-${process.pid}-${Date.now()}`;
    const group = `g-${topic}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }], waitForLeaders: true });
    await admin.disconnect();

    const producer = kafka.producer();
    await producer.connect();
    await Promise.all(
      Array.from({ length: MESSAGES }, (_, i) => {
        const root = tracer.startSpan(`root-${i}`, {}, ROOT_CONTEXT);
        return context.with(trace.setSpan(ROOT_CONTEXT, root), () => producer.send({ topic, messages: [{ key: `m${i}`, value: `${i}`, partition: i % 4 }] })).then(() => root.end());
      }),
    );
    await producer.disconnect();

    const seen = [];
    const bSpans = [];
    const a = await consume(kafka, topic, group, 'A', 40, (s) => seen.push(s));
    const waitFor = async (what, cond, ms) => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    };
    let child;
    try {
      await waitFor('A to handle 20 messages', () => seen.length >= 20, 60000);
      child = fork(__filename, [topic, group], { env: { ...process.env, KT_REBALANCE_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.on('message', (msg) => {
        if (msg.seen) seen.push(msg.seen);
        if (msg.span) bSpans.push(msg.span);
        if (msg.error) seen.push({ error: msg.error });
      });
      await waitFor('B to handle 20 messages', () => seen.filter((s) => s.consumer === 'B').length >= 20, 90000);
      await sleep(100); // B's span reports catch up (its 20th handler never returns)
      child.kill('SIGKILL');
      const keys = () => new Set(seen.map((s) => s.key)).size;
      await waitFor('every message handled', () => keys() === MESSAGES, 120000);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await a.disconnect();
    }

    assert.deepEqual(seen.filter((s) => s.error), []);
    const sends = new Map(exporter.getFinishedSpans().filter((s) => s.name === `send ${topic}`).map((s) => [s.attributes['messaging.kafka.message.key'], s.spanContext()]));
    assert.equal(sends.size, MESSAGES);
    const procA = new Map(exporter.getFinishedSpans().filter((s) => s.name === `process ${topic}`).map((s) => [s.spanContext().spanId, { spanId: s.spanContext().spanId, parent: s.parentSpanContext?.spanId, key: s.attributes['messaging.kafka.message.key'] }]));
    const procB = new Map(bSpans.map((s) => [s.spanId, s]));
    const openProcess = [...open].filter((s) => s.name === `process ${topic}`);
    assert.equal(openProcess.length, 0, 'every process span A started is ended');
    const bRuns = seen.filter((s) => s.consumer === 'B');
    assert.ok(bRuns.length >= 20);
    for (const s of seen) {
      const span = (s.consumer === 'A' ? procA : procB).get(s.spanId);
      if (s.consumer === 'B' && span === undefined) {
        // B's last run was killed inside its handler: its span never ended (the process died).
        assert.equal(s, bRuns[bRuns.length - 1], `${s.key}: only B's killed handler may lack an ended span`);
        continue;
      }
      assert.ok(span, `${s.key} (${s.consumer}): handled inside an ended process span`);
      assert.equal(span.key, s.key, `${s.key}: the span current in its handler is its own`);
      assert.equal(s.traceId, sends.get(s.key).traceId, `${s.key} (${s.consumer}): the producer's trace`);
      assert.equal(span.parent, sends.get(s.key).spanId, `${s.key} (${s.consumer}): its own producer's send span is the parent`);
      assert.equal(s.before, undefined, `${s.key}: no message context current before its handler`);
    }
    // Spans of messages an aborted batch never reached are ended too, with their own parents.
    for (const span of procA.values()) assert.equal(span.parent, sends.get(span.key).spanId, `${span.key}: unhandled-message span parent`);
    const twice = [...new Set(seen.map((s) => s.key))].filter((k) => seen.filter((s) => s.key === k).length > 1).length;
    console.log(`rebalance: ${MESSAGES} messages, ${seen.length} handler runs (A ${seen.length - bRuns.length}, B ${bRuns.length}), ${twice} handled twice; A process spans ${procA.size}, open 0`);
  });
}
