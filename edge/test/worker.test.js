// The example worker's HTTP behaviour, beyond what the conformance corpus
// checks: methods, size limits, bytes that are not UTF-8, secrets from
// `env`, and a fresh instance per request.

import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { register } from 'node:module';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { Policy, failureRecord, secretVariable, secretsFromEnv } from '../src/policy.js';
import { createWorker } from '../worker/handler.js';
import {
  CACHE,
  EDGE,
  compileCase,
  leadValues,
  leakedValues,
  loadTranspiled,
  readCase,
  transpileCached,
} from './support.js';

// A policy with two secrets: `pepper` and `salt`.
const CASE = 'action-hash-keyed';

let testCase;
let transpiledDir;
let transpiled;
let env;

before(async () => {
  testCase = await readCase(CASE);
  const component = await compileCase(testCase);
  transpiledDir = await transpileCached(component.bytes);
  transpiled = await loadTranspiled(transpiledDir);
  env = Object.fromEntries(testCase.secrets.map(({ name, value }) => [secretVariable(name), value]));
});

function post(body, headers = {}) {
  return new Request('https://edge.example/lead', { method: 'POST', body, headers });
}

async function json(response) {
  assert.match(response.headers.get('content-type'), /^application\/json/);
  return JSON.parse(await response.text());
}

describe('the worker', () => {
  test('answers the filtered lead', async () => {
    const worker = createWorker(transpiled);
    const response = await worker.fetch(post(testCase.leadBytes), env);
    assert.equal(response.status, 200);
    assert.equal(`${await response.text()}\n`, testCase.expected);
  });

  test('gives every request a fresh instance with the same answer', async () => {
    const worker = createWorker(transpiled);
    const bodies = await Promise.all(
      Array.from({ length: 5 }, async () => (await worker.fetch(post(testCase.leadBytes), env)).text()),
    );
    assert.deepEqual(new Set(bodies).size, 1);
  });

  test('answers 405 to anything but POST', async () => {
    const worker = createWorker(transpiled);
    const response = await worker.fetch(new Request('https://edge.example/lead'), env);
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'POST');
    assert.equal((await json(response)).kind, 'method-not-allowed');
  });

  test('refuses a lead over the limit, declared or streamed', async () => {
    const worker = createWorker({ ...transpiled, maxLeadBytes: 64 });
    const big = `{"email": "${'a'.repeat(100)}@example.com"}`;
    const declared = await worker.fetch(post(big, { 'content-length': String(big.length) }), env);
    assert.equal(declared.status, 413);
    const body = await json(declared);
    assert.deepEqual(body, {
      kind: 'too-large',
      message: 'the lead is larger than the limit of 64 bytes',
      paths: [],
    });
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big));
        controller.close();
      },
    });
    const streamed = await worker.fetch(
      new Request('https://edge.example/lead', { method: 'POST', body: stream, duplex: 'half' }),
      env,
    );
    assert.equal(streamed.status, 413);
    const fromEnv = await createWorker(transpiled).fetch(post(big), {
      ...env,
      LEADFILTER_MAX_LEAD_BYTES: '64',
    });
    assert.equal(fromEnv.status, 413);
  });

  test('refuses bytes that are not UTF-8 as invalid-json, without the value', async () => {
    const worker = createWorker(transpiled);
    const bytes = Buffer.concat([Buffer.from('{"email": "secret'), Buffer.from([0xff]), Buffer.from('"}')]);
    const response = await worker.fetch(post(bytes), env);
    assert.equal(response.status, 422);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), {
      kind: 'invalid-json',
      message: 'the lead is not valid UTF-8',
      paths: [],
    });
    assert.ok(!text.includes('secret'));
  });

  test('answers 422 with the failure, never the lead', async () => {
    const worker = createWorker(transpiled);
    const lead = '{"email": "jane.doe@example.com", "email": "jane.doe@example.com"}';
    const response = await worker.fetch(post(lead), env);
    assert.equal(response.status, 422);
    const text = await response.text();
    assert.equal(JSON.parse(text).kind, 'invalid-json');
    assert.ok(!text.includes('jane'), text);
  });

  test('answers 500 missing-secret when env lacks a secret', async () => {
    const worker = createWorker(transpiled);
    const response = await worker.fetch(post(testCase.leadBytes), {
      LEADFILTER_SECRET_PEPPER: 'only-one',
    });
    assert.equal(response.status, 500);
    assert.deepEqual(await json(response), {
      kind: 'missing-secret',
      message: 'secret `salt` was not provided',
      paths: [],
    });
  });
});

