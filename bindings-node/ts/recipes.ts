/**
 * The addon's lifecycle surface (`native.Tracing`, one per client) with the facade's caches:
 * templates (recipes without their message-dependent attributes) and plans (finishes without
 * their numbers) are fetched once by index; per message only numbers cross, laid out as the
 * addon's `layout` module defines (read from `NAMES.layout`, never spelled here).
 */
import { Attributes } from '@opentelemetry/api';
import native = require('./native');
import { NAMES } from './propagator';

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

const warned = new Set<string>();

/** One client's lifecycle: the core's `Lifecycle` for its options, with cached templates/plans. */
export class Recipes {
  readonly core: native.Tracing;
  private readonly templates: Template[] = [];
  private readonly plans: Plan[] = [];
  private readonly allowed = new Map<string, boolean>();

  /** `options` spelled as the core's `OPTION_NAMES` (camelCase); old spellings warn once. */
  constructor(options: object) {
    this.core = new native.Tracing(options as Record<string, unknown>);
    const old = this.core.deprecations();
    for (let i = 0; i < old.length; i += 2) {
      if (warned.has(old[i])) continue;
      warned.add(old[i]);
      process.emitWarning(`kafka-trace: option "${old[i]}" is deprecated, use "${old[i + 1]}"`, 'DeprecationWarning');
    }
  }

  allows(topic: string): boolean {
    let a = this.allowed.get(topic);
    if (a === undefined) {
      a = this.core.allows(topic);
      if (this.allowed.size < 10_000) this.allowed.set(topic, a);
    }
    return a;
  }

  template(index: number): Template {
    return (this.templates[index] ??= this.core.template(index));
  }

  plan(index: number): Plan {
    return (this.plans[index] ??= this.core.plan(index));
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
    else attrs[DELTA_KEYS[i]] = typeof key === 'string' ? key : Buffer.from(key as Uint8Array).toString('utf8');
  }
}
