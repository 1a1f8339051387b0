/**
 * W3C trace context through Kafka headers, backed by the kafka-trace Rust core.
 *
 * Nothing here parses or formats a header: the core (through the addon) does, and this file
 * only moves values between KafkaJS / `@opentelemetry/api` shapes and the addon's compact ones.
 */
import {
  Context,
  propagation,
  SpanContext,
  TextMapGetter,
  TextMapPropagator,
  TextMapSetter,
  trace,
  TraceState,
  Baggage,
  ROOT_CONTEXT,
  baggageEntryMetadataFromString,
  BaggageEntry,
  createContextKey,
} from '@opentelemetry/api';
// The module's Buffer, not the global one: Node's global `Buffer` is an accessor property, and
// every read of it in a hot function is a global load IC calling its getter.
import { Buffer } from 'buffer';
import native = require('./native');
import { BoundedCache } from './bounded';

/** Names and layouts, read once from the core. */
export const NAMES = native.names();
const LAYOUT = NAMES.layout;
const TID = LAYOUT.compactTraceId;
const SID = LAYOUT.compactSpanId;
const HEAD = TID + SID + LAYOUT.compactFlags;
const SAME_TRACESTATE = LAYOUT.sameTracestate.charCodeAt(0);
const EMPTY = Buffer.alloc(0);
// Scratch memory shared with the addon (see the addon's `js_memory::scratch`): header bytes are
// copied in with TypedArray#set and results read back, instead of passing Buffers through napi.
const SCRATCH_VIEW = native.scratch();
const SCRATCH: Buffer | null = SCRATCH_VIEW ? Buffer.from(SCRATCH_VIEW.buffer, SCRATCH_VIEW.byteOffset, SCRATCH_VIEW.byteLength) : null;
const SCRATCH_OUT = LAYOUT.scratchOut;
/** The scratch memory as bytes (null when another copy of the addon took it first). */
export const SCRATCH_BYTES: Buffer | null = SCRATCH;
/** The scratch input region's numbers (`layout`'s `PROCESS_INPUTS`, `FINISH_INPUTS`). */
export const SCRATCH_IN: Float64Array | null = SCRATCH_VIEW ? new Float64Array(SCRATCH_VIEW.buffer, SCRATCH_VIEW.byteOffset, LAYOUT.scratchBytes / 8) : null;
/** A scratch call's result numbers: a message's numbers, its ids, the remote parent's validity. */
export const SCRATCH_RESULT: Float64Array | null = SCRATCH_VIEW
  ? new Float64Array(SCRATCH_VIEW.buffer, SCRATCH_VIEW.byteOffset + SCRATCH_OUT + LAYOUT.scratchBytes, LAYOUT.stride + LAYOUT.idStride + 1)
  : null;
/** Where a scratch call's input bytes start. */
export const SCRATCH_INPUT_BYTES = LAYOUT.scratchBytes;
/** The most input bytes a scratch call takes. */
export const SCRATCH_INPUT_ROOM = SCRATCH_OUT - LAYOUT.scratchBytes;
const MISSING = NAMES.errorNames.indexOf('missing');
const KIND_OTHER = 0;
const KIND_TRACEPARENT = 1;
const KIND_TRACESTATE = 2;
const KIND_BAGGAGE = 3;

/**
 * The context key of the remote context a consumer continued, as the core accepted it (trace id,
 * whole flags including the W3C Level 2 random flag, every tracestate member). The handler's
 * context keeps it (the core's `HandlerContext.keep_remote`), so a send from the handler writes
 * what the core's `send_context` composes from it, whatever the SDK span kept.
 */
export const KEPT_REMOTE = createContextKey('kafka-trace kept remote context');

/** The kept remote context of `ctx`, as the addon takes it. */
export function keptRemoteOf(ctx: Context): native.KeptRemoteJs | undefined {
  const sc = ctx.getValue(KEPT_REMOTE) as SpanContext | undefined;
  if (sc === undefined) return undefined;
  return { traceId: sc.traceId, flags: sc.traceFlags, tracestate: sc.traceState?.serialize() ?? '' };
}

