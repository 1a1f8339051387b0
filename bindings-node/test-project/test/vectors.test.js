// The shared vectors (core/testdata/trace_context_vectors.json) through the Node API, unchanged:
// the complete header-list API, the KafkaJS headers-object path used by the instrumentation, and
// the TextMapPropagator. See core/tests/vectors.rs for how each case is read.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT_CONTEXT, trace, propagation } = require('@opentelemetry/api');
const kt = require('kafka-trace');

const VECTORS = process.env.KT_VECTORS || path.join(__dirname, '..', '..', '..', 'core', 'testdata', 'trace_context_vectors.json');
const doc = JSON.parse(fs.readFileSync(VECTORS, 'utf8'));

function bytesOf(h) {
  if (typeof h.value === 'string') return Buffer.from(h.value, 'utf8');
  if (typeof h.value_hex === 'string') return Buffer.from(h.value_hex, 'hex');
  return null;
}
const flatList = (headers) => headers.flatMap((h) => [h.name, bytesOf(h)]);
const show = (list) => {
  const out = [];
  for (let i = 0; i < list.length; i += 2) out.push(`${list[i]}: ${list[i + 1] === null ? 'null' : Buffer.from(list[i + 1]).toString('hex')}`);
  return out;
};

// KafkaJS hands a consumer an object: repeated names become arrays. Only lossless when every
// repeated name's occurrences are not interleaved with another name of the same kind.
function asKafkaObject(headers) {
  const obj = {};
  for (const h of headers) {
    const v = bytesOf(h);
    if (Object.prototype.hasOwnProperty.call(obj, h.name)) {
      obj[h.name] = [].concat(obj[h.name], [v]);
    } else obj[h.name] = v;
  }
  return obj;
}
function objectIsLossless(headers) {
  // Order of values per kind must survive grouping by exact name.
  const byKind = new Map();
  for (const h of headers) {
    const k = kt.headerKind(h.name);
    if (k === 0) continue;
    if (!byKind.has(k)) byKind.set(k, []);
    byKind.get(k).push(h.name);
  }
  for (const names of byKind.values()) {
    const seen = [];
    for (const n of names) {
      if (seen.length && seen[seen.length - 1] !== n && seen.includes(n)) return false;
      seen.push(n);
    }
  }
  return true;
}

function expectedBaggage(expect) {
  return expect.baggage.map((b) => [b.key, b.value, b.properties.join(';')]);
}
function baggageOfContext(ctx) {
  const bag = propagation.getBaggage(ctx);
  if (!bag) return [];
  return bag.getAllEntries().map(([k, e]) => [k, e.value, e.metadata ? e.metadata.toString() : '']);
}

function checkContext(ctx, expect, problems, label) {
  const sc = trace.getSpanContext(ctx);
  const want = expect.traceparent;
  if (want === null) {
    if (sc !== undefined) problems.push(`${label}: expected a new root, got ${sc.traceId}`);
  } else if (sc === undefined) {
    problems.push(`${label}: expected a parent, got none`);
  } else {
    const got = [sc.traceId, sc.spanId, sc.traceFlags.toString(16).padStart(2, '0'), sc.isRemote];
    assert.deepEqual(got, [want.trace_id, want.span_id, want.flags, true], `${label} span context`);
    const members = expect.tracestate.map(([k, v]) => `${k}=${v}`).join(',');
    const gotTs = sc.traceState ? sc.traceState.serialize() : '';
    if (gotTs !== members) problems.push(`${label}: tracestate ${gotTs} want ${members}`);
    for (const [k, v] of expect.tracestate) {
      if (sc.traceState.get(k) !== v) problems.push(`${label}: tracestate.get(${k})`);
    }
  }
  const bag = baggageOfContext(ctx);
  try {
    assert.deepEqual(bag, expectedBaggage(expect));
  } catch {
    problems.push(`${label}: baggage ${JSON.stringify(bag)} want ${JSON.stringify(expectedBaggage(expect))}`);
  }
}

const bufferGetter = {
  keys: (c) => Object.keys(c),
  get: (c, k) => c[k],
};

