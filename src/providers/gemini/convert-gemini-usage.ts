import type { Usage } from '../../protocol/usage.ts';

// Gemini usageMetadata → normalised Usage.
// promptTokenCount already includes cachedContentTokenCount; toolUsePromptTokenCount
// (results of built-in tools fed back as input) is billed as input, so it is added.
// candidatesTokenCount excludes thinking; thoughtsTokenCount is billed as output.
// https://ai.google.dev/api/generate-content#UsageMetadata

function int(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

export function convertGeminiUsage(u: Record<string, any> | null | undefined): Usage | null {
  if (!u || typeof u !== 'object') return null;
  const prompt = int(u.promptTokenCount) + int(u.toolUsePromptTokenCount);
  const reasoning = int(u.thoughtsTokenCount);
  return {
    prompt,
    cached: Math.min(prompt, int(u.cachedContentTokenCount)),
    cacheWrite: 0,
    completion: int(u.candidatesTokenCount) + reasoning,
    reasoning,
  };
}