/** A KafkaJS header value, as a producer may set it or a consumer receives it. */
export type HeaderValue = Buffer | string | (Buffer | string | null)[] | null | undefined;
/** KafkaJS `IHeaders`. */
export type KafkaHeaders = Record<string, HeaderValue>;

const kinds = new BoundedCache(10_000, (name) => native.headerKind(name));
/** Which of our headers a name is (the core's answer, kept per distinct name). */
export function headerKind(name: string): number {
  return kinds.get(name);
}

/**
 * `@opentelemetry/api` TraceState over the core's tracestate codec. Keeps the (already
 * validated, normalized) string, or the raw header Buffer it is byte-identical to, and decodes
 * only on use.
 */
export class KafkaTraceState implements TraceState {
  private _serialized: string | undefined;
  private _raw: Buffer | undefined;
  private _values: HeaderValue;
  private _members: string[] | undefined;

  /**
   * @param serialized a normalized tracestate
   * @param raw a header value the core found byte-identical to its normalized form
   * @param values header value(s) of a message with a valid parent, read by the core on first use
   */
  constructor(serialized?: string, raw?: Buffer, values?: HeaderValue) {
    this._serialized = serialized;
    this._raw = raw;
    this._values = values;
  }

  serialize(): string {
    if (this._serialized === undefined) {
      if (this._values !== undefined) this._serialized = native.tracestateOf(this._values);
      else this._serialized = this._raw === undefined ? '' : this._raw.toString('latin1');
      this._raw = undefined;
      this._values = undefined;
    }
    return this._serialized as string;
  }

  set(key: string, value: string): TraceState {
    const next = native.tracestateSet(this.serialize(), key, value);
    return next == null ? this : new KafkaTraceState(next);
  }

  unset(key: string): TraceState {
    return new KafkaTraceState(native.tracestateUnset(this.serialize(), key));
  }

  get(key: string): string | undefined {
    if (this._members === undefined) {
      const members = native.tracestateMembers(this.serialize());
      this._members = typeof members === 'number' ? [] : members;
    }
    const m = this._members;
    for (let i = 0; i < m.length; i += 2) if (m[i] === key) return m[i + 1];
    return undefined;
  }
}

function concatValues(a: HeaderValue, b: HeaderValue): HeaderValue {
  return ([] as (Buffer | string | null)[]).concat(a as never, b as never);
}

/**
 * The last extract's outcome: whether the headers held a usable parent, and the error code when
 * it started a new root (0 when valid). A plain object, not exported `let`s: a CommonJS module's
 * exported binding is a property store on `exports` at every write.
 */
export const extracted = { valid: false, code: 0 };

function fromCompact(ctx: Context, r: string | number, rawTracestate: HeaderValue): Context {
  if (typeof r === 'number') {
    extracted.valid = false;
    extracted.code = r;
    return ctx;
  }
  extracted.valid = true;
  extracted.code = 0;
  let traceState: TraceState | undefined;
  if (r.length > HEAD) {
    traceState =
      r.charCodeAt(HEAD) === SAME_TRACESTATE
        ? new KafkaTraceState(undefined, rawTracestate as Buffer)
        : new KafkaTraceState(r.substring(HEAD));
  }
  return trace.setSpanContext(ctx, spanContextOf(r, traceState));
}

/** The value of one lowercase hex digit of the core's compact form. */
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

function spanContextOf(compactHead: string, traceState: TraceState | undefined): SpanContext {
  return {
    traceId: compactHead.substring(0, TID),
    spanId: compactHead.substring(TID, TID + SID),
    traceFlags: 16 * hexDigit(compactHead.charCodeAt(TID + SID)) + hexDigit(compactHead.charCodeAt(TID + SID + 1)),
    isRemote: true,
    traceState,
  };
}

/**
 * The remote span context whose compact head a scratch call wrote at the start of the output
 * region; its tracestate is read from `tracestate` (the message's header value(s)) on first use.
 */
export function remoteFromScratch(tracestate: HeaderValue): SpanContext {
  const compactHead = (SCRATCH as Buffer).latin1Slice(SCRATCH_OUT, SCRATCH_OUT + HEAD);
  return spanContextOf(compactHead, tracestate === undefined ? undefined : new KafkaTraceState(undefined, undefined, tracestate));
}

