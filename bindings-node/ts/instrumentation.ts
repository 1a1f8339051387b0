/**
 * OpenTelemetry instrumentation of KafkaJS (and so of `@nestjs/microservices`' Kafka transport),
 * for `new NodeSDK({ instrumentations: [new KafkaJsInstrumentation()] })`.
 *
 * Spans go through the application's own `@opentelemetry/api` tracer and meter. Their names,
 * kinds, attributes, parent/link choice and end-to-end latency are the core's `SpanSpec`s: span
 * templates are computed by the core once per topic and cached here; per message the core
 * returns only the message-dependent attributes as numbers (see the addon's `SpanModel`).
 */
import {
  Attributes,
  Context,
  context,
  Counter,
  Histogram,
  Link,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
  propagation,
} from '@opentelemetry/api';
import {
  InstrumentationBase,
  InstrumentationConfig,
  InstrumentationNodeModuleDefinition,
  isWrapped,
} from '@opentelemetry/instrumentation';
import native = require('./native');
import { extractKafka, extractKafkaBatch, injectKafka, KafkaHeaders, lastRemoteValid, NAMES, traceparentsOf } from './propagator';

const VERSION = '0.1.0';
const DELTA_KEYS = NAMES.deltaKeys;
const DELTA_KINDS = NAMES.deltaKinds;
const DELTA_COUNT = DELTA_KEYS.length;
const SOURCE_AMBIENT = 0;
const SOURCE_REMOTE = 1;
const SOURCE_POLL = 2;

/** What a hook gets besides the span. */
export interface MessageInfo {
  topic: string;
  message: KafkaMessageLike;
}

/** The parts of a KafkaJS message the instrumentation reads. */
export interface KafkaMessageLike {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: KafkaHeaders;
  partition?: number;
  offset?: string;
  timestamp?: string;
}

export interface KafkaJsInstrumentationConfig extends InstrumentationConfig {
  /** `parent` (default: the producer's context is the parent) or `link` (semconv-strict). */
  strategy?: 'parent' | 'link';
  /** Record `messaging.kafka.message.key` for UTF-8 keys (default true). */
  recordMessageKey?: boolean;
  /** Record `messaging.message.body.size` (default false). */
  recordBodySize?: boolean;
  /** Only these topics (exact names or `*` globs); empty = all. */
  includeTopics?: string[];
  /** Never these topics (wins over include). */
  excludeTopics?: string[];
  /** Called with each `send` span before the message is sent. */
  producerHook?: (span: Span, info: MessageInfo) => void;
  /** Called with each `process` span before the handler runs. */
  consumerHook?: (span: Span, info: MessageInfo) => void;
  /** Record the messaging metrics (default true). */
  metrics?: boolean;
}

interface Spec {
  name: string;
  kind: number;
  attributes: Attributes;
  metricAttributes: Attributes;
  parent: number;
  links: number[];
}

interface ClientTag {
  clientId?: string;
  brokers?: string;
}

/** Per client (producer or consumer): the core's model and the templates it computed. */
class Model {
  readonly core: native.SpanModel;
  private readonly send = new Map<string, Spec>();
  private readonly process = new Map<string, Spec>();
  private readonly allowed = new Map<string, boolean>();
  private readonly metricAttrs = new Map<string, Attributes>();

  constructor(config: KafkaJsInstrumentationConfig, tag: ClientTag, groupId?: string) {
    this.core = new native.SpanModel({
      strategy: config.strategy,
      recordMessageKey: config.recordMessageKey,
      recordBodySize: config.recordBodySize,
      includeTopics: config.includeTopics,
      excludeTopics: config.excludeTopics,
      clientId: tag.clientId,
      consumerGroup: groupId,
      brokers: tag.brokers,
    });
  }

  allows(topic: string): boolean {
    let a = this.allowed.get(topic);
    if (a === undefined) {
      a = this.core.allows(topic);
      this.allowed.set(topic, a);
    }
    return a;
  }

  sendTemplate(topic: string): Spec {
    let s = this.send.get(topic);
    if (s === undefined) {
      s = this.core.sendTemplate(topic) as Spec;
      this.send.set(topic, s);
    }
    return s;
  }

