/**
 * The lifecycle executor over `@opentelemetry/api`: it carries out the core's recipes and
 * finishes and decides nothing itself. A recipe says the span's name, kind, attributes, where
 * its parent and links come from and how to build the handler's context; a finish says the end
 * attributes, the status, when the span ends and every metric record.
 *
 * Shapes are KafkaJS's (`send` records and `RecordMetadata`, `eachMessage`/`eachBatch`
 * payloads), so the KafkaJS patches and any other caller use the same executor.
 *
 * **poll with KafkaJS.** The core defines poll as the receive call only. KafkaJS fetches
 * internally and has no receive call an instrumentation can time, so the KafkaJS patches make no
 * poll span and record no poll duration; a message of an `eachBatch` uses the context current
 * when the batch handler is called as its `poll` source (the core's rule for clients without a
 * receive call of their own). {@link KafkaTracing.poll} executes the poll recipe for callers that
 * do have a receive call.
 */
import {
  Baggage,
  BaggageEntry,
  Context,
  context,
  Link,
  Meter,
  metrics,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanContext,
  SpanKind,
  SpanStatusCode,
  trace,
  Tracer,
} from '@opentelemetry/api';
import { Buffer } from 'buffer'; // the module's, not the global accessor (see propagator.ts)
import { Instruments } from './instruments';
import {
  baggageOfValues,
  extractKafka,
  extractKafkaBatch,
  gather,
  gathered,
  injectSends,
  KafkaHeaders,
  KEPT_REMOTE,
  extracted as lastExtract,
  releaseGathered,
  remoteFromScratch,
  SCRATCH_BYTES,
  SCRATCH_IN,
  SCRATCH_INPUT_BYTES,
  SCRATCH_INPUT_ROOM,
  SCRATCH_RESULT,
} from './propagator';
import { attributesOf, E2E_AT, END_AT, ID_STRIDE, LAYOUT, orderedAttributes, Plan, Recipes, STRIDE, Template } from './recipes';

// Slots of the scratch calls' input numbers, as the core's layout names them.
const IN = Object.fromEntries(LAYOUT.processInputs.map((name, i) => [name, i])) as Record<string, number>;
const FIN = Object.fromEntries(LAYOUT.finishInputs.map((name, i) => [name, i])) as Record<string, number>;
const [IN_TOPIC, IN_PARTITION, IN_OFFSET, IN_PAYLOAD, IN_TIMESTAMP, IN_AMBIENT, IN_TP_LEN, IN_KEY_LEN] = [
  IN.topic,
  IN.partition,
  IN.offset,
  IN.payloadLength,
  IN.timestamp,
  IN.ambientSpan,
  IN.traceparentLength,
  IN.keyLength,
];
const [FIN_TEMPLATE, FIN_E2E, FIN_ELAPSED] = [FIN.template, FIN.e2e, FIN.elapsed];
/** A scratch call's numbers: the message's, then its ids, then the remote parent's validity. */
const RESULT_LEN = STRIDE + ID_STRIDE + 1;
const NOT_TRACED = -1;

/** The parts of a KafkaJS message the executor reads. */
export interface KafkaMessageLike {
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: KafkaHeaders;
  partition?: number;
  offset?: string;
  timestamp?: string;
}

/** What a hook gets besides the span. */
export interface MessageInfo {
  topic: string;
  message: KafkaMessageLike;
}

/** Options, spelled as the core's `OPTION_NAMES` (camelCase). */
export interface KafkaTracingOptions {
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
  /** `messaging.client.id`. */
  clientId?: string;
  /** `messaging.consumer.group.name`. */
  consumerGroup?: string;
  /** `server.address`/`server.port` from the first entry (`host:port,…` or a list). */
  bootstrapServers?: string | string[];
}

/** Where the executor's tracer, instruments and hooks come from (a getter each: they may change). */
export interface ExecutorEnv {
  tracer(): Tracer;
  instruments(): Instruments | undefined;
  producerHook?(): ((span: Span, info: MessageInfo) => void) | undefined;
  consumerHook?(): ((span: Span, info: MessageInfo) => void) | undefined;
}

