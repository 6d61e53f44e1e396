import type { UpstreamErrorInfo } from '../types.ts';

// Anthropic error bodies: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_..."}
// https://docs.anthropic.com/en/api/errors — the same object arrives as an `error` event
// mid-stream. `type` and `code` carry Anthropic's error type verbatim (e.g.
// "rate_limit_error", "overloaded_error"); HTTP 529 means overloaded.

/**
 * The operator's credit with Anthropic is used up: 402 billing_error, or (as the API has
 * long answered it) 400 invalid_request_error "Your credit balance is too low to access
 * the Anthropic API".
 */
const LOW_CREDIT = /credit balance is too low/i;

export function anthropicErrorInfo(e: any, fallback = 'upstream error'): UpstreamErrorInfo {
  const type = typeof e?.type === 'string' ? e.type : undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : fallback;
  return {
    message,
    type,
    code: type,
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
  if (status === 529) return { message: trimmed || 'Overloaded', type: 'overloaded_error', code: 'overloaded_error' };
  return { message: trimmed || `upstream error (HTTP ${status})` };
}