  processTemplate(topic: string, remote: boolean, ambient: boolean, batch: boolean): Spec {
    const key = `${topic}\u0000${remote ? 1 : 0}${ambient ? 1 : 0}${batch ? 1 : 0}`;
    let s = this.process.get(key);
    if (s === undefined) {
      s = this.core.processTemplate(topic, remote, ambient, batch) as Spec;
      this.process.set(key, s);
    }
    return s;
  }

  /** Metric attributes: the template's plus the per-message ones the core flagged. */
  metricAttributes(spec: Spec, bits: number, partition: number): Attributes {
    if ((bits >> 8) & 0xff) {
      const key = `${spec.name}\u0000${partition}`;
      let a = this.metricAttrs.get(key);
      if (a === undefined) {
        a = { ...spec.metricAttributes };
        for (let i = 0; i < DELTA_COUNT; i++) {
          if ((bits >> (8 + i)) & 1 && DELTA_KINDS[i] === 2) a[DELTA_KEYS[i]] = String(partition);
        }
        if (this.metricAttrs.size < 10_000) this.metricAttrs.set(key, a);
      }
      return a;
    }
    return spec.metricAttributes;
  }
}

/** Fills `attrs` with the per-message attributes the core returned as `bits` + `out`. */
function applyDelta(attrs: Attributes, bits: number, out: Float64Array, base: number, partition: number, key: unknown): void {
  for (let i = 0; i < DELTA_COUNT; i++) {
    if (((bits >> i) & 1) === 0) continue;
    const kind = DELTA_KINDS[i];
    const v = out[base + i];
    if (kind === 0) attrs[DELTA_KEYS[i]] = v;
    else if (kind === 1) attrs[DELTA_KEYS[i]] = v === 1;
    else if (kind === 2) attrs[DELTA_KEYS[i]] = String(partition);
    else attrs[DELTA_KEYS[i]] = typeof key === 'string' ? key : (key as Buffer).toString('utf8');
  }
}

function payloadLength(value: unknown): number {
  if (value === null || value === undefined) return -1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  return (value as Buffer).length ?? 0;
}

function errorType(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { type?: unknown; name?: unknown };
    if (typeof e.type === 'string' && e.type) return e.type;
    if (typeof e.name === 'string' && e.name) return e.name;
  }
  return '';
}

const processState = new WeakMap<object, { span: Span; ctx: Context; ended: boolean }>();

/**
 * The context of a message's `process` span inside an `eachBatch` handler (each message has its
 * own parent), or undefined when the message is not traced. Use with `context.with(...)`.
 */
export function messageContext(message: object): Context | undefined {
  return processState.get(message)?.ctx;
}

/**
 * Runs `fn` inside the `process` span of `message` (from an `eachBatch` handler), so what it
 * does becomes a child of that message's span. Ends the span when `fn` settles.
 */
export function withMessageSpan<T>(message: object, fn: () => T): T {
  const state = processState.get(message);
  if (state === undefined) return fn();
  const finish = (err?: unknown) => {
    if (err !== undefined) markError(state.span, err);
    if (!state.ended) {
      state.ended = true;
      state.span.end();
    }
  };
  try {
    const r = context.with(state.ctx, fn);
    if (r && typeof (r as { then?: unknown }).then === 'function') {
      return (r as unknown as Promise<unknown>).then(
        (v) => {
          finish();
          return v;
        },
        (e) => {
          finish(e);
          throw e;
        },
      ) as unknown as T;
    }
    finish();
    return r;
  } catch (e) {
    finish(e);
    throw e;
  }
}

let errorModel: native.SpanModel | undefined;
function markError(span: Span, err: unknown): void {
  errorModel ??= new native.SpanModel();
  const outcome = errorModel.errorOutcome(errorType(err));
  span.setAttributes(outcome.attributes as Attributes);
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.name });
}

const kafkaTags = new WeakMap<object, ClientTag>();