function childContextFor(extracted, expect, spec) {
  // What a producer continuing this message writes: the same trace, our span, the state (with
  // `tracestate_set` applied through the TraceState API), the baggage.
  let sc = trace.getSpanContext(extracted);
  let ctx;
  if (expect.traceparent !== null) {
    let traceState = sc.traceState;
    if (spec.tracestate_set) traceState = (traceState || new kt.KafkaTraceState('')).set(spec.tracestate_set.key, spec.tracestate_set.value);
    ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: sc.traceId, spanId: spec.span_id, traceFlags: sc.traceFlags, traceState, isRemote: false });
    // a consumer's handler keeps the remote context the core accepted (Level 2 flags, tracestate)
    ctx = ctx.setValue(kt.KEPT_REMOTE, sc);
  } else {
    let traceState;
    if (spec.tracestate_set) traceState = new kt.KafkaTraceState('').set(spec.tracestate_set.key, spec.tracestate_set.value);
    ctx = trace.setSpanContext(ROOT_CONTEXT, { traceId: spec.new_root_trace_id, spanId: spec.span_id, traceFlags: 1, traceState, isRemote: false });
  }
  const bag = propagation.getBaggage(extracted);
  return bag ? propagation.setBaggage(ctx, bag) : ctx;
}

test('shared vectors: schema and size', () => {
  assert.equal(doc.schema_version, 1);
  assert.ok(doc.cases.length >= 150, `only ${doc.cases.length} vectors`);
});

test('shared vectors through the Node API', () => {
  const failures = [];
  let objectCases = 0;
  let injectCases = 0;
  for (const c of doc.cases) {
    const problems = [];
    const list = flatList(c.headers);
    const expect = c.expect;

    // 1. the complete header-list API: every field of the vector, with error codes
    const got = kt.headerList.extract(list);
    const want = expect.traceparent;
    if (want) {
      const have = got.traceparent;
      if (!have || have.join() !== [want.version, want.trace_id, want.span_id, want.flags].join()) problems.push(`list traceparent ${have} want ${JSON.stringify(want)}`);
    } else if (got.traceparent || got.error !== expect.error) problems.push(`list error ${got.error} want ${expect.error}`);
    const ts = [];
    for (let i = 0; i < got.tracestate.length; i += 2) ts.push([got.tracestate[i], got.tracestate[i + 1]]);
    if (JSON.stringify(ts) !== JSON.stringify(expect.tracestate)) problems.push(`list tracestate ${JSON.stringify(ts)}`);
    if ((got.tracestateError || undefined) !== expect.tracestate_error) problems.push(`list tracestate_error ${got.tracestateError} want ${expect.tracestate_error}`);
    const bag = [];
    for (let i = 0; i < got.baggage.length; i += 3) bag.push(got.baggage.slice(i, i + 3));
    if (JSON.stringify(bag) !== JSON.stringify(expectedBaggage(expect))) problems.push(`list baggage ${JSON.stringify(bag)}`);

    // 2. the KafkaJS object path and the TextMapPropagator (when KafkaJS's shape can hold the list)
    let extracted;
    if (objectIsLossless(c.headers)) {
      objectCases++;
      const obj = asKafkaObject(c.headers);
      extracted = kt.extractKafka(ROOT_CONTEXT, obj);
      checkContext(extracted, expect, problems, 'extractKafka');
      const viaPropagator = new kt.KafkaTracePropagator().extract(ROOT_CONTEXT, obj, bufferGetter);
      checkContext(viaPropagator, expect, problems, 'propagator');
    }

    // 3. inject: exact header list afterwards
    if (c.inject) {
      injectCases++;
      const spec = c.inject;
      // the context a continuing producer has: built from the list API's extraction
      const base = extracted ?? kt.extractKafka(ROOT_CONTEXT, asKafkaObject(c.headers.filter((h) => kt.headerKind(h.name) !== 0)));
      const child = childContextFor(base, expect, spec);
      const sc = trace.getSpanContext(child);
      const bagEntries = baggageOfContext(child).flat();
      const tsValue = sc.traceState ? sc.traceState.serialize() : '';
      const after = kt.headerList.inject(list, sc.traceId, sc.spanId, sc.traceFlags, tsValue, bagEntries);
      const wantList = flatList(spec.expect_headers);
      const a = show(after || []);
      const b = show(wantList);
      if (JSON.stringify(a) !== JSON.stringify(b)) problems.push(`inject list:\n   got  ${a.join(' | ')}\n   want ${b.join(' | ')}`);
      // Into fresh headers (the facade fills the core's inject plan without a native call where it
      // applies) and through the TextMapPropagator: what the list API writes into an empty list.
      const fresh = show(kt.headerList.inject([], sc.traceId, sc.spanId, sc.traceFlags, tsValue, bagEntries) || []);
      const freshObj = {};
      kt.injectKafka(child, freshObj);
      const viaObject = show(Object.entries(freshObj).flatMap(([k, v]) => [k, v]));
      if (JSON.stringify(viaObject) !== JSON.stringify(fresh)) problems.push(`injectKafka into {}:\n   got  ${viaObject.join(' | ')}\n   want ${fresh.join(' | ')}`);
      const viaSetter = {};
      new kt.KafkaTracePropagator().inject(child, viaSetter, { set: (carrier, k, v) => (carrier[k] = v) });
      const viaProp = show(Object.entries(viaSetter).flatMap(([k, v]) => [k, v]));
      if (JSON.stringify(viaProp) !== JSON.stringify(fresh)) problems.push(`KafkaTracePropagator.inject:\n   got  ${viaProp.join(' | ')}\n   want ${fresh.join(' | ')}`);
      // and the KafkaJS object path the instrumentation uses
      if (objectIsLossless(c.headers) && objectIsLossless(spec.expect_headers)) {
        const obj = asKafkaObject(c.headers);
        kt.injectKafka(child, obj);
        const norm = (o) => JSON.stringify(Object.entries(o).map(([k, v]) => [k, [].concat(v).map((x) => (x === null ? null : Buffer.from(x).toString('hex')))]));
        const gotObj = norm(obj);
        // injectKafka writes what a send writes (the core's `send_context`); the vectors state the
        // same bytes for a child (only the sampled and random flags are written).
        const wantObj = norm(asKafkaObject(spec.expect_headers));
        if (gotObj !== wantObj) problems.push(`injectKafka:\n   got  ${gotObj}\n   want ${wantObj}`);
      }
    }
    if (problems.length) failures.push(`${c.name}:\n  ${problems.join('\n  ')}`);
  }
  assert.ok(objectCases > 200, `only ${objectCases} cases went through the object path`);
  assert.ok(injectCases > 100, `only ${injectCases} inject cases`);
  assert.equal(failures.length, 0, `${failures.length} of ${doc.cases.length} vectors fail:\n${failures.join('\n')}`);
});

