// The worker's entry point on Cloudflare Workers (and other platforms that
// import a `.wasm` file as a compiled `WebAssembly.Module`). `build/` is the
// output of `npm run transpile -- policy.wasm`; see README.md.

import { instantiate } from '../build/policy.js';
import core from '../build/policy.core.wasm';
import { createWorker } from './handler.js';

export default createWorker({ instantiate, coreModules: { 'policy.core.wasm': core } });