/** KafkaJS instrumentation backed by the kafka-trace core. */
export class KafkaJsInstrumentation extends InstrumentationBase<KafkaJsInstrumentationConfig> {
  private _sent?: Counter;
  private _consumed?: Counter;
  private _opDuration?: Histogram;
  private _processDuration?: Histogram;
  private _e2e?: Histogram;
  private readonly _out = new Float64Array(DELTA_COUNT);
  private _originalKafka: unknown;

  constructor(config: KafkaJsInstrumentationConfig = {}) {
    super('kafka-trace', VERSION, config);
    // Fail at construction, not on the first message, on a bad strategy.
    new native.SpanModel({ strategy: config.strategy });
  }

  protected override _updateMetricInstruments(): void {
    const m = this.meter;
    this._sent = m.createCounter(NAMES.metricSentMessages, { unit: NAMES.unitMessages });
    this._consumed = m.createCounter(NAMES.metricConsumedMessages, { unit: NAMES.unitMessages });
    this._opDuration = m.createHistogram(NAMES.metricOperationDuration, { unit: NAMES.unitSeconds });
    this._processDuration = m.createHistogram(NAMES.metricProcessDuration, { unit: NAMES.unitSeconds });
    this._e2e = m.createHistogram(NAMES.metricE2ELatency, { unit: NAMES.unitSeconds });
  }

  private get metricsOn(): boolean {
    return this.getConfig().metrics !== false;
  }

  protected init() {
    const kafkajs = new InstrumentationNodeModuleDefinition(
      'kafkajs',
      ['>=1.4.0 <3'],
      (moduleExports: any) => {
        const proto = moduleExports?.Kafka?.prototype;
        if (!proto) return moduleExports;
        if (isWrapped(proto.producer)) this._unwrap(proto, 'producer');
        if (isWrapped(proto.consumer)) this._unwrap(proto, 'consumer');
        this._wrap(proto, 'producer', this._producerPatch());
        this._wrap(proto, 'consumer', this._consumerPatch());
        // Remember each client's clientId and brokers (KafkaJS keeps them private).
        const Original = moduleExports.Kafka;
        if (!this._originalKafka) this._originalKafka = Original;
        const Tagged = class Kafka extends Original {
          constructor(config: any) {
            super(config);
            const brokers = Array.isArray(config?.brokers) ? config.brokers.join(',') : undefined;
            kafkaTags.set(this, { clientId: config?.clientId ?? 'kafkajs', brokers });
          }
        };
        try {
          moduleExports.Kafka = Tagged;
        } catch {
          /* read-only export: spans simply lack client id and server address */
        }
        return moduleExports;
      },
      (moduleExports: any) => {
        if (this._originalKafka && moduleExports) moduleExports.Kafka = this._originalKafka;
        const proto = moduleExports?.Kafka?.prototype;
        if (proto && isWrapped(proto.producer)) this._unwrap(proto, 'producer');
        if (proto && isWrapped(proto.consumer)) this._unwrap(proto, 'consumer');
      },
    );
    const nest = new InstrumentationNodeModuleDefinition(
      '@nestjs/microservices',
      ['>=8 <13'],
      (moduleExports: any) => {
        // Nest loads kafkajs with a dynamic `import('kafkajs')`, which require hooks do not see.
        // Loading it through `require` first puts the instrumented module in the CommonJS cache
        // that the dynamic import then returns.
        try {
          require('kafkajs');
        } catch {
          /* kafkajs not installed next to us: Nest will fail to load it anyway */
        }
        const proto = moduleExports?.ServerKafka?.prototype;
        if (proto && typeof proto.getHandlerByPattern === 'function') {
          if (isWrapped(proto.getHandlerByPattern)) this._unwrap(proto, 'getHandlerByPattern');
          this._wrap(proto, 'getHandlerByPattern', (original: any) =>
            function (this: unknown, pattern: unknown, ...rest: unknown[]) {
              const span = trace.getActiveSpan();
              if (span !== undefined && typeof pattern === 'string') {
                span.setAttribute(NAMES.nestjsPattern, pattern);
              }
              return original.call(this, pattern, ...rest);
            },
          );
        }
        return moduleExports;
      },
      (moduleExports: any) => {
        const proto = moduleExports?.ServerKafka?.prototype;
        if (proto && isWrapped(proto.getHandlerByPattern)) this._unwrap(proto, 'getHandlerByPattern');
      },
    );
    return [kafkajs, nest];
  }

