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
  baggageEntryMetadataFromString,
  BaggageEntry,
} from '@opentelemetry/api';
import native = require('./native');

/** Names and layout constants, read once from the core. */
export const NAMES = native.names();
const TID = NAMES.compactTraceIdLen;
const SID = NAMES.compactSpanIdLen;
const HEAD = TID + SID + NAMES.compactFlagsLen;
const SAME_TRACESTATE = NAMES.compactSameTracestate.charCodeAt(0);
const EMPTY = Buffer.alloc(0);
// Scratch memory shared with the addon (see the addon's `scratch`): header bytes are copied in
// with TypedArray#set and results read back, instead of passing Buffers through napi.
const SCRATCH_VIEW = native.scratch();
const SCRATCH: Buffer | null = SCRATCH_VIEW ? Buffer.from(SCRATCH_VIEW.buffer, SCRATCH_VIEW.byteOffset, SCRATCH_VIEW.byteLength) : null;
const [, SCRATCH_OUT] = native.scratchLayout();
const KIND_OTHER = 0;
const KIND_TRACEPARENT = 1;
const KIND_TRACESTATE = 2;
const KIND_BAGGAGE = 3;

/** A KafkaJS header value, as a producer may set it or a consumer receives it. */
export type HeaderValue = Buffer | string | (Buffer | string | null)[] | null | undefined;
/** KafkaJS `IHeaders`. */
export type KafkaHeaders = Record<string, HeaderValue>;

const kindCache = new Map<string, number>();
/** Which of our headers a name is (the core's answer, cached per distinct name). */
export function headerKind(name: string): number {
  let kind = kindCache.get(name);
  if (kind === undefined) {
    kind = native.headerKind(name);
    if (kindCache.size < 10_000) kindCache.set(name, kind);
  }
  return kind;
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
  private _header: string | undefined;

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

  /** The header value the core writes for this state ("" = none), computed once. */
  headerValue(): string {
    if (this._header === undefined) this._header = native.tracestateHeader(this.serialize());
    return this._header;
  }
}

function concatValues(a: HeaderValue, b: HeaderValue): HeaderValue {
  return ([] as (Buffer | string | null)[]).concat(a as never, b as never);
}

/** Result of the last `extractKafka`: whether the headers held a usable parent. */
export let lastRemoteValid = false;
/** The error code of the last `extractKafka` that started a new root (0 when valid). */
export let lastErrorCode = 0;