/** The baggage of a message's `baggage` header value(s), or undefined. */
export function baggageOfValues(values: HeaderValue): Baggage | undefined {
  if (values === undefined) return undefined;
  return propagation.getBaggage(withBaggage(ROOT_CONTEXT, values));
}

function withBaggage(ctx: Context, values: HeaderValue): Context {
  const flat = native.parseBaggage(values);
  if (flat.length === 0) return ctx;
  const entries: Record<string, BaggageEntry> = {};
  for (let i = 0; i < flat.length; i += 3) {
    entries[flat[i]] = flat[i + 2]
      ? { value: flat[i + 1], metadata: baggageEntryMetadataFromString(flat[i + 2]) }
      : { value: flat[i + 1] };
  }
  return propagation.setBaggage(ctx, propagation.createBaggage(entries));
}

/** The input bytes one extract call takes (from `SCRATCH_INPUT_BYTES`, after the input numbers). */
const EXTRACT_ROOM = SCRATCH_INPUT_ROOM;
/**
 * The core's per-message extract (`extract_parent_in` in the addon): the traceparent value's byte
 * length in input number 0 and its bytes at `SCRATCH_INPUT_BYTES`; answers, for a valid parent,
 * its trace id and span id hex followed by one character whose code is the flags; only the span id
 * and the flags' character when the trace id is the last valid answer's; the number
 * `SAME_PARENT` when the bytes are those of the last valid answer; otherwise the number `-code`.
 * A bare Node-API function of no arguments (no napi-rs call scope), with its own memory of its
 * last valid answer, which {@link lastParent} mirrors.
 */
const extractParent: (() => string | number) | null = SCRATCH !== null ? (native.extractParentCall() as () => string | number) : null;
const SAME_PARENT = LAYOUT.sameParent;
/** The ids and flags of `extractParent`'s last valid answer (what a short or "same" answer completes). */
const lastParent = { traceId: '', spanId: '', traceFlags: 0 };

/** `ctx` with the parent `extractParent` answered (unchanged for a code). */
function withParent(ctx: Context, r: string | number, lazyTracestate: HeaderValue): Context {
  const last = lastParent;
  if (typeof r === 'string') {
    if (r.length === SID + 1) {
      last.spanId = r.substring(0, SID);
      last.traceFlags = r.charCodeAt(SID);
    } else {
      last.traceId = r.substring(0, TID);
      last.spanId = r.substring(TID, TID + SID);
      last.traceFlags = r.charCodeAt(TID + SID);
    }
  } else if (r !== SAME_PARENT) {
    extracted.valid = false;
    extracted.code = -r;
    return ctx;
  }
  extracted.valid = true;
  extracted.code = 0;
  return trace.setSpanContext(ctx, {
    traceId: last.traceId,
    spanId: last.spanId,
    traceFlags: last.traceFlags,
    isRemote: true,
    traceState: lazyTracestate === undefined ? undefined : new KafkaTraceState(undefined, undefined, lazyTracestate),
  });
}

function extractValues(ctx: Context, tp: HeaderValue, ts: HeaderValue, bg: HeaderValue, any: boolean): Context {
  if (!any) {
    // No header of ours at all: nothing for the core to read.
    extracted.valid = false;
    extracted.code = MISSING;
    return ctx;
  }
  let out: Context;
  if (extractParent !== null && Buffer.isBuffer(tp) && tp.length <= EXTRACT_ROOM && (ts === undefined || Buffer.isBuffer(ts))) {
    // The parent now; the tracestate only if something reads it (KafkaTraceState).
    (SCRATCH_IN as Float64Array)[0] = tp.length;
    (SCRATCH as Buffer).set(tp, SCRATCH_INPUT_BYTES);
    out = withParent(ctx, extractParent(), ts);
  } else if (extractParent !== null && typeof tp === 'string' && tp.length * 3 <= EXTRACT_ROOM) {
    // A getter that decodes to strings: the same call, the tracestate read lazily.
    (SCRATCH_IN as Float64Array)[0] = (SCRATCH as Buffer).utf8Write(tp, SCRATCH_INPUT_BYTES, EXTRACT_ROOM);
    out = withParent(ctx, extractParent(), ts);
  } else if (Buffer.isBuffer(tp) && (ts === undefined || Buffer.isBuffer(ts))) {
    // Larger than the scratch memory takes.
    out = fromCompact(ctx, native.extractBuffers(tp, ts === undefined ? EMPTY : ts), ts);
  } else {
    out = fromCompact(ctx, native.extract(tp, ts), ts);
  }
  return bg === undefined ? out : withBaggage(out, bg);
}

