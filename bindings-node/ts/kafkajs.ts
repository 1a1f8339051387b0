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
  /** Called when `@opentelemetry/instrumentation-kafkajs` patched a client too (ours yields nothing). */
  onPeer(): void;
}

/**
 * `Kafka` subclass that remembers each client's clientId and brokers, and whose instances make
 * their clients through `clients` last: whatever else wrapped `Kafka.prototype.producer`/`consumer`
 * (in whichever order the instrumentations were enabled), ours is the outermost layer of every
 * client it returns.
 */
export function taggedKafka(Original: any, clients?: ClientHooks): any {
  return class Kafka extends Original {
    constructor(config: any) {
      super(config);
      const brokers = Array.isArray(config?.brokers) ? config.brokers.filter((b: unknown) => typeof b === 'string') : undefined;
      kafkaTags.set(this, { clientId: config?.clientId ?? 'kafkajs', bootstrapServers: brokers });
      if (clients === undefined) return;
      for (const name of ['producer', 'consumer'] as const) {
        const kafka = this;
        Object.defineProperty(this, name, {
          configurable: true,
          writable: true,
          enumerable: false,
          value: function (this: unknown, ...args: unknown[]) {
            // The prototype chain first (a user's subclass override, other wrappers), then ours.
            const made = Reflect.get(Object.getPrototypeOf(kafka), name, kafka).apply(this ?? kafka, args);
            return clients[name](kafka, made, args);
          },
        });
      }
    }
  };
}

/** Adopts a client KafkaJS made: `kafka` is its `Kafka`, `args` what `producer()`/`consumer()` got. */
export interface ClientHooks {
  producer(kafka: object, producer: any, args: unknown[]): any;
  consumer(kafka: object, consumer: any, args: unknown[]): any;
}

/** The mark `@opentelemetry/instrumentation-kafkajs` leaves on each client it patched. */
const PEER_MARK = 'opentelemetry.instrumentation.kafkajs.eventListenersSet';
const adopted = new WeakSet<object>();

/** Whether `@opentelemetry/instrumentation-kafkajs` patched this client. */
export function peerPatched(client: object): boolean {
  try {
    return Object.getOwnPropertySymbols(client).some((s) => s.description === PEER_MARK);
  } catch {
    return false;
  }
}

/** Removes the wrapper layers (shimmer's `__wrapped`/`__original`) above a client's method. */
function strip(client: any, name: string): void {
  let f = client[name];
  let changed = false;
  while (typeof f === 'function' && f.__wrapped === true && typeof f.__original === 'function') {
    f = f.__original;
    changed = true;
  }
  if (changed) {
    try {
      client[name] = f;
    } catch {
      /* a frozen client: left as it is */
    }
  }
}

/**
 * When `@opentelemetry/instrumentation-kafkajs` patched the client too, its layers over the
 * client's methods are removed (ours writes the headers and makes the spans of every message:
 * no message gets two `send`/`process` spans or two writers of its headers).
 */
function yieldPeer(client: any, methods: string[], onPeer: () => void): void {
  if (client === null || typeof client !== 'object' || !peerPatched(client)) return;
  onPeer();
  for (const m of methods) strip(client, m);
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

/** Makes ours the outermost layer of a producer KafkaJS made (idempotent). */
export function adoptProducer(env: PatchEnv, kafka: object, producer: any): any {
  if (producer === null || typeof producer !== 'object') return producer;
  if (env.enabled()) yieldPeer(producer, ['send', 'sendBatch', 'transaction'], env.onPeer);
  if (adopted.has(producer)) return producer;
  adopted.add(producer);
  const tracing = env.executor(clientOptions(env.options(), kafkaTags.get(kafka) ?? {}));
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
}

/** Makes ours the outermost layer of a consumer KafkaJS made (idempotent). */
export function adoptConsumer(env: PatchEnv, kafka: object, consumer: any, args: unknown[]): any {
  if (consumer === null || typeof consumer !== 'object') return consumer;
  if (env.enabled()) yieldPeer(consumer, ['run'], env.onPeer);
  if (adopted.has(consumer)) return consumer;
  adopted.add(consumer);
  const first = args[0] as { groupId?: unknown } | undefined;
  const groupId = typeof first?.groupId === 'string' ? first.groupId : undefined;
  const tracing = env.executor(clientOptions(env.options(), kafkaTags.get(kafka) ?? {}, groupId));
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
}

/** The hooks of {@link taggedKafka}'s instances. */
export function clientHooks(env: PatchEnv): ClientHooks {
  return {
    producer: (kafka, producer) => adoptProducer(env, kafka, producer),
    consumer: (kafka, consumer, args) => adoptConsumer(env, kafka, consumer, args),
  };
}

/**
 * Wraps `nodule[name]` like shimmer does (`__original`, `__unwrap`, `__wrapped`, so `isWrapped`
 * and `_unwrap` work) but over whatever is there: InstrumentationBase's `_wrap` first removes
 * another instrumentation's wrapper, which would hide the peer from {@link peerPatched}.
 */
export function wrapOver(nodule: any, name: string, wrapper: (original: any) => any): void {
  const original = nodule?.[name];
  if (typeof original !== 'function') return;
  const wrapped = wrapper(original);
  const define = (obj: any, key: string, value: unknown) =>
    Object.defineProperty(obj, key, { configurable: true, enumerable: false, writable: true, value });
  define(wrapped, '__original', original);
  define(wrapped, '__unwrap', () => {
    if (nodule[name] === wrapped) define(nodule, name, original);
  });
  define(wrapped, '__wrapped', true);
  define(nodule, name, wrapped);
}

/** Marks our wrappers of `Kafka.prototype.producer`/`consumer` (another's are left in place). */
export const OURS = Symbol('kafka-trace wrapper');

/** Wraps `Kafka.prototype.producer` (covers a `Kafka` class our subclass could not replace). */
export function producerPatch(env: PatchEnv) {
  return (original: (...args: any[]) => any) => {
    const wrapped = function (this: object, ...args: any[]) {
      return adoptProducer(env, this, original.apply(this, args));
    };
    (wrapped as any)[OURS] = true;
    return wrapped;
  };
}

/** Wraps `Kafka.prototype.consumer`. */
export function consumerPatch(env: PatchEnv) {
  return (original: (...args: any[]) => any) => {
    const wrapped = function (this: object, ...args: any[]) {
      return adoptConsumer(env, this, original.apply(this, args), args);
    };
    (wrapped as any)[OURS] = true;
    return wrapped;
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
