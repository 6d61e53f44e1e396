import type { ApiKeyRow } from '../store/api-keys.ts';
import type { PromptUsage, Usage } from '../protocol/usage.ts';
import type { AccountState } from '../billing/account-state.ts';
import type { Reservation } from '../billing/billing.ts';
import type { LimitsGrant } from '../limits/limits.ts';
import { pricesToJsonText } from '../billing/prices.ts';
import { countChatInputTokens, countEmbeddingInputTokens, fullCountJob } from '../limits/token-count.ts';
import type { ModelEntry, Route } from './catalog.ts';
import type { UpstreamCall } from './upstream-call.ts';
import type { Runtime } from './runtime.ts';
import { StreamedText } from './streamed-text.ts';

// The state of one request as it moves through the pipeline, and the one place its
// outcome is settled and recorded, however the request ended.

export class Exchange {
  readonly id: string;
  readonly endpoint: 'chat.completions' | 'embeddings';
  readonly startedAt = performance.now();
  readonly startedAtMs = Date.now();
  key: ApiKeyRow | null = null;
  account: AccountState | null = null;
  model: ModelEntry | null = null;
  /** The model id as the client sent it (may be `owner/model`). */
  publicModel: string | null = null;
  /** The body sent upstream (after clamping), for counting tokens of a cut stream. */
  body: Record<string, any> | null = null;
  route: Route | null = null;
  grant: LimitsGrant | null = null;
  /** The plan's output cap, for a request that set no max tokens of its own. */
  outputCap: number | undefined;
  /** The client asked that only zero-retention providers serve it (zero-retention.ts). */
  zeroRetention = false;
  /** Output tokens per choice the reservation covers. */
  outputReserved: number | undefined;
  /** The tokens the reservation was made for, input and all output: what a request whose
   *  usage report was not believed is charged for, and so what it logs and counts against
   *  tokens per minute and per day. */
  reservedInputTokens = 0;
  reservedOutputTokens = 0;
  reservation: Reservation | null = null;
  stream = false;
  status = 0;
  errorCode: string | null = null;
  /** A stream failed for its upstream's sake (cut, stalled, ended early), not its client's
   *  or its own answer's: what the upstream's breaker counts. */
  upstreamFault = false;
  /** Usage as the upstream reported it, or as estimated for an answer that came without a report; null when neither. */
  usage: Usage | null = null;
  /** Some of `usage` was counted by the gateway, for an answer that came without a report. */
  usageEstimated = false;
  /** The prompt's usage as a stream reported it before its answer, where it does. */
  promptUsage: PromptUsage | null = null;
  /** `data:` frames already sent to the client, to count a cut stream. */
  readonly streamed = new StreamedText();
  cost: bigint | null = null;
  ttfbMs: number | null = null;
  failover = false;
  /** The upstream attempt in progress (or the one that answered), to abort if the client goes away. */
  upstreamCall: UpstreamCall | null = null;
  /** The client closed its connection before the response was complete. */
  clientGone = false;
  /** Response headers decided so far (rate limits, route, cost), sent with the answer or the error. */
  readonly headers: Record<string, string>;
  #finished = false;

  constructor(id: string, endpoint: 'chat.completions' | 'embeddings') {
    this.id = id;
    this.endpoint = endpoint;
    this.headers = { 'x-request-id': id };
  }

  /** Aborted when the client leaves; made only when something waits on it (goneSignal). */
  #gone: AbortController | null = null;

  /** The client went away before its response was complete. */
  clientLeft(): void {
    this.clientGone = true;
    this.#gone?.abort();
  }

  /** A signal aborted when the client leaves (at once if it has). */
  goneSignal(): AbortSignal {
    this.#gone ??= new AbortController();
    if (this.clientGone) this.#gone.abort();
    return this.#gone.signal;
  }

  markFirstByte(): void {
    if (this.ttfbMs === null) this.ttfbMs = performance.now() - this.startedAt;
  }

  /**
   * The usage of one upstream answer that came without a usage report: its prompt and
   * `completion` output tokens, counted with the tokenizer (the upstream's own may differ
   * by a few percent). Marks the request's usage as estimated.
   */
  estimatedUsage(completion: number): Usage {
    this.usageEstimated = true;
    // Admission already counted the prompt when it had to (near a context cap).
    const prompt = this.grant?.inputTokensCounted
      ? this.grant.inputTokens
      : !this.body
        ? 0
        : (this.#promptCount ??
          (this.endpoint === 'embeddings'
            ? countEmbeddingInputTokens(this.body)
            : countChatInputTokens(this.body)));
    return { prompt, cached: 0, cacheWrite: 0, completion, reasoning: 0 };
  }

  /** The prompt's full count, taken on a token count thread by countPromptAhead(). */
  #promptCount: number | undefined;