/** What {@link gather} found: our headers' values (undefined = absent), whether any was there. */
export const gathered: { tp: HeaderValue; ts: HeaderValue; bg: HeaderValue; any: boolean } = { tp: undefined, ts: undefined, bg: undefined, any: false };

/**
 * The names met at each of the first {@link SEEN} places of the last headers {@link gather} read,
 * and their kinds: a producer's messages list the same names in the same order, so a name is
 * usually the very string seen there last time (one reference comparison instead of a map lookup).
 */
const SEEN = 8;
const seenNames: (string | undefined)[] = new Array(SEEN).fill(undefined);
const seenKinds = new Int32Array(SEEN);

/** Collects the values of our headers (each name classified by the core) from KafkaJS headers. */
export function gather(headers: KafkaHeaders | undefined | null): void {
  let tp: HeaderValue, ts: HeaderValue, bg: HeaderValue;
  let any = false;
  if (headers != null) {
    let at = 0;
    for (const name in headers) {
      let kind: number;
      if (at < SEEN) {
        if (seenNames[at] === name) kind = seenKinds[at];
        else {
          kind = headerKind(name);
          seenNames[at] = name;
          seenKinds[at] = kind;
        }
        at++;
      } else kind = headerKind(name);
      if (kind === KIND_OTHER) continue;
      any = true;
      let v = headers[name];
      if (v === undefined) v = null;
      if (kind === KIND_TRACEPARENT) tp = tp === undefined ? v : concatValues(tp, v);
      else if (kind === KIND_TRACESTATE) ts = ts === undefined ? v : concatValues(ts, v);
      else if (kind === KIND_BAGGAGE) bg = bg === undefined ? v : concatValues(bg, v);
    }
  }
  gathered.tp = tp;
  gathered.ts = ts;
  gathered.bg = bg;
  gathered.any = any;
}

/** Drops what {@link gather} found (the header values are not kept alive past their use). */
export function releaseGathered(): void {
  gathered.tp = gathered.ts = gathered.bg = undefined;
}

/**
 * Reads the trace context of a KafkaJS message's headers into `ctx`: the remote span context
 * (when the core accepts the headers) and the baggage. Never throws on header contents.
 */
export function extractKafka(ctx: Context, headers: KafkaHeaders | undefined | null): Context {
  gather(headers);
  const { tp, ts, bg, any } = gathered;
  gathered.tp = gathered.ts = gathered.bg = undefined;
  return extractValues(ctx, tp, ts, bg, any);
}

const BATCH_MAX = 256;
const batchLengths = new Int32Array(2 * BATCH_MAX);
const batchIndex: number[] = new Array(BATCH_MAX);
const batchTs: HeaderValue[] = new Array(BATCH_MAX);
const batchBg: HeaderValue[] = new Array(BATCH_MAX);

function flushBatch(ctx: Context, count: number, contexts: Context[], valid: boolean[]): void {
  if (count === 0) return;
  const read = native.extractScratchBatch(batchLengths, count);
  let maxEnd = 0;
  for (let j = 0; j < read; j++) if (batchLengths[2 * j] >= 0 && batchLengths[2 * j + 1] > maxEnd) maxEnd = batchLengths[2 * j + 1];
  const all = maxEnd > 0 ? (SCRATCH as Buffer).latin1Slice(SCRATCH_OUT, SCRATCH_OUT + maxEnd) : '';
  for (let j = 0; j < count; j++) {
    const k = batchIndex[j];
    if (j >= read) {
      // The output region was full (rare: 8 KiB holds ~80 contexts): one call for this one.
      contexts[k] = extractValues(ctx, pendingTp[j], batchTs[j], batchBg[j], true);
    } else {
      const a = batchLengths[2 * j];
      const out = fromCompact(ctx, a < 0 ? -a : all.substring(a, batchLengths[2 * j + 1]), batchTs[j]);
      contexts[k] = batchBg[j] === undefined ? out : withBaggage(out, batchBg[j]);
    }
    valid[k] = extracted.valid;
    pendingTp[j] = batchTs[j] = batchBg[j] = undefined;
  }
}
const pendingTp: HeaderValue[] = new Array(BATCH_MAX);

