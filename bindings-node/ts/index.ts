/**
 * kafka-trace for Node.js: OpenTelemetry trace context through Apache Kafka headers, with the
 * same bytes as every other kafka-trace language, for KafkaJS and NestJS.
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
  traceparentsOf,
  headerKind,
  NAMES,
  type KafkaHeaders,
  type HeaderValue,
} from './propagator';
export {
  KafkaJsInstrumentation,
  messageContext,
  withMessageSpan,
  type KafkaJsInstrumentationConfig,
  type MessageInfo,
  type KafkaMessageLike,
} from './instrumentation';

/** The version of the Rust core inside the addon. */
export const coreVersion: string = native.coreVersion();

/** The complete, slower header-list API of the core (used by the shared vectors). */
export const headerList = {
  extract: native.extractList,
  inject: native.injectList,
};
