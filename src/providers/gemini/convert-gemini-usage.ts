import { capCount, reportedCount, sumCounts, type Usage } from '../../protocol/usage.ts';

// Gemini usageMetadata → normalised Usage.
// promptTokenCount already includes cachedContentTokenCount; toolUsePromptTokenCount
// (results of built-in tools fed back as input) is billed as input, so it is added.
// candidatesTokenCount excludes thinking; thoughtsTokenCount is billed as output.
// A count that cannot be true is kept for billing to reject (protocol/usage.ts
// reportedCount); an absent one is 0, as Gemini's JSON leaves out zero counts. But a
// prompt always has tokens: usageMetadata without promptTokenCount is no report (null),
// and the answer is billed by estimate.
// https://ai.google.dev/api/generate-content#UsageMetadata

export function convertGeminiUsage(u: Record<string, any> | null | undefined): Usage | null {
  if (!u || typeof u !== 'object' || u.promptTokenCount == null) return null;
  const prompt = sumCounts(reportedCount(u.promptTokenCount), reportedCount(u.toolUsePromptTokenCount));
  const reasoning = reportedCount(u.thoughtsTokenCount);
  return {
    prompt,
    cached: capCount(reportedCount(u.cachedContentTokenCount), prompt),
    cacheWrite: 0,
    completion: sumCounts(reportedCount(u.candidatesTokenCount), reasoning),
    reasoning,
  };
}
