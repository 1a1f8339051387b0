// ESM support: `node --import kafka-trace/register --import ./tracing.mjs app.mjs`.
// Registers @opentelemetry/instrumentation's import-in-the-middle loader hook (the app's own copy,
// a peer dependency of kafka-trace), so `import { Kafka } from 'kafkajs'` in an ES module is
// patched by the KafkaJsInstrumentation your tracing file enables. Must come before that file.
import { register } from 'node:module';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
