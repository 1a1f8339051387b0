// The generated napi-rs loader (../native.js) and its generated types (../native.d.ts); ./platform
// loads it first and explains a missing addon.
import './platform';
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../native');

export = native;