/** What a {@link KafkaTracing} records with (default: the global tracer and meter providers). */
export interface KafkaTracingEnv {
  tracer?: Tracer;
  /** The instruments are created from it; `null` = record no metrics. */
  meter?: Meter | null;
  /** Called with each `send` span before the message is sent. */
  producerHook?: (span: Span, info: MessageInfo) => void;
  /** Called with each `process` span before the handler runs. */
  consumerHook?: (span: Span, info: MessageInfo) => void;
}

/** A KafkaJS `RecordMetadata`. */
interface Ack {
  topicName?: string;
  partition?: number;
  errorCode?: number;
  baseOffset?: string;
  offset?: string;
}

function payloadLength(value: unknown): number {
  if (value === null || value === undefined) return -1;
  if (typeof value === 'string') return Buffer.byteLength(value);
  return (value as Buffer).length ?? 0;
}

/** The error class of a KafkaJS error or exception ('' = unknown: the core reports `_OTHER`). */
function errorType(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { type?: unknown; name?: unknown };
    if (typeof e.type === 'string' && e.type) return e.type;
    if (typeof e.name === 'string' && e.name) return e.name;
  }
  return '';
}

const nowMs = () => performance.timeOrigin + performance.now();

/** The contexts a recipe's `parent` and `links` name. */
interface Sources {
  ambient: Context;
  remote: SpanContext | undefined;
  poll: Context;
}

function contextOf(source: string, s: Sources): Context {
  if (source === 'remote') return s.remote === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, s.remote);
  return source === 'poll' ? s.poll : s.ambient;
}

function linksOf(sources: string[], s: Sources): Link[] | undefined {
  if (sources.length === 0) return undefined;
  const links: Link[] = [];
  for (const source of sources) {
    const sc = source === 'remote' ? s.remote : trace.getSpanContext(source === 'poll' ? s.poll : s.ambient);
    if (sc !== undefined && trace.isSpanContextValid(sc)) links.push({ context: sc });
  }
  return links;
}

/**
 * Starts the span of template `t` with the core's sampling attributes only, and sets the others
 * only when the span is recording (the message-dependent ones from `out[base..]`, present where
 * `bits` says; a key-text slot takes the text of `key`).
 */
function startSpan(tracer: Tracer, t: Template, bits: number, out: Float64Array, base: number, key: unknown, s: Sources, startTime?: number): Span {
  const attributes = orderedAttributes(t.attributes, t.startKeys, bits, out, base, key);
  const span = tracer.startSpan(t.name, { kind: t.kind as SpanKind, attributes, links: linksOf(t.links, s), startTime }, contextOf(t.parent, s));
  if (t.recordedKeys.length > 0 && span.isRecording()) span.setAttributes(orderedAttributes(t.attributes, t.recordedKeys, bits, out, base, key));
  return span;
}

function mergeBaggage(base: Baggage | undefined, message: Baggage | undefined): Baggage | undefined {
  if (message === undefined) return base;
  if (base === undefined) return message;
  const entries: Record<string, BaggageEntry> = {};
  for (const [k, e] of base.getAllEntries()) entries[k] = e;
  for (const [k, e] of message.getAllEntries()) entries[k] = e;
  return propagation.createBaggage(entries);
}

/** The handler's context as the recipe's `HandlerContext` rule says. */
function handlerContext(t: Template, ambient: Context, messageBaggage: Baggage | undefined, remote: SpanContext | undefined, span: Span): Context {
  const rule = t.handler;
  let ctx = rule?.keepAmbient ? ambient : ROOT_CONTEXT;
  if (rule?.messageBaggage) {
    const bag = mergeBaggage(propagation.getBaggage(ctx), messageBaggage);
    if (bag !== undefined) ctx = propagation.setBaggage(ctx, bag);
  }
  if (rule?.keepRemote && remote !== undefined) ctx = ctx.setValue(KEPT_REMOTE, remote);
  return trace.setSpan(ctx, span);
}

/** Carries out a finish: end attributes, status, end time, metric records. */
function applyFinish(span: Span, plan: Plan, bits: number, out: Float64Array, base: number, startMs: number, instruments: Instruments | undefined): void {
  const after = out[base + END_AT];
  instruments?.record(plan, out, base);
  if (span.isRecording()) {
    const attrs = attributesOf(plan.attributes, bits, out, base, undefined);
    span.setAttributes(attrs);
    if (plan.statusCode === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: plan.statusDescription });
  }
  if (Number.isNaN(after)) span.end();
  else span.end(startMs + after);
}

