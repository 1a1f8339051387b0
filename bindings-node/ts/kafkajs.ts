/**
 * Patching of KafkaJS (and `@nestjs/microservices`' Kafka transport): producer `send`/`sendBatch`
 * (transactions too) and consumer `run` (`eachMessage`, `eachBatch`). Each patched call goes
 * through a {@link KafkaTracing} executor of its client; nothing here shapes a span.
 */
import { trace } from '@opentelemetry/api';
import { KafkaTracing, KafkaTracingOptions } from './lifecycle';
import { NAMES } from './propagator';

/** What KafkaJS keeps private about a client, remembered at construction. */
export interface ClientTag {
  clientId?: string;
  bootstrapServers?: string[];
}

const kafkaTags = new WeakMap<object, ClientTag>();

/** The options of one client: the configured ones and what KafkaJS says about the client. */
function clientOptions(options: KafkaTracingOptions, tag: ClientTag, groupId?: string): KafkaTracingOptions {
  return {
    ...options,
    clientId: tag.clientId ?? options.clientId,
    bootstrapServers: tag.bootstrapServers ?? options.bootstrapServers,
    consumerGroup: groupId ?? options.consumerGroup,
  };
}

/** Hooks a patch needs from its instrumentation. */
export interface PatchEnv {
  enabled(): boolean;
  options(): KafkaTracingOptions;
  executor(options: KafkaTracingOptions): KafkaTracing;
}

/** `Kafka` subclass that remembers each client's clientId and brokers. */
export function taggedKafka(Original: any): any {
  return class Kafka extends Original {
    constructor(config: any) {
      super(config);
      const brokers = Array.isArray(config?.brokers) ? config.brokers.filter((b: unknown) => typeof b === 'string') : undefined;
      kafkaTags.set(this, { clientId: config?.clientId ?? 'kafkajs', bootstrapServers: brokers });
    }
  };
}

function patchSenders(target: any, env: PatchEnv, tracing: KafkaTracing): void {
  if (typeof target.send === 'function') {
    const send = target.send;
    target.send = function (this: unknown, record: any) {
      if (!env.enabled()) return send.call(this, record);
      return tracing.send([record], () => send.call(this, record));
    };
  }
  if (typeof target.sendBatch === 'function') {
    const sendBatch = target.sendBatch;
    target.sendBatch = function (this: unknown, batch: any) {
      if (!env.enabled()) return sendBatch.call(this, batch);
      return tracing.send(Array.isArray(batch?.topicMessages) ? batch.topicMessages : [], () => sendBatch.call(this, batch));
    };
  }
}

/** Wraps `Kafka.prototype.producer`. */
export function producerPatch(env: PatchEnv) {
  return (original: (...args: any[]) => any) =>
    function (this: object, ...args: any[]) {
      const producer = original.apply(this, args);
      const tracing = env.executor(clientOptions(env.options(), kafkaTags.get(this) ?? {}));
      patchSenders(producer, env, tracing);
      if (typeof producer.transaction === 'function') {
        const transaction = producer.transaction;
        producer.transaction = async function (this: unknown, ...targs: unknown[]) {
          const tx = await transaction.apply(this, targs);
          patchSenders(tx, env, tracing);
          return tx;
        };
      }
      return producer;
    };
}

/** Wraps `Kafka.prototype.consumer`. */
export function consumerPatch(env: PatchEnv) {
  return (original: (...args: any[]) => any) =>
    function (this: object, ...args: any[]) {
      const consumer = original.apply(this, args);
      const groupId = typeof args[0]?.groupId === 'string' ? args[0].groupId : undefined;
      const tracing = env.executor(clientOptions(env.options(), kafkaTags.get(this) ?? {}, groupId));
      const run = consumer.run;
      consumer.run = function (this: unknown, config: any) {
        if (config && typeof config === 'object') {
          config = { ...config };
          const eachMessage = config.eachMessage;
          const eachBatch = config.eachBatch;
          if (typeof eachMessage === 'function') {
            config.eachMessage = function (this: unknown, payload: any) {
              if (!env.enabled()) return eachMessage.call(this, payload);
              return tracing.eachMessage(payload, () => eachMessage.call(this, payload));
            };
          }
          if (typeof eachBatch === 'function') {
            config.eachBatch = function (this: unknown, payload: any) {
              if (!env.enabled()) return eachBatch.call(this, payload);
              return tracing.eachBatch(payload, () => eachBatch.call(this, payload));
            };
          }
        }
        return run.call(this, config);
      };
      return consumer;
    };
}

/** Wraps Nest's `ServerKafka.prototype.getHandlerByPattern`: the pattern on the active span. */
export function nestPatternPatch() {
  return (original: any) =>
    function (this: unknown, pattern: unknown, ...rest: unknown[]) {
      const span = trace.getActiveSpan();
      if (span !== undefined && typeof pattern === 'string') span.setAttribute(NAMES.nestjsPattern, pattern);
      return original.call(this, pattern, ...rest);
    };
}
