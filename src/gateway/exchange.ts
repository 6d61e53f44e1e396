import type { ApiKeyRow } from '../store/api-keys.ts';
import type { Usage } from '../protocol/usage.ts';
import type { ModelEntry, Route } from './catalog.ts';
import type { Runtime } from './runtime.ts';

// The state of one request as it moves through the pipeline, and the one place its
// outcome is recorded (request log; billing settles here too).

export class Exchange {
  readonly id: string;
  readonly endpoint: string;
  readonly startedAt = performance.now();
  readonly startedAtMs = Date.now();
  key: ApiKeyRow | null = null;
  model: ModelEntry | null = null;
  /** The model id as the client sent it (may be `owner/model`). */
  publicModel: string | null = null;
  route: Route | null = null;
  stream = false;
  status = 0;
  errorCode: string | null = null;
  usage: Usage | null = null;
  cost: bigint | null = null;
  ttfbMs: number | null = null;
  failover = false;
  #finished = false;

  constructor(id: string, endpoint: string) {
    this.id = id;
    this.endpoint = endpoint;
  }

  markFirstByte(): void {
    if (this.ttfbMs === null) this.ttfbMs = Math.round((performance.now() - this.startedAt) * 1000) / 1000;
  }

  /** Records the outcome exactly once, however the request ended. */
  finish(rt: Runtime): void {
    if (this.#finished) return;
    this.#finished = true;
    const u = this.usage;
    rt.requestLog.write({
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
      prompt_tokens: u?.prompt ?? 0,
      cached_tokens: u?.cached ?? 0,
      cache_write_tokens: u?.cacheWrite ?? 0,
      completion_tokens: u?.completion ?? 0,
      cost: this.cost,
      ttfb_ms: this.ttfbMs === null ? null : Math.round(this.ttfbMs),
      latency_ms: Math.round(performance.now() - this.startedAt),
      failover: this.failover ? 1 : 0,
    });
  }
}