/** Runs `fn` in `ctx`, then `done(error?)` once it settled; never swallows or changes its result. */
function runIn<T>(ctx: Context, fn: () => T, done: (err?: unknown) => void): T {
  let result: T;
  try {
    result = context.with(ctx, fn);
  } catch (err) {
    done(err);
    throw err;
  }
  if (result && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).then(
      (v) => {
        done();
        return v;
      },
      (err) => {
        done(err);
        throw err;
      },
    ) as unknown as T;
  }
  done();
  return result;
}

function safeHook(hook: ((span: Span, info: MessageInfo) => void) | undefined, span: Span, info: MessageInfo): void {
  if (hook === undefined) return;
  try {
    hook(span, info);
  } catch {
    /* a hook never breaks sending or consuming */
  }
}

/** The messages of one topic in one send call. */
interface SendGroup {
  topic: string;
  spans: Span[];
  templates: Uint32Array;
  chosen: Int32Array;
}

/** A message of an `eachBatch` while its handler runs. */
interface BatchMessageState {
  span: Span;
  ctx: Context;
  template: number;
  e2e: number;
  start: number;
  startMs: number;
  ended: boolean;
  tracing: KafkaTracing;
}

const batchState = new WeakMap<object, BatchMessageState>();

/**
 * The context of a message's `process` span inside an `eachBatch` handler (each message has its
 * own parent), or undefined when the message is not traced. Use with `context.with(...)`.
 */
export function messageContext(message: object): Context | undefined {
  return batchState.get(message)?.ctx;
}

/**
 * Runs `fn` inside the `process` span of `message` (from an `eachBatch` handler), so what it does
 * becomes a child of that message's span, and ends the span when `fn` settles.
 */
export function withMessageSpan<T>(message: object, fn: () => T): T {
  const state = batchState.get(message);
  if (state === undefined) return fn();
  return runIn(state.ctx, fn, (err) => state.tracing.endMessage(state, err));
}

/** The executor for one client (a producer or a consumer) and its options. */
export class KafkaTracing {
  readonly recipes: Recipes;
  private readonly env: ExecutorEnv;
  private readonly one = new Float64Array(RESULT_LEN);
  private readonly oneIds = new Uint32Array(ID_STRIDE);

  /**
   * @param options spelled as the core's `OPTION_NAMES`
   * @param env the tracer, instruments and hooks; default: the global tracer and meter providers
   */
  constructor(options: KafkaTracingOptions = {}, env: KafkaTracingEnv | ExecutorEnv = {}) {
    this.recipes = new Recipes(options);
    if (typeof env.tracer === 'function') {
      this.env = env as ExecutorEnv;
    } else {
      const e = env as KafkaTracingEnv;
      const tracer = e.tracer ?? trace.getTracer('kafka-trace');
      const instruments = e.meter === null ? undefined : new Instruments(e.meter ?? metrics.getMeter('kafka-trace'));
      this.env = { tracer: () => tracer, instruments: () => instruments, producerHook: () => e.producerHook, consumerHook: () => e.consumerHook };
    }
  }

  /**
   * Traces one KafkaJS `send`/`sendBatch` call: `records` are its `{ topic, messages }` entries,
   * `send` performs it. Each traced message gets a `send` span and the headers the core writes.
   */
  send<T>(records: { topic?: unknown; messages?: unknown }[], send: () => Promise<T>): Promise<T> {
    let groups: SendGroup[] = [];
    const ambient = context.active();
    const startMs = nowMs();
    const start = performance.now();
    try {
      groups = this.startSends(records, ambient);
    } catch {
      /* tracing never keeps a message from being sent */
    }
    if (groups.length === 0) return send();
    const done = (meta: unknown, err: unknown) => {
      try {
        this.endSends(groups, meta, err, start, startMs);
      } catch {
        for (const g of groups) for (const s of g.spans) s.end();
      }
    };
    let result: Promise<T>;
    try {
      result = send();
    } catch (err) {
      done(undefined, err);
      throw err;
    }
    return Promise.resolve(result).then(
      (meta) => {
        done(meta, undefined);
        return meta;
      },
      (err) => {
        done(undefined, err);
        throw err;
      },
    );
  }

