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