  // ------------------------------------------------------------------------------- producer

  private _producerPatch() {
    const inst = this;
    return (original: (...args: any[]) => any) =>
      function (this: object, ...args: any[]) {
        const producer = original.apply(this, args);
        const model = new Model(inst.getConfig(), kafkaTags.get(this) ?? {});
        inst._patchSenders(producer, model);
        if (typeof producer.transaction === 'function') {
          const transaction = producer.transaction;
          producer.transaction = async function (this: unknown, ...targs: unknown[]) {
            const tx = await transaction.apply(this, targs);
            inst._patchSenders(tx, model);
            return tx;
          };
        }
        return producer;
      };
  }

  private _patchSenders(target: any, model: Model): void {
    const inst = this;
    if (typeof target.send === 'function') {
      const send = target.send;
      target.send = function (this: unknown, record: any) {
        return inst._traceSend(model, [record], () => send.call(this, record));
      };
    }
    if (typeof target.sendBatch === 'function') {
      const sendBatch = target.sendBatch;
      target.sendBatch = function (this: unknown, batch: any) {
        return inst._traceSend(model, batch?.topicMessages ?? [], () => sendBatch.call(this, batch));
      };
    }
  }

  private _traceSend(model: Model, records: any[], send: () => Promise<any[]>): Promise<any[]> {
    if (!this.isEnabled()) return send();
    const tracer = this.tracer;
    const config = this.getConfig();
    const active = context.active();
    const started: { span: Span; topic: string; partition: number; index: number; spec: Spec; bits: number; message: KafkaMessageLike }[] = [];
    const perPartitionIndex = new Map<string, number>();
    const start = performance.now();
    for (const record of records) {
      const topic: string | undefined = record?.topic;
      const messages: KafkaMessageLike[] | undefined = record?.messages;
      if (typeof topic !== 'string' || !Array.isArray(messages) || !model.allows(topic)) continue;
      const spec = model.sendTemplate(topic);
      // One native call for the per-message attributes of every message to this topic.
      const list = messages.filter((m) => m !== null && typeof m === 'object');
      const n = list.length;
      const nums = new Float64Array(2 * n);
      const keys: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const m = list[i];
        nums[2 * i] = typeof m.partition === 'number' ? m.partition : -1;
        nums[2 * i + 1] = payloadLength(m.value);
        keys[i] = m.key ?? null;
      }
      const deltas = new Float64Array(DELTA_COUNT * n);
      const bitsOf = new Uint32Array(n);
      model.core.sendBatchDelta(topic, nums, keys, deltas, bitsOf);
      for (let i = 0; i < n; i++) {
        const message = list[i];
        const partition = nums[2 * i];
        const bits = bitsOf[i];
        const attrs: Attributes = { ...spec.attributes };
        applyDelta(attrs, bits, deltas, DELTA_COUNT * i, partition, message.key);
        const span = tracer.startSpan(spec.name, { kind: spec.kind as SpanKind, attributes: attrs }, active);
        if (config.producerHook) {
          try {
            config.producerHook(span, { topic, message });
          } catch {
            /* a hook never breaks sending */
          }
        }
        const pkey = `${topic}\u0000${partition}`;
        const index = perPartitionIndex.get(pkey) ?? 0;
        perPartitionIndex.set(pkey, index + 1);
        started.push({ span, topic, partition, index, spec, bits, message });
      }
    }
    if (started.length === 0) return send();
    // One native call for every traceparent of this send, then the headers.
    const contexts = started.map((s) => s.span.spanContext());
    const traceparents: string[] = new Array(started.length);
    try {
      traceparentsOf(contexts, traceparents);
    } catch {
      traceparents.fill('');
    }
    for (let i = 0; i < started.length; i++) {
      const message = started[i].message;
      try {
        if (message.headers == null) message.headers = {};
        if (traceparents[i] !== '') injectKafka(trace.setSpan(active, started[i].span), message.headers, traceparents[i]);
      } catch {
        /* headers of an unexpected shape: send untraced rather than fail */
      }
    }
    let result: Promise<any[]>;
    try {
      result = send();
    } catch (err) {
      this._endSends(model, started, undefined, err, start);
      throw err;
    }
    return Promise.resolve(result).then(
      (meta) => {
        this._endSends(model, started, meta, undefined, start);
        return meta;
      },
      (err) => {
        this._endSends(model, started, undefined, err, start);
        throw err;
      },
    );
  }

  private _endSends(
    model: Model,
    started: { span: Span; topic: string; partition: number; index: number; spec: Spec; bits: number }[],
    meta: any[] | undefined,
    err: unknown,
    start: number,
  ): void {
    const seconds = (performance.now() - start) / 1000;
    // The error attributes of a failed send, as the core writes them (e.g. its `_OTHER`).
    const failed = err === undefined ? undefined : model.core.errorOutcome(errorType(err)).attributes;
    // KafkaJS answers per topic-partition: index the answer once per send.
    const byTopic = new Map<string, any[]>();
    if (Array.isArray(meta)) {
      for (const m of meta) {
        const list = byTopic.get(m?.topicName);
        if (list === undefined) byTopic.set(m?.topicName, [m]);
        else list.push(m);
      }
    }
    // The acknowledged partition and offset of each message, then one native call for all.
    const acked = new Float64Array(2 * started.length).fill(-1);
    const hasAck: boolean[] = new Array(started.length).fill(false);
    if (err === undefined && Array.isArray(meta)) {
      for (let i = 0; i < started.length; i++) {
        const s = started[i];
        // A message's own partition is known when the caller chose it or when the topic went to
        // a single partition (then offsets follow the order of the messages).
        const forTopic = byTopic.get(s.topic) ?? [];
        const hit = s.partition >= 0 ? forTopic.find((m) => m.partition === s.partition) : forTopic.length === 1 ? forTopic[0] : undefined;
        if (hit !== undefined && Number(hit.errorCode ?? 0) === 0) {
          const base = Number(hit.baseOffset ?? hit.offset);
          acked[2 * i] = hit.partition;
          acked[2 * i + 1] = Number.isFinite(base) ? base + s.index : -1;
          hasAck[i] = true;
        }
      }
    }
    const outs = new Float64Array(DELTA_COUNT * started.length);
    const outBits = new Uint32Array(started.length);
    if (hasAck.includes(true)) model.core.sendOutcomeBatchDelta(acked, outs, outBits);
    for (let i = 0; i < started.length; i++) {
      const s = started[i];
      if (err !== undefined) {
        markError(s.span, err);
      } else if (hasAck[i]) {
        const attrs: Attributes = {};
        applyDelta(attrs, outBits[i], outs, DELTA_COUNT * i, acked[2 * i], undefined);
        s.span.setAttributes(attrs);
      }
      s.span.end();
      if (this.metricsOn) {
        const attrs = err === undefined ? model.metricAttributes(s.spec, s.bits, s.partition) : { ...s.spec.metricAttributes, ...(failed as Attributes) };
        this._sent?.add(1, attrs);
        this._opDuration?.record(seconds, attrs);
      }
    }
  }

  // ------------------------------------------------------------------------------- consumer

  private _consumerPatch() {
    const inst = this;
    return (original: (...args: any[]) => any) =>
      function (this: object, ...args: any[]) {
        const consumer = original.apply(this, args);
        const groupId: string | undefined = args[0]?.groupId;
        const model = new Model(inst.getConfig(), kafkaTags.get(this) ?? {}, groupId);
        const run = consumer.run;
        consumer.run = function (this: unknown, config: any) {
          if (config && typeof config === 'object') {
            config = { ...config };
            if (typeof config.eachMessage === 'function') config.eachMessage = inst._wrapEachMessage(model, config.eachMessage);
            if (typeof config.eachBatch === 'function') config.eachBatch = inst._wrapEachBatch(model, config.eachBatch);
          }
          return run.call(this, config);
        };
        return consumer;
      };
  }

  private _wrapEachMessage(model: Model, handler: (payload: any) => Promise<void>) {
    const inst = this;
    return function (this: unknown, payload: any) {
      if (!inst.isEnabled()) return handler.call(this, payload);
      const topic: string = payload?.topic;
      const message: KafkaMessageLike = payload?.message;
      if (typeof topic !== 'string' || message == null || !model.allows(topic)) return handler.call(this, payload);
      const ambient = context.active();
      const ambientValid = trace.getSpan(ambient) !== undefined && trace.getSpanContext(ambient) !== undefined;
      let remote: Context = ambient;
      let remoteValid = false;
      try {
        remote = extractKafka(ambient, message.headers);
        remoteValid = lastRemoteValid;
      } catch {
        /* never let header contents reach the handler as an exception */
      }
      const spec = model.processTemplate(topic, remoteValid, ambientValid, false);
      const out = inst._out;
      const partition = Number(payload.partition ?? -1);
      const bits = model.core.processDelta(
        topic,
        partition,
        Number(message.offset),
        message.key,
        payloadLength(message.value),
        Number(message.timestamp),
        Date.now(),
        out,
      );
      const attrs: Attributes = { ...spec.attributes };
      applyDelta(attrs, bits, out, 0, partition, message.key);
      const links = linksFor(spec.links, ambient, remote, undefined);
      // The baggage travels with the message whatever the parent is.
      const parentCtx = spec.parent === SOURCE_REMOTE ? remote : withoutRemoteSpan(ambient, remote);
      const span = inst.tracer.startSpan(spec.name, { kind: spec.kind as SpanKind, attributes: attrs, links }, parentCtx);
      const config = inst.getConfig();
      if (config.consumerHook) {
        try {
          config.consumerHook(span, { topic, message });
        } catch {
          /* a hook never breaks consuming */
        }
      }
      const start = performance.now();
      const metricAttrs = inst.metricsOn ? model.metricAttributes(spec, bits, partition) : undefined;
      if (metricAttrs) {
        inst._consumed?.add(1, metricAttrs);
        const e2e = (bits >> 5) & 1 ? out[5] : NaN;
        if (!Number.isNaN(e2e)) inst._e2e?.record(e2e / 1000, metricAttrs);
      }
      const finish = (err?: unknown) => {
        if (err !== undefined) markError(span, err);
        span.end();
        if (metricAttrs) inst._processDuration?.record((performance.now() - start) / 1000, metricAttrs);
      };
      let result: unknown;
      try {
        result = context.with(trace.setSpan(parentCtx, span), () => handler.call(this, payload));
      } catch (err) {
        finish(err);
        throw err;
      }
      return Promise.resolve(result).then(
        (v) => {
          finish();
          return v;
        },
        (err) => {
          finish(err);
          throw err;
        },
      );
    };
  }

  private _wrapEachBatch(model: Model, handler: (payload: any) => Promise<void>) {
    const inst = this;
    return function (this: unknown, payload: any) {
      if (!inst.isEnabled()) return handler.call(this, payload);
      const batch = payload?.batch;
      const topic: string = batch?.topic;
      const messages: KafkaMessageLike[] = Array.isArray(batch?.messages) ? batch.messages : [];
      if (typeof topic !== 'string' || messages.length === 0 || !model.allows(topic)) return handler.call(this, payload);
      const tracer = inst.tracer;
      const ambient = context.active();
      const pollSpec = model.core.pollSpan([topic], messages.length) as Spec;
      const poll = tracer.startSpan(pollSpec.name, { kind: pollSpec.kind as SpanKind, attributes: pollSpec.attributes }, ambient);
      const pollCtx = trace.setSpan(ambient, poll);
      const partition = Number(batch.partition ?? -1);
      const n = messages.length;
      // One native call for every message's context, one for every message's attributes.
      const nums = new Float64Array(4 * n);
      const keys: unknown[] = new Array(n);
      const contexts: Context[] = new Array(n);
      const valid: boolean[] = new Array(n);
      try {
        extractKafkaBatch(ambient, messages.map((m) => m.headers), contexts, valid);
      } catch {
        for (let i = 0; i < n; i++) {
          contexts[i] ??= ambient;
          valid[i] ??= false;
        }
      }
      for (let i = 0; i < n; i++) {
        const m = messages[i];
        nums[4 * i] = Number(m.offset);
        nums[4 * i + 1] = payloadLength(m.value);
        nums[4 * i + 2] = Number(m.timestamp);
        keys[i] = m.key ?? null;
      }
      const out = new Float64Array(DELTA_COUNT * n);
      const bits = new Uint32Array(n);
      model.core.processBatchDelta(topic, partition, nums, keys, Date.now(), out, bits);
      const config = inst.getConfig();
      const states: { span: Span; ctx: Context; ended: boolean }[] = [];
      for (let i = 0; i < n; i++) {
        const m = messages[i];
        const spec = model.processTemplate(topic, valid[i], false, true);
        const attrs: Attributes = { ...spec.attributes };
        applyDelta(attrs, bits[i], out, DELTA_COUNT * i, partition, m.key);
        const links = linksFor(spec.links, ambient, contexts[i], pollCtx);
        const parentCtx =
          spec.parent === SOURCE_REMOTE ? contexts[i] : spec.parent === SOURCE_POLL ? withBaggageOf(pollCtx, contexts[i]) : ambient;
        const span = tracer.startSpan(spec.name, { kind: spec.kind as SpanKind, attributes: attrs, links }, parentCtx);
        if (config.consumerHook) {
          try {
            config.consumerHook(span, { topic, message: m });
          } catch {
            /* a hook never breaks consuming */
          }
        }
        const state = { span, ctx: trace.setSpan(parentCtx, span), ended: false };
        processState.set(m, state);
        states.push(state);
        if (inst.metricsOn) {
          const ma = model.metricAttributes(spec, bits[i], partition);
          inst._consumed?.add(1, ma);
          if ((bits[i] >> 5) & 1) inst._e2e?.record(out[DELTA_COUNT * i + 5] / 1000, ma);
        }
      }
      const start = performance.now();
      const finish = (err?: unknown) => {
        for (const s of states) {
          if (!s.ended) {
            if (err !== undefined) markError(s.span, err);
            s.ended = true;
            s.span.end();
          }
        }
        if (err !== undefined) markError(poll, err);
        poll.end();
        if (inst.metricsOn) inst._opDuration?.record((performance.now() - start) / 1000, pollSpec.metricAttributes);
      };
      let result: unknown;
      try {
        result = context.with(pollCtx, () => handler.call(this, payload));
      } catch (err) {
        finish(err);
        throw err;
      }
      return Promise.resolve(result).then(
        (v) => {
          finish();
          return v;
        },
        (err) => {
          finish(err);
          throw err;
        },
      );
    };
  }
}

function withoutRemoteSpan(ambient: Context, remote: Context): Context {
  // `remote` is `ambient` plus the remote span context and the baggage: keep only the baggage.
  const bag = propagationBaggage(remote);
  return bag === undefined ? ambient : setBaggage(ambient, bag);
}

function withBaggageOf(target: Context, source: Context): Context {
  const bag = propagationBaggage(source);
  return bag === undefined ? target : setBaggage(target, bag);
}

const propagationBaggage = (ctx: Context) => propagation.getBaggage(ctx);
const setBaggage = (ctx: Context, bag: ReturnType<typeof propagation.createBaggage>) => propagation.setBaggage(ctx, bag);

function linksFor(sources: number[], ambient: Context, remote: Context, poll: Context | undefined): Link[] | undefined {
  if (sources.length === 0) return undefined;
  const links: Link[] = [];
  for (const s of sources) {
    const ctx = s === SOURCE_AMBIENT ? ambient : s === SOURCE_REMOTE ? remote : poll;
    const sc = ctx === undefined ? undefined : trace.getSpanContext(ctx);
    if (sc !== undefined) links.push({ context: sc });
  }
  return links;
}

void ROOT_CONTEXT;
