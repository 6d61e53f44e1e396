import type { Usage } from '../../protocol/usage.ts';

// Anthropic's `input_tokens` counts only the uncached part of the prompt; cache reads and
// cache writes are reported beside it. The normalised `prompt` includes all three.
// Anthropic does not report thinking tokens apart from `output_tokens`, so `reasoning`
// stays 0 (they are billed as output either way).

function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

export function convertAnthropicUsage(u: Record<string, any> | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const cached = int(u.cache_read_input_tokens);
  const cacheWrite = int(u.cache_creation_input_tokens);
  return {
    prompt: int(u.input_tokens) + cached + cacheWrite,
    cached,
    cacheWrite,
    completion: int(u.output_tokens),
    reasoning: 0,
  };
}
