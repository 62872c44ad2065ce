// The edge worker: a `fetch(request, env)` handler that filters the lead in
// the request body with a policy component and answers the filtered lead.
//
// - `POST` a lead (JSON, UTF-8, at most `maxLeadBytes`): `200` with the
//   filtered lead as compact JSON, byte for byte what `leadfilter run` prints
//   for it (without the line break).
// - A lead the policy refuses: `422` with `{"kind", "message", "paths"}`,
//   the failure as `leadfilter run` records it. Never the lead, nor any
//   value from it.
// - Secrets come from `env`: secret `pepper` from `LEADFILTER_SECRET_PEPPER`
//   (set it with `wrangler secret put`). A secret missing there is a
//   deployment error, answered `500` with kind `missing-secret`.
// - Other problems: `405` (not `POST`), `413` (`too-large`), `422`
//   (`invalid-json`: the body is not UTF-8), `500` (`runtime`: the policy
//   trapped).
//
// Each request gets a fresh instance of the component: no state crosses
// leads.

import { Policy, secretsFromEnv } from '../src/policy.js';

/** The largest lead accepted by default: 1 MiB, as `leadfilter run`. */
export const DEFAULT_MAX_LEAD_BYTES = 1 << 20;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A worker (`{ fetch(request, env) }`) for a transpiled policy: `instantiate`
 * from the `jco transpile --instantiation async` output, and its core
 * modules (see `Policy`). `env.LEADFILTER_MAX_LEAD_BYTES` overrides
 * `maxLeadBytes`.
 */
export function createWorker({ instantiate, coreModules, maxLeadBytes = DEFAULT_MAX_LEAD_BYTES }) {
  const policy = new Policy(instantiate, coreModules);
  return {
    async fetch(request, env = {}) {
      if (request.method !== 'POST') {
        return answer(405, 'method-not-allowed', 'send the lead with POST', { allow: 'POST' });
      }
      const limit = Number(env.LEADFILTER_MAX_LEAD_BYTES ?? maxLeadBytes);
      const body = await readBody(request, limit);
      if (body === null) {
        return answer(413, 'too-large', `the lead is larger than the limit of ${limit} bytes`);
      }
      let lead;
      try {
        // `ignoreBOM`: the policy sees exactly the bytes that were sent, as
        // it does in `leadfilter run`.
        lead = decoder.decode(body);
      } catch {
        return answer(422, 'invalid-json', 'the lead is not valid UTF-8');
      }
      let result;
      try {
        const { secrets } = await policy.info();
        result = await policy.transform(lead, secretsFromEnv(secrets, env));
      } catch {
        return answer(500, 'runtime', 'the policy could not be run');
      }
      if (result.ok) {
        return new Response(result.lead, {
          status: 200,
          headers: { 'content-type': 'application/json; charset=utf-8' },
        });
      }
      const status = result.kind === 'missing-secret' || result.kind === 'runtime' ? 500 : 422;
      return answer(status, result.kind, result.message, {}, result.paths);
    },
  };
}

/** An error answer: `{"kind", "message", "paths"}`, never a lead value. */
function answer(status, kind, message, headers = {}, paths = []) {
  return new Response(JSON.stringify({ kind, message, paths }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/**
 * The request body as bytes, or `null` when it is longer than `limit`
 * (read no further than the limit, whatever `content-length` says).
 */
async function readBody(request, limit) {
  const declared = Number(request.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) return null;
  if (!request.body) return new Uint8Array(0);
  const chunks = [];
  let length = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
