/**
 * OpenTelemetry instrumentation of KafkaJS (and so of `@nestjs/microservices`' Kafka transport),
 * for `new NodeSDK({ instrumentations: [new KafkaJsInstrumentation()] })`: the public class. The
 * patches are in `kafkajs.ts`, the lifecycle executor in `lifecycle.ts`, every decision in the
 * Rust core.
 */
import { diag, Span } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationConfig, InstrumentationNodeModuleDefinition, isWrapped } from '@opentelemetry/instrumentation';
import { Instruments } from './instruments';
import { confluentDefinition } from './confluent';
import { clientHooks, consumerPatch, nestPatternPatch, OURS, producerPatch, taggedKafka, wrapOver } from './kafkajs';
import { KafkaTracing, KafkaTracingOptions, MessageInfo } from './lifecycle';
import { Recipes } from './recipes';

const VERSION = '0.1.0';

/** What is logged (once per process) when the peer instrumentation patched KafkaJS too. */
export const PEER_WARNING =
  'kafka-trace: @opentelemetry/instrumentation-kafkajs is enabled as well; kafka-trace makes the spans and writes the headers ' +
  "of every message and bypasses it. Disable it to silence this: getNodeAutoInstrumentations({ '@opentelemetry/instrumentation-kafkajs': { enabled: false } }) " +
  '(or drop its KafkaJsInstrumentation from your instrumentations).';
let peerWarned = false;
function warnPeer(): void {
  if (peerWarned) return;
  peerWarned = true;
  diag.warn(PEER_WARNING);
  process.emitWarning(PEER_WARNING, { code: 'KAFKA_TRACE_PEER_INSTRUMENTATION' });
}

export interface KafkaJsInstrumentationConfig extends InstrumentationConfig, KafkaTracingOptions {
  /** Called with each `send` span before the message is sent. */
  producerHook?: (span: Span, info: MessageInfo) => void;
  /** Called with each `process` span before the handler runs. */
  consumerHook?: (span: Span, info: MessageInfo) => void;
  /** Record the messaging metrics (default true). */
  metrics?: boolean;
}

/** KafkaJS instrumentation backed by the kafka-trace core. */
export class KafkaJsInstrumentation extends InstrumentationBase<KafkaJsInstrumentationConfig> {
  private _instruments?: Instruments;
  private _originalKafka: unknown;

  constructor(config: KafkaJsInstrumentationConfig = {}) {
    super('kafka-trace', VERSION, config);
    // Fail at construction, not on the first message, on a bad option (and warn of old spellings).
    new Recipes(config);
  }

  protected override _updateMetricInstruments(): void {
    this._instruments = new Instruments(this.meter);
  }

  private _executor(options: KafkaTracingOptions): KafkaTracing {
    return new KafkaTracing(options, {
      tracer: () => this.tracer,
      instruments: () => (this.getConfig().metrics === false ? undefined : this._instruments),
      producerHook: () => this.getConfig().producerHook,
      consumerHook: () => this.getConfig().consumerHook,
    });
  }

  protected init() {
    const env = {
      enabled: () => this.isEnabled(),
      options: () => this.getConfig() as KafkaTracingOptions,
      executor: (options: KafkaTracingOptions) => this._executor(options),
      onPeer: warnPeer,
    };
    const kafkajs = new InstrumentationNodeModuleDefinition(
      'kafkajs',
      ['>=1.4.0 <3'],
      (moduleExports: any) => {
        const proto = moduleExports?.Kafka?.prototype;
        if (!proto) return moduleExports;
        // Only our own earlier wrappers are removed: another instrumentation's (the peer's) stay,
        // and each client it patched is adopted (its layers bypassed, one warning) below.
        if (isWrapped(proto.producer) && proto.producer[OURS]) this._unwrap(proto, 'producer');
        if (isWrapped(proto.consumer) && proto.consumer[OURS]) this._unwrap(proto, 'consumer');
        wrapOver(proto, 'producer', producerPatch(env));
        wrapOver(proto, 'consumer', consumerPatch(env));
        if (!this._originalKafka) this._originalKafka = moduleExports.Kafka;
        try {
          moduleExports.Kafka = taggedKafka(moduleExports.Kafka, clientHooks(env));
        } catch {
          /* read-only export: spans simply lack client id and server address */
        }
        return moduleExports;
      },
      (moduleExports: any) => {
        if (this._originalKafka && moduleExports) moduleExports.Kafka = this._originalKafka;
        const proto = moduleExports?.Kafka?.prototype;
        if (proto && isWrapped(proto.producer) && proto.producer[OURS]) this._unwrap(proto, 'producer');
        if (proto && isWrapped(proto.consumer) && proto.consumer[OURS]) this._unwrap(proto, 'consumer');
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
          this._wrap(proto, 'getHandlerByPattern', nestPatternPatch());
        }
        return moduleExports;
      },
      (moduleExports: any) => {
        const proto = moduleExports?.ServerKafka?.prototype;
        if (proto && isWrapped(proto.getHandlerByPattern)) this._unwrap(proto, 'getHandlerByPattern');
      },
    );
    return [kafkajs, nest, confluentDefinition(env)];
  }
}
