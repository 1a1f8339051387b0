// Shared set-up of the broker tests: one tracer/meter provider with in-memory exporters, our
// instrumentation enabled before kafkajs is loaded, and condition waits (never sleep-and-hope).
'use strict';
const { trace, context, propagation, metrics } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { KafkaJsInstrumentation } = require('kafka-trace');

const BOOTSTRAP = process.env.KAFKA_BOOTSTRAP || '127.0.0.1:9092';

class TestReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

let state;
function setup(config = {}, extraInstrumentations = []) {
  if (state) return state;
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  metrics.setGlobalMeterProvider(meterProvider);
  const instrumentation = new KafkaJsInstrumentation(config);
  registerInstrumentations({ instrumentations: [instrumentation, ...extraInstrumentations], tracerProvider: provider, meterProvider });
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({ clientId: 'kt-test', brokers: [BOOTSTRAP], logLevel: logLevel.NOTHING });
  state = { exporter, provider, reader, instrumentation, kafka, tracer: trace.getTracer('test'), Kafka, logLevel };
  return state;
}

async function waitFor(what, cond, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let seq = 0;
async function freshTopic(kafka, prefix, partitions = 1) {
  const topic = `kt-node-${prefix}-${process.pid}-${Date.now()}-${seq++}`;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Starts a consumer on `topic` from the beginning; resolves once it has joined its group. */
async function startConsumer(kafka, topic, run, extra = {}) {
  const consumer = kafka.consumer({ groupId: `g-${topic}`, maxWaitTimeInMs: 100, ...extra });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
  await consumer.run(run);
  await joined;
  return consumer;
}

function spansOf(exporter, filter) {
  return exporter.getFinishedSpans().filter(filter);
}

async function metricPoints(reader, name) {
  const { resourceMetrics } = await reader.collect();
  const points = [];
  for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) if (m.descriptor.name === name) points.push(...m.dataPoints);
  return points;
}

module.exports = { setup, waitFor, freshTopic, startConsumer, spansOf, metricPoints, BOOTSTRAP, propagation };
