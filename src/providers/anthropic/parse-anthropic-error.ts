import type { UpstreamErrorInfo } from '../types.ts';

// Anthropic error bodies: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_..."}
// https://docs.anthropic.com/en/api/errors — the same object arrives as an `error` event
// mid-stream. `code` carries Anthropic's error type verbatim (e.g. "rate_limit_error",
// "overloaded_error"), `type` the OpenAI type it corresponds to; HTTP 529 means overloaded.

/**
 * The operator's credit with Anthropic is used up: 402 billing_error, or (as the API has
 * long answered it) 400 invalid_request_error "Your credit balance is too low to access
 * the Anthropic API".
 */
const LOW_CREDIT = /credit balance is too low/i;

/** Anthropic's error types as the OpenAI type clients branch on; `code` keeps Anthropic's own. */
const OPENAI_TYPES: Record<string, string> = {
  invalid_request_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  not_found_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  rate_limit_error: 'rate_limit_error',
  billing_error: 'insufficient_quota',
};

/** "prompt is too long: 210000 tokens > 200000 maximum" (400 invalid_request_error). */
const PROMPT_TOO_LONG = /prompt is too long/i;

export function anthropicErrorInfo(e: any, fallback = 'upstream error'): UpstreamErrorInfo {
  const type = typeof e?.type === 'string' ? e.type : undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : fallback;
  return {
    message,
    type: type === undefined ? undefined : (OPENAI_TYPES[type] ?? 'api_error'),
    // A prompt over the model's context gets OpenAI's code, which clients branch on to
    // trim the conversation and retry (LangChain, Aider, the Vercel AI SDK's callers).
    code: type === 'invalid_request_error' && PROMPT_TOO_LONG.test(message) ? 'context_length_exceeded' : type,
    ...(type === 'billing_error' || LOW_CREDIT.test(message) ? { fundsExhausted: true } : {}),
  };
}

export function parseAnthropicError(status: number, text: string): UpstreamErrorInfo {
  try {
    const j = JSON.parse(text);
    if (j && typeof j === 'object') {
      if (j.error && typeof j.error === 'object') return anthropicErrorInfo(j.error);
      if (typeof j.message === 'string') return anthropicErrorInfo(j);
    }
  } catch {
    /* not JSON: a proxy's HTML page or an empty body */
  }
  const trimmed = text.trim().slice(0, 300);
  if (status === 529) return { message: trimmed || 'Overloaded', type: 'api_error', code: 'overloaded_error' };
  return { message: trimmed || `upstream error (HTTP ${status})` };
}