describe('the Workers entry point', () => {
  test('imports the core module as a WebAssembly.Module and answers', async () => {
    // worker/index.js as deployed: with `src/`, `worker/` and `build/` side
    // by side, and `.wasm` imported the way Workers imports it.
    register('./wasm-module-hooks.js', import.meta.url);
    const root = await mkdtemp(join(CACHE, 'entry-'));
    try {
      await cp(join(EDGE, 'src'), join(root, 'src'), { recursive: true });
      await cp(join(EDGE, 'worker'), join(root, 'worker'), { recursive: true });
      await cp(transpiledDir, join(root, 'build'), { recursive: true });
      const { default: worker } = await import(pathToFileURL(join(root, 'worker', 'index.js')).href);
      const response = await worker.fetch(post(testCase.leadBytes), env);
      assert.equal(response.status, 200);
      assert.equal(`${await response.text()}\n`, testCase.expected);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the policy object', () => {
  test('reads the policy info once', async () => {
    const policy = new Policy(transpiled.instantiate, transpiled.coreModules);
    const info = await policy.info();
    assert.equal(info.name, CASE);
    assert.deepEqual(info.secrets, ['pepper', 'salt']);
    assert.match(info.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await policy.info(), info);
  });

  test('takes secrets as strings or bytes', async () => {
    const policy = new Policy(transpiled.instantiate, transpiled.coreModules);
    const asBytes = testCase.secrets.map(({ name, value }) => ({
      name,
      value: new TextEncoder().encode(value),
    }));
    const fromText = await policy.transform(testCase.lead, testCase.secrets);
    const fromBytes = await policy.transform(testCase.lead, asBytes);
    assert.ok(fromText.ok);
    assert.deepEqual(fromBytes, fromText);
  });

  test('reports a trap as a runtime failure without its message', async () => {
    const trapping = async () => ({
      filter: {
        transform() {
          throw new WebAssembly.RuntimeError('unreachable executed near jane@example.com');
        },
      },
    });
    const result = await new Policy(trapping, {}).transform('{}');
    assert.deepEqual(result, {
      ok: false,
      kind: 'runtime',
      message: 'the policy stopped with a trap',
      paths: [],
    });
  });
});

describe('secrets from env', () => {
  test('are named as leadfilter run names them', () => {
    assert.equal(secretVariable('pepper'), 'LEADFILTER_SECRET_PEPPER');
    assert.equal(secretVariable('crm-key'), 'LEADFILTER_SECRET_CRM_KEY');
    assert.deepEqual(
      secretsFromEnv(['pepper', 'crm-key', 'absent'], {
        LEADFILTER_SECRET_PEPPER: 'p',
        LEADFILTER_SECRET_CRM_KEY: '',
        pepper: 'not this one',
      }),
      [
        { name: 'pepper', value: 'p' },
        { name: 'crm-key', value: '' },
      ],
    );
  });

  test('failure records match the Rust display', () => {
    assert.deepEqual(
      failureRecord({
        tag: 'input-schema',
        val: [
          { path: '', message: 'missing `email`' },
          { path: '/age', message: 'not an integer' },
        ],
      }),
      {
        ok: false,
        kind: 'input-schema',
        message: '/: missing `email`; /age: not an integer',
        paths: ['', '/age'],
      },
    );
    assert.deepEqual(failureRecord({ tag: 'transform', val: { path: '', message: 'm' } }), {
      ok: false,
      kind: 'transform',
      message: '/: m',
      paths: [''],
    });
  });
});

describe('the leak check of the tests', () => {
  test('finds string values and numbers, not member names', () => {
    const lead = String.raw`{"name": "Ada \"L\"", "n": -1.5e3, "bad": "\ud800", "x": [true, "tail`;
    assert.deepEqual(leadValues(lead), [
      String.raw`Ada \"L\"`,
      'Ada "L"',
      '-1.5e3',
      String.raw`\ud800`,
      '\ud800',
      'tail',
    ]);
  });

  test('catches a value in a message, unless the policy spells it out', () => {
    const lead = '{"birth_date": "30/09/1971", "ref": "email"}';
    assert.deepEqual(leakedValues(lead, '', '`30/09/1971` is not a date'), ['30/09/1971']);
    assert.deepEqual(leakedValues(lead, '', '`date` needs an RFC 3339 date'), []);
    assert.deepEqual(leakedValues(lead, '/fields/[ref=email]', 'no rule governs `/email`'), []);
    assert.deepEqual(leakedValues(lead, '', 'no rule governs `/email`'), ['email']);
  });
});
