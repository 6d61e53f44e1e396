import { Worker } from 'node:worker_threads';
import type { Db } from './open.ts';
import { sqliteFile, sqliteHandle } from './open.ts';
import { verifyLedger, type LedgerMismatch } from './ledger.ts';
import { usageTotals, type UsageQuery } from './usage.ts';
import { pruneRequestLog } from './prune.ts';

export type { UsageQuery };
export type UsageRow = Awaited<ReturnType<typeof usageTotals>>[number];

/** What a call to a closed (or closing) store is refused with: `code` STORE_CLOSING. */
export function storeClosing(): Error {
  return Object.assign(new Error('the store is closing'), { code: 'STORE_CLOSING' });
}

export type MaintenanceCall =
  | { op: 'verify' }
  | { op: 'usage'; accountId: string | null; query: UsageQuery }
  | { op: 'prune'; cutoffMs: number };

/**
 * Runs the store's long reads and request-log pruning off the event loop, on a thread
 * (maintenance-thread.ts) started at the first call. An in-memory store has only the
 * one connection, so there they run here (tests only: the gateway stores to a file).
 */
type Pending = Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>;

/** A started thread and the calls it owes answers to. */
interface Thread {
  worker: Worker;
  pending: Pending;
}

export class StoreMaintenance {
  readonly #db: Db;
  readonly #file: string | undefined;
  readonly #threadModule: URL;
  #thread: Promise<Thread> | null = null;
  #next = 0;
  #closed = false;

  /** `threadModule` is what runs on the thread: maintenance-thread.ts (tests may give another). */
  constructor(db: Db, threadModule = new URL('./maintenance-thread.ts', import.meta.url)) {
    this.#db = db;
    this.#file = sqliteFile(db);
    this.#threadModule = threadModule;
  }

  verifyLedger(): Promise<LedgerMismatch[]> {
    return this.#call({ op: 'verify' }) as Promise<LedgerMismatch[]>;
  }

  /** One account's totals, or every account's with `accountId` null. */
  usageTotals(accountId: string | null, query: UsageQuery): Promise<UsageRow[]> {
    return this.#call({ op: 'usage', accountId, query: { from: query.from, to: query.to, group_by: query.group_by } }) as Promise<UsageRow[]>;
  }

  /** Deletes request-log rows created before `cutoffMs` (never the ledger); resolves to how many. */
  pruneRequestLog(cutoffMs: number): Promise<number> {
    return this.#call({ op: 'prune', cutoffMs }) as Promise<number>;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const started = this.#thread;
    this.#thread = null;
    if (!started) return;
    const worker = (await started.catch(() => null))?.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('close');
    await exited;
  }

  async #call(call: MaintenanceCall): Promise<unknown> {
    if (this.#closed) throw storeClosing();
    if (!this.#file) return this.#inline(call);
    const { worker, pending } = await (this.#thread ??= this.#start(this.#file));
    const id = this.#next++;
    // Held while a call is out (a caller awaits it), let go when idle.
    worker.ref();
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, call });
    });
  }

  #inline(call: MaintenanceCall): Promise<unknown> {
    switch (call.op) {
      case 'verify':
        return verifyLedger(this.#db);
      case 'usage':
        return usageTotals(this.#db, call.accountId, call.query);
      case 'prune':
        return pruneRequestLog(sqliteHandle(this.#db)!, call.cutoffMs, { stop: () => this.#closed });
    }
  }

  #start(file: string): Promise<Thread> {
    const worker = new Worker(this.#threadModule, { workerData: { file } });
    // Idle, it must not keep a process alive (a CLI, a test that forgot to close).
    worker.unref();
    const pending: Pending = new Map();
    // A thread that dies answers its own calls with the error, and only it: its 'exit'
    // comes after its 'error', by which time a later call may have started the next
    // thread, whose calls and place it must leave alone.
    const fail = (err: Error) => {
      for (const p of pending.values()) p.reject(err);
      pending.clear();
      if (this.#thread === started && !this.#closed) this.#thread = null;
    };
    worker.on('message', (m: { id: number; result?: unknown; error?: string; code?: unknown } | 'ready') => {
      if (m === 'ready') return;
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(typeof m.code === 'string' ? Object.assign(new Error(m.error), { code: m.code }) : new Error(m.error));
      else p.resolve(m.result);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(code === 0 ? storeClosing() : new Error(`store maintenance thread exited with code ${code}`)));
    const started = new Promise<Thread>((resolve, reject) => {
      const onReady = (m: unknown) => {
        if (m !== 'ready') return;
        worker.off('message', onReady);
        worker.off('error', onError);
        resolve({ worker, pending });
      };
      const onError = (err: Error) => reject(err);
      worker.on('message', onReady);
      worker.once('error', onError);
    });
    return started;
  }
}
