import type { ProviderConfig } from '../../config/schema.ts';
import type { ChatCall, ProviderAdapter } from '../types.ts';
import { convertToAnthropicRequest } from './convert-to-anthropic-request.ts';
import { convertAnthropicResponse } from './convert-anthropic-response.ts';
import { createAnthropicStreamTranslator } from './anthropic-stream-translator.ts';
import { parseAnthropicError } from './parse-anthropic-error.ts';

// Anthropic Messages API (POST {base_url}/messages, base_url like https://api.anthropic.com/v1).
// No embeddings endpoint: Anthropic has none.

export const ANTHROPIC_VERSION = '2023-06-01';

function authHeaders(provider: ProviderConfig): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json', 'anthropic-version': ANTHROPIC_VERSION };
  if (provider.api_key) h['x-api-key'] = provider.api_key;
  // Operator headers (e.g. anthropic-beta) win over the defaults.
  for (const [k, v] of Object.entries(provider.headers ?? {})) h[k.toLowerCase()] = v;
  return h;
}

export const anthropicAdapter: ProviderAdapter = {
  kind: 'anthropic',
  authHeaders,
  buildChatRequest(call: ChatCall, provider: ProviderConfig) {
    const body = convertToAnthropicRequest(call);
    const headers = authHeaders(provider);
    if (call.stream) headers.accept = 'text/event-stream';
    return { path: '/messages', headers, body: JSON.stringify(body) };
  },
  parseChatResponse: convertAnthropicResponse,
  createStreamTranslator: createAnthropicStreamTranslator,
  parseError: parseAnthropicError,
};
