// A leadfilter policy component, transpiled by `jco transpile
// --instantiation async`, as a JavaScript object: `transform` a lead with
// secrets and get the filtered lead or the failure, in the same shape as the
// error records of `leadfilter run` (kind, message, paths; never a value).
//
// Every call runs in a fresh instance of the component (about a millisecond),
// as `leadfilter serve` does: no state crosses leads, and a trap cannot leave
// a broken instance behind for the next lead.

/** The failure kinds of the WIT `failure` variant. */
export const FAILURE_KINDS = Object.freeze([
  'invalid-json',
  'input-schema',
  'rejected',
  'output-schema',
  'missing-secret',
  'transform',
]);

const encoder = new TextEncoder();

/**
 * A policy component, ready to filter leads.
 *
 * `instantiate` is the function that `jco transpile --instantiation async`
 * generates; `coreModules` maps the names of the core modules it asks for
 * (`policy.core.wasm`) to compiled `WebAssembly.Module`s, or is a function
 * from such a name to a module (or a promise of one).
 */
export class Policy {
  #instantiate;
  #getCoreModule;
  #info;

  constructor(instantiate, coreModules) {
    this.#instantiate = instantiate;
    this.#getCoreModule =
      typeof coreModules === 'function'
        ? coreModules
        : (name) => {
            const module = coreModules[name];
            if (!module) throw new Error(`no core module \`${name}\` was provided`);
            return module;
          };
  }

  /** A fresh instance of the component's `filter` interface. */
  async #filter() {
    const root = await this.#instantiate(this.#getCoreModule, {});
    return root.filter;
  }

  /**
   * The policy's name, version, digest, secret names and schemas (the WIT
   * `policy-info`), read once.
   */
  async info() {
    this.#info ??= (await this.#filter()).info();
    return this.#info;
  }

  /**
   * Filters one lead (JSON text) with `secrets`, a list of `{name, value}`
   * where `value` is a string (its UTF-8 bytes are the secret) or bytes.
   *
   * Returns `{ok: true, lead, changes}` with the filtered lead as compact
   * JSON text, or `{ok: false, kind, message, paths}`. `kind` is a WIT
   * failure case, or `runtime` when the component trapped (out of memory,
   * for example); the message is the one `leadfilter run` writes.
   */
  async transform(lead, secrets = []) {
    const filter = await this.#filter();
    const list = secrets.map(({ name, value }) => ({
      name,
      value: typeof value === 'string' ? encoder.encode(value) : new Uint8Array(value),
    }));
    let outcome;
    try {
      outcome = filter.transform(lead, list);
    } catch (err) {
      const failure = err?.payload ?? err;
      if (failure && FAILURE_KINDS.includes(failure.tag)) return failureRecord(failure);
      // A trap's message names the trap, never data; still, only a fixed
      // text leaves this function.
      return {
        ok: false,
        kind: 'runtime',
        message: 'the policy stopped with a trap',
        paths: [],
      };
    }
    return {
      ok: true,
      lead: outcome.lead,
      changes: outcome.changes.map(({ path, action }) => ({ path, action })),
    };
  }
}

/** The root pointer `""` is shown as `/`, as the Rust `Display` does. */
function displayPath(path) {
  return path === '' ? '/' : path;
}

/**
 * `{ok: false, kind, message, paths}` from a WIT `failure` (`{tag, val}`):
 * the message is the Rust `Display` of the failure without its `kind: `.
 */
export function failureRecord({ tag, val }) {
  let message;
  let paths = [];
  switch (tag) {
    case 'invalid-json':
    case 'rejected':
      message = val;
      break;
    case 'missing-secret':
      message = `secret \`${val}\` was not provided`;
      break;
    case 'input-schema':
    case 'output-schema':
      message = val.map((v) => `${displayPath(v.path)}: ${v.message}`).join('; ');
      paths = val.map((v) => v.path);
      break;
    case 'transform':
      message = `${displayPath(val.path)}: ${val.message}`;
      paths = [val.path];
      break;
    default:
      throw new Error(`unknown failure kind \`${tag}\``);
  }
  return { ok: false, kind: tag, message, paths };
}

/**
 * The environment variable that holds secret `name`, as `leadfilter run`
 * reads it: `LEADFILTER_SECRET_` and the name upper-cased, `-` as `_`.
 */
export function secretVariable(name) {
  return `LEADFILTER_SECRET_${name.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * The secrets `names` from an environment object (a worker's `env`,
 * `process.env`). A secret that is not set is left out, so the policy
 * reports it as `missing-secret`.
 */
export function secretsFromEnv(names, env) {
  const secrets = [];
  for (const name of names) {
    const value = env?.[secretVariable(name)];
    if (typeof value === 'string') secrets.push({ name, value });
  }
  return secrets;
}