function fromCompact(ctx: Context, r: string | number, rawTracestate: HeaderValue, lazyTracestate?: HeaderValue): Context {
  if (typeof r === 'number') {
    lastRemoteValid = false;
    lastErrorCode = r;
    return ctx;
  }
  lastRemoteValid = true;
  lastErrorCode = 0;
  let traceState: TraceState | undefined;
  if (lazyTracestate !== undefined) {
    traceState = new KafkaTraceState(undefined, undefined, lazyTracestate);
  } else if (r.length > HEAD) {
    traceState =
      r.charCodeAt(HEAD) === SAME_TRACESTATE
        ? new KafkaTraceState(undefined, rawTracestate as Buffer)
        : new KafkaTraceState(r.substring(HEAD));
  }
  const spanContext: SpanContext = {
    traceId: r.substring(0, TID),
    spanId: r.substring(TID, TID + SID),
    traceFlags: parseInt(r.substring(TID + SID, HEAD), 16),
    isRemote: true,
    traceState,
  };
  return trace.setSpanContext(ctx, spanContext);
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

function extractValues(ctx: Context, tp: HeaderValue, ts: HeaderValue, bg: HeaderValue, any: boolean): Context {
  if (!any) {
    // No header of ours at all: nothing for the core to read.
    lastRemoteValid = false;
    lastErrorCode = 1;
    return ctx;
  }
  let r: string | number;
  if (Buffer.isBuffer(tp) && (ts === undefined || Buffer.isBuffer(ts))) {
    if (SCRATCH !== null && tp.length <= SCRATCH_OUT) {
      // The parent now; the tracestate only if something reads it (KafkaTraceState).
      SCRATCH.set(tp, 0);
      const n = native.extractScratchParent(tp.length);
      if (n < 0) {
        r = -n;
      } else {
        const out = fromCompact(ctx, SCRATCH.latin1Slice(SCRATCH_OUT, SCRATCH_OUT + n), undefined, ts);
        return bg === undefined ? out : withBaggage(out, bg);
      }
    } else {
      r = native.extractBuffers(tp, ts === undefined ? EMPTY : ts);
    }
  } else if (typeof tp === 'string' && SCRATCH !== null && tp.length * 3 <= SCRATCH_OUT) {
    // A getter that decodes to strings: same scratch path, the tracestate read lazily.
    const n = native.extractScratchParent(SCRATCH.utf8Write(tp, 0, SCRATCH_OUT));
    if (n < 0) {
      r = -n;
    } else {
      const out = fromCompact(ctx, SCRATCH.latin1Slice(SCRATCH_OUT, SCRATCH_OUT + n), undefined, ts);
      return bg === undefined ? out : withBaggage(out, bg);
    }
  } else {
    r = native.extract(tp, ts);
  }
  const out = fromCompact(ctx, r, ts);
  return bg === undefined ? out : withBaggage(out, bg);
}

/**
 * Reads the trace context of a KafkaJS message's headers into `ctx`: the remote span context
 * (when the core accepts the headers) and the baggage. Never throws on header contents.
 */
export function extractKafka(ctx: Context, headers: KafkaHeaders | undefined | null): Context {
  let tp: HeaderValue, ts: HeaderValue, bg: HeaderValue;
  let any = false;
  if (headers != null) {
    for (const name in headers) {
      const kind = headerKind(name);
      if (kind === KIND_OTHER) continue;
      any = true;
      let v = headers[name];
      if (v === undefined) v = null;
      if (kind === KIND_TRACEPARENT) tp = tp === undefined ? v : concatValues(tp, v);
      else if (kind === KIND_TRACESTATE) ts = ts === undefined ? v : concatValues(ts, v);
      else if (kind === KIND_BAGGAGE) bg = bg === undefined ? v : concatValues(bg, v);
    }
  }
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
    valid[k] = lastRemoteValid;
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
    const headers = headersList[i];
    let tp: HeaderValue, ts: HeaderValue, bg: HeaderValue;
    let any = false;
    if (headers != null) {
      for (const name in headers) {
        const kind = headerKind(name);
        if (kind === KIND_OTHER) continue;
        any = true;
        let v = headers[name];
        if (v === undefined) v = null;
        if (kind === KIND_TRACEPARENT) tp = tp === undefined ? v : concatValues(tp, v);
        else if (kind === KIND_TRACESTATE) ts = ts === undefined ? v : concatValues(ts, v);
        else if (kind === KIND_BAGGAGE) bg = bg === undefined ? v : concatValues(bg, v);
      }
    }
    if (!any) {
      contexts[i] = ctx;
      valid[i] = false;
      continue;
    }
    const tpLen = tp === undefined ? 0 : Buffer.isBuffer(tp) ? tp.length : -2;
    const tsLen = ts === undefined ? 0 : Buffer.isBuffer(ts) ? ts.length : -2;
    if (SCRATCH === null || tpLen < 0 || tsLen < 0 || tpLen + tsLen > SCRATCH_OUT) {
      contexts[i] = extractValues(ctx, tp, ts, bg, true);
      valid[i] = lastRemoteValid;
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
  for (let j = 0; j < count; j++) {
    pendingTp[j] = undefined;
    batchTs[j] = undefined;
    batchBg[j] = undefined;
  }
}

/** The three header values the core writes for the span context and baggage in `ctx`. */
export interface Outgoing {
  traceparent: string;
  tracestate: string;
  baggage: string;
}

const outgoing: Outgoing = { traceparent: '', tracestate: '', baggage: '' };

/** Fills the reused `outgoing` object; undefined when there is no valid span context to write. */
function outgoingOf(ctx: Context, traceparent?: string): Outgoing | undefined {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined) return undefined;
  const tp = traceparent ?? traceparentOf(sc.traceId, sc.spanId, sc.traceFlags);
  if (tp === '') return undefined;
  outgoing.traceparent = tp;
  const ts = sc.traceState;
  outgoing.tracestate =
    ts === undefined ? '' : ts instanceof KafkaTraceState ? ts.headerValue() : native.tracestateHeader(ts.serialize());
  const bag = propagation.getBaggage(ctx);
  outgoing.baggage = bag === undefined ? '' : baggageHeader(bag.getAllEntries());
  return outgoing;
}

function traceparentOf(traceId: string, spanId: string, flags: number): string {
  if (SCRATCH !== null && traceId.length === TID && spanId.length === SID) {
    // utf8Write never writes part of a character: a short count means non-ASCII input.
    if (SCRATCH.utf8Write(traceId, 0, TID) === TID && SCRATCH.utf8Write(spanId, TID, SID) === SID) {
      const n = native.traceparentScratch(flags);
      return n === 0 ? '' : SCRATCH.latin1Slice(SCRATCH_OUT, SCRATCH_OUT + n);
    }
  }
  return native.traceparentHeader(traceId, spanId, flags);
}

const TP_LEN = NAMES.traceparentLen;
const IDS = TID + SID;
const FLAGS_AT = 4096;
const TP_BATCH = Math.min(Math.floor(FLAGS_AT / IDS), Math.floor(SCRATCH_OUT / TP_LEN));

/**
 * The traceparent header values of many span contexts, one native call per chunk of messages
 * (a `send`/`sendBatch`). `out[i]` is "" for an invalid span context.
 */
export function traceparentsOf(contexts: { traceId: string; spanId: string; traceFlags: number }[], out: string[]): void {
  for (let start = 0; start < contexts.length; start += TP_BATCH) {
    const end = Math.min(contexts.length, start + TP_BATCH);
    let ids = '';
    let ok = SCRATCH !== null;
    for (let i = start; ok && i < end; i++) {
      const sc = contexts[i];
      if (sc.traceId.length !== TID || sc.spanId.length !== SID) ok = false;
      ids += sc.traceId + sc.spanId;
    }
    const count = end - start;
    // utf8Write never writes part of a character: a short count means non-ASCII input.
    if (!ok || (SCRATCH as Buffer).utf8Write(ids, 0, IDS * count) !== IDS * count) {
      for (let i = start; i < end; i++) out[i] = traceparentOf(contexts[i].traceId, contexts[i].spanId, contexts[i].traceFlags);
      continue;
    }
    const S = SCRATCH as Buffer;
    for (let i = 0; i < count; i++) S[FLAGS_AT + i] = contexts[start + i].traceFlags & 0xff;
    const written = native.traceparentScratchBatch(count);
    const all = S.latin1Slice(SCRATCH_OUT, SCRATCH_OUT + TP_LEN * written);
    for (let i = 0; i < count; i++) {
      if (i >= written) out[start + i] = traceparentOf(contexts[start + i].traceId, contexts[start + i].spanId, contexts[start + i].traceFlags);
      else out[start + i] = all.charCodeAt(TP_LEN * i) === 0 ? '' : all.substring(TP_LEN * i, TP_LEN * (i + 1));
    }
  }
}

function baggageHeader(entries: [string, BaggageEntry][]): string {
  if (entries.length === 0) return '';
  const flat: string[] = [];
  for (const [key, entry] of entries) flat.push(key, entry.value, entry.metadata?.toString() ?? '');
  return native.baggageHeader(flat);
}

/**
 * Writes the context of `ctx` into a KafkaJS headers object with the core's write policy:
 * our headers are replaced (any case, repeated values dropped), never appended twice, so a
 * forwarded or retried message carries one context. Returns false when `ctx` has no valid span.
 */
export function injectKafka(ctx: Context, headers: KafkaHeaders, traceparent?: string): boolean {
  const out = outgoingOf(ctx, traceparent);
  if (out === undefined) return false;
  let existing = false;
  for (const name in headers) {
    if (headerKind(name) !== KIND_OTHER) {
      existing = true;
      break;
    }
  }
  if (!existing) {
    // Nothing to replace: the core's list would be the headers plus ours, appended in order.
    headers[NAMES.traceparent] = out.traceparent;
    if (out.tracestate !== '') headers[NAMES.tracestate] = out.tracestate;
    if (out.baggage !== '') headers[NAMES.baggage] = out.baggage;
    return true;
  }
  const names = Object.keys(headers);
  const list = native.rewriteList(names, out.traceparent, out.tracestate, out.baggage);
  const old = { ...headers };
  for (const name of names) delete headers[name];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const v = list[i + 1];
    headers[name] = typeof v === 'number' ? old[names[v]] : v;
  }
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
    const out = outgoingOf(context);
    if (out === undefined) return;
    setter.set(carrier, NAMES.traceparent, out.traceparent);
    if (out.tracestate !== '') setter.set(carrier, NAMES.tracestate, out.tracestate);
    if (out.baggage !== '') setter.set(carrier, NAMES.baggage, out.baggage);
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
