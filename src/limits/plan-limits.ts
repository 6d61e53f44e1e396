import type { Logger } from 'pino';
import { GatewayError } from '../protocol/errors.ts';
import type { AccountState } from '../billing/account-state.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { ApiKeyRow } from '../store/api-keys.ts';
import { formatDuration, requestHeaders, retryAfterSeconds, tokenHeaders } from './headers.ts';
import { MemoryPeriodCounter, MemoryRateLimiter, type LimitDecision, type SyncPeriodCounter, type SyncRateLimiter } from './limiter.ts';
import type { Limits, LimitsGrant, LimitsInput } from './limits.ts';
import { allowlistMatcher, planJson, type Plan, type PlanRegistry } from './plans.ts';
import { estimateChatInputTokens, measureChatInput, measureEmbeddingInput } from './token-count.ts';

// Plan and key limits. Every check is in memory (no I/O); the order, each with its own
// status and code, is:
//   1. model allowlist (plan, then key)        403 model_not_available
//   2. input tokens ≤ context cap              413 context_length_exceeded
//   3. max tokens above the output cap          clamped silently
//   4. requests in flight per account          429 concurrency_limit_exceeded
//   5. requests per minute per key             429 rate_limit_exceeded
//   6. tokens per minute per key               429 rate_limit_exceeded
//   7. tokens per UTC day per account (plan), per key (override)
//                                              429 daily_token_limit_exceeded
// Checks 4–7 only look; the request's share (a slot, one request) is taken after all
// passed, in the same synchronous step, so a refused request uses up nothing.
//
// Token limits count the tokens billed (input + output, given to release()) and are
// checked at admission against what was already used: a request is admitted while the
// key (or account) is below its cap, and its tokens are booked when it ends. So usage can
// pass a token cap by what the requests in flight at the moment it was reached go on to
// bill — each at most its context cap plus its output cap (see docs/limits.md).

const MINUTE = 60_000;
const DAY = 86_400_000;

export interface PlanLimitsOptions {
  log?: Logger;
  /** The plan for accounts whose plan no longer exists (removed from the config file). */
  defaultPlan?: string | undefined;
  /** The clock (ms since the epoch); tests inject one to cross windows and days instantly. */
  now?: () => number;
}

interface Effective {
  plan: Plan | undefined;
  rpm: number | null;
  tpm: number | null;
  accountDaily: number | null;
  keyDaily: number | null;
  concurrency: number | null;
}

const rpmKey = (keyId: string) => `rpm:${keyId}`;
const tpmKey = (keyId: string) => `tpm:${keyId}`;
const accountDayKey = (accountId: string) => `acct:${accountId}`;
const keyDayKey = (keyId: string) => `key:${keyId}`;

function minDefined(a: number | null | undefined, b: number | null | undefined): number | undefined {
  if (a == null) return b ?? undefined;
  if (b == null) return a;
  return Math.min(a, b);
}

function planLabel(plan: Plan | undefined): string {
  if (!plan) return 'this API key';
  return `plan '${plan.id}'${plan.name && plan.name !== plan.id ? ` (${plan.name})` : ''}`;
}

export class PlanLimits implements Limits {
  readonly plans: PlanRegistry;
  readonly #rate: SyncRateLimiter;
  readonly #daily: SyncPeriodCounter;
  readonly #log: Logger | undefined;
  readonly #defaultPlan: string | undefined;
  readonly #warned = new Set<string>();
  #now: () => number;

  constructor(plans: PlanRegistry, opts: PlanLimitsOptions = {}) {
    this.plans = plans;
    this.#log = opts.log;
    this.#defaultPlan = opts.defaultPlan;
    this.#now = opts.now ?? Date.now;
    this.#rate = new MemoryRateLimiter(() => this.#now());
    this.#daily = new MemoryPeriodCounter();
  }

  /** Replaces the clock (tests: move across a minute or a UTC midnight without waiting). */
  setClock(now: () => number): void {
    this.#now = now;
  }

