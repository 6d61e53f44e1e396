import { GatewayError } from './errors.ts';

// Checks only what the gateway itself relies on, and the types of the fields the Anthropic
// and Gemini adapters would otherwise drop without a word; every other field passes
// through for the upstream to judge, so new OpenAI parameters work without a release.

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

function bad(message: string, param: string): never {
  throw new GatewayError('invalid_request', message, { param });
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

export function requireObject(body: unknown): Record<string, any> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new GatewayError('invalid_request', `The request body must be a JSON object, got ${typeName(body)}.`);
  }
  return body as Record<string, any>;
}

function optionalPositiveInt(body: Record<string, any>, field: string): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  // JSON.stringify writes a number too large for a double (1e400 parses as Infinity) as null.
  const got = typeof v === 'number' && !Number.isFinite(v) ? 'a number too large' : JSON.stringify(v);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) bad(`'${field}' must be a positive integer, got ${got}.`, field);
}

/** Far above any configured id (128 characters at most) with its owner prefix. */
export const MAX_MODEL_LENGTH = 1024;

function optionalNumber(body: Record<string, any>, field: string, integer = false): void {
  const v = body[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    const got = typeof v !== 'number' ? typeName(v) : Number.isFinite(v) ? String(v) : 'a number too large';
    bad(`'${field}' must be ${integer ? 'an integer' : 'a number'}, got ${got}.`, field);
  }
}

function requireModel(body: Record<string, any>): string {
  const model = body.model;
  if (model === undefined) bad("Missing required parameter: 'model'.", 'model');
  if (typeof model !== 'string' || model.length === 0) bad(`'model' must be a non-empty string, got ${model === '' ? 'an empty string' : typeName(model)}.`, 'model');
  // Refused before the catalog is asked: an unknown model is echoed in the 404 and kept in
  // the request log, so a 10 MB name cost 10 MB of log per request (before any rate limit).
  if (model.length > MAX_MODEL_LENGTH) bad(`'model' must be at most ${MAX_MODEL_LENGTH} characters, got ${model.length}.`, 'model');
  return model;
}

function isObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * As OpenAI does: each part an object with a string `type`, a text part's `text` a
 * string. The Anthropic and Gemini adapters skip a part they cannot read, so a malformed
 * one was sent as a shorter prompt (or none) and answered 200.
 */
function contentParts(parts: unknown[], param: string): void {
  for (let j = 0; j < parts.length; j++) {
    const p = parts[j];
    const at = `${param}[${j}]`;
    if (!isObject(p)) bad(`'${at}' must be an object, got ${typeName(p)}.`, at);
    if (typeof p.type !== 'string') bad(`'${at}.type' must be a string, got ${typeName(p.type)}.`, `${at}.type`);
    if (p.type === 'text' && typeof p.text !== 'string') bad(`'${at}.text' must be a string, got ${typeName(p.text)}.`, `${at}.text`);
  }
}

/**
 * A function tool, or a call to one (type 'function' or no type), names its function:
 * without one the adapters dropped the call, or refused the tool as an unsupported type.
 */
function functionObject(t: Record<string, any>, param: string): void {
  if (t.type !== undefined && t.type !== 'function') return;
  if (!isObject(t.function)) bad(`'${param}.function' must be an object, got ${typeName(t.function)}.`, `${param}.function`);
  if (typeof t.function.name !== 'string') bad(`'${param}.function.name' must be a string, got ${typeName(t.function.name)}.`, `${param}.function.name`);
}

export interface ChatRequestInfo {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
}

