// The Node.js soak of scripts/soak.sh: MESSAGES traced messages produce -> consume -> forward ->
// consume through kafka-trace's KafkaJsInstrumentation, spans exported over OTLP/HTTP (the OTEL_*
// environment; the soak's receiver is alternately up and down). Prints one JSON line: messages
// lost and duplicated at the last consumer, spans ended/exported/failed, resident memory after
// warm-up (a tenth of the messages) and at the end.
//
//   node soak.js MESSAGES BOOTSTRAP IN_TOPIC OUT_TOPIC      (run from an app with kafka-trace,
//   kafkajs, @opentelemetry/{api,sdk-trace-base,exporter-trace-otlp-http,context-async-hooks,
//   instrumentation,resources} installed: scripts/soak.sh makes one in its output folder, target/soak/node-app)
'use strict';
const { trace, context } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const kt = require('kafka-trace');

const [n, bootstrap, inTopic, outTopic] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5]];
const counts = { ended: 0, exported: 0, failed: 0 };
const exporter = new OTLPTraceExporter({ timeoutMillis: 2000 });
const exportOrig = exporter.export.bind(exporter);
exporter.export = (spans, done) =>
  exportOrig(spans, (result) => {
    if (result.code === 0) counts.exported += spans.length;
    else counts.failed += spans.length;
    done(result);
  });
const ended = { onStart() {}, onEnd() { counts.ended++; }, forceFlush: async () => {}, shutdown: async () => {} };
const batch = new BatchSpanProcessor(exporter, { maxQueueSize: 2048, scheduledDelayMillis: 500 });
const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'soak-node' }), spanProcessors: [ended, batch] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
registerInstrumentations({ instrumentations: [new kt.KafkaJsInstrumentation()], tracerProvider: provider });
const { Kafka, logLevel } = require('kafkajs');

// With --expose-gc (scripts/soak.sh passes it) a full collection first: the figure is then what
// the process keeps, not garbage V8 has not collected yet.
const rssKb = () => {
  if (global.gc) global.gc();
  return Math.round(process.memoryUsage().rss / 1024);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const started = Date.now();
  // KafkaJS's errors go to stderr (the soak log), never to stdout, whose last line is the result.
  const logCreator = () => ({ namespace, label, log }) => console.error(`kafkajs ${label} ${namespace}: ${log.message}${log.error ? ` (${log.error})` : ''}`);
  const kafka = new Kafka({ clientId: 'soak-node', brokers: [bootstrap], logLevel: logLevel.ERROR, logCreator });
  // A starved event loop (a loaded machine, the soak at nice 19) must not cost the group its
  // members: a 100,000-message run at load 10 with KafkaJS's 30 s session stalled after a
  // rebalance (8 redeliveries, then no progress). Longer session and rebalance timeouts.
  const groupOptions = { maxWaitTimeInMs: 100, sessionTimeout: 90000, rebalanceTimeout: 180000, heartbeatInterval: 3000 };
  const crashed = (name) => (e) => console.error(`kafkajs ${name} crashed: ${e.payload && e.payload.error} (restart: ${e.payload && e.payload.restart})`);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const seen = new Uint8Array(n);
  let unique = 0;
  let dups = 0;
  let rssWarm = 0;
  let rssHalf = 0;
  const samples = [];
  const warm = Math.max(Math.floor(n / 10), 1);

  const forwarder = kafka.consumer({ groupId: `${inTopic}-forwarder`, ...groupOptions });
  forwarder.on(forwarder.events.CRASH, crashed('forwarder'));
  await forwarder.connect();
  await forwarder.subscribe({ topic: inTopic, fromBeginning: true });
  await forwarder.run({
    eachBatch: async ({ batch }) => {
      const sends = [];
      for (const m of batch.messages) {
        // each forward is sent inside its message's process span (its send span is a child)
        kt.withMessageSpan(m, () => sends.push(producer.send({ topic: outTopic, messages: [{ value: m.value }] })));
      }
      await Promise.all(sends);
    },
  });
  const sink = kafka.consumer({ groupId: `${outTopic}-sink`, ...groupOptions });
  sink.on(sink.events.CRASH, crashed('sink'));
  await sink.connect();
  await sink.subscribe({ topic: outTopic, fromBeginning: true });
  await sink.run({
    eachMessage: async ({ message }) => {
      const i = Number(message.value.toString());
      if (seen[i]) dups++;
      else {
        seen[i] = 1;
        unique++;
        if (unique === warm) rssWarm = rssKb();
        if (unique === Math.floor(n / 2)) rssHalf = rssKb();
        if (unique % Math.max(Math.floor(n / 10), 1) === 0) {
          samples.push(Math.round(rssKb() / 1024));
          console.error(`soak-node: ${unique} messages, RSS ${samples[samples.length - 1]} MB, ${dups} duplicates so far`);
        }
      }
    },
  });

  for (let i = 0; i < n; i += 500) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + 500); j++) messages.push({ value: String(j) });
    await producer.send({ topic: inTopic, messages });
  }
  let last = -1;
  let at = Date.now();
  while (unique < n) {
    if (unique !== last) {
      last = unique;
      at = Date.now();
    } else if (Date.now() - at > 300000) {
      console.error(`soak-node: no progress for 5 minutes at ${unique} messages: giving up`);
      break;
    }
    await sleep(50);
  }
  await sleep(2000); // late duplicates
  await forwarder.disconnect();
  await sink.disconnect();
  await producer.disconnect();
  // V8 hands freed pages back to the system lazily: the end figure is the lowest of 5 samples
  // (each after a full collection) half a second apart, once the clients are closed.
  let rssEnd = Infinity;
  for (let k = 0; k < 5; k++) {
    rssEnd = Math.min(rssEnd, rssKb());
    await sleep(500);
  }
  await provider.shutdown().catch(() => {});
  console.log(JSON.stringify({
    binding: 'node', messages: n, received: unique, lost: n - unique, duplicated: dups,
    spans_ended: counts.ended, spans_exported: counts.exported, spans_export_failed: counts.failed,
    spans_dropped: counts.ended - counts.exported - counts.failed, rss_warm_kb: rssWarm, rss_half_kb: rssHalf, rss_mb_every_tenth: samples, heap_used_mb_end: Math.round(process.memoryUsage().heapUsed / 1048576), rss_end_kb: rssEnd,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  }));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
