import type { ApiKeyRow } from '../store/api-keys.ts';
import type { AccountState } from '../billing/account-state.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { PlanRegistry } from './plans.ts';
import type { CountResult } from './token-count.ts';

// Plan and key limits, checked at admission before the upstream is called.
// Contract with the pipeline (src/gateway/admission.ts):
//   grant = limits.admit(input)      // throws GatewayError (403/413/429) with headers
//   ... request runs ...
//   grant.release(billedTokens)      // exactly once, however the request ended
// The implementation is src/limits/plan-limits.ts; docs/limits.md describes the rules.

export interface LimitsInput {
  key: ApiKeyRow;
  account: AccountState;
  model: ModelEntry;
  endpoint: 'chat' | 'embeddings';
  /** The client's body (chat: messages, tools...; embeddings: input). Never mutated. */
  body: Record<string, any>;
  /** max_completion_tokens ?? max_tokens as sent, if any. */
  requestedMaxTokens: number | undefined;
  /** The input as measured ahead on a thread (token-count-threads.ts); used only if
   *  measured against the cap that applies now. */
  measured?: CountResult;
}

export interface LimitsGrant {
  /** Upper bound of the request's input tokens (counted, or a safe bound from its size). */
  inputTokens: number;
  /** True when inputTokens was counted with the tokenizer; false when it is the size bound. */
  inputTokensCounted?: boolean;
  /** Output cap after clamping to the plan's and model's caps; undefined when none applies. */
  maxOutputTokens: number | undefined;
  /**
   * True when the body must be rewritten with maxOutputTokens: the client asked for more
   * than the cap, or asked for nothing while the plan has an output cap.
   */
  clamped: boolean;
  /** Rate-limit headers for the response (x-ratelimit-*). */
  headers: Record<string, string>;
  /** Frees the concurrency slot and books the tokens billed (tpm, daily). Once. */
  release(billedTokens: number): void;
  /** Frees the concurrency slot ahead of release(), for a request whose client has its
   *  whole answer while its bill is still being worked out. */
  answered(): void;
  /**
   * For a request refused after admission (402: its cost cannot be reserved): frees the
   * slot and gives back the request it took from requests per minute, as a refusal uses
   * up nothing. Returns the rate-limit headers as they stand without it. Once, instead of
   * release().
   */
  refuse(): Record<string, string>;
}

export interface Limits {
  admit(input: LimitsInput): LimitsGrant;
  /** The context cap a request of this key for this model is measured against (Infinity: none). */
  contextCap(key: ApiKeyRow, account: AccountState, model: ModelEntry): number;
  /** Whether the key may use the model (for /v1/models). */
  allows(key: ApiKeyRow, account: AccountState, model: ModelEntry): boolean;
  /** The plans (config file's and admin API's); the admin API reads and changes them here. */
  readonly plans: PlanRegistry;
  /** An account's plan, its keys' overrides and current usage against each limit (admin API). */
  describe(account: { id: string; plan: string | null }, inFlight: number, keys: ApiKeyRow[]): Record<string, unknown>;
}
