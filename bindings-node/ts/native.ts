// The generated napi-rs loader (../native.js) and its generated types (../native.d.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../native');

export = native;
