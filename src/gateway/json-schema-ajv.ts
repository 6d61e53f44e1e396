import { setFlagsFromString } from 'node:v8';
import { Ajv, type SchemaValidateFunction, type ValidateFunction } from 'ajv';

// The ajv set-up that clients' json_schema schemas are compiled with, on the
// schema-check thread (json-schema-worker.ts), never on the event loop.

// A schema's `pattern` comes from the client and runs against the model's answer, which
// the client can steer. With a backtracking engine `^(a+)+$` takes exponential time
// (against 26 a's and a '!': 0.3 s; 35: minutes). So patterns run on V8's linear-time
// engine (the `l` flag). It works in non-unicode mode and without back-references or
// lookarounds; a pattern it cannot run (or one that needs unicode mode, `\p{…}` or
// `\u{…}`) makes the schema one this check skips: the upstream is the judge, as for any
// schema ajv cannot compile.
setFlagsFromString('--enable-experimental-regexp-engine');
const linearRegExp = Object.assign(
  (pattern: string): RegExp => {
    if (/\\[pP]\{|\\u\{/.test(pattern)) throw new SyntaxError('pattern needs unicode mode');
    return new RegExp(pattern, 'l');
  },
  // Only read when ajv writes standalone code, which this module never does.
  { code: 'linearRegExp' },
);

/** A key equal for equal JSON values (JSON Schema equality: object members in any order). */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * ajv's own uniqueItems compares every pair of items with a deep equality: 8,000 small
 * objects took 1.3 s. Keying each item by its canonical text finds a duplicate in one
 * pass over the answer (the same 8,000: a few ms).
 */
const uniqueItems: SchemaValidateFunction = (schema: boolean, data: unknown[]): boolean => {
  if (!schema) return true;
  const seen = new Map<string, number>();
  for (let i = 0; i < data.length; i++) {
    const key = canonical(data[i]);
    const j = seen.get(key);
    if (j !== undefined) {
      uniqueItems.errors = [{ keyword: 'uniqueItems', message: `must NOT have duplicate items (items ## ${j} and ${i} are identical)`, params: { i, j } }];
      return false;
    }
    seen.set(key, i);
  }
  return true;
};

/**
 * A fresh ajv. An instance keeps every schema it compiled, and their code, for as long
 * as it lives (2,000 schemas of 50 properties: 51 MB), so its owner drops it with its
 * cache of validators rather than let clients' distinct schemas pile up.
 */
export function createAjv(): Ajv {
  // `optimize: false`: ajv's pass over its generated code took 40% of compiling a
  // 5,000-property schema (1.3 s → 0.77 s); validating was no slower.
  const ajv = new Ajv({ strict: false, allErrors: true, code: { regExp: linearRegExp, optimize: false } });
  ajv.removeKeyword('uniqueItems');
  ajv.addKeyword({ keyword: 'uniqueItems', type: 'array', schemaType: 'boolean', validate: uniqueItems });
  return ajv;
}

export type { ValidateFunction };