/**
 * `extractKafka` for a whole batch (an `eachBatch`): the common shape (Buffer values) is read by
 * the core in one native call per up to 256 messages / 8 KiB of headers. Fills `contexts[i]` and
 * `valid[i]` (whether message i had a usable parent).
 */
export function extractKafkaBatch(ctx: Context, headersList: (KafkaHeaders | undefined | null)[], contexts: Context[], valid: boolean[]): void {
  let count = 0;
  let at = 0;
  for (let i = 0; i < headersList.length; i++) {
    gather(headersList[i]);
    const { tp, ts, bg, any } = gathered;
    gathered.tp = gathered.ts = gathered.bg = undefined;
    if (!any) {
      contexts[i] = ctx;
      valid[i] = false;
      continue;
    }
    const tpLen = tp === undefined ? 0 : Buffer.isBuffer(tp) ? tp.length : -2;
    const tsLen = ts === undefined ? 0 : Buffer.isBuffer(ts) ? ts.length : -2;
    if (SCRATCH === null || tpLen < 0 || tsLen < 0 || tpLen + tsLen > SCRATCH_OUT) {
      // Read the pending chunk first: extractValues may use the scratch memory it sits in.
      flushBatch(ctx, count, contexts, valid);
      count = 0;
      at = 0;
      contexts[i] = extractValues(ctx, tp, ts, bg, true);
      valid[i] = extracted.valid;
      continue;
    }
    if (count === BATCH_MAX || at + tpLen + tsLen > SCRATCH_OUT) {
      flushBatch(ctx, count, contexts, valid);
      count = 0;
      at = 0;
    }
    if (tp !== undefined) SCRATCH.set(tp as Buffer, at);
    at += tpLen;
    if (ts !== undefined) SCRATCH.set(ts as Buffer, at);
    at += tsLen;
    batchLengths[2 * count] = tp === undefined ? -1 : tpLen;
    batchLengths[2 * count + 1] = ts === undefined ? -1 : tsLen;
    batchIndex[count] = i;
    pendingTp[count] = tp;
    batchTs[count] = ts;
    batchBg[count] = bg;
    count++;
  }
  flushBatch(ctx, count, contexts, valid);
}

/** The baggage of `ctx` as the addon takes it: `[key, value, properties, …]`. */
function flatBaggage(ctx: Context): string[] {
  const bag = propagation.getBaggage(ctx);
  if (bag === undefined) return [];
  const flat: string[] = [];
  for (const [key, entry] of bag.getAllEntries()) flat.push(key, entry.value, entry.metadata?.toString() ?? '');
  return flat;
}

/** What the core's `send_context` writes for the span of `ctx`: [traceparent, tracestate, baggage] or []. */
function outgoingOf(ctx: Context): string[] {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined) return [];
  const sampled = (sc.traceFlags & 1) === 1;
  return native.sendContextValues(sc.traceId + sc.spanId, sampled, sc.traceState?.serialize() ?? '', keptRemoteOf(ctx), flatBaggage(ctx));
}

/**
 * The trace headers of many messages sent from one context (`ctx`: the send's context, for its
 * kept remote context and baggage), each under its own span, in one native call: the core's
 * `send_context` and its header write policy (our headers replaced in any case, copies dropped,
 * missing ones appended). Rewrites each `headers[i]` object in place.
 */