export function validateChatRequest(raw: unknown): ChatRequestInfo {
  const body = requireObject(raw);
  const model = requireModel(body);
  const messages = body.messages;
  if (messages === undefined) bad("Missing required parameter: 'messages'.", 'messages');
  if (!Array.isArray(messages)) bad(`'messages' must be an array, got ${typeName(messages)}.`, 'messages');
  if (messages.length === 0) bad("'messages' must contain at least one message.", 'messages');
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    if (m === null || typeof m !== 'object' || Array.isArray(m)) bad(`'messages[${i}]' must be an object, got ${typeName(m)}.`, `messages[${i}]`);
    if (typeof m.role !== 'string' || !ROLES.has(m.role)) {
      bad(`'messages[${i}].role' must be one of system, developer, user, assistant, tool; got ${JSON.stringify(m.role ?? null)}.`, `messages[${i}].role`);
    }
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) {
      bad(`'messages[${i}].content' must be a string or an array of content parts, got ${typeName(c)}.`, `messages[${i}].content`);
    }
    if ((c === undefined || c === null) && m.role !== 'assistant') bad(`'messages[${i}].content' is required for role ${m.role}.`, `messages[${i}].content`);
    if (Array.isArray(c)) contentParts(c, `messages[${i}].content`);
    const tc = m.tool_calls;
    if (tc !== undefined && tc !== null) {
      if (!Array.isArray(tc)) bad(`'messages[${i}].tool_calls' must be an array of objects, got ${typeName(tc)}.`, `messages[${i}].tool_calls`);
      for (let j = 0; j < tc.length; j++) {
        if (!isObject(tc[j])) bad(`'messages[${i}].tool_calls[${j}]' must be an object, got ${typeName(tc[j])}.`, `messages[${i}].tool_calls[${j}]`);
        functionObject(tc[j], `messages[${i}].tool_calls[${j}]`);
      }
    }
  }
  const stream = body.stream;
  if (stream !== undefined && stream !== null && typeof stream !== 'boolean') bad(`'stream' must be a boolean, got ${typeName(stream)}.`, 'stream');
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so)) bad(`'stream_options' must be an object, got ${typeName(so)}.`, 'stream_options');
    if (so.include_usage !== undefined && typeof so.include_usage !== 'boolean') bad("'stream_options.include_usage' must be a boolean.", 'stream_options.include_usage');
  }
  optionalPositiveInt(body, 'max_tokens');
  optionalPositiveInt(body, 'max_completion_tokens');
  optionalPositiveInt(body, 'n');
  // The Anthropic and Gemini adapters read only numbers: temperature "0.2" ran at the
  // provider's default, where OpenAI answers 400.
  for (const f of ['temperature', 'top_p', 'presence_penalty', 'frequency_penalty']) optionalNumber(body, f);
  optionalNumber(body, 'seed', true);
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) bad(`'tools' must be an array, got ${typeName(body.tools)}.`, 'tools');
    for (let j = 0; j < body.tools.length; j++) {
      if (!isObject(body.tools[j])) bad(`'tools[${j}]' must be an object, got ${typeName(body.tools[j])}.`, `tools[${j}]`);
      functionObject(body.tools[j], `tools[${j}]`);
    }
  }
  const rf = body.response_format;
  if (rf !== undefined && rf !== null && (typeof rf !== 'object' || Array.isArray(rf) || typeof rf.type !== 'string')) {
    bad("'response_format' must be an object with a string 'type'.", 'response_format');
  }
  if (rf?.type === 'json_schema') {
    // As OpenAI does: a schema that is not an object (`false`, a string) can never be met,
    // and would otherwise come back as the model's failure (502) instead of the client's.
    const js = rf.json_schema;
    if (typeof js !== 'object' || js === null || Array.isArray(js)) bad(`'response_format.json_schema' must be an object, got ${typeName(js)}.`, 'response_format.json_schema');
    if (js.schema !== undefined && (typeof js.schema !== 'object' || js.schema === null || Array.isArray(js.schema))) {
      bad(`'response_format.json_schema.schema' must be a JSON Schema object, got ${typeName(js.schema)}.`, 'response_format.json_schema.schema');
    }
  }
  // With both set, the larger: the limits clamp both fields to it, and an upstream that
  // reads only max_tokens (most OpenAI-compatible ones) then cannot pass the plan's cap
  // or the reservation.
  const mct = body.max_completion_tokens ?? undefined;
  const mt = body.max_tokens ?? undefined;
  const maxTokens = mct !== undefined && mt !== undefined ? Math.max(mct, mt) : (mct ?? mt);
  return { model, stream: stream === true, includeUsage: stream === true && so?.include_usage === true, maxTokens };
}

export function validateEmbeddingsRequest(raw: unknown): { model: string } {
  const body = requireObject(raw);
  const model = requireModel(body);
  const input = body.input;
  if (input === undefined) bad("Missing required parameter: 'input'.", 'input');
  // OpenAI's four shapes, none mixed: the limits read an array whose first item is a
  // number as one token-id array, so [1, "long text"] had its text counted as one token.
  const isToken = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;
  const ok =
    (typeof input === 'string' && input.length > 0) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      (input.every((x) => typeof x === 'string') || input.every(isToken) || input.every((x) => Array.isArray(x) && x.every(isToken))));
  if (!ok) bad("'input' must be a non-empty string, or a non-empty array of strings, of token ids, or of token-id arrays.", 'input');
  return { model };
}