  /**
   * Counts a long prompt on a token count thread for estimatedUsage(), which would count
   * it on the event loop otherwise: all of it, with no cap to stop at (a 1 MB prompt took
   * 0.2 s or more). Does nothing for a short one, or one admission counted already.
   */
  async countPromptAhead(rt: Runtime): Promise<void> {
    if (this.#promptCount !== undefined || this.grant?.inputTokensCounted || !this.body) return;
    const job = fullCountJob(this.endpoint === 'embeddings' ? 'embeddings' : 'chat', this.body);
    if (job) this.#promptCount = (await rt.tokenCount.measure(job, { owner: this.key?.accountId })).tokens;
  }

  /**
   * Whether finish() may estimate the prompt from its text (#billableUsage): cheap, so it
   * may say yes for a stream that turns out to be charged nothing.
   */
  get promptEstimateDue(): boolean {
    return this.reservation !== null && this.usage === null && this.body !== null && this.promptUsage === null && !this.streamed.empty && !this.grant?.inputTokensCounted;
  }

  /**
   * Usage for billing: what the upstream reported (or the estimate made for an answer
   * that reported none), or, for a stream that ended without a report (cut, or an
   * upstream that sends none), the prompt and the text already streamed, counted with
   * the tokenizer; the prompt as the stream reported it, where it did (with its cache
   * reads and writes, which the text cannot tell). Nothing streamed and nothing reported
   * means nothing to charge.
   */
  #billableUsage(): { usage: Usage | null; estimated: boolean } {
    // A stream that failed before any output (its role frame at most) is charged nothing,
    // whatever its upstream had reported of the prompt or of thinking the client never
    // saw: Anthropic and Gemini report the prompt in their first event, and such a cut
    // cost the prompt there while the same cut on the OpenAI wire cost nothing.
    if (this.stream && this.errorCode != null && (this.streamed.empty || this.streamed.completionTokens() === 0)) {
      return { usage: null, estimated: false };
    }
    if (this.usage) return { usage: this.usage, estimated: this.usageEstimated };
    if (this.streamed.empty || !this.body) return { usage: null, estimated: false };
    const completion = this.streamed.completionTokens();
    if (!this.promptUsage) {
      // One that ended well with no text (and no report) still read the prompt.
      return { usage: this.estimatedUsage(completion), estimated: true };
    }
    this.usageEstimated = true;
    return { usage: { ...this.promptUsage, completion, reasoning: 0 }, estimated: true };
  }

  finish(rt: Runtime): void {
    if (this.#finished) return;
    this.#finished = true;
    let usage = this.usage;
    if (this.reservation) {
      const billable = this.#billableUsage();
      usage = billable.usage;
      const settled = rt.billing.settle(this.reservation, usage, billable.estimated ? { usage_estimated: true } : {});
      this.cost = settled.cost;
      // A report that was not believed is charged its reservation, and logged and counted
      // as the tokens it was charged for (the limits reload today's tokens from the log
      // after a restart: logged as 0, a restart handed such a day's tokens back).
      if (settled.rejected) {
        usage = { prompt: this.reservedInputTokens, cached: 0, cacheWrite: 0, completion: this.reservedOutputTokens, reasoning: 0 };
      }
    }
    this.grant?.release(usage ? Math.min(usage.prompt + usage.completion, Number.MAX_SAFE_INTEGER) : 0);
    const latencyMs = performance.now() - this.startedAt;
    rt.metrics.observe({
      endpoint: this.endpoint,
      // A configured model refused before it was resolved (the wrong endpoint, zero
      // retention) is still named, as in the log; a name no one configured is not, so
      // that clients cannot add label values without end.
      model: this.model?.id ?? (this.publicModel === null ? null : (rt.catalog.find(this.publicModel)?.id ?? null)),
      provider: this.route?.upstream.id ?? null,
      status: this.status,
      stream: this.stream,
      failover: this.failover,
      promptTokens: usage?.prompt ?? 0,
      cachedTokens: usage?.cached ?? 0,
      completionTokens: usage?.completion ?? 0,
      cost: this.cost,
      latencyMs,
      ttfbMs: this.ttfbMs,
    });
    rt.journal.record({
      id: this.id,
      created_at: this.startedAtMs,
      account_id: this.key?.accountId ?? null,
      key_id: this.key?.id ?? null,
      endpoint: this.endpoint,
      model: this.model?.id ?? this.publicModel,
      provider: this.route?.upstream.id ?? null,
      upstream_model: this.route?.model ?? null,
      status: this.status,
      error_code: this.errorCode,
      stream: this.stream ? 1 : 0,
      prompt_tokens: usage?.prompt ?? 0,
      cached_tokens: usage?.cached ?? 0,
      cache_write_tokens: usage?.cacheWrite ?? 0,
      completion_tokens: usage?.completion ?? 0,
      cost: this.cost,
      ttfb_ms: this.ttfbMs === null ? null : Math.round(this.ttfbMs),
      latency_ms: Math.round(latencyMs),
      failover: this.failover ? 1 : 0,
      prices: this.reservation ? pricesToJsonText(this.reservation.prices) : null,
      reserved: this.reservation?.amount ?? null,
    });
  }
}