test('a tracestate per span (more distinct values than the facade keeps plans for) is injected as the core writes it', () => {
  const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
  const problems = [];
  for (let i = 0; i < 1_500; i++) {
    const spanId = (0x1000 + i).toString(16).padStart(16, '0');
    const state = `vendor=s${i},other=x`;
    const ctx = kt.extractKafka(ROOT_CONTEXT, { traceparent: `00-${tid}-${spanId}-0${i % 2}`, tracestate: state });
    const child = trace.setSpanContext(ROOT_CONTEXT, { ...trace.getSpanContext(ctx), isRemote: false });
    const want = show(kt.headerList.inject([], tid, spanId, i % 2, state, []) || []);
    const obj = {};
    kt.injectKafka(child, obj);
    const got = show(Object.entries(obj).flatMap(([k, v]) => [k, v]));
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${i}: got ${got.join(' | ')}, want ${want.join(' | ')}`);
  }
  assert.deepEqual(problems.slice(0, 3), []);
});

test('every header shape KafkaJS hands over reads without throwing', () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const shapes = [
    undefined, null, {}, { traceparent: undefined }, { traceparent: null }, { traceparent: tp }, { traceparent: Buffer.from(tp) },
    { traceparent: [tp] }, { traceparent: [Buffer.from(tp), tp] }, { traceparent: [] }, { traceparent: [null, tp] },
    { traceparent: Buffer.from([0xff, 0xfe, 0x00]) }, { traceparent: 42 }, { traceparent: { a: 1 } }, { traceparent: new Uint8Array(Buffer.from(tp)) },
    { tracestate: Buffer.from([0xc3, 0x28]) }, { baggage: Buffer.from([0xff]) }, { baggage: [[tp]] },
  ];
  for (const headers of shapes) {
    const ctx = kt.extractKafka(ROOT_CONTEXT, headers);
    assert.ok(ctx);
  }
  assert.equal(trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, { traceparent: [Buffer.from(tp), tp] })).spanId, '00f067aa0ba902b7');
  assert.equal(trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, { traceparent: new Uint8Array(Buffer.from(tp)) })).spanId, '00f067aa0ba902b7');
  // Kafka headers: the last traceparent wins (object keys keep their insertion order)
  assert.equal(trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, { TraceParent: tp, traceparent: tp.replace('b7-01', 'b8-01') })).spanId, '00f067aa0ba902b8');
});

test('propagator fields come from the core', () => {
  assert.deepEqual(new kt.KafkaTracePropagator().fields(), ['traceparent', 'tracestate', 'baggage']);
});

test('extractKafkaBatch (one native call per chunk) agrees with extractKafka on every vector', () => {
  const objects = doc.cases.filter((c) => objectIsLossless(c.headers)).map((c) => asKafkaObject(c.headers));
  // several times over, so chunking by count and by scratch space is exercised too
  const list = [...objects, ...objects, ...objects];
  const contexts = [];
  const valid = [];
  kt.extractKafkaBatch(ROOT_CONTEXT, list, contexts, valid);
  assert.equal(contexts.length, list.length);
  list.forEach((headers, i) => {
    const one = kt.extractKafka(ROOT_CONTEXT, headers);
    const a = trace.getSpanContext(one);
    const b = trace.getSpanContext(contexts[i]);
    assert.deepEqual(b && [b.traceId, b.spanId, b.traceFlags, b.traceState ? b.traceState.serialize() : ''], a && [a.traceId, a.spanId, a.traceFlags, a.traceState ? a.traceState.serialize() : ''], `case ${i}`);
    assert.equal(valid[i], a !== undefined);
    assert.deepEqual(baggageOfContext(contexts[i]), baggageOfContext(one));
  });
});

test('inject checks every trace id, also right after a plain one (the last plain trace id is remembered)', () => {
  const native = require('kafka-trace/native');
  const spanId = '00f067aa0ba902b7';
  const plainTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
  const otherPlain = '0af7651916cd43dd8448eb211c80319c';
  const injectAfter = (previous, traceId) => {
    const before = {};
    assert.equal(kt.injectKafka(trace.setSpanContext(ROOT_CONTEXT, { traceId: previous, spanId, traceFlags: 1 }), before), true);
    assert.equal(before.traceparent, `00-${previous}-${spanId}-01`);
    const h = {};
    kt.injectKafka(trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1 }), h);
    return h;
  };
  const others = [plainTrace, '', '0'.repeat(32), plainTrace.toUpperCase(), plainTrace.slice(1), `${plainTrace}0`, plainTrace.replace('4', 'g'), `${plainTrace.slice(0, 31)}\u0130`, undefined, null, 7];
  for (const traceId of others) {
    // Right after the same plain trace id (the case the remembered id short-cuts) ...
    const h = injectAfter(plainTrace, traceId);
    // ... the same headers as right after another one,
    assert.deepEqual(h, injectAfter(otherPlain, traceId), `trace id ${JSON.stringify(traceId)}`);
    // and, for an id of the right length, exactly what the core's send context gives for it.
    if (typeof traceId === 'string' && traceId.length === 32) {
      const want = {};
      native.sendContextValues(traceId + spanId, true, '', undefined, []).forEach((v, i) => {
        if (v !== '') want[['traceparent', 'tracestate', 'baggage'][i]] = v;
      });
      assert.deepEqual(h, want, `trace id ${JSON.stringify(traceId)}: the core's headers`);
    }
  }
});

