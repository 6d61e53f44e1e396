import type { ProviderConfig } from '../../config/schema.ts';
import type { ChatCall, ProviderAdapter } from '../types.ts';
import { convertToGeminiRequest } from './convert-to-gemini-request.ts';
import { convertGeminiResponse } from './convert-gemini-response.ts';
import { createGeminiStreamTranslator } from './gemini-stream-translator.ts';
import { parseGeminiError } from './parse-gemini-error.ts';

// Gemini API (generativelanguage.googleapis.com, base_url like
// https://generativelanguage.googleapis.com/v1beta):
//   POST {base_url}/models/{model}:generateContent
//   POST {base_url}/models/{model}:streamGenerateContent?alt=sse
// Auth: x-goog-api-key. Embeddings (embedContent) are not wired here yet.

function authHeaders(provider: ProviderConfig): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (provider.api_key) h['x-goog-api-key'] = provider.api_key;
  for (const [k, v] of Object.entries(provider.headers ?? {})) h[k.toLowerCase()] = v;
  return h;
}

function modelPath(model: string): string {
  return `/models/${encodeURIComponent(model.replace(/^models\//, ''))}`;
}

export const geminiAdapter: ProviderAdapter = {
  kind: 'gemini',
  authHeaders,
  buildChatRequest(call: ChatCall, provider: ProviderConfig) {
    const body = convertToGeminiRequest(call);
    const headers = authHeaders(provider);
    const path = call.stream ? `${modelPath(call.upstreamModel)}:streamGenerateContent?alt=sse` : `${modelPath(call.upstreamModel)}:generateContent`;
    if (call.stream) headers.accept = 'text/event-stream';
    return { path, headers, body: JSON.stringify(body) };
  },
  parseChatResponse: convertGeminiResponse,
  createStreamTranslator: createGeminiStreamTranslator,
  parseError: parseGeminiError,
};