  /** Books tokens already billed today (read from the request log at start). */
  seedDaily(accountId: string | null, keyId: string | null, tokens: number): void {
    const day = Math.floor(this.#now() / DAY);
    if (accountId) this.#daily.add(accountDayKey(accountId), day, tokens);
    if (keyId) this.#daily.add(keyDayKey(keyId), day, tokens);
  }

  planOf(planId: string | null): Plan | undefined {
    if (!planId) return undefined;
    const p = this.plans.get(planId);
    if (p) return p;
    if (!this.#warned.has(planId)) {
      this.#warned.add(planId);
      this.#log?.warn({ plan: planId, fallback: this.#defaultPlan ?? null }, 'an account refers to a plan that does not exist; using the default plan');
    }
    return this.#defaultPlan ? this.plans.get(this.#defaultPlan) : undefined;
  }

  #effective(key: ApiKeyRow, planId: string | null): Effective {
    const plan = this.planOf(planId);
    const ov = key.overrides;
    return {
      plan,
      rpm: ov?.rpm ?? plan?.rpm ?? null,
      tpm: ov?.tpm ?? plan?.tpm ?? null,
      accountDaily: plan?.daily_tokens ?? null,
      keyDaily: ov?.daily_tokens ?? null,
      concurrency: plan?.concurrency ?? null,
    };
  }

  allows(key: ApiKeyRow, account: AccountState, model: ModelEntry): boolean {
    const plan = this.planOf(account.plan);
    if (plan && !plan.allows(model)) return false;
    const models = key.overrides?.models;
    return !models || allowlistMatcher(models)(model);
  }