export function injectSends(ctx: Context, spans: SpanContext[], headers: KafkaHeaders[]): void {
  if (appendOnly(ctx, spans, headers) && (injectPlanned(spans, headers) || injectScratch(spans, headers))) return;
  const n = spans.length;
  let ids = '';
  const sampled = new Uint8Array(n);
  const names: string[] = [];
  const counts = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    ids += spans[i].traceId + spans[i].spanId;
    sampled[i] = spans[i].traceFlags & 1;
    const own = Object.keys(headers[i]);
    counts[i] = own.length;
    for (const name of own) names.push(name);
  }
  const sdkTracestate = n > 0 ? (spans[0].traceState?.serialize() ?? '') : '';
  const plan = native.sendHeaders(ids, sampled, sdkTracestate, keptRemoteOf(ctx), flatBaggage(ctx), names, counts);
  let at = 0;
  let nameAt = 0;
  for (let i = 0; i < n; i++) {
    const entries = plan[at++] as number;
    const own = names.slice(nameAt, nameAt + counts[i]);
    nameAt += counts[i];
    if (entries > 0) applyPlan(headers[i], own, plan, at, entries);
    at += 2 * entries;
  }
}

/** The header name of each `HeaderKind` the core writes. */
const NAME_OF_KIND: string[] = [];
for (const name of NAMES.fields) NAME_OF_KIND[headerKind(name)] = name;
const SCRATCH_SPAN_IDS = TID + SID;
/** Messages per scratch inject call (their ids, flags and the tracestate fit the input region). */
const INJECT_CHUNK = 64;

function hasOurs(headers: KafkaHeaders): boolean {
  for (const name in headers) if (headerKind(name) !== KIND_OTHER) return true;
  return false;
}

/**
 * Whether the core only appends to these messages' headers: no baggage and no kept remote
 * context in `ctx`, and no header of ours in any message yet (the shape {@link injectPlanned}
 * and {@link injectScratch} take).
 */
function appendOnly(ctx: Context, spans: SpanContext[], headers: KafkaHeaders[]): boolean {
  if (spans.length === 0 || ctx.getValue(KEPT_REMOTE) !== undefined) return false;
  const bag = propagation.getBaggage(ctx);
  if (bag !== undefined && bag.getAllEntries().length > 0) return false;
  for (let i = 0; i < headers.length; i++) if (hasOurs(headers[i])) return false;
  return true;
}

/** A core inject plan as one fixed-shape JavaScript object (read per message). */
interface Plan {
  names: string[];
  values: (string | null)[];
  before: string;
  between: string;
  afterSampled: string;
  afterUnsampled: string;
}

function planOf(p: native.InjectPlan | null | undefined): Plan | null {
  if (p == null) return null;
  const { before, between, afterSampled, afterUnsampled } = p;
  return { names: p.names.slice(), values: p.values.map((v) => v ?? null), before, between, afterSampled, afterUnsampled };
}

/**
 * The core's {@link native.InjectPlan} for an SDK tracestate, asked once per distinct string.
 * A plan pays off only when its tracestate comes back: past the first 1,000 strings (a vendor
 * that writes a member per span makes every one new) an unknown string gets no plan, and the
 * send takes the one-call scratch path instead of asking for a plan it would never reuse.
 */
const injectPlans = new BoundedCache<Plan | null>(
  1_000,
  (sdkTracestate) => planOf(native.injectPlan(sdkTracestate)),
  () => null,
);

/** Per character code below 128: bit 0 = a lowercase hex digit, bit 1 = one that is not '0'. */
const HEX_CLASS = new Uint8Array(128);
for (const c of '0123456789abcdef') HEX_CLASS[c.charCodeAt(0)] = c === '0' ? 1 : 3;

/**
 * An id the plan's template takes as it is: `len` lowercase hex digits, not all zeros (anything
 * else goes to the core, which decides what, if anything, to write for it). One table load per
 * character: half the time of comparing ranges.
 */
function plainId(id: string, len: number): boolean {
  if (typeof id !== 'string' || id.length !== len) return false;
  let all = 1;
  let any = 0;
  for (let i = 0; i < len; i++) {
    const c = id.charCodeAt(i);
    if (c > 127) return false;
    const k = HEX_CLASS[c];
    all &= k;
    any |= k;
  }
  return all === 1 && (any & 2) === 2;
}

/**
 * The last trace id {@link plainIds} found plain (a send's spans, a trace's sends share it); at
 * first an object no id can be.
 */
let lastPlainTrace: unknown = {};

/** Whether both ids of `sc` are plain ({@link plainId}); the trace id is checked once per new value. */
function plainIds(sc: SpanContext): boolean {
  const traceId = sc.traceId;
  if (traceId !== lastPlainTrace) {
    if (!plainId(traceId, TID)) return false;
    lastPlainTrace = traceId;
  }
  return plainId(sc.spanId, SID);
}

