// Platform honesty: where no prebuilt addon fits, require('kafka-trace') throws an error naming
// the platform and the prebuilt list (a child process fakes process.platform/arch before loading).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

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

// The symbol versions an ELF shared object needs, per library: its SHT_GNU_verneed section
// (what `objdump -p` prints as "Version References"), read without binutils.
function versionsNeeded(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('latin1', 0, 4), '\x7fELF');
  assert.equal(b[4], 2, 'ELF64');
  assert.equal(b[5], 1, 'little-endian');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const section = (i) => {
    const h = shoff + i * shentsize;
    return { type: b.readUInt32LE(h + 4), offset: Number(b.readBigUInt64LE(h + 24)), link: b.readUInt32LE(h + 40), info: b.readUInt32LE(h + 44) };
  };
  const cstr = (at) => b.toString('latin1', at, b.indexOf(0, at));
  const needed = {};
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== 0x6ffffffe) continue; // SHT_GNU_verneed
    const strtab = section(s.link).offset;
    let vn = s.offset;
    for (let n = 0; n < s.info; n++) {
      const file = cstr(strtab + b.readUInt32LE(vn + 4));
      const versions = (needed[file] ??= []);
      let aux = vn + b.readUInt32LE(vn + 8);
      for (let a = 0, count = b.readUInt16LE(vn + 2); a < count; a++) {
        versions.push(cstr(strtab + b.readUInt32LE(aux + 8)));
        aux += b.readUInt32LE(aux + 12);
      }
      vn += b.readUInt32LE(vn + 12);
    }
  }
  return needed;
}

const compare = (a, b) => {
  const x = a.split('.').map(Number), y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

test('the shipped linux-x64-gnu addon needs glibc 2.17 at most (Debian 9+, Ubuntu 18.04+, RHEL 7+, Amazon Linux 2)', () => {
  const addon = path.join(path.dirname(require.resolve('kafka-trace/package.json')), 'kafka-trace.linux-x64-gnu.node');
  const needed = versionsNeeded(addon);
  // The reader works: every glibc-linked x86_64 object needs libc's base version.
  assert.ok(needed['libc.so.6']?.includes('GLIBC_2.2.5'), JSON.stringify(needed));
  const glibc = Object.values(needed).flat().filter((v) => v.startsWith('GLIBC_')).map((v) => v.slice(6));
  const newest = glibc.sort(compare).at(-1);
  assert.ok(compare(newest, '2.17') <= 0, `the addon needs glibc ${newest}: ${JSON.stringify(needed)}`);
  // Only libraries every glibc system has (libgcc_s comes with the GCC runtime, part of every base image).
  assert.deepEqual(Object.keys(needed).filter((f) => !['libc.so.6', 'ld-linux-x86-64.so.2', 'libpthread.so.0', 'libdl.so.2', 'libm.so.6', 'librt.so.1', 'libgcc_s.so.1'].includes(f)), []);
});
