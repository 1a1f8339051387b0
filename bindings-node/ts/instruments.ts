/** The metric instruments, named and described by the core, and the recording of a plan's records. */
import { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { NAMES } from './propagator';
import { METRIC_AT, Plan } from './recipes';

export class Instruments {
  private readonly byName = new Map<string, Counter | Histogram>();

  constructor(meter: Meter) {
    for (const i of NAMES.instruments) {
      const options = { unit: i.unit, description: i.description };
      this.byName.set(i.name, i.kind === 'counter' ? meter.createCounter(i.name, options) : meter.createHistogram(i.name, options));
    }
  }

  /** Records every metric record of `plan`, values from the finish's numbers at `out[base..]`. */
  record(plan: Plan, out: Float64Array, base: number): void {
    const metrics = plan.metrics;
    for (let j = 0; j < metrics.length; j++) {
      const instrument = this.byName.get(metrics[j].name);
      const value = out[base + METRIC_AT + j];
      const attrs = metrics[j].attributes as Attributes;
      if (instrument === undefined) continue;
      if ('add' in instrument) instrument.add(value, attrs);
      else instrument.record(value, attrs);
    }
  }
}
