// The worker's entry point on Node.js (20 or later), or wherever a `.wasm`
// file cannot be imported as a module: the core module is read and compiled
// at start-up. `build/` is the output of `npm run transpile -- policy.wasm`.
//
//   node worker/node.js [PORT]     serves the worker on http://127.0.0.1:PORT/
//
// Secrets come from the process environment (`LEADFILTER_SECRET_<NAME>`).

import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { instantiate } from '../build/policy.js';
import { createWorker } from './handler.js';

const core = await WebAssembly.compile(
  await readFile(new URL('../build/policy.core.wasm', import.meta.url)),
);
const worker = createWorker({ instantiate, coreModules: { 'policy.core.wasm': core } });
const port = Number(process.argv[2] ?? 8787);

createServer(async (req, res) => {
  const request = new Request(new URL(req.url, `http://${req.headers.host}`), {
    method: req.method,
    headers: req.headers,
    body: req.method === 'GET' || req.method === 'HEAD' ? undefined : Readable.toWeb(req),
    duplex: 'half',
  });
  try {
    const response = await worker.fetch(request, process.env);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  } catch {
    res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"kind":"runtime","message":"the request could not be handled","paths":[]}');
  }
}).listen(port, '127.0.0.1', () => {
  console.error(`leadfilter edge worker on http://127.0.0.1:${port}/`);
});