test('extractKafka reads every vector exactly after any other message (the addon answers "the same parent" or leaves out the same trace id)', () => {
  // The per-message extract remembers its last valid answer; a message right after an identical
  // one, one of the same trace, or an invalid one must still read what the core reads.
  const core = (headers) => {
    const got = kt.headerList.extract(headers.flatMap((h) => [h.name, bytesOf(h)]));
    return got.traceparent ? [got.traceparent[1], got.traceparent[2], got.traceparent[3]] : null;
  };
  const read = (headers) => {
    const sc = trace.getSpanContext(kt.extractKafka(ROOT_CONTEXT, asKafkaObject(headers)));
    return sc ? [sc.traceId, sc.spanId, sc.traceFlags.toString(16).padStart(2, '0')] : null;
  };
  const cases = doc.cases.filter((c) => objectIsLossless(c.headers));
  const invalid = [{ name: 'traceparent', value: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' }];
  // The same message with another span id (the last hex digit changed), when it has one.
  const sameTrace = (headers) =>
    headers.map((h) => {
      if (kt.headerKind(h.name) !== 1 || typeof h.value !== 'string') return h;
      const m = /^(\s*[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{15})([0-9a-f])/.exec(h.value);
      return m ? { ...h, value: m[1] + (m[2] === '1' ? '2' : '1') + h.value.slice(m[0].length) } : h;
    });
  let checked = 0;
  let parents = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const next = cases[(i + 1) % cases.length].headers;
    for (const [label, headers] of [
      ['first', c.headers],
      ['identical', c.headers],
      ['same trace', sameTrace(c.headers)],
      ['back', c.headers],
      ['invalid', invalid],
      ['after invalid', c.headers],
      ['next', next],
      ['after next', c.headers],
      ['after next, same trace', sameTrace(c.headers)],
    ]) {
      const want = core(headers);
      assert.deepEqual(read(headers), want, `${c.name} (${label})`);
      checked++;
      if (want !== null) parents++;
    }
  }
  assert.ok(checked > 1800 && parents > 900, `${checked} reads, ${parents} with a parent`);
});
