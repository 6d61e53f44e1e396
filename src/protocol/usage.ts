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

export const ZERO_USAGE: Usage = Object.freeze({ prompt: 0, cached: 0, cacheWrite: 0, completion: 0, reasoning: 0 });

function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

/** Reads an OpenAI-style usage object, including DeepSeek's and Moonshot's cache fields. */
export function readOpenAIUsage(u: Record<string, any> | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const prompt = int(u.prompt_tokens ?? u.input_tokens);
  const details = u.prompt_tokens_details ?? u.input_tokens_details;
  const cached = Math.min(prompt, int(details?.cached_tokens) || int(u.prompt_cache_hit_tokens) || int(u.cached_tokens));
  const cacheWrite = Math.min(prompt - cached, int(details?.cache_write_tokens ?? details?.cache_creation_tokens));
  const completion = int(u.completion_tokens ?? u.output_tokens);
  const reasoning = int((u.completion_tokens_details ?? u.output_tokens_details)?.reasoning_tokens);
  return { prompt, cached, cacheWrite, completion, reasoning };
}

/**
 * Writes the normalised counts into an OpenAI usage object in place, keeping any other
 * fields the upstream sent: `prompt_tokens_details.cached_tokens` (OpenAI style) and
 * `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens` (DeepSeek style).
 */
export function writeOpenAIUsage(target: Record<string, any>, usage: Usage): Record<string, any> {
  target.prompt_tokens = usage.prompt;
  target.completion_tokens = usage.completion;
  target.total_tokens = usage.prompt + usage.completion;
  const details = target.prompt_tokens_details && typeof target.prompt_tokens_details === 'object' ? target.prompt_tokens_details : {};
  details.cached_tokens = usage.cached;
  if (usage.cacheWrite) details.cache_write_tokens = usage.cacheWrite;
  target.prompt_tokens_details = details;
  if (usage.reasoning) {
    const cd = target.completion_tokens_details && typeof target.completion_tokens_details === 'object' ? target.completion_tokens_details : {};
    cd.reasoning_tokens = usage.reasoning;
    target.completion_tokens_details = cd;
  }
  target.prompt_cache_hit_tokens = usage.cached;
  target.prompt_cache_miss_tokens = usage.prompt - usage.cached;
  return target;
}

/** True when the JSON text has `"usage": {` (an object, not null) at any depth. Cheap. */
export function hasUsageObject(json: string): boolean {
  return usageObjectAt(json, 0) !== -1;
}

/** Where the next `"usage": {` (spaces allowed around the colon) starts at or after `from`, or -1. */
export function usageObjectAt(json: string, from: number): number {
  let i = indexOfQuoted(json, 'usage', from);
  while (i !== -1) {
    let j = i + 7;
    while (json.charCodeAt(j) === 32) j++;
    if (json.charCodeAt(j) === 58 /* : */) {
      j++;
      while (json.charCodeAt(j) === 32) j++;
      if (json.charCodeAt(j) === 123 /* { */) return i;
    }
    i = indexOfQuoted(json, 'usage', i + 7);
  }
  return -1;
}
