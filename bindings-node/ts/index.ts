/**
 * kafka-trace for Node.js: OpenTelemetry trace context through Apache Kafka headers, with the
 * same bytes and the same span lifecycle as every other kafka-trace language, for KafkaJS and
 * NestJS.
 *
 * ```ts
 * import { NodeSDK } from '@opentelemetry/sdk-node';
 * import { KafkaJsInstrumentation, KafkaTracePropagator } from 'kafka-trace';
 * new NodeSDK({ textMapPropagator: new KafkaTracePropagator(), instrumentations: [new KafkaJsInstrumentation()] }).start();
 * ```
 */
import native = require('./native');

export {
  KafkaTracePropagator,
  KafkaTraceState,
  extractKafka,
  extractKafkaBatch,
  injectKafka,
  headerKind,
  KEPT_REMOTE,
  NAMES,
  type KafkaHeaders,
  type HeaderValue,
} from './propagator';
export {
  KafkaTracing,
  messageContext,
  withMessageSpan,
  type KafkaTracingOptions,
  type MessageInfo,
  type KafkaMessageLike,
} from './lifecycle';
export { KafkaJsInstrumentation, type KafkaJsInstrumentationConfig } from './instrumentation';

/** The version of the Rust core inside the addon. */
export const coreVersion: string = native.coreVersion();

/** The complete, slower header-list API of the core (used by the shared header vectors). */
export const headerList = {
  extract: native.extractList,
  inject: native.injectList,
};
