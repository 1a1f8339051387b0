/**
 * Patching of Confluent's `@confluentinc/kafka-javascript` through its KafkaJS-compatible API
 * (`require('@confluentinc/kafka-javascript').KafkaJS`): producer `send`/`sendBatch` (transactions
 * too) and consumer `run` (`eachMessage`, `eachBatch`), through the same {@link KafkaTracing}
 * executor as KafkaJS; the consumer side is KafkaJS's own patch ({@link adoptConsumer}).
 *
 * What the client gives beyond KafkaJS: librdkafka reports each message's delivery (partition
 * and offset) on its own, while `send()` resolves with the lowest offset per partition only. The
 * delivery reports are taken from the low-level `Producer.prototype.produce` (its `opaque` is
 * resolved with the message's report), so each `send` span ends at its message's delivery with
 * the broker's partition and offset, whatever the partitioner did or other sends interleaved.
 */
import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { adoptConsumer, PatchEnv, wrapOver } from './kafkajs';
import { KafkaTracing, KafkaTracingOptions } from './lifecycle';

/** The module the patch applies to (`require('@confluentinc/kafka-javascript')`). */
export const CONFLUENT_MODULE = '@confluentinc/kafka-javascript';

/** Reads a client's configuration: librdkafka's keys or the `kafkaJS` block. */
export interface ConfluentClientInfo {
  clientId?: string;
  bootstrapServers?: string | string[];
  groupId?: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The client id, brokers and group of a client made from `common` (the `Kafka`'s) and `own` config. */
export function confluentClientInfo(common: any, own: any): ConfluentClientInfo {
  const flat = { ...(common && typeof common === 'object' ? common : {}), ...(own && typeof own === 'object' ? own : {}) };
  const kjs = { ...(typeof common?.kafkaJS === 'object' ? common.kafkaJS : {}), ...(typeof own?.kafkaJS === 'object' ? own.kafkaJS : {}) };
  const brokers = Array.isArray(kjs.brokers) ? kjs.brokers.filter((b: unknown) => typeof b === 'string') : undefined;
  return {
    clientId: str(flat['client.id']) ?? str(kjs.clientId),
    bootstrapServers: str(flat['bootstrap.servers']) ?? str(flat['metadata.broker.list']) ?? (brokers?.length ? brokers : undefined),
    groupId: str(flat['group.id']) ?? str(kjs.groupId),
  };
}

/** The env of one client: the configured options, with what the client's config says winning. */
function clientEnv(env: PatchEnv, info: ConfluentClientInfo): PatchEnv {
  return {
    ...env,
    options: (): KafkaTracingOptions => {
      const o = env.options();
      return {
        ...o,
        clientId: info.clientId ?? o.clientId,
        bootstrapServers: info.bootstrapServers ?? o.bootstrapServers,
        consumerGroup: info.groupId ?? o.consumerGroup,
      };
    },
  };
}

/** The low-level `produce` calls' `opaque`s while a traced `send` runs its synchronous part. */
let capture: Opaque[] | undefined;

interface Opaque {
  resolve?: (report: unknown) => void;
  reject?: (err: unknown) => void;
}

/** Wraps the low-level `Producer.prototype.produce`: records the `opaque` of a traced send's messages. */
export function producePatch() {
  return (original: (...args: any[]) => any) =>
    function (this: unknown, ...args: any[]) {
      const c = capture;
      if (c === undefined) return original.apply(this, args);
      const at = c.push(args[5] && typeof args[5] === 'object' ? args[5] : {}) - 1;
      try {
        return original.apply(this, args);
      } catch (err) {
        // Not queued: no report will come; the message settles with the call's result.
        c[at] = {};
        throw err;
      }
    };
}

interface Deferred {
  resolve(meta: unknown): void;
  reject(err: unknown): void;
  settled: boolean;
}

/**
 * Chains `opaque`'s delivery callbacks to `d`: the message's `RecordMetadata` alone (so the core
 * sees its exact partition and offset) or its delivery error.
 */
function follow(opaque: Opaque, d: Deferred): void {
  const { resolve, reject } = opaque;
  if (typeof resolve !== 'function' || typeof reject !== 'function') return;
  d.settled = true;
  opaque.resolve = (report) => {
    d.resolve([report]);
    resolve(report);
  };
  opaque.reject = (err) => {
    d.reject(err);
    reject(err);
  };
}

const ignore = () => {};

/**
 * A traced `send(record)`: each message is one `tracing.send` (its span, its headers written
 * before the client reads them), settled by its own delivery report; a message whose report
 * could not be followed (the client changed) settles with the call's result instead.
 */
function tracedSend(env: PatchEnv, tracing: KafkaTracing, send: (record: any) => Promise<unknown>) {
  return function (this: unknown, record: any) {
    const messages = record?.messages;
    const topic = record?.topic;
    if (!env.enabled() || typeof topic !== 'string' || !Array.isArray(messages) || messages.length === 0) return send.call(this, record);
    const pending: Deferred[] = new Array(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const d = { settled: false } as Deferred;
      const delivered = new Promise((resolve, reject) => {
        d.resolve = resolve;
        d.reject = reject;
      });
      pending[i] = d;
      // The span's own promise is never the user's: its rejection is the call's, reported there.
      tracing.send([{ topic, messages: [messages[i]] }], () => delivered).catch(ignore);
    }
    const outer = capture;
    const opaques: Opaque[] = [];
    capture = opaques;
    let result: Promise<unknown>;
    try {
      result = send.call(this, record);
    } catch (err) {
      for (const d of pending) d.reject(err);
      throw err;
    } finally {
      capture = outer;
    }
    for (let i = 0; i < opaques.length && i < pending.length; i++) follow(opaques[i], pending[i]);
    Promise.resolve(result).then(
      (meta) => {
        for (const d of pending) if (!d.settled) d.resolve(meta);
      },
      (err) => {
        for (const d of pending) if (!d.settled) d.reject(err);
      },
    );
    return result;
  };
}

const adopted = new WeakSet<object>();

/**
 * Patches a producer the Confluent client made. Its `sendBatch` calls `this.send` per topic, so
 * `send` alone is wrapped (a wrapped `sendBatch` would trace every message twice); its
 * `transaction()` resolves with the producer itself (already patched).
 */
function adoptProducer(env: PatchEnv, producer: any, info: ConfluentClientInfo): any {
  if (producer === null || typeof producer !== 'object' || adopted.has(producer)) return producer;
  adopted.add(producer);
  const tracing = env.executor(clientEnv(env, info).options());
  if (typeof producer.send === 'function') producer.send = tracedSend(env, tracing, producer.send);
  if (typeof producer.transaction === 'function') {
    const transaction = producer.transaction;
    producer.transaction = async function (this: unknown, ...args: unknown[]) {
      const tx = await transaction.apply(this, args);
      if (tx && typeof tx === 'object' && !adopted.has(tx)) {
        adopted.add(tx);
        if (typeof tx.send === 'function') tx.send = tracedSend(env, tracing, tx.send);
      }
      return tx;
    };
  }
  return producer;
}

const commonConfigs = new WeakMap<object, unknown>();

/** `KafkaJS.Kafka` subclass that remembers its configuration and adopts every client it makes. */
function confluentKafka(Original: any, env: PatchEnv): any {
  return class Kafka extends Original {
    constructor(config: any) {
      super(config);
      commonConfigs.set(this, config);
    }

    producer(config?: any): any {
      return adoptProducer(env, super.producer(config), confluentClientInfo(commonConfigs.get(this), config));
    }

    consumer(config?: any): any {
      const info = confluentClientInfo(commonConfigs.get(this), config);
      return adoptConsumer(clientEnv(env, info), this, super.consumer(config), [{ groupId: info.groupId }]);
    }
  };
}

/** The instrumentation's module definition for `@confluentinc/kafka-javascript` (1.x). */
export function confluentDefinition(env: PatchEnv): InstrumentationNodeModuleDefinition {
  let original: unknown;
  return new InstrumentationNodeModuleDefinition(
    CONFLUENT_MODULE,
    ['>=1.0.0 <2'],
    (moduleExports: any) => {
      const kjs = moduleExports?.KafkaJS;
      if (typeof kjs?.Kafka !== 'function') return moduleExports;
      const produceProto = moduleExports?.Producer?.prototype;
      if (produceProto && !produceProto.produce?.__wrapped) wrapOver(produceProto, 'produce', producePatch());
      if (original === undefined) original = kjs.Kafka;
      try {
        kjs.Kafka = confluentKafka(original, env);
      } catch {
        /* read-only export: left untraced */
      }
      return moduleExports;
    },
    (moduleExports: any) => {
      const kjs = moduleExports?.KafkaJS;
      if (kjs && original !== undefined) kjs.Kafka = original;
      const produce = moduleExports?.Producer?.prototype?.produce;
      if (typeof produce?.__unwrap === 'function') produce.__unwrap();
    },
  );
}
