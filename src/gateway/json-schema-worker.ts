import { parentPort } from 'node:worker_threads';
import { createAjv, type ValidateFunction } from './json-schema-ajv.ts';
import type { SchemaVerdict } from './json-schema-check.ts';

// Compiles clients' schemas and checks answers against them on a thread of its own
// (driven by json-schema-thread.ts): ajv took 0.5–2.4 s to compile schemas within
// OpenAI's limits, and a 110-byte answer to a recursive anyOf took 1.5 s to check, time
// the event loop that serves every client cannot give.

export interface CheckJob {
  id: number;
  /** The schema as JSON text: the cache key, and cheaper to send than an object. */
  schema: string;
  /** The answer's text content, parsed here. */
  answer: string;
}

export interface CheckResult {
  id: number;
  verdict: SchemaVerdict;
}

// Validators by schema text, since clients send the same schema request after request.
// Bounded in count and in schema text: a compiled schema took about 20× its text in
// memory, and ajv's own copies go only with the instance (see createAjv).
const CACHE_MAX = 500;
const CACHE_MAX_CHARS = 4_000_000;
let ajv = createAjv();
let cache = new Map<string, ValidateFunction | null>();
let cachedChars = 0;

function validatorFor(text: string): ValidateFunction | null {
  let v = cache.get(text);
  if (v !== undefined) return v;
  if (cache.size >= CACHE_MAX || cachedChars + text.length > CACHE_MAX_CHARS) {
    ajv = createAjv();
    cache = new Map();
    cachedChars = 0;
  }
  try {
    v = ajv.compile(JSON.parse(text) as object);
  } catch {
    v = null; // not a schema ajv understands: the upstream is the judge
  }
  cache.set(text, v);
  cachedChars += text.length;
  return v;
}

function verdictOf(job: CheckJob): SchemaVerdict {
  const validate = validatorFor(job.schema);
  if (!validate) return { kind: 'unchecked', reason: 'schema not supported' };
  let value: unknown;
  try {
    value = JSON.parse(job.answer);
  } catch {
    return { kind: 'invalid', violations: 'the answer is not valid JSON' };
  }
  if (validate(value)) return { kind: 'valid' };
  // Each part cut short: the path is made of the answer's own keys (a model can write a
  // key of megabytes), and it goes into an error message and a log line.
  const violations = (validate.errors ?? []).slice(0, 5).map((e) => `${cut(e.instancePath || '(root)')} ${cut(e.message ?? '')}`).join('; ');
  return { kind: 'invalid', violations };
}

const MAX_PART_CHARS = 200;

function cut(text: string): string {
  return text.length <= MAX_PART_CHARS ? text : `${text.slice(0, MAX_PART_CHARS)}…`;
}

const port = parentPort!;
port.on('message', (job: CheckJob) => {
  let verdict: SchemaVerdict;
  try {
    verdict = verdictOf(job);
  } catch {
    // e.g. an answer nested deeper than the stack: left to the upstream, like a schema ajv cannot compile
    verdict = { kind: 'unchecked', reason: 'checker error' };
  }
  port.postMessage({ id: job.id, verdict } satisfies CheckResult);
});
// Loading ajv took this thread ~0.3 s: jobs are sent, and their time counted, from here.
port.postMessage('ready');
