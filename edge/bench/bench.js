#!/usr/bin/env node
// Size and speed of a policy at the edge, for BENCHMARKS.md:
//
//   node bench/bench.js POLICY.wasm LEADS.ndjson [--variants plain,O3,Oz]
//
// For the component and for each transpiled variant (`plain`: `jco
// transpile` alone; `O3`, `Oz`: with binaryen's `wasm-opt` at that level) it
// prints the sizes (raw, gzip -9, brotli q11) and the leads per second
// through the JavaScript module in Node.js, with one warm instance and with
// a fresh instance per lead (what the worker does). Secrets come from
// `LEADFILTER_SECRET_<NAME>`. Every variant must give the same outputs as
// `plain`, or the script fails.

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { Policy, secretsFromEnv } from '../src/policy.js';
import { WASM_OPT_ARGS, transpilePolicy } from '../scripts/transpile.js';
import { loadTranspiled } from '../test/support.js';

const VARIANTS = {
  plain: null,
  O3: WASM_OPT_ARGS.map((arg) => (arg === '-Oz' ? '-O3' : arg)),
  Oz: WASM_OPT_ARGS,
};

/** Leads through one warm instance, and through a fresh one per lead. */
const FRESH_LEADS = 500;
const ROUNDS = 3;

function sizes(bytes) {
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  };
}

const kb = (n) => `${(n / 1024).toLocaleString('en-US', { maximumFractionDigits: 0 })} KiB`;
const mb = (n) => `${(n / (1024 * 1024)).toFixed(2)} MiB`;
const rate = (n) => Math.round(n).toLocaleString('en-US');

async function measure(dir, leads, secretsOf) {
  const { instantiate, coreModules } = await loadTranspiled(dir);
  const policy = new Policy(instantiate, coreModules);
  const secrets = secretsOf((await policy.info()).secrets);

  // One warm instance: the module's own export, failures included.
  const { filter } = await instantiate(() => coreModules['policy.core.wasm'], {});
  const encoder = new TextEncoder();
  const encoded = secrets.map(({ name, value }) => ({ name, value: encoder.encode(value) }));
  const digest = createHash('sha256');
  let failed = 0;
  for (const lead of leads) {
    try {
      digest.update(filter.transform(lead, encoded).lead);
    } catch (err) {
      failed += 1;
      digest.update(`!${err?.payload?.tag}`);
    }
    digest.update('\n');
  }
  let warm = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (const lead of leads) {
      try {
        filter.transform(lead, encoded);
      } catch {
        // counted above
      }
    }
    warm = Math.min(warm, performance.now() - start);
  }
  const some = leads.slice(0, FRESH_LEADS);
  let fresh = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (const lead of some) await policy.transform(lead, secrets);
    fresh = Math.min(fresh, performance.now() - start);
  }
  let instantiation = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < 200; i++) await instantiate(() => coreModules['policy.core.wasm'], {});
    instantiation = Math.min(instantiation, (performance.now() - start) / 200);
  }
  return {
    output: digest.digest('hex'),
    failed,
    warm: (leads.length * 1000) / warm,
    fresh: (some.length * 1000) / fresh,
    instantiateUs: instantiation * 1000,
  };
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { variants: { type: 'string', default: Object.keys(VARIANTS).join(',') } },
  });
  if (positionals.length !== 2) {
    console.error('usage: node bench/bench.js POLICY.wasm LEADS.ndjson [--variants plain,O3,Oz]');
    process.exit(2);
  }
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const component = await readFile(resolve(cwd, positionals[0]));
  const leads = (await readFile(resolve(cwd, positionals[1]), 'utf8'))
    .split('\n')
    .filter((line) => line.trim() !== '');
  const secretsOf = (names) => secretsFromEnv(names, process.env);
  const work = await mkdtemp(join(tmpdir(), 'leadfilter-edge-bench-'));
  try {
    const c = sizes(component);
    console.log(`The component: ${mb(c.raw)} (${c.raw} bytes), gzip ${mb(c.gzip)}, brotli ${mb(c.brotli)}.`);
    console.log(`${leads.length} leads; warm: one instance for all of them, best of ${ROUNDS}; fresh: a new instance per lead (as the worker does), first ${Math.min(FRESH_LEADS, leads.length)} leads.`);
    console.log('');
    console.log('| variant | transpile s | core wasm | gzip | brotli | policy.js (gzip) | upload (gzip) | leads/s warm | leads/s fresh | instantiate µs | same output |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    let reference;
    const wanted = values.variants.split(',');
    for (const name of wanted) {
      if (!(name in VARIANTS)) throw new Error(`unknown variant \`${name}\``);
      const dir = join(work, name);
      const start = performance.now();
      await transpilePolicy(component, dir, {
        optimize: VARIANTS[name] !== null,
        optArgs: VARIANTS[name] ?? undefined,
      });
      const seconds = (performance.now() - start) / 1000;
      const core = sizes(await readFile(join(dir, 'policy.core.wasm')));
      const js = sizes(await readFile(join(dir, 'policy.js')));
      const speed = await measure(dir, leads, secretsOf);
      reference ??= speed.output;
      console.log(
        `| ${name} | ${seconds.toFixed(1)} | ${mb(core.raw)} | ${mb(core.gzip)} | ${mb(core.brotli)} | ${kb(js.raw)} (${kb(js.gzip)}) | ${mb(core.gzip + js.gzip)} | ${rate(speed.warm)} | ${rate(speed.fresh)} | ${speed.instantiateUs.toFixed(0)} | ${speed.output === reference ? 'yes' : 'NO'} (${speed.failed} failed) |`,
      );
      if (speed.output !== reference) process.exitCode = 1;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench: ${err.stack ?? err}`);
  process.exit(1);
});
