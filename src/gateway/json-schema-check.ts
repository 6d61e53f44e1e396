import { createAjv, type ValidateFunction } from './json-schema-ajv.ts';

// Structured-output checking (seed 001): a json_schema answer is validated against the
// schema the client sent. Compiled validators are cached by schema text, since clients
// send the same schema request after request; the ajv instance goes with the cache, as
// it keeps every schema it compiled (see createAjv).

let ajv = createAjv();
const cache = new Map<string, ValidateFunction | null>();
const CACHE_MAX = 500;

function validatorFor(schema: unknown): ValidateFunction | null {
  const key = JSON.stringify(schema);
  let v = cache.get(key);
  if (v !== undefined) return v;
  if (cache.size >= CACHE_MAX) {
    cache.clear();
    ajv = createAjv();
  }
  try {
    v = ajv.compile(schema as object);
  } catch {
    v = null; // not a schema ajv understands: the upstream is the judge
  }
  cache.set(key, v);
  return v;
}

/** The schema to check against, when the request asks for json_schema output. */
export function requestedSchema(body: Record<string, any>): unknown {
  const rf = body.response_format;
  if (!rf || rf.type !== 'json_schema' || !rf.json_schema || typeof rf.json_schema !== 'object') return undefined;
  return rf.json_schema.schema ?? undefined;
}

/** null when the answer conforms; otherwise what is wrong, for people. */
export function schemaViolations(schema: unknown, completion: Record<string, any>): string | null {
  const validate = validatorFor(schema);
  if (!validate) return null;
  const message = completion?.choices?.[0]?.message;
  if (message?.tool_calls?.length) return null; // the model chose a tool instead of answering
  const content = message?.content;
  if (typeof content !== 'string') return 'the answer has no text content';
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch {
    return 'the answer is not valid JSON';
  }
  if (validate(value)) return null;
  return (validate.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message}`).join('; ');
}
