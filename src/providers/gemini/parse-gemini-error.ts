import type { UpstreamErrorInfo } from '../types.ts';

// Gemini error bodies: {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED","details":[...]}}
// (streamGenerateContent without alt=sse wraps it in an array). `type` and `code` carry
// Google's status verbatim; an invalid API key is 400 INVALID_ARGUMENT with reason
// API_KEY_INVALID, reported with code "API_KEY_INVALID".
// https://ai.google.dev/gemini-api/docs/troubleshooting#error-codes

export function geminiErrorInfo(e: any, fallback = 'upstream error'): UpstreamErrorInfo {
  const status = typeof e?.status === 'string' ? e.status : undefined;
  const reason = Array.isArray(e?.details) ? e.details.find((d: any) => typeof d?.reason === 'string')?.reason : undefined;
  // RetryInfo detail: {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
  const delay = Array.isArray(e?.details) ? e.details.find((d: any) => typeof d?.retryDelay === 'string')?.retryDelay : undefined;
  const seconds = typeof delay === 'string' ? Number.parseFloat(delay) : NaN;
  return {
    message: typeof e?.message === 'string' && e.message ? e.message : fallback,
    type: status,
    code: reason === 'API_KEY_INVALID' ? reason : status ?? (typeof e?.code === 'number' ? String(e.code) : undefined),
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