/**
 * {@link injectSends} of an append-only send without calling the addon per message: the core's
 * plan for the SDK tracestate ({@link native.InjectPlan}: the header names and values it appends,
 * the traceparent as a template) filled with each span's ids. Returns false (nothing written)
 * when there is no plan or an id is not plain.
 */
function injectPlanned(spans: SpanContext[], headers: KafkaHeaders[]): boolean {
  const n = spans.length;
  for (let i = 0; i < n; i++) if (!plainIds(spans[i])) return false;
  const plan = injectPlans.get(spans[0].traceState?.serialize() ?? '');
  if (plan === null) return false;
  const names = plan.names;
  for (let i = 0; i < n; i++) for (let e = 0; e < names.length; e++) setHeader(headers[i], names[e], planValue(plan, e, spans[i]));
  return true;
}

/** Value `e` of `plan` for the span `sc` (its ids plain). */
function planValue(plan: Plan, e: number, sc: SpanContext): string {
  const v = plan.values[e];
  if (v != null) return v;
  return plan.before + sc.traceId + plan.between + sc.spanId + ((sc.traceFlags & 1) === 1 ? plan.afterSampled : plan.afterUnsampled);
}

/** The core's plan for the span of `ctx` when it applies: no baggage, no kept remote context, plain ids. */
function contextPlan(ctx: Context, sc: SpanContext): Plan | null {
  if (ctx.getValue(KEPT_REMOTE) !== undefined || !plainIds(sc)) return null;
  const bag = propagation.getBaggage(ctx);
  if (bag !== undefined && bag.getAllEntries().length > 0) return null;
  return injectPlans.get(sc.traceState?.serialize() ?? '');
}

/**
 * {@link injectSends} of an append-only send over the scratch memory (the core's
 * `inject_scratch`). Returns false (nothing written) when it does not apply.
 */
function injectScratch(spans: SpanContext[], headers: KafkaHeaders[]): boolean {
  const buf = SCRATCH;
  const n = spans.length;
  if (buf === null) return false;
  const sdkTracestate = spans[0].traceState?.serialize() ?? '';
  if (sdkTracestate.length > SCRATCH_OUT - INJECT_CHUNK * (SCRATCH_SPAN_IDS + 1)) return false;
  for (let from = 0; from < n; ) {
    const count = Math.min(INJECT_CHUNK, n - from);
    let ids = '';
    for (let i = from; i < from + count; i++) {
      const { traceId, spanId } = spans[i];
      // Each span's ids in its own 48 bytes (a malformed id is the core's to refuse, not to shift).
      if (traceId.length !== TID || spanId.length !== SID) return from === 0 ? false : fail();
      ids += traceId + spanId;
    }
    if (buf.utf8Write(ids, 0, SCRATCH_OUT) !== SCRATCH_SPAN_IDS * count) return from === 0 ? false : fail();
    const flagsAt = SCRATCH_SPAN_IDS * count;
    for (let i = 0; i < count; i++) buf[flagsAt + i] = spans[from + i].traceFlags & 1;
    const tsAt = flagsAt + count;
    if (buf.utf8Write(sdkTracestate, tsAt, SCRATCH_OUT - tsAt) !== sdkTracestate.length) return from === 0 ? false : fail();
    const written = native.injectScratch(count, sdkTracestate.length);
    if (written <= 0) return from === 0 ? false : fail();
    let at = SCRATCH_OUT;
    for (let i = from; i < from + written; i++) {
      const entries = buf[at++];
      const h = headers[i];
      for (let e = 0; e < entries; e++) {
        const kind = buf[at];
        const len = buf[at + 1] | (buf[at + 2] << 8);
        at += 3;
        if (kind & 0x80) {
          h[NAME_OF_KIND[kind & 0x7f]] = sdkTracestate;
        } else {
          h[NAME_OF_KIND[kind]] = buf.latin1Slice(at, at + len);
          at += len;
        }
      }
    }
    from += written;
  }
  return true;
}

