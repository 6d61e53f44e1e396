import type { Insertable } from 'kysely';
import type { Logger } from 'pino';
import type { RequestsTable } from './schema.ts';

export type RequestRecord = Insertable<RequestsTable>;

/** Column order of a request row in a journal batch. */
export const REQUEST_COLUMNS = [
  'id', 'created_at', 'account_id', 'key_id', 'endpoint', 'model', 'provider', 'upstream_model', 'status', 'error_code', 'stream',
  'prompt_tokens', 'cached_tokens', 'cache_write_tokens', 'completion_tokens', 'cost', 'ttfb_ms', 'latency_ms', 'failover', 'prices', 'reserved',
] as const satisfies ReadonlyArray<keyof RequestsTable>;

/** A request record as values in REQUEST_COLUMNS order: batches cross to the journal
 *  thread by structured clone, and flat arrays of primitives clone far cheaper than objects. */
export type RequestRow = unknown[];

export function requestRow(r: RequestRecord): RequestRow {
  // Spelled out, in REQUEST_COLUMNS order: a loop over the names is a megamorphic
  // keyed load per column, on every request.
  return [
    r.id, r.created_at, r.account_id ?? null, r.key_id ?? null, r.endpoint, r.model ?? null, r.provider ?? null, r.upstream_model ?? null,
    r.status, r.error_code ?? null, r.stream ?? 0, r.prompt_tokens ?? 0, r.cached_tokens ?? 0, r.cache_write_tokens ?? 0, r.completion_tokens ?? 0,
    r.cost ?? null, r.ttfb_ms ?? null, r.latency_ms, r.failover ?? 0, r.prices ?? null, r.reserved ?? null,
  ];
}

/** An open reservation to persist: [requestId, accountId, amount, createdAt]. */
export type ReserveRow = [string, string, bigint, number];

/**
 * A reservation replaced by its charge: [requestId, accountId, cost, detail, createdAt,
 * persisted]. cost 0n releases without a ledger entry; detail is JSON of what is
 * exceptional about the charge (estimated usage, overrun) or null; persisted is 1 when
 * the reservation was written by an earlier batch and must be deleted.
 */
export type SettleRow = [string, string, bigint, string | null, number, 0 | 1];

export interface JournalBatch {
  records: RequestRow[];
  /** Applied before settles: a reservation and its settlement may share a retried batch. */
  reserves: ReserveRow[];
  settles: SettleRow[];
}

/** Applies one batch atomically (one transaction). */
export type JournalSink = (batch: JournalBatch) => void | Promise<void>;

// Everything the hot path must persist, written off the hot path: request records,
// reservations and settlements queue in memory and go to the store in one transaction
// every `flushMs` (or sooner when `maxBatch` are waiting). One transaction per batch
// keeps the store consistent at every commit: a charge's ledger entry and its balance
// change land together, so balance = sum(ledger) always holds in the store.
//
// What a crash can lose: the ops queued since the last commit, at most `flushMs` of
// traffic. Those requests are then neither reserved nor charged in the store (the
// operator loses their revenue; no customer is charged for anything unrecorded).
// close() flushes everything, so a graceful shutdown loses nothing.

/** How long close() goes on retrying a failed commit: within systemd's 90 s stop timeout. */
const CLOSE_RETRY_MS = 30_000;
const CLOSE_RETRY_PAUSE_MS = 500;

export class WriteBehind {
  readonly #sink: JournalSink;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #records: RequestRow[] = [];
  /** Reservations not yet sent, by request id: one settled before the next flush is never written. */
  #reserves = new Map<string, ReserveRow>();
  /** Reservations of a failed batch, sent again ahead of the newer ones. */
  #reservesRetry: ReserveRow[] = [];
  #settles: SettleRow[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<boolean> = Promise.resolve(true);
  /** Writes in the batch being committed now. */
  #committing = 0;
  #failedCommits = 0;
  /** Since when commits have been failing (none has succeeded since); null when the last one succeeded. */
  #failingSince: number | null = null;
  #lost: string | null = null;
  /** close() is retrying on its own schedule: a failed commit sets no retry timer. */
  #closing = false;

  constructor(sink: JournalSink, log: Logger, opts: { flushMs: number; maxBatch?: number }) {
    this.#sink = sink;
    this.#log = log;
    this.#flushMs = opts.flushMs;
    this.#maxBatch = opts.maxBatch ?? 1000;
  }

  record(r: RequestRecord): void {
    this.#records.push(requestRow(r));
    this.#schedule();
  }

