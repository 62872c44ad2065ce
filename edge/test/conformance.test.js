// The conformance corpus (`tests/conformance/`) through the edge: every
// case's policy is compiled with the `leadfilter` binary, transpiled with
// jco, and its lead is filtered three ways:
//
// - by the transpiled module in JavaScript (`Policy`),
// - by the example worker's `fetch` handler (`createWorker`),
// - by `leadfilter run` on the same component (wasmtime).
//
// The JavaScript answer must be the corpus's expected answer, and the same,
// byte for byte, as what `leadfilter run` prints: the filtered lead, or the
// failure's kind, message and paths. The worker must answer the same lead,
// or the failure record and never a value of the lead.
//
// `LEADFILTER_BIN` names the binary (default: target/debug/leadfilter or
// target/release/leadfilter); `CONFORMANCE_CASE=text` runs the cases whose
// name holds `text`; `EDGE_TEST_OPTIMIZE=1` transpiles with `--optimize`
// (binaryen's `wasm-opt`, about a minute per case the first time).

import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Policy } from '../src/policy.js';
import { createWorker } from '../worker/handler.js';
import {
  CACHE,
  caseNames,
  compileCase,
  leadfilterBin,
  leakedValues,
  loadTranspiled,
  readCase,
  run,
  secretEnv,
  transpileCached,
} from './support.js';

/**
 * The message of an `invalid-json` error record that `leadfilter run`'s
 * input reader writes itself, before the policy sees the lead: a syntax
 * error in a multi-line document, or bytes that are not UTF-8. Only for
 * these may the CLI's message differ from the policy's.
 */
const READER_MESSAGE =
  /^(invalid JSON at line \d+ column \d+; the rest of the input is not read|the lead is not valid UTF-8)$/;

/** `leadfilter run` on one case: exit code, stdout bytes, error records. */
async function runCli(component, testCase) {
  const dir = join(CACHE, 'errors');
  await mkdir(dir, { recursive: true });
  const errors = join(dir, `${testCase.name}.ndjson`);
  const result = await run(
    leadfilterBin(),
    ['run', '-q', '--errors', errors, component.path, testCase.leadPath],
    { env: secretEnv(testCase.secrets) },
  );
  let records = [];
  try {
    records = (await readFile(errors, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  return { ...result, records };
}

/** The failure part of an answer, as `failure.json` holds it. */
function failureOf(answer) {
  return { kind: answer.kind, message: answer.message, paths: answer.paths };
}

function checkCorpus(testCase, js) {
  if (testCase.expected !== null) {
    assert.ok(js.ok, `the lead failed in JavaScript: ${js.kind}: ${js.message}`);
    assert.equal(`${js.lead}\n`, testCase.expected, 'expected.json differs');
    if (testCase.changes !== null) {
      assert.deepEqual(js.changes, testCase.changes, 'changes.json differs');
    }
  } else {
    assert.ok(!js.ok, `failure.json expects a failure, but the lead passed: ${js.lead}`);
    assert.deepEqual(failureOf(js), testCase.failure, 'failure.json differs');
    const shown = `${js.message}\n${js.paths.join('\n')}`;
    assert.deepEqual(leakedValues(testCase.lead, testCase.policyText, shown), []);
  }
}

function checkCli(testCase, js, cli) {
  const context = `leadfilter run (exit ${cli.code}):\n${cli.stderr}`;
  if (js.ok) {
    assert.equal(cli.code, 0, context);
    assert.deepEqual(cli.records, [], context);
    // Byte for byte: the string comparison shows a diff, the bytes decide.
    assert.equal(cli.stdout.toString('utf8'), `${js.lead}\n`, 'the outputs differ');
    assert.ok(cli.stdout.equals(Buffer.from(`${js.lead}\n`, 'utf8')), 'the output bytes differ');
    return;
  }
  assert.equal(cli.stdout.length, 0, 'leadfilter run printed a lead that JavaScript refused');
  if (js.kind === 'missing-secret') {
    // `leadfilter run` checks its secrets before it reads a lead.
    assert.equal(cli.code, 3, context);
    assert.ok(cli.stderr.includes(`\`${js.message.match(/`(.*)`/)[1]}\``), context);
    assert.deepEqual(cli.records, [], context);
    return;
  }
  assert.equal(cli.code, 1, context);
  assert.equal(cli.records.length, 1, context);
  const [record] = cli.records;
  assert.equal(record.kind, js.kind, 'the failure kinds differ');
  assert.deepEqual(record.paths, js.paths, 'the failure paths differ');
  if (!(record.kind === 'invalid-json' && READER_MESSAGE.test(record.message))) {
    assert.equal(record.message, js.message, 'the failure messages differ');
  }
}

async function checkWorker(testCase, js, worker) {
  const request = new Request('https://edge.example/lead', {
    method: 'POST',
    body: testCase.leadBytes,
  });
  const response = await worker.fetch(request, secretEnv(testCase.secrets, {}));
  const body = Buffer.from(await response.arrayBuffer());
  if (js.ok) {
    assert.equal(response.status, 200, body.toString('utf8'));
    assert.ok(body.equals(Buffer.from(js.lead, 'utf8')), 'the worker answered another lead');
    return;
  }
  assert.equal(response.status, js.kind === 'missing-secret' ? 500 : 422);
  const text = body.toString('utf8');
  assert.deepEqual(JSON.parse(text), failureOf(js));
  assert.deepEqual(leakedValues(testCase.lead, testCase.policyText, text), []);
}

const optimize = process.env.EDGE_TEST_OPTIMIZE === '1';
const names = await caseNames();
assert.ok(names.length > 0, 'no conformance case matches');

describe('conformance corpus', { concurrency: Math.max(2, availableParallelism()) }, () => {
  for (const name of names) {
    test(name, async () => {
      const testCase = await readCase(name);
      const component = await compileCase(testCase);
      const [dir, cli] = await Promise.all([
        transpileCached(component.bytes, { optimize }),
        runCli(component, testCase),
      ]);
      const { instantiate, coreModules } = await loadTranspiled(dir);
      const js = await new Policy(instantiate, coreModules).transform(
        testCase.lead,
        testCase.secrets,
      );
      checkCorpus(testCase, js);
      checkCli(testCase, js, cli);
      await checkWorker(testCase, js, createWorker({ instantiate, coreModules }));
    });
  }
});
