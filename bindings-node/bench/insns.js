// One codec operation repeated, for instruction counts under callgrind (load-independent):
// bench/insns.sh runs it with N1 and N2 operations after the same warm-up and reports the
// difference / (N2 - N1). Usage: node bench/insns.js <case> <operations> [warm-up=20000]
// Cases: extract-kt, extract-peer, inject-kt, inject-peer (the first rows of bench/propagation.js);
// extract-{kt,peer}-fresh (a new span id per message, one trace) and extract-{kt,peer}-new-trace
// (a new trace id too): the same headers over and over let the addon answer "the same parent".
'use strict';
const { ROOT_CONTEXT, defaultTextMapSetter } = require('@opentelemetry/api');
const { kt, headers, bufferGetter, w3c, FRESH, oursFresh, w3cFresh, freshHeaders, newTraceHeaders } = require('./codec-setup');

let op = 0;
const cases = {
  'extract-kt': () => kt.extractKafka(ROOT_CONTEXT, headers),
  'extract-peer': () => w3c.extract(ROOT_CONTEXT, headers, bufferGetter),
  'extract-kt-fresh': () => kt.extractKafka(ROOT_CONTEXT, freshHeaders[op++ & (FRESH - 1)]),
  'extract-peer-fresh': () => w3c.extract(ROOT_CONTEXT, freshHeaders[op++ & (FRESH - 1)], bufferGetter),
  'extract-kt-new-trace': () => kt.extractKafka(ROOT_CONTEXT, newTraceHeaders[op++ & (FRESH - 1)]),
  'extract-peer-new-trace': () => w3c.extract(ROOT_CONTEXT, newTraceHeaders[op++ & (FRESH - 1)], bufferGetter),
  'inject-kt': () => kt.injectKafka(oursFresh[op++ & (FRESH - 1)], {}),
  'inject-peer': () => w3c.inject(w3cFresh[op++ & (FRESH - 1)], {}, defaultTextMapSetter),
};
const fn = cases[process.argv[2]];
if (fn === undefined) throw new Error(`case: one of ${Object.keys(cases).join(', ')}`);
const n = Number(process.argv[3] || 0);
const warm = Number(process.argv[4] || 20000);
let sink = 0;
for (let i = 0; i < warm; i++) sink ^= fn() ? 1 : 0;
// A finished major GC before counting (bench/insns.sh runs node with --expose-gc): otherwise one
// started by the set-up's garbage can mark (and slow every write) through one run's loop and not
// the other's, which once put 5,000 instructions/op of marking into a case's difference.
if (typeof gc === 'function') gc();
for (let i = 0; i < n; i++) sink ^= fn() ? 1 : 0;
if (sink === 42) console.log('');
