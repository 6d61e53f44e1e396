import type { UpstreamErrorInfo } from '../types.ts';

// Gemini error bodies: {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}
// (streamGenerateContent without alt=sse wraps it in an array). `code` carries Google's
// status verbatim; `type` is the OpenAI error type it corresponds to, as clients of an
// OpenAI-shaped API branch on OpenAI's types ("INVALID_ARGUMENT" used to reach them as
// the type). An invalid API key is 400 INVALID_ARGUMENT with reason API_KEY_INVALID,
// reported with code "API_KEY_INVALID".
// https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes

const OPENAI_TYPES: Record<string, string> = {
  INVALID_ARGUMENT: 'invalid_request_error',
  FAILED_PRECONDITION: 'invalid_request_error',
  OUT_OF_RANGE: 'invalid_request_error',
  NOT_FOUND: 'invalid_request_error',
  UNAUTHENTICATED: 'authentication_error',
  PERMISSION_DENIED: 'permission_error',
  RESOURCE_EXHAUSTED: 'rate_limit_error',
};

/** "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576)." */
const INPUT_TOO_LONG = /input token count.*exceeds the maximum/i;

export function geminiErrorInfo(e: any, fallback = 'upstream error'): UpstreamErrorInfo {
  const status = typeof e?.status === 'string' ? e.status : undefined;
  const reason = Array.isArray(e?.details) ? e.details.find((d: any) => typeof d?.reason === 'string')?.reason : undefined;
  // RetryInfo detail: {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
  const delay = Array.isArray(e?.details) ? e.details.find((d: any) => typeof d?.retryDelay === 'string')?.retryDelay : undefined;
  const seconds = typeof delay === 'string' ? Number.parseFloat(delay) : NaN;
  const message = typeof e?.message === 'string' && e.message ? e.message : fallback;
  return {
    message,
    type: status === undefined ? undefined : (OPENAI_TYPES[status] ?? 'api_error'),
    // A prompt over the model's context gets OpenAI's code, which clients branch on.
    code: reason === 'API_KEY_INVALID' ? reason : status === 'INVALID_ARGUMENT' && INPUT_TOO_LONG.test(message) ? 'context_length_exceeded' : status ?? (typeof e?.code === 'number' ? String(e.code) : undefined),
    ...(reason === 'API_KEY_INVALID' || status === 'UNAUTHENTICATED' || status === 'PERMISSION_DENIED' ? { credentialsRejected: true } : {}),
    ...(Number.isFinite(seconds) && seconds > 0 ? { retryAfterSeconds: Math.ceil(seconds) } : {}),
  };
}

export function parseGeminiError(status: number, text: string): UpstreamErrorInfo {
  try {
    let j = JSON.parse(text);
    if (Array.isArray(j)) j = j[0];
    if (j && typeof j === 'object' && j.error && typeof j.error === 'object') return geminiErrorInfo(j.error);
  } catch {
    /* not JSON */
  }
  const trimmed = text.trim().slice(0, 300);
  return { message: trimmed || `upstream error (HTTP ${status})` };
}
