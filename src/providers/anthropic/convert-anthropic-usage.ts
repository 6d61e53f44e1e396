import { reportedCount, sumCounts, type Usage } from '../../protocol/usage.ts';

// Anthropic's `input_tokens` counts only the uncached part of the prompt; cache reads and
// cache writes are reported beside it. The normalised `prompt` includes all three.
// Anthropic does not report thinking tokens apart from `output_tokens`, so `reasoning`
// stays 0 (they are billed as output either way). A count that cannot be true is kept
// for billing to reject (protocol/usage.ts reportedCount). Usage without the two counts
// Anthropic always sends is no report (null): the answer is billed by estimate.

export function convertAnthropicUsage(u: Record<string, any> | null | undefined): Usage | null {
  if (!u || typeof u !== 'object' || u.input_tokens == null || u.output_tokens == null) return null;
  const cached = reportedCount(u.cache_read_input_tokens);
  const cacheWrite = reportedCount(u.cache_creation_input_tokens);
  return {
    prompt: sumCounts(reportedCount(u.input_tokens), cached, cacheWrite),
    cached,
    cacheWrite,
    completion: reportedCount(u.output_tokens),
    reasoning: 0,
  };
}
