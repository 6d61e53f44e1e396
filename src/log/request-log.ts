import type { Insertable } from 'kysely';
import type { Db } from '../store/open.ts';
import type { RequestsTable } from '../store/schema.ts';
import type { Logger } from 'pino';

export type RequestRecord = Insertable<RequestsTable>;

// One metadata record per request (never prompt or completion text), written off the
// hot path: records queue in memory and are inserted in one transaction every
// `flushMs` or once `maxBatch` are waiting. close() flushes whatever is left, so a
// graceful shutdown loses nothing; a hard crash can lose at most one interval's worth.

export class RequestLog {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #queue: RequestRecord[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(db: Db, log: Logger, opts: { flushMs: number; maxBatch?: number }) {
    this.#db = db;
    this.#log = log;
    this.#flushMs = opts.flushMs;
    this.#maxBatch = opts.maxBatch ?? 500;
  }

  write(record: RequestRecord): void {
    this.#queue.push(record);
    if (this.#queue.length >= this.#maxBatch) void this.flush();
    else if (!this.#timer) {
      this.#timer = setTimeout(() => void this.flush(), this.#flushMs);
      this.#timer.unref();
    }
  }

  get pending(): number {
    return this.#queue.length;
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
    const batch = this.#queue;
    if (batch.length === 0) return;
    this.#queue = [];
    try {
      await this.#db.transaction().execute(async (trx) => {
        // SQLite allows 32766 bound parameters per statement; 19 columns × 500 rows fits.
        for (let i = 0; i < batch.length; i += 500) {
          await trx.insertInto('requests').values(batch.slice(i, i + 500)).onConflict((oc) => oc.column('id').doNothing()).execute();
        }
      });
    } catch (err) {
      this.#log.error({ err, records: batch.length }, 'request log flush failed; will retry');
      this.#queue = batch.concat(this.#queue);
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
