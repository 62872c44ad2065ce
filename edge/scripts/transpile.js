#!/usr/bin/env node
// Transpiles a policy component to an ES module with `jco transpile`:
//
//   node scripts/transpile.js policy.wasm [-o build] [--optimize]
//   npm run transpile -- policy.wasm
//
// writes `policy.js` (the bindings, with `instantiate(getCoreModule,
// imports)`), `policy.core.wasm` (the one core module) and TypeScript types
// to the output directory (default `build/`), as
//
//   jco transpile policy.wasm -o build --name policy --instantiation async
//
// would. `--optimize` runs binaryen's `wasm-opt` over the core module first
// (`-Oz`; slow: about a minute); see BENCHMARKS.md for what it buys.

import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { transpile } from '@bytecodealliance/jco';

/** The arguments `--optimize` hands to `wasm-opt`. */
export const WASM_OPT_ARGS = Object.freeze([
  '-Oz',
  '--enable-simd',
  '--enable-bulk-memory',
  '--enable-nontrapping-float-to-int',
  '--enable-sign-ext',
  '--enable-mutable-globals',
  '--strip-debug',
]);

/**
 * Transpiles the component `bytes` into `outDir` (emptied first), with
 * `wasm-opt` (`optArgs`, default `WASM_OPT_ARGS`) when `optimize` is set.
 * Returns the names of the files written.
 */
export async function transpilePolicy(bytes, outDir, { optimize = false, optArgs } = {}) {
  const { files, imports } = await transpile(bytes, {
    name: 'policy',
    instantiation: 'async',
    quiet: true,
    optimize,
    // jco 1.35's API reads the arguments from `optimizeOptions` (its CLI's
    // `--optimize -- ARGS` does not reach wasm-opt; its default is `-Oz`).
    optimizeOptions: optimize ? { optArgs: [...(optArgs ?? WASM_OPT_ARGS)] } : undefined,
  });
  if (imports.length > 0) {
    throw new Error(`the component imports ${imports.join(', ')}: a policy must import nothing`);
  }
  await rm(outDir, { recursive: true, force: true });
  const names = Object.keys(files).sort();
  for (const name of names) {
    const path = join(outDir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, files[name]);
  }
  return names;
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'out-dir': { type: 'string', short: 'o' },
      optimize: { type: 'boolean', short: 'O', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || positionals.length !== 1) {
    console.error('usage: node scripts/transpile.js POLICY.wasm [-o OUT_DIR] [--optimize]');
    process.exit(values.help ? 0 : 2);
  }
  // `npm run` starts scripts in this package's directory; paths are meant
  // from where the command was typed.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const input = resolve(cwd, positionals[0]);
  // The default is this package's `build/`, where the worker looks.
  const outDir = values['out-dir']
    ? resolve(cwd, values['out-dir'])
    : fileURLToPath(new URL('../build', import.meta.url));
  const names = await transpilePolicy(await readFile(input), outDir, {
    optimize: values.optimize,
  });
  for (const name of names) console.log(join(outDir, name));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`transpile: ${err.message}`);
    process.exit(1);
  });
}
