import type { Insertable } from 'kysely';
import type { Logger } from 'pino';
import type { Db } from './open.ts';
import type { RequestsTable } from './schema.ts';

export type RequestRecord = Insertable<RequestsTable>;

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
  detail: string;
  createdAt: number;
}

type Op = ReserveOp | SettleOp;

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
  readonly #db: Db;
  readonly #log: Logger;
  readonly #flushMs: number;
  readonly #maxBatch: number;
  #records: RequestRecord[] = [];
  #ops: Op[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();

  constructor(db: Db, log: Logger, opts: { flushMs: number; maxBatch?: number }) {
    this.#db = db;
    this.#log = log;
    this.#flushMs = opts.flushMs;
    this.#maxBatch = opts.maxBatch ?? 1000;
  }

  record(r: RequestRecord): void {
    this.#records.push(r);
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
      await this.#db.transaction().execute(async (trx) => {
        // A reservation settled within the same batch never needs to be written.
        const settled = new Set<string>();
        for (const o of ops) if (o.op === 'settle') settled.add(o.requestId);
        const reservations = ops.filter((o): o is ReserveOp => o.op === 'reserve' && !settled.has(o.requestId));
        for (let i = 0; i < reservations.length; i += 500) {
          await trx.insertInto('reservations')
            .values(reservations.slice(i, i + 500).map((r) => ({ request_id: r.requestId, account_id: r.accountId, amount: r.amount, created_at: r.createdAt })))
            .onConflict((oc) => oc.column('request_id').doNothing())
            .execute();
        }
        const charges = new Map<string, bigint>();
        const entries = [];
        const toDelete: string[] = [];
        for (const o of ops) {
          if (o.op !== 'settle') continue;
          toDelete.push(o.requestId);
          if (o.cost === 0n) continue;
          entries.push({ account_id: o.accountId, kind: 'charge' as const, amount: -o.cost, request_id: o.requestId, note: null, actor: 'gateway', detail: o.detail, created_at: o.createdAt });
          charges.set(o.accountId, (charges.get(o.accountId) ?? 0n) + o.cost);
        }
        for (let i = 0; i < toDelete.length; i += 500) {
          await trx.deleteFrom('reservations').where('request_id', 'in', toDelete.slice(i, i + 500)).execute();
        }
        for (let i = 0; i < entries.length; i += 300) await trx.insertInto('ledger').values(entries.slice(i, i + 300)).execute();
        for (const [accountId, cost] of charges) {
          await trx.updateTable('accounts').set((eb) => ({ balance: eb('balance', '-', cost) })).where('id', '=', accountId).execute();
        }
        for (let i = 0; i < records.length; i += 500) {
          await trx.insertInto('requests').values(records.slice(i, i + 500)).onConflict((oc) => oc.column('id').doNothing()).execute();
        }
      });
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
