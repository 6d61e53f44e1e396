import type { ApiKeyRow } from '../store/api-keys.ts';
import type { AccountState } from '../billing/account-state.ts';
import type { ModelEntry } from '../gateway/catalog.ts';

// Plan and key limits, checked at admission before the upstream is called.
// Contract with the pipeline (src/gateway/chat-completions.ts):
//   grant = limits.admit(input)      // throws GatewayError (403/413/429) with headers
//   ... request runs ...
//   grant.release(billedTokens)      // exactly once, however the request ended

export interface LimitsInput {
  key: ApiKeyRow;
  account: AccountState;
  model: ModelEntry;
  endpoint: 'chat' | 'embeddings';
  /** The client's body (chat: messages, tools...; embeddings: input). Never mutated. */
  body: Record<string, any>;
  /** max_completion_tokens ?? max_tokens as sent, if any. */
  requestedMaxTokens: number | undefined;
}

export interface LimitsGrant {
  /** Upper bound of the request's input tokens (counted, or a safe bound from its size). */
  inputTokens: number;
  /** Output cap after clamping to the plan's and model's caps; undefined when none applies. */
  maxOutputTokens: number | undefined;
  /** True when maxOutputTokens is lower than what the client asked: the body must be rewritten. */
  clamped: boolean;
  /** Rate-limit headers for the response (x-ratelimit-*). */
  headers: Record<string, string>;
  /** Frees the concurrency slot and books the tokens billed (tpm, daily). Once. */
  release(billedTokens: number): void;
}

export interface Limits {
  admit(input: LimitsInput): LimitsGrant;
  /** Whether the key may use the model (for /v1/models). */
  allows(key: ApiKeyRow, account: AccountState, model: ModelEntry): boolean;
}

/** Approximate input size without tokenizing: ~1 token per 2 bytes is a safe upper bound for text. */
function roughInputBound(body: Record<string, any>): number {
  return Math.ceil(JSON.stringify(body.messages ?? body.input ?? '').length / 2) + 16;
}

/** No limits at all (used until plans are configured). */
export const unlimited: Limits = {
  admit(input) {
    const max = input.requestedMaxTokens ?? input.model.maxOutputTokens;
    return { inputTokens: roughInputBound(input.body), maxOutputTokens: max, clamped: false, headers: {}, release() {} };
  },
  allows: () => true,
};
