import type { UpstreamErrorInfo } from '../types.ts';

// Gemini `finishReason` → OpenAI `finish_reason`.
// https://ai.google.dev/api/generate-content#FinishReason

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'IMAGE_RECITATION']);

export function mapGeminiFinishReason(reason: unknown, hasToolCalls: boolean): FinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (typeof reason === 'string' && FILTERED.has(reason)) return 'content_filter';
  // STOP, LANGUAGE, OTHER, MALFORMED_FUNCTION_CALL, ...: Gemini says STOP after function
  // calls too, where OpenAI says tool_calls.
  return hasToolCalls ? 'tool_calls' : 'stop';
}

// Finish reasons that mean the turn failed at the tool-calling step: the candidate holds no
// usable call (often no content at all). Mapped to "stop" they looked like an empty
// answer, and agent loops ended there without a word; they are an upstream error instead
// (502 before the answer, an error frame in a stream), which clients report and the OpenAI
// SDKs retry. Vercel's AI SDK maps MALFORMED_FUNCTION_CALL to its 'error' finish reason
// for the same reason; OpenAI's finish_reason has no such value.
const TOOL_CALL_FAILURES: Record<string, string> = {
  MALFORMED_FUNCTION_CALL: 'produced a malformed function call',
  UNEXPECTED_TOOL_CALL: 'called a tool the request did not offer',
  TOO_MANY_TOOL_CALLS: 'called too many tools in a row',
};

export function geminiFinishFailure(reason: unknown): UpstreamErrorInfo | undefined {
  const what = typeof reason === 'string' ? TOOL_CALL_FAILURES[reason] : undefined;
  if (!what) return undefined;
  return { message: `The gemini model ${what} (finishReason ${reason as string}), so there is no answer; sending the request again usually works.`, type: 'api_error', code: (reason as string).toLowerCase() };
}
