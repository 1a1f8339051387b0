/**
 * The addon's lifecycle surface (`native.Tracing`, one per client) with the facade's caches:
 * templates (recipes without their message-dependent attributes) and plans (finishes without
 * their numbers) are fetched once by index; per message only numbers cross, laid out as the
 * addon's `layout` module defines (read from `NAMES.layout`, never spelled here).
 */
import { Attributes } from '@opentelemetry/api';
import { Buffer } from 'buffer'; // the module's, not the global accessor (see propagator.ts)
import native = require('./native');
import { NAMES } from './propagator';
import { BoundedCache } from './bounded';

export const LAYOUT = NAMES.layout;
export const STRIDE = LAYOUT.stride;
export const ID_STRIDE = LAYOUT.idStride;
export const METRIC_AT = LAYOUT.metricAt;
export const END_AT = LAYOUT.endAt;
export const E2E_AT = LAYOUT.e2eAt;
const DELTA_KEYS = LAYOUT.deltaKeys;
const DELTA_KINDS = LAYOUT.deltaKinds;
const DELTA_COUNT = DELTA_KEYS.length;
const KIND_NUMBER = 0;
const KIND_BOOL = 1;
const KIND_DECIMAL = 2;

export type Template = native.Template;
export type Plan = native.Plan;
/** {@link native.ReturnedFinish} with its numbers ready to copy. */
export type ReturnedFinish = Omit<native.ReturnedFinish, 'numbers'> & { numbers: Float64Array };

const warned = new Set<string>();

/** Topics whose answers a client keeps. */
const TOPICS_KEPT = 10_000;

/** One client's lifecycle: the core's `Lifecycle` for its options, with cached templates/plans. */
export class Recipes {
  readonly core: native.Tracing;
  /** The core's per-message scratch calls (bare Node-API functions of no arguments). */
  readonly scratch: { process: () => number; processFinish: () => number };
  private readonly templates: Template[] = [];
  private readonly plans: Plan[] = [];
  private readonly returned: (ReturnedFinish | null)[] = [];
  private readonly allowed: BoundedCache<boolean>;
  private readonly topics: BoundedCache<number>;

  /** `options` spelled as the core's `OPTION_NAMES` (camelCase); old spellings warn once. */
  constructor(options: object) {
    this.core = new native.Tracing(options as Record<string, unknown>);
    const core = this.core;
    this.scratch = core.scratchCalls() as { process: () => number; processFinish: () => number };
    this.allowed = new BoundedCache(TOPICS_KEPT, (topic) => core.allows(topic));
    this.topics = new BoundedCache(TOPICS_KEPT, (topic) => core.topicId(topic));
    const old = this.core.deprecations();
    for (let i = 0; i < old.length; i += 2) {
      if (warned.has(old[i])) continue;
      warned.add(old[i]);
      process.emitWarning(`kafka-trace: option "${old[i]}" is deprecated, use "${old[i + 1]}"`, 'DeprecationWarning');
    }
  }

  allows(topic: string): boolean {
    return this.allowed.get(topic);
  }

  /** The core's id of `topic` for its scratch calls. */
  topicId(topic: string): number {
    return this.topics.get(topic);
  }

  template(index: number): Template {
    return (this.templates[index] ??= this.core.template(index));
  }

  plan(index: number): Plan {
    return (this.plans[index] ??= this.core.plan(index));
  }

  /** The core's finish of a returned handler for process template `index` (null: none). */
  returnedFinish(index: number): ReturnedFinish | null {
    let r = this.returned[index];
    if (r === undefined) {
      const got = this.core.returnedFinish(index);
      r = got == null ? null : { ...got, numbers: Float64Array.from(got.numbers) };
      this.returned[index] = r;
    }
    return r;
  }
}

/**
 * Adds the message-dependent attributes in `out[base..]` (present where `bits` says) to `attrs`.
 * A key-text slot takes the text of `key` (the core checked it is UTF-8).
 */
