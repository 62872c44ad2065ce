// Module hooks that import a `.wasm` file as a compiled `WebAssembly.Module`
// (its default export), as Cloudflare Workers does: lets the tests load
// `worker/index.js` unchanged in Node.js.

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.wasm')) return nextLoad(url, context);
  return {
    format: 'module',
    shortCircuit: true,
    source:
      "import { readFileSync } from 'node:fs';\n" +
      'export default new WebAssembly.Module(readFileSync(new URL(import.meta.url)));\n',
  };
}