  reserve(requestId: string, accountId: string, amount: bigint, createdAt: number): void {
    this.#reserves.set(requestId, [requestId, accountId, amount, createdAt]);
    this.#schedule();
  }

  /** Replaces the reservation of `requestId` (if one was journaled) with a charge of `cost`. */
  settle(requestId: string, accountId: string, cost: bigint, detail: string | null, createdAt: number): void {
    const persisted = !this.#reserves.delete(requestId);
    if (!persisted && cost === 0n) return;
    this.#settles.push([requestId, accountId, cost, detail, createdAt, persisted ? 1 : 0]);
    this.#schedule();
  }

  #schedule(): void {
    if (this.pending >= this.#maxBatch) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  get pending(): number {
    return this.#records.length + this.#reserves.size + this.#reservesRetry.length + this.#settles.length;
  }

  /** Every write not yet in the store: queued, and in the commit under way (what a metric should show). */
  get waiting(): number {
    return this.pending + this.#committing;
  }

  /** Commits that failed (and were retried) since start. */
  get failedCommits(): number {
    return this.#failedCommits;
  }

  /**
   * The store is not taking writes: the last commit failed and none has succeeded since.
   * What is served meanwhile is charged in memory only, and a crash would lose all of it
   * (not flush_interval_ms of it), so the gateway takes no requests until a commit
   * succeeds (admission.ts), and /healthz says so.
   */
  get stalled(): boolean {
    return this.#failingSince !== null || this.#lost !== null;
  }

  /** Why the store is gone for good (its file deleted or replaced), or null. */
  get lost(): string | null {
    return this.#lost;
  }

  /** The store's file is no longer the one being written: nothing will reach it again. */
  markLost(reason: string): void {
    this.#lost ??= reason;
  }

  /** Commits everything queued so far; true when it all reached the store (false: kept for a retry). */
  flush(): Promise<boolean> {
    this.#stopTimer();
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  async #flushNow(): Promise<boolean> {
    if (this.pending === 0) return true;
    const records = this.#records;
    const reserves = this.#reservesRetry.concat(Array.from(this.#reserves.values()));
    const settles = this.#settles;
    this.#records = [];
    this.#reserves.clear();
    this.#reservesRetry = [];
    this.#settles = [];
    this.#committing = records.length + reserves.length + settles.length;
    try {
      await this.#sink({ records, reserves, settles });
      if (this.#failingSince !== null) {
        this.#log.warn({ after_ms: Date.now() - this.#failingSince }, 'the store takes writes again; requests are admitted again');
        this.#failingSince = null;
      }
      return true;
    } catch (err) {
      this.#failedCommits++;
      this.#failingSince ??= Date.now();
      this.#log.error({ err, records: records.length, reserves: reserves.length, settles: settles.length }, 'write-behind flush failed; will retry');
      this.#records = records.concat(this.#records);
      this.#reservesRetry = reserves.concat(this.#reservesRetry);
      this.#settles = settles.concat(this.#settles);
      if (!this.#timer && !this.#closing) {
        this.#timer = setTimeout(() => void this.flush(), Math.max(this.#flushMs, 1000));
        this.#timer.unref();
      }
      return false;
    } finally {
      this.#committing = 0;
    }
  }

  /**
   * Flushes everything, retrying a commit that fails (another process holding the
   * store's write lock past the busy timeout, say) for up to `giveUpMs`; resolves to the
   * number of writes that never reached the store (0 when all did). Trying once, a
   * shutdown lost every record and charge still queued whenever that commit failed.
   * A failed commit's retry timer is stopped first: left running, it chained a commit of
   * its own behind close's, which took the queue while close read it as empty, and a
   * shutdown that lost everything reported that nothing was lost.
   */
  async close(giveUpMs = CLOSE_RETRY_MS): Promise<number> {
    const deadline = Date.now() + giveUpMs;
    this.#closing = true;
    for (;;) {
      await this.flush(); // which stops a pending timer first
      await this.#settled();
      if (this.waiting === 0) return 0;
      const left = deadline - Date.now();
      if (left <= 0) {
        this.#log.error({ pending: this.waiting }, 'journal could not be written before shutdown; the queued request records and charges are lost');
        return this.waiting;
      }
      await new Promise((r) => setTimeout(r, Math.min(CLOSE_RETRY_PAUSE_MS, left)));
    }
  }

  /** Waits until no commit is under way or chained behind the one under way. */
  async #settled(): Promise<void> {
    for (let p = this.#flushing; ; p = this.#flushing) {
      await p;
      if (p === this.#flushing) return;
    }
  }

  #stopTimer(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}
