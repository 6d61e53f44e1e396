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
 *  thread by structured clone, and arrays of values clone far cheaper than objects. */
export type RequestRow = unknown[];

export interface ReserveOp {
  op: 'reserve';
  requestId: string;
  accountId: string;
  amount: bigint;
  createdAt: number;
}

export interface SettleOp {
  op: 'settle';
  requestId: string;
  accountId: string;
  /** pUSD charged; 0 releases the reservation without a ledger entry. */
  cost: bigint;
  /** JSON of what is exceptional about the charge (estimated usage, overrun), or null. */
  detail: string | null;
  createdAt: number;
}

type Op = ReserveOp | SettleOp;

export interface JournalBatch {
  records: RequestRow[];
  ops: Op[];
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

export class WriteBehind {
  readonly #sink: JournalSink;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #records: RequestRow[] = [];
  #ops: Op[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(sink: JournalSink, log: Logger, opts: { flushMs: number; maxBatch?: number }) {
    this.#sink = sink;
    this.#log = log;
    this.#flushMs = opts.flushMs;
    this.#maxBatch = opts.maxBatch ?? 1000;
  }

  record(r: RequestRecord): void {
    const row: RequestRow = new Array(REQUEST_COLUMNS.length);
    for (let i = 0; i < REQUEST_COLUMNS.length; i++) row[i] = r[REQUEST_COLUMNS[i]!] ?? null;
    this.#records.push(row);
    this.#schedule();
  }

  op(o: Op): void {
    this.#ops.push(o);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#records.length + this.#ops.length >= this.#maxBatch) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  get pending(): number {
    return this.#records.length + this.#ops.length;
  }

  flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#flushing = this.#flushing.then(() => this.#flushNow());
    return this.#flushing;
  }

  async #flushNow(): Promise<void> {
    const records = this.#records;
    const ops = this.#ops;
    if (records.length === 0 && ops.length === 0) return;
    this.#records = [];
    this.#ops = [];
    try {
      await this.#sink({ records, ops });
    } catch (err) {
      this.#log.error({ err, records: records.length, ops: ops.length }, 'write-behind flush failed; will retry');
      this.#records = records.concat(this.#records);
      this.#ops = ops.concat(this.#ops);
      if (!this.#timer) {
        this.#timer = setTimeout(() => void this.flush(), Math.max(this.#flushMs, 1000));
        this.#timer.unref();
      }
    }
  }

  async close(): Promise<void> {
    await this.flush();
  }
}