/** The core refused a later chunk after an earlier one was written (never expected). */
function fail(): never {
  throw new Error('kafka-trace: inject_scratch refused part of a send');
}

/**
 * Makes `headers` the list the core wrote: `plan[at..]` holds `entries` pairs (name, value),
 * a number value being the index in `own` of an existing value kept as it is.
 */
function applyPlan(headers: KafkaHeaders, own: string[], plan: (string | number)[], at: number, entries: number): void {
  // The prefix whose headers keep their names and places stays (a new value is assigned in place:
  // a rewritten traceparent first among 10,000 headers costs one assignment, not a re-laid
  // object); everything after the first moved, renamed or removed header is laid anew in the
  // core's order.
  let same = 0;
  while (same < entries && same < own.length && plan[at + 2 * same] === own[same]) {
    const v = plan[at + 2 * same + 1];
    if (typeof v === 'number' && v !== same) break;
    same++;
  }
  const old: KafkaHeaders = same === own.length ? {} : { ...headers };
  for (let j = 0; j < same; j++) {
    const v = plan[at + 2 * j + 1];
    if (typeof v !== 'number') setHeader(headers, own[j], v);
  }
  for (let j = same; j < own.length; j++) delete headers[own[j]];
  for (let j = same; j < entries; j++) {
    const name = plan[at + 2 * j] as string;
    const v = plan[at + 2 * j + 1];
    setHeader(headers, name, typeof v === 'number' ? old[own[v]] : v);
  }
}

/** `headers[name] = value`, also for a header named `__proto__` (an own property, not the prototype). */
function setHeader(headers: KafkaHeaders, name: string, value: HeaderValue): void {
  if (name === '__proto__') Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
  else headers[name] = value;
}

/**
 * Writes the context of `ctx` into a KafkaJS headers object as a send does: the core's
 * `send_context` and write policy. Returns false when `ctx` has no valid span.
 */
export function injectKafka(ctx: Context, headers: KafkaHeaders): boolean {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined) return false;
  // Plain ids are valid ones; an append-only write fills the core's plan.
  const plan = hasOurs(headers) ? null : contextPlan(ctx, sc);
  if (plan !== null) {
    for (let e = 0; e < plan.names.length; e++) setHeader(headers, plan.names[e], planValue(plan, e, sc));
    return true;
  }
  if (!trace.isSpanContextValid(sc)) return false;
  injectSends(ctx, [sc], [headers]);
  return true;
}

function valueOfGetter(v: unknown): HeaderValue {
  if (v === undefined || v === null) return null;
  return v as HeaderValue;
}

/**
 * `TextMapPropagator` for `@opentelemetry/api` (`propagation.setGlobalPropagator(...)` or
 * `NodeSDK({ textMapPropagator })`), backed by the core's codec. A getter may return strings,
 * string arrays, or Buffers (Kafka header values).
 */
export class KafkaTracePropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const sc = trace.getSpanContext(context);
    const plan = sc === undefined ? null : contextPlan(context, sc);
    if (plan !== null) {
      // The fields the core writes for this context, in its order (the plan's names).
      for (let e = 0; e < plan.names.length; e++) setter.set(carrier, plan.names[e], planValue(plan, e, sc as SpanContext));
      return;
    }
    const out = outgoingOf(context);
    // The core's values, in its order; "" = that header is not written.
    for (let i = 0; i < out.length; i++) if (out[i] !== '') setter.set(carrier, NAMES.fields[i], out[i]);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    let tp: HeaderValue, ts: HeaderValue, bg: HeaderValue;
    let any = false;
    try {
      for (const name of getter.keys(carrier)) {
        const kind = headerKind(name);
        if (kind === KIND_OTHER) continue;
        any = true;
        const v = valueOfGetter(getter.get(carrier, name));
        if (kind === KIND_TRACEPARENT) tp = tp === undefined ? v : concatValues(tp, v);
        else if (kind === KIND_TRACESTATE) ts = ts === undefined ? v : concatValues(ts, v);
        else if (kind === KIND_BAGGAGE) bg = bg === undefined ? v : concatValues(bg, v);
      }
      return extractValues(context, tp, ts, bg, any);
    } catch {
      return context;
    }
  }

  fields(): string[] {
    return NAMES.fields.slice();
  }
}
