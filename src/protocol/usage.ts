import { indexOfQuoted } from './json-text.ts';

// Usage is normalised once, here, from whatever the upstream reports, and written back
// in both cache styles. Billing reads only the normalised form.

export interface Usage {
  /** All input tokens, cached and cache-written ones included (OpenAI's prompt_tokens). */
  prompt: number;
  /** Input tokens read from the provider's cache (billed at cached_input). */
  cached: number;
  /** Input tokens written to the provider's cache (billed at cache_write; Anthropic). */
  cacheWrite: number;
  /** Output tokens, reasoning included. */
  completion: number;
  /** Of which reasoning tokens (informational; billed as output). */
  reasoning: number;
}

// A count that cannot be true (-5, 10.5, "500", 1e400 which JSON reads as Infinity) is
// kept as it came, or as NaN when it is not a number at all, so that billing sees it and
// charges the reservation (billing.ts settle). Turned into 0 or floored here, as it once
// was, such a report was charged $0. The helpers below combine counts without hiding a
// bad one: -5 + 10 is a plausible 5, and Math.min(100, Infinity) a plausible 100.

/** The prompt's part of a usage report, known before the answer (Anthropic's message_start). */
export type PromptUsage = Pick<Usage, 'prompt' | 'cached' | 'cacheWrite'>;

export function promptPart(u: Usage): PromptUsage {
  return { prompt: u.prompt, cached: u.cached, cacheWrite: u.cacheWrite };
}

/**
 * A token count as an upstream reported it. Absent (undefined or null) is 0: the wire
 * formats leave out counts that do not apply (cache fields; Gemini omits zero counts).
 * A number is kept as it is; anything else is NaN.
 */
export function reportedCount(v: unknown): number {
  if (v === undefined || v === null) return 0;
  return typeof v === 'number' ? v : NaN;
}

/** A count of the shape billing can believe: a whole number, not negative (the range is billing's to judge). */
export function isWholeCount(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

/** The sum of counts, or the first one that is not whole. */
export function sumCounts(...counts: number[]): number {
  let sum = 0;
  for (const n of counts) {
    if (!isWholeCount(n)) return n;
    sum += n;
  }
  return sum;
}

/** `n` capped at `cap` (a cache count at the prompt's), or whichever of the two is not whole. */
export function capCount(n: number, cap: number): number {
  if (!isWholeCount(n)) return n;
  if (!isWholeCount(cap)) return cap;
  return Math.min(n, cap);
}

/**
 * The first nonzero of one count reported in several fields (providers fill different
 * ones, some with 0 in another), or the first of them that is not whole.
 */
function firstNonZeroCount(...counts: number[]): number {
  let first = 0;
  for (const n of counts) {
    if (!isWholeCount(n)) return n;
    if (first === 0) first = n;
  }
  return first;
}

/**
 * Reads an OpenAI-style usage object, including DeepSeek's and Moonshot's cache fields.
 * Null when it lacks a count the format always carries (`prompt_tokens`, and for chat
 * `completion_tokens`; embeddings have none): such a report says nothing of what was
 * used, and the answer is billed by estimate, as one with no usage at all.
 */
export function readOpenAIUsage(u: Record<string, any> | null | undefined, kind: 'chat' | 'embeddings' = 'chat'): Usage | null {
  if (!u || typeof u !== 'object') return null;
  if ((u.prompt_tokens ?? u.input_tokens) == null) return null;
  if (kind === 'chat' && (u.completion_tokens ?? u.output_tokens) == null) return null;
  const prompt = reportedCount(u.prompt_tokens ?? u.input_tokens);
  const details = u.prompt_tokens_details ?? u.input_tokens_details;
  const cached = capCount(firstNonZeroCount(reportedCount(details?.cached_tokens), reportedCount(u.prompt_cache_hit_tokens), reportedCount(u.cached_tokens)), prompt);
  const cacheWrite = capCount(reportedCount(details?.cache_write_tokens ?? details?.cache_creation_tokens), prompt - cached);
  const completion = reportedCount(u.completion_tokens ?? u.output_tokens);
  const reasoning = reportedCount((u.completion_tokens_details ?? u.output_tokens_details)?.reasoning_tokens);
  return { prompt, cached, cacheWrite, completion, reasoning };
}

/**
 * Writes the normalised counts into an OpenAI usage object in place, keeping any other
 * fields the upstream sent but its costs: `prompt_tokens_details.cached_tokens` (OpenAI style) and
 * `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens` (DeepSeek style). A target
 * that is not an object (absent, null, an array: what an upstream sent) is replaced by a
 * new one, which is returned: members written onto an array vanish when it is serialised.
 */
export function writeOpenAIUsage(upstreamUsage: unknown, usage: Usage): Record<string, any> {
  const target = isPlainObject(upstreamUsage) ? upstreamUsage : {};
  target.prompt_tokens = usage.prompt;
  target.completion_tokens = usage.completion;
  target.total_tokens = usage.prompt + usage.completion;
  const details = isPlainObject(target.prompt_tokens_details) ? target.prompt_tokens_details : {};
  details.cached_tokens = usage.cached;
  if (usage.cacheWrite) details.cache_write_tokens = usage.cacheWrite;
  target.prompt_tokens_details = details;
  if (usage.reasoning) {
    const cd = isPlainObject(target.completion_tokens_details) ? target.completion_tokens_details : {};
    cd.reasoning_tokens = usage.reasoning;
    target.completion_tokens_details = cd;
  }
  target.prompt_cache_hit_tokens = usage.cached;
  target.prompt_cache_miss_tokens = usage.prompt - usage.cached;
  // What the upstream charged the operator (OpenRouter's usage always carries it): the
  // client's `cost` is the gateway's (set by the caller), and the operator's is not its business.
  delete target.cost_details;
  delete target.is_byok;
  return target;
}

/**
 * An embeddings answer's usage: the upstream's object with the counts billed written in
 * (one that reported only `input_tokens` gets `prompt_tokens`), and without what the
 * upstream charged the operator, as for chat (writeOpenAIUsage).
 */
export function writeEmbeddingsUsage(upstreamUsage: unknown, usage: Usage): Record<string, any> {
  const target = isPlainObject(upstreamUsage) ? upstreamUsage : {};
  target.prompt_tokens = usage.prompt;
  target.total_tokens = usage.prompt;
  delete target.completion_tokens;
  delete target.completion_tokens_details;
  delete target.cost_details;
  delete target.is_byok;
  return target;
}

function isPlainObject(v: unknown): v is Record<string, any> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** True when the JSON text has `"usage": {` (an object, not null) at any depth. Cheap. */
export function hasUsageObject(json: string): boolean {
  return usageObjectAt(json, 0) !== -1;
}

// An upstream's multi-line SSE event arrives joined with line feeds, which JSON reads as
// whitespace: "usage" may be followed by one before its colon or its object.
function isJsonSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** Where the next `"usage": {` (JSON whitespace allowed around the colon) starts at or after `from`, or -1. */
export function usageObjectAt(json: string, from: number): number {
  let i = indexOfQuoted(json, 'usage', from);
  while (i !== -1) {
    let j = i + 7;
    while (isJsonSpace(json.charCodeAt(j))) j++;
    if (json.charCodeAt(j) === 58 /* : */) {
      j++;
      while (isJsonSpace(json.charCodeAt(j))) j++;
      if (json.charCodeAt(j) === 123 /* { */) return i;
    }
    i = indexOfQuoted(json, 'usage', i + 7);
  }
  return -1;
}