export function applyDelta(attrs: Attributes, bits: number, out: Float64Array, base: number, key: unknown): void {
  if (bits === 0) return;
  for (let i = 0; i < DELTA_COUNT; i++) {
    if (((bits >> i) & 1) === 0) continue;
    const kind = DELTA_KINDS[i];
    const v = out[base + i];
    if (kind === KIND_NUMBER) attrs[DELTA_KEYS[i]] = v;
    else if (kind === KIND_BOOL) attrs[DELTA_KEYS[i]] = v === 1;
    else if (kind === KIND_DECIMAL) attrs[DELTA_KEYS[i]] = String(v);
    else attrs[DELTA_KEYS[i]] = keyText(key);
  }
}

/** The text of a key the core found to be UTF-8 (a Buffer is decoded in place, not copied). */
function keyText(key: unknown): string {
  if (typeof key === 'string') return key;
  if (Buffer.isBuffer(key)) return key.utf8Slice(0, key.length);
  const u = key as Uint8Array;
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8');
}

type Maker = (values: unknown[], out: Float64Array, base: number, key: unknown, keyText: (key: unknown) => string) => Attributes;
const makers = new WeakMap<object, { values: unknown[]; byBits: (Maker | undefined)[] }>();

/**
 * The attributes of a template or plan (`fixed`, as the core gave them) with the
 * message-dependent ones in `out[base..]` (present where `bits` says): the same object
 * `{ ...fixed }` + {@link applyDelta} makes, built by one object literal per (template, bits)
 * so every message's attributes have one fixed shape.
 */
export function attributesOf(fixed: object, bits: number, out: Float64Array, base: number, key: unknown): Attributes {
  return made(fixed, fixed, undefined, bits, out, base, key);
}

/**
 * The attributes named by `order` (a template's `startKeys` or `recordedKeys`, in the core's
 * order): a fixed one from `fixed`, a message-dependent one from `out[base..]` when `bits` has
 * it. One compiled object literal per (key list, bits).
 */
export function orderedAttributes(fixed: object, order: string[], bits: number, out: Float64Array, base: number, key: unknown): Attributes {
  return made(order, fixed, order, bits, out, base, key);
}

function made(cacheKey: object, fixed: object, order: string[] | undefined, bits: number, out: Float64Array, base: number, key: unknown): Attributes {
  let entry = makers.get(cacheKey);
  if (entry === undefined) {
    entry = { values: Object.values(fixed), byBits: [] };
    makers.set(cacheKey, entry);
  }
  let make = entry.byBits[bits];
  if (make === undefined) {
    const keys = Object.keys(fixed);
    make = compile(keys, order ?? keys.concat(DELTA_KEYS), bits);
    entry.byBits[bits] = make;
  }
  return make(entry.values, out, base, key, keyText);
}

/** `order`'s keys: a delta key from its slot when `bits` has it, any other from `values`. */
function compile(keys: string[], order: string[], bits: number): Maker {
  const fields: string[] = [];
  const seen = new Set<string>();
  for (const k of order) {
    if (k === '__proto__' || seen.has(k)) return generic(keys, order, bits); // never expected from the core
    seen.add(k);
    const i = DELTA_KEYS.indexOf(k);
    const j = keys.indexOf(k);
    if (i >= 0) {
      if (((bits >> i) & 1) === 0) continue;
      const v = `out[base + ${i}]`;
      const kind = DELTA_KINDS[i];
      fields.push(`${JSON.stringify(k)}: ${kind === KIND_NUMBER ? v : kind === KIND_BOOL ? `${v} === 1` : kind === KIND_DECIMAL ? `String(${v})` : 'keyText(key)'}`);
    } else if (j >= 0) fields.push(`${JSON.stringify(k)}: values[${j}]`);
  }
  return new Function('values', 'out', 'base', 'key', 'keyText', `return { ${fields.join(', ')} };`) as Maker;
}

/** The generic way, which keeps any key an own property. */
function generic(keys: string[], order: string[], bits: number): Maker {
  return (values, out, base, key) => {
    const attrs: Attributes = {};
    keys.forEach((k, i) => {
      if (order.includes(k)) Object.defineProperty(attrs, k, { value: values[i], enumerable: true, writable: true, configurable: true });
    });
    const wanted = DELTA_KEYS.reduce((b, k, i) => (order.includes(k) ? b | (1 << i) : b), 0);
    applyDelta(attrs, bits & wanted, out, base, key);
    return attrs;
  };
}