  contextCap(key: ApiKeyRow, account: AccountState, model: ModelEntry): number {
    return minDefined(this.#effective(key, account.plan).plan?.context_tokens, model.contextWindow) ?? Infinity;
  }

  admit(input: LimitsInput): LimitsGrant {
    const { key, account, model, body } = input;
    const eff = this.#effective(key, account.plan);
    const plan = eff.plan;
    const now = this.#now();
    const rk = rpmKey(key.id);
    const tk = tpmKey(key.id);

    // Headers describing the key's state without this request, for refusals.
    const stateHeaders = (extra?: Record<string, string>): Record<string, string> => {
      const h: Record<string, string> = {};
      if (eff.rpm !== null) requestHeaders(h, eff.rpm, this.#rate.check(rk, eff.rpm, MINUTE, 1), now);
      if (eff.tpm !== null) tokenHeaders(h, eff.tpm, this.#rate.check(tk, eff.tpm, MINUTE, 1));
      return extra ? Object.assign(h, extra) : h;
    };

    // 1. Model allowlists.
    if (plan && !plan.allows(model)) {
      throw new GatewayError('model_not_available', `The model '${model.id}' is not available on ${planLabel(plan)}. GET /v1/models lists the models your key can use.`, { param: 'model', headers: stateHeaders() });
    }
    const keyModels = key.overrides?.models;
    if (keyModels && !allowlistMatcher(keyModels)(model)) {
      throw new GatewayError('model_not_available', `The model '${model.id}' is not available to this API key (its models: ${keyModels.join(', ') || 'none'}${plan ? `; ${planLabel(plan)}` : ''}). GET /v1/models lists the models your key can use.`, { param: 'model', headers: stateHeaders() });
    }

    // 2. Context cap: the plan's, or the model's context window when smaller.
    const cap = minDefined(plan?.context_tokens, model.contextWindow);
    const capSource = cap === undefined ? '' : plan?.context_tokens === cap ? `the context cap of ${planLabel(plan)}` : `the context window of model '${model.id}'`;
    let inputTokens: number;
    let counted: boolean;
    const measured = input.measured?.cap === (cap ?? Infinity) ? input.measured : undefined;
    if (input.endpoint === 'embeddings') {
      const m = measured ?? measureEmbeddingInput(body, cap ?? Infinity);
      if (m.over) {
        const several = Array.isArray(body.input) && body.input.length > 1 && typeof body.input[0] !== 'number';
        const which = several ? `Input ${m.index} has` : 'The input has';
        throw new GatewayError('context_length_exceeded', `${which} ${m.tokens > cap! + 1 ? m.tokens : `more than ${cap}`} tokens; ${capSource} is ${cap} tokens per input.`, { param: 'input', headers: stateHeaders() });
      }
      inputTokens = m.tokens;
      counted = m.counted;
    } else {
      const m = measured ?? measureChatInput(body, cap ?? Infinity);
      if (m.over) {
        const estimate = Math.max(measured?.estimate ?? estimateChatInputTokens(body), cap! + 1);
        throw new GatewayError(
          'context_length_exceeded',
          `This request has about ${estimate} input tokens (counting stopped past ${cap}), over ${capSource} (${cap} tokens). Shorten the messages${plan?.context_tokens === cap ? ' or move to a plan with a larger context' : ''}.`,
          { param: 'messages', headers: stateHeaders() },
        );
      }
      inputTokens = m.tokens;
      counted = m.counted;
    }

    // 3. Output cap: clamp, silently. With no max_tokens at all, the plan's cap is sent
    // (the upstream's own default could be larger); the model's cap alone needs no rewrite.
    let maxOutputTokens: number | undefined;
    let clamped = false;
    if (input.endpoint === 'chat') {
      const outCap = minDefined(plan?.max_output_tokens, model.maxOutputTokens);
      const asked = input.requestedMaxTokens;
      if (asked !== undefined) {
        if (outCap !== undefined && asked > outCap) {
          maxOutputTokens = outCap;
          clamped = true;
        } else maxOutputTokens = asked;
      } else if (plan?.max_output_tokens != null) {
        maxOutputTokens = outCap;
        clamped = true;
      } else maxOutputTokens = model.maxOutputTokens;
    }

    // 4. Concurrency per account.
    if (eff.concurrency !== null && account.inFlight >= eff.concurrency) {
      throw new GatewayError(
        'concurrency_limit_exceeded',
        `Too many requests in flight: ${planLabel(plan)} allows ${eff.concurrency} at a time per account. Retry when one finishes.`,
        // No time is known for a slot to free up; 1 s is the shortest Retry-After there is.
        { headers: stateHeaders({ 'retry-after': '1' }) },
      );
    }

    // 5. Requests per minute per key.
    const rpmD = eff.rpm !== null ? this.#rate.check(rk, eff.rpm, MINUTE, 1) : null;
    if (rpmD && !rpmD.allowed) {
      const s = retryAfterSeconds(rpmD.retryAfterMs);
      throw new GatewayError(
        'rate_limit_exceeded',
        `Rate limit reached: ${eff.rpm} requests per minute for this API key (${key.overrides?.rpm != null ? 'key override' : planLabel(plan)}). Retry after ${s} s.`,
        { headers: stateHeaders({ 'retry-after': String(s) }) },
      );
    }

    // 6. Tokens per minute per key (billed tokens of the last 60 s).
    const tpmD = eff.tpm !== null ? this.#rate.check(tk, eff.tpm, MINUTE, 1) : null;
    if (tpmD && !tpmD.allowed) {
      const s = retryAfterSeconds(tpmD.retryAfterMs);
      throw new GatewayError(
        'rate_limit_exceeded',
        `Token rate limit reached: ${tpmD.used} of ${eff.tpm} tokens per minute used by this API key (${key.overrides?.tpm != null ? 'key override' : planLabel(plan)}). Retry after ${s} s.`,
        { headers: stateHeaders({ 'retry-after': String(s) }) },
      );
    }

    // 7. Tokens per UTC day: the account's (plan), then the key's own (override).
    const day = Math.floor(now / DAY);
    const untilMidnight = (day + 1) * DAY - now;
    const dailyRefusal = (used: number, limit: number, whose: string) => {
      const s = retryAfterSeconds(untilMidnight);
      // The OpenAI and Anthropic SDKs wait out a Retry-After of up to 60 s; past that they
      // retry after their own short backoff, which cannot help before midnight.
      const noRetry: Record<string, string> = s > 60 ? { 'x-should-retry': 'false' } : {};
      return new GatewayError(
        'daily_token_limit_exceeded',
        `Daily token limit reached: ${used} of ${limit} tokens used today (UTC) by ${whose}. It resets at ${new Date((day + 1) * DAY).toISOString()}.`,
        { headers: stateHeaders({ 'retry-after': String(s), ...noRetry }) },
      );
    };
    if (eff.accountDaily !== null) {
      const used = this.#daily.used(accountDayKey(account.id), day);
      if (used >= eff.accountDaily) throw dailyRefusal(used, eff.accountDaily, `this account (${planLabel(plan)})`);
    }
    if (eff.keyDaily !== null) {
      const used = this.#daily.used(keyDayKey(key.id), day);
      if (used >= eff.keyDaily) throw dailyRefusal(used, eff.keyDaily, 'this API key (key override)');
    }

    // Admitted: take the slot and the request, in the same synchronous step as the checks.
    account.inFlight++;
    const rpmAfter = this.#rate.consume(rk, eff.rpm ?? Infinity, MINUTE, 1);
    const headers: Record<string, string> = {};
    if (eff.rpm !== null) requestHeaders(headers, eff.rpm, rpmAfter, now);
    if (eff.tpm !== null) tokenHeaders(headers, eff.tpm, tpmD!);

    let released = false;
    let slotHeld = true;
    const freeSlot = () => {
      if (!slotHeld) return;
      slotHeld = false;
      account.inFlight = Math.max(0, account.inFlight - 1);
    };
    const accountId = account.id;
    const keyId = key.id;
    return {
      inputTokens,
      inputTokensCounted: counted,
      maxOutputTokens,
      clamped,
      headers,
      refuse: () => {
        if (!released) {
          released = true;
          freeSlot();
          this.#rate.refund(rk, 1);
        }
        return stateHeaders();
      },
      answered: freeSlot,
      release: (billedTokens: number) => {
        if (released) return;
        released = true;
        freeSlot();
        if (billedTokens > 0) {
          this.#rate.record(tpmKey(keyId), MINUTE, billedTokens);
          const today = Math.floor(this.#now() / DAY);
          this.#daily.add(accountDayKey(accountId), today, billedTokens);
          this.#daily.add(keyDayKey(keyId), today, billedTokens);
        }
      },
    };
  }

  describe(account: { id: string; plan: string | null }, inFlight: number, keys: ApiKeyRow[]): Record<string, unknown> {
    const now = this.#now();
    const day = Math.floor(now / DAY);
    const dayReset = new Date((day + 1) * DAY).toISOString();
    const plan = this.planOf(account.plan);
    const window = (limit: number | null, d: LimitDecision) => ({
      limit,
      used: d.used,
      remaining: limit === null ? null : Math.max(0, limit - d.used),
      resets_in: formatDuration(d.resetMs),
    });
    const daily = (limit: number | null, used: number) => ({ limit, used, remaining: limit === null ? null : Math.max(0, limit - used), resets_at: dayReset });
    return {
      object: 'account.limits',
      account_id: account.id,
      plan_id: account.plan,
      plan: plan ? planJson(plan) : null,
      concurrency: { limit: plan?.concurrency ?? null, in_flight: inFlight },
      daily_tokens: daily(plan?.daily_tokens ?? null, this.#daily.used(accountDayKey(account.id), day)),
      keys: keys.map((k) => {
        const eff = this.#effective(k, account.plan);
        return {
          id: k.id,
          prefix: k.prefix,
          name: k.name,
          overrides: k.overrides,
          models: { plan: plan?.models ?? null, key: k.overrides?.models ?? null },
          requests_per_minute: window(eff.rpm, this.#rate.check(rpmKey(k.id), eff.rpm ?? Infinity, MINUTE, 0)),
          tokens_per_minute: window(eff.tpm, this.#rate.check(tpmKey(k.id), eff.tpm ?? Infinity, MINUTE, 0)),
          daily_tokens: daily(eff.keyDaily, this.#daily.used(keyDayKey(k.id), day)),
        };
      }),
    };
  }
}
