// The ESM entry point exposes the same API as the CommonJS one.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { KafkaTracePropagator, KafkaJsInstrumentation, extractKafka, coreVersion } from 'kafka-trace';

test('ESM and CommonJS entry points agree', () => {
  const cjs = createRequire(import.meta.url)('kafka-trace');
  assert.equal(KafkaTracePropagator, cjs.KafkaTracePropagator);
  assert.equal(KafkaJsInstrumentation, cjs.KafkaJsInstrumentation);
  assert.equal(typeof extractKafka, 'function');
  assert.match(coreVersion, /^\d+\.\d+\.\d+/);
});
