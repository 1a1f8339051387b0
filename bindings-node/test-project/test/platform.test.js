// Platform honesty: where no prebuilt addon fits, require('kafka-trace') throws an error naming
// the platform and the prebuilt list (a child process fakes process.platform/arch before loading).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');

const TARGETS = { 'x86_64-unknown-linux-gnu': 'linux-x64-gnu', 'aarch64-unknown-linux-gnu': 'linux-arm64-gnu', 'x86_64-unknown-linux-musl': 'linux-x64-musl' };

function requireAs(platform, arch) {
  const code = `Object.defineProperty(process, 'platform', { value: ${JSON.stringify(platform)} });
Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} });
try { require('kafka-trace'); console.log('loaded'); } catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code })); }`;
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' }).stdout.trim();
}

test('the prebuilt list in the error is what the package ships', () => {
  const pkg = require('kafka-trace/package.json');
  const shipped = pkg.napi.targets.map((t) => TARGETS[t]);
  const out = JSON.parse(requireAs('darwin', 'arm64'));
  assert.equal(out.code, 'KAFKA_TRACE_UNSUPPORTED_PLATFORM');
  assert.match(out.message, new RegExp(`Prebuilt: ${shipped.join(', ')}\\.`));
});

for (const [platform, arch, name] of [
  ['darwin', 'arm64', 'darwin-arm64'],
  ['win32', 'x64', 'win32-x64'],
  ['linux', 'arm64', 'linux-arm64-gnu'],
]) {
  test(`${name}: require('kafka-trace') names the platform and the supported list`, () => {
    const out = JSON.parse(requireAs(platform, arch));
    assert.equal(out.code, 'KAFKA_TRACE_UNSUPPORTED_PLATFORM');
    assert.match(out.message, new RegExp(`no native addon for this platform \\(${name}\\)\\. Prebuilt: linux-x64-gnu`));
    assert.match(out.message, /build it from source/);
  });
}

test('this platform (linux-x64-gnu) loads', () => {
  assert.equal(execFileSync(process.execPath, ['-e', "require('kafka-trace'); console.log('loaded')"], { encoding: 'utf8' }).trim(), 'loaded');
});
