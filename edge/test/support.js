// What the Node tests share: the conformance corpus, the `leadfilter`
// binary, and compiled and transpiled policies cached under `.cache/`.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { secretVariable } from '../src/policy.js';
import { transpilePolicy } from '../scripts/transpile.js';

export const EDGE = fileURLToPath(new URL('..', import.meta.url));
export const REPO = join(EDGE, '..');
export const CASES = join(REPO, 'tests', 'conformance');
export const CACHE = join(EDGE, '.cache');

/**
 * The `leadfilter` binary: `$LEADFILTER_BIN`, or the first that exists of
 * the debug and release builds in `$CARGO_TARGET_DIR` (default `target/`).
 */
export function leadfilterBin() {
  if (process.env.LEADFILTER_BIN) return process.env.LEADFILTER_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(REPO, 'target');
  const candidates = ['debug', 'release'].map((profile) => join(target, profile, 'leadfilter'));
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `no leadfilter binary at ${candidates.join(' or ')}: run \`cargo build\` ` +
        'in the repository, or set LEADFILTER_BIN',
    );
  }
  return found;
}

/** Runs a command; resolves to `{code, stdout, stderr}` (stdout as bytes). */
export function run(command, args, { env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
    child.stdin.end();
  });
}

/** The names of the corpus's cases, sorted; `$CONFORMANCE_CASE` filters. */
export async function caseNames() {
  const filter = process.env.CONFORMANCE_CASE ?? '';
  const entries = await readdir(CASES, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory() && e.name.includes(filter))
    .map((e) => e.name)
    .sort();
}

async function readOptional(path) {
  try {
    return await readFile(path);
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
}

/** One case of the corpus, as `tests/conformance/README.md` describes it. */
export async function readCase(name) {
  const dir = join(CASES, name);
  const read = (file) => readOptional(join(dir, file));
  const [policy, lead, secrets, expected, failure, changes] = await Promise.all(
    ['policy.yaml', 'lead.json', 'secrets.json', 'expected.json', 'failure.json', 'changes.json'].map(
      read,
    ),
  );
  if ((expected === null) === (failure === null)) {
    throw new Error(`case \`${name}\` needs exactly one of expected.json and failure.json`);
  }
  const json = (bytes) => (bytes === null ? null : JSON.parse(bytes.toString('utf8')));
  return {
    name,
    dir,
    policyPath: join(dir, 'policy.yaml'),
    policyText: policy.toString('utf8'),
    leadPath: join(dir, 'lead.json'),
    lead: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(lead),
    leadBytes: lead,
    secrets: Object.entries(json(secrets) ?? {}).map(([name, value]) => ({ name, value })),
    expected: expected?.toString('utf8') ?? null,
    failure: json(failure),
    changes: json(changes),
  };
}

/** An environment without inherited secrets, with `secrets` added. */
export function secretEnv(secrets, base = process.env) {
  const env = Object.fromEntries(
    Object.entries(base).filter(([key]) => !key.startsWith('LEADFILTER_SECRET_')),
  );
  for (const { name, value } of secrets) env[secretVariable(name)] = value;
  return env;
}

/** Compiles a case's policy with `leadfilter compile`; the component's bytes. */
export async function compileCase(testCase) {
  const dir = join(CACHE, 'components');
  await mkdir(dir, { recursive: true });
  const out = join(dir, `${testCase.name}.wasm`);
  // Test files run in parallel processes: write aside, then rename.
  const tmp = `${out}.${process.pid}.tmp`;
  const { code, stderr } = await run(leadfilterBin(), ['compile', testCase.policyPath, '-o', tmp]);
  if (code !== 0) throw new Error(`leadfilter compile failed (${code}):\n${stderr}`);
  await rename(tmp, out);
  return { path: out, bytes: await readFile(out) };
}

/**
 * The transpiled component in a directory of its own, keyed by the
 * component's digest (and whether it was optimised): transpiled once, then
 * reused from `.cache/transpiled/`.
 */
export async function transpileCached(bytes, { optimize = false } = {}) {
  const digest = createHash('sha256').update(bytes).digest('hex');
  const dir = join(CACHE, 'transpiled', `${digest.slice(0, 32)}${optimize ? '-opt' : ''}`);
  if (!existsSync(join(dir, 'policy.js'))) {
    const tmp = `${dir}.${process.pid}.tmp`;
    await transpilePolicy(bytes, tmp, { optimize });
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another test process got there first, with the same files.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      await rm(tmp, { recursive: true, force: true });
    }
  }
  return dir;
}

/** The `instantiate` function and compiled core module of a transpiled policy. */
export async function loadTranspiled(dir) {
  const { instantiate } = await import(pathToFileURL(join(dir, 'policy.js')).href);
  const core = await WebAssembly.compile(await readFile(join(dir, 'policy.core.wasm')));
  return { instantiate, coreModules: { 'policy.core.wasm': core } };
}

/**
 * Every string value (not member name) and number of `lead`, found by a
 * tolerant scan since the lead may be invalid JSON; a string both as
 * written and decoded. The same scan as `host/tests/all/golden.rs`.
 */
export function leadValues(lead) {
  const values = [];
  let i = 0;
  while (i < lead.length) {
    const c = lead[i];
    if (c === '"') {
      let end = i + 1;
      let escaped = false;
      for (; end < lead.length; end++) {
        if (escaped) escaped = false;
        else if (lead[end] === '\\') escaped = true;
        else if (lead[end] === '"') break;
      }
      const after = Math.min(end + 1, lead.length);
      const literal = lead.slice(i, after);
      const raw = lead.slice(i + 1, end);
      i = after;
      if (lead.slice(after).trimStart().startsWith(':')) continue;
      values.push(raw);
      try {
        const decoded = JSON.parse(literal);
        if (typeof decoded === 'string') values.push(decoded);
      } catch {
        // not decodable: the text as written is enough
      }
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < lead.length && /[0-9.eE+-]/.test(lead[j])) j++;
      values.push(lead.slice(i, j));
      i = j;
    } else {
      i++;
    }
  }
  return values;
}

/**
 * The values of `lead` (4 characters or more, not spelled out in the
 * policy) that `text` shows.
 */
export function leakedValues(lead, policyText, text) {
  const values = new Set(leadValues(lead));
  return [...values].filter(
    (value) => [...value].length >= 4 && !policyText.includes(value) && text.includes(value),
  );
}

