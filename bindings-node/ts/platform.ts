// Loads the napi-rs addon first, so that a platform without one gets an error that says which
// platform is missing and which ones have a prebuilt addon (instead of napi-rs' generic one).

/** The platforms the npm package ships a prebuilt addon for (package.json `napi.targets`). */
export const PREBUILT = ['linux-x64-gnu'];

function platformName(): string {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`;
  let musl = false;
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    musl = !report?.header?.glibcVersionRuntime;
  } catch {
    /* unknown: say gnu */
  }
  return `linux-${process.arch}-${musl ? 'musl' : 'gnu'}`;
}

function check(): void {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../native');
  } catch (err) {
    const name = platformName();
    const cause = String((err as Error)?.message ?? err).split('\n')[0];
    const e = new Error(
      PREBUILT.includes(name)
        ? `kafka-trace: the prebuilt native addon for ${name} failed to load (it needs glibc ≥ 2.34): ${cause}. ` +
            'Build it from source (Rust ≥ 1.82): `cd bindings-node && npm ci && npm run build && npm pack` in the kafka-trace repository.'
        : `kafka-trace: no native addon for this platform (${name}). Prebuilt: ${PREBUILT.join(', ')}. ` +
            'Elsewhere build it from source (Rust ≥ 1.82): git clone the kafka-trace repository, then ' +
            '`cd bindings-node && npm ci && npm run build && npm pack` and install that tarball.',
    );
    (e as Error & { cause?: unknown }).cause = err;
    (e as Error & { code?: string }).code = 'KAFKA_TRACE_UNSUPPORTED_PLATFORM';
    throw e;
  }
}

check();