  private startSends(records: { topic?: unknown; messages?: unknown }[], ambient: Context): SendGroup[] {
    const tracer = this.env.tracer();
    const groups: SendGroup[] = [];
    const spans: SpanContext[] = [];
    const headers: KafkaHeaders[] = [];
    const hook = this.env.producerHook?.();
    for (const record of records) {
      const topic = record?.topic;
      const list = record?.messages;
      if (typeof topic !== 'string' || !Array.isArray(list) || !this.recipes.allows(topic)) continue;
      const messages = (list as KafkaMessageLike[]).filter((m) => m !== null && typeof m === 'object');
      const n = messages.length;
      const nums = new Float64Array(2 * n);
      const keys: unknown[] = new Array(n);
      const chosen = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const m = messages[i];
        chosen[i] = typeof m.partition === 'number' && m.partition >= 0 ? m.partition : -1;
        nums[2 * i] = chosen[i];
        nums[2 * i + 1] = payloadLength(m.value);
        keys[i] = m.key ?? null;
      }
      const out = new Float64Array(STRIDE * n);
      const ids = new Uint32Array(ID_STRIDE * n);
      if (!this.recipes.core.sendStart(topic, nums, keys, out, ids)) continue;
      const group = { topic, spans: new Array<Span>(n), templates: new Uint32Array(n), chosen };
      const sources: Sources = { ambient, remote: undefined, poll: ambient };
      for (let i = 0; i < n; i++) {
        const t = this.recipes.template(ids[ID_STRIDE * i + 1]);
        const span = startSpan(tracer, t, ids[ID_STRIDE * i], out, STRIDE * i, messages[i].key, sources);
        safeHook(hook, span, { topic, message: messages[i] });
        group.spans[i] = span;
        group.templates[i] = ids[ID_STRIDE * i + 1];
        try {
          if (messages[i].headers == null) messages[i].headers = {};
          spans.push(span.spanContext());
          headers.push(messages[i].headers as KafkaHeaders);
        } catch {
          /* a frozen message: sent without our headers */
        }
      }
      groups.push(group);
    }
    if (groups.length > 0) {
      try {
        injectSends(ambient, spans, headers);
      } catch {
        /* headers of an unexpected shape: sent untraced rather than failed */
      }
    }
    return groups;
  }

  private endSends(groups: SendGroup[], meta: unknown, err: unknown, start: number, startMs: number): void {
    const elapsed = (performance.now() - start) / 1000;
    const failed = err === undefined ? null : errorType(err);
    const acks = Array.isArray(meta) ? (meta as Ack[]) : [];
    const instruments = this.env.instruments();
    for (const g of groups) {
      const answers: number[] = [];
      for (const a of acks) {
        if (a?.topicName !== g.topic || Number(a.errorCode ?? 0) !== 0 || typeof a.partition !== 'number') continue;
        const base = Number(a.baseOffset ?? a.offset);
        answers.push(a.partition, Number.isFinite(base) ? base : -1);
      }
      const n = g.spans.length;
      const out = new Float64Array(STRIDE * n);
      const ids = new Uint32Array(ID_STRIDE * n);
      this.recipes.core.sendFinish(g.templates, g.chosen, new Float64Array(answers), failed, elapsed, out, ids);
      for (let i = 0; i < n; i++) applyFinish(g.spans[i], this.recipes.plan(ids[ID_STRIDE * i + 1]), ids[ID_STRIDE * i], out, STRIDE * i, startMs, instruments);
    }
  }

  /** Traces one KafkaJS `eachMessage` call: a `process` span around `handler(payload)`. */
  eachMessage<T>(payload: { topic?: unknown; partition?: unknown; message?: KafkaMessageLike }, handler: () => T): T {
    const topic = payload?.topic;
    const message = payload?.message;
    if (typeof topic !== 'string' || message == null || !this.recipes.allows(topic)) return handler();
    let traced: { ctx: Context; done: (err?: unknown) => void } | undefined;
    try {
      traced = this.startProcess(topic, payload, message);
    } catch {
      /* tracing never keeps a handler from running */
    }
    return traced === undefined ? handler() : runIn(traced.ctx, handler, traced.done);
  }

  private startProcess(topic: string, payload: { partition?: unknown }, message: KafkaMessageLike): { ctx: Context; done: (err?: unknown) => void } | undefined {
    const ambient = context.active();
    const ambientSc = trace.getSpanContext(ambient);
    const ambientSpan = ambientSc !== undefined && trace.isSpanContextValid(ambientSc);
    const index = this.processScratch(topic, payload, message, ambientSpan);
    if (index === NOT_TRACED) return undefined;
    if (index >= 0) {
      // The numbers are copied out of the scratch memory before anything else can call the addon.
      const r = this.one;
      for (let j = 0; j < RESULT_LEN; j++) r[j] = (SCRATCH_RESULT as Float64Array)[j];
      const ts = gathered.ts;
      const bg = gathered.bg;
      releaseGathered();
      const remote = r[STRIDE + ID_STRIDE] === 1 ? remoteFromScratch(ts) : undefined;
      return this.startProcessSpan(topic, message, ambient, index, r, remote, bg === undefined ? undefined : baggageOfValues(bg));
    }
    return this.startProcessSlow(topic, payload, message, ambient, ambientSpan);
  }

  /**
   * One call into the core for the message's parent and recipe (its inputs and results in the
   * scratch memory): the template index, {@link NOT_TRACED}, or -2 when the message's shape
   * needs the general path. Leaves the tracestate and baggage values in `gathered`.
   */
  private processScratch(topic: string, payload: { partition?: unknown }, message: KafkaMessageLike, ambientSpan: boolean): number {
    const f = SCRATCH_IN;
    const bytes = SCRATCH_BYTES;
    if (f === null || bytes === null) return -2;
    try {
      gather(message.headers);
    } catch {
      return -2;
    }
    const tp = gathered.tp;
    if ((tp !== undefined && !Buffer.isBuffer(tp)) || (gathered.ts !== undefined && !Buffer.isBuffer(gathered.ts)) || (gathered.any && tp === undefined)) return -2;
    const key = message.key;
    const tpLen = tp === undefined ? -1 : tp.length;
    let keyLen = -1;
    let at = SCRATCH_INPUT_BYTES;
    if (tp !== undefined) {
      if (tpLen > SCRATCH_INPUT_ROOM) return -2;
      bytes.set(tp, at);
      at += tpLen;
    }
    if (key != null) {
      if (Buffer.isBuffer(key)) {
        if (at - SCRATCH_INPUT_BYTES + key.length > SCRATCH_INPUT_ROOM) return -2;
        bytes.set(key, at);
        keyLen = key.length;
      } else if (typeof key === 'string' && 3 * key.length <= SCRATCH_INPUT_ROOM - (at - SCRATCH_INPUT_BYTES)) {
        keyLen = bytes.utf8Write(key, at, 3 * key.length);
      } else {
        return -2;
      }
    }
    f[IN_TOPIC] = this.recipes.topicId(topic);
    f[IN_PARTITION] = Number(payload.partition ?? -1);
    f[IN_OFFSET] = Number(message.offset);
    f[IN_PAYLOAD] = payloadLength(message.value);
    f[IN_TIMESTAMP] = Number(message.timestamp);
    f[IN_AMBIENT] = ambientSpan ? 1 : 0;
    f[IN_TP_LEN] = tpLen;
    f[IN_KEY_LEN] = keyLen;
    const index = this.recipes.scratch.process();
    if (index < 0) releaseGathered();
    return index;
  }

  private startProcessSpan(
    topic: string,
    message: KafkaMessageLike,
    ambient: Context,
    index: number,
    r: Float64Array,
    remote: SpanContext | undefined,
    messageBaggage: Baggage | undefined,
  ): { ctx: Context; done: (err?: unknown) => void } {
    const t = this.recipes.template(index);
    const e2e = r[E2E_AT];
    const startMs = nowMs();
    const span = startSpan(this.env.tracer(), t, r[STRIDE], r, 0, message.key, { ambient, remote, poll: ambient });
    safeHook(this.env.consumerHook?.(), span, { topic, message });
    const ctx = handlerContext(t, ambient, messageBaggage, remote, span);
    const start = performance.now();
    return { ctx, done: (err) => this.endProcess(span, index, e2e, err, start, startMs) };
  }

  private startProcessSlow(
    topic: string,
    payload: { partition?: unknown },
    message: KafkaMessageLike,
    ambient: Context,
    ambientSpan: boolean,
  ): { ctx: Context; done: (err?: unknown) => void } | undefined {
    let extracted = ROOT_CONTEXT;
    let remoteValid = false;
    try {
      extracted = extractKafka(ROOT_CONTEXT, message.headers);
      remoteValid = lastExtract.valid;
    } catch {
      /* header contents never reach the handler as an exception */
    }
    const out = this.one;
    const ids = this.oneIds;
    const started = this.recipes.core.processStart(
      topic,
      Number(payload.partition ?? -1),
      Number(message.offset),
      message.key,
      payloadLength(message.value),
      Number(message.timestamp),
      remoteValid,
      ambientSpan,
      false,
      out,
      ids,
    );
    if (!started) return undefined;
    const index = ids[1];
    const t = this.recipes.template(index);
    const e2e = out[E2E_AT];
    const remote = remoteValid ? trace.getSpanContext(extracted) : undefined;
    const startMs = nowMs();
    const span = startSpan(this.env.tracer(), t, ids[0], out, 0, message.key, { ambient, remote, poll: ambient });
    safeHook(this.env.consumerHook?.(), span, { topic, message });
    const ctx = handlerContext(t, ambient, propagation.getBaggage(extracted), remote, span);
    const start = performance.now();
    return { ctx, done: (err) => this.endProcess(span, index, e2e, err, start, startMs) };
  }

  private endProcess(span: Span, template: number, e2e: number, err: unknown, start: number, startMs: number): void {
    const out = this.one;
    const ids = this.oneIds;
    const elapsed = (performance.now() - start) / 1000;
    try {
      const kept = err === undefined ? this.recipes.returnedFinish(template) : null;
      if (kept !== null && kept.e2e === !Number.isNaN(e2e)) {
        // The core's finish of a returned handler for this template, its values filled in.
        out.set(kept.numbers);
        for (const s of kept.elapsedSlots) out[s] = elapsed;
        for (const s of kept.e2eSlots) out[s] = e2e / 1000;
        applyFinish(span, this.recipes.plan(kept.plan), kept.bits, out, 0, startMs, this.env.instruments());
        return;
      }
      const f = SCRATCH_IN;
      if (err === undefined && f !== null) {
        f[FIN_TEMPLATE] = template;
        f[FIN_E2E] = e2e;
        f[FIN_ELAPSED] = elapsed;
        const plan = this.recipes.scratch.processFinish();
        if (plan >= 0) {
          for (let j = 0; j < RESULT_LEN; j++) out[j] = (SCRATCH_RESULT as Float64Array)[j];
          applyFinish(span, this.recipes.plan(plan), out[STRIDE], out, 0, startMs, this.env.instruments());
          return;
        }
      }
      this.recipes.core.processFinish(template, e2e, err === undefined ? null : errorType(err), elapsed, out, ids);
      applyFinish(span, this.recipes.plan(ids[1]), ids[0], out, 0, startMs, this.env.instruments());
    } catch {
      span.end();
    }
  }

  /** @internal Ends one message of a batch (from `withMessageSpan` or the batch's end). */
  endMessage(state: BatchMessageState, err?: unknown): void {
    if (state.ended) return;
    state.ended = true;
    this.endProcess(state.span, state.template, state.e2e, err, state.start, state.startMs);
  }

  /**
   * Traces one KafkaJS `eachBatch` call: a `process` span per message (its context for
   * `withMessageSpan`/`messageContext`), each ended when its `withMessageSpan` settles or else
   * when the batch handler does. The `poll` source is `poll` (the context of the poll span of
   * a receive call the caller traced with {@link KafkaTracing.poll}), by default the context
   * current at the call (KafkaJS has no receive call to trace).
   */
  eachBatch<T>(payload: { batch?: { topic?: unknown; partition?: unknown; messages?: unknown } }, handler: () => T, poll?: Context): T {
    const batch = payload?.batch;
    const topic = batch?.topic;
    const messages = (Array.isArray(batch?.messages) ? batch.messages : []) as KafkaMessageLike[];
    if (typeof topic !== 'string' || messages.length === 0 || !this.recipes.allows(topic)) return handler();
    const ambient = context.active();
    let states: BatchMessageState[] | undefined;
    try {
      states = this.startBatch(topic, batch?.partition, messages, ambient, poll ?? ambient);
    } catch {
      /* tracing never keeps a handler from running */
    }
    if (states === undefined) return handler();
    const started = states;
    return runIn(ambient, handler, (err) => {
      for (const s of started) this.endMessage(s, err);
    });
  }

  private startBatch(topic: string, partition: unknown, messages: KafkaMessageLike[], ambient: Context, poll: Context): BatchMessageState[] | undefined {
    const n = messages.length;
    const contexts: Context[] = new Array(n);
    const valid: boolean[] = new Array(n);
    try {
      extractKafkaBatch(ROOT_CONTEXT, messages.map((m) => m?.headers), contexts, valid);
    } catch {
      for (let i = 0; i < n; i++) {
        contexts[i] ??= ROOT_CONTEXT;
        valid[i] ??= false;
      }
    }
    const nums = new Float64Array(3 * n);
    const keys: unknown[] = new Array(n);
    const validBytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const m = messages[i];
      nums[3 * i] = Number(m?.offset);
      nums[3 * i + 1] = payloadLength(m?.value);
      nums[3 * i + 2] = Number(m?.timestamp);
      keys[i] = m?.key ?? null;
      validBytes[i] = valid[i] ? 1 : 0;
    }
    const out = new Float64Array(STRIDE * n);
    const ids = new Uint32Array(ID_STRIDE * n);
    if (!this.recipes.core.batchStart(topic, Number(partition ?? -1), nums, keys, validBytes, out, ids)) return undefined;
    const tracer = this.env.tracer();
    const hook = this.env.consumerHook?.();
    const states: BatchMessageState[] = [];
    const startMs = nowMs();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const index = ids[ID_STRIDE * i + 1];
      const t = this.recipes.template(index);
      const remote = valid[i] ? trace.getSpanContext(contexts[i]) : undefined;
      const span = startSpan(tracer, t, ids[ID_STRIDE * i], out, STRIDE * i, messages[i].key, { ambient, remote, poll });
      safeHook(hook, span, { topic, message: messages[i] });
      const ctx = handlerContext(t, ambient, propagation.getBaggage(contexts[i]), remote, span);
      const state: BatchMessageState = { span, ctx, template: index, e2e: out[STRIDE * i + E2E_AT], start, startMs, ended: false, tracing: this };
      batchState.set(messages[i], state);
      states.push(state);
    }
    return states;
  }

  /**
   * Traces a receive call: `receive()` returns the messages (or a promise of them); `countOf`
   * says how many it returned (default: the length of an array). The `poll` span covers the
   * call only, never the handlers; its parent is the current context.
   */
  poll<T>(topics: string[], receive: () => T | Promise<T>, countOf: (result: T) => number = (r) => (Array.isArray(r) ? r.length : 0)): Promise<T> {
    const ambient = context.active();
    const startMs = nowMs();
    const start = performance.now();
    const finish = (result: T | undefined, err: unknown) => {
      const elapsed = (performance.now() - start) / 1000;
      const index = this.recipes.core.pollStart(topics, err === undefined ? countOf(result as T) : 0, err !== undefined);
      if (index < 0) return;
      const t = this.recipes.template(index);
      const span = startSpan(this.env.tracer(), t, 0, this.one, 0, undefined, { ambient, remote: undefined, poll: ambient }, startMs);
      const out = this.one;
      const ids = this.oneIds;
      this.recipes.core.pollFinish(index, err === undefined ? null : errorType(err), elapsed, out, ids);
      applyFinish(span, this.recipes.plan(ids[1]), ids[0], out, 0, startMs, this.env.instruments());
    };
    let pending: T | Promise<T>;
    try {
      pending = receive();
    } catch (err) {
      finish(undefined, err);
      return Promise.reject(err);
    }
    return Promise.resolve(pending).then(
      (r) => {
        try {
          finish(r, undefined);
        } catch {
          /* tracing never fails a receive */
        }
        return r;
      },
      (err) => {
        try {
          finish(undefined, err);
        } catch {
          /* tracing never fails a receive */
        }
        throw err;
      },
    );
  }
}
