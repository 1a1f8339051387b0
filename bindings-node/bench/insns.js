// One codec operation repeated, for instruction counts under callgrind (load-independent):
// bench/insns.sh runs it with N1 and N2 operations after the same warm-up and reports the
// difference / (N2 - N1). Usage: node bench/insns.js <case> <operations> [warm-up=20000]
// Cases: extract-kt, extract-peer, inject-kt, inject-peer (the first rows of bench/propagation.js).
'use strict';
const { ROOT_CONTEXT, defaultTextMapSetter } = require('@opentelemetry/api');
const { kt, headers, bufferGetter, w3c, FRESH, oursFresh, w3cFresh } = require('./codec-setup');

let op = 0;
const cases = {
  'extract-kt': () => kt.extractKafka(ROOT_CONTEXT, headers),
  'extract-peer': () => w3c.extract(ROOT_CONTEXT, headers, bufferGetter),
  'inject-kt': () => kt.injectKafka(oursFresh[op++ & (FRESH - 1)], {}),
  'inject-peer': () => w3c.inject(w3cFresh[op++ & (FRESH - 1)], {}, defaultTextMapSetter),
};
const fn = cases[process.argv[2]];
if (fn === undefined) throw new Error(`case: one of ${Object.keys(cases).join(', ')}`);
const n = Number(process.argv[3] || 0);
const warm = Number(process.argv[4] || 20000);
let sink = 0;
for (let i = 0; i < warm; i++) sink ^= fn() ? 1 : 0;
for (let i = 0; i < n; i++) sink ^= fn() ? 1 : 0;
if (sink === 42) console.log('');
