import type { Db } from '../store/open.ts';
import { getAccount, type AccountRow } from '../store/accounts.ts';

// The in-memory, authoritative view of each account's money and status on this node.
// Admission reads and reserves here with no I/O; the store follows in batches
// (see settlement.ts). Loaded lazily, once per account.

export interface AccountState {
  readonly id: string;
  name: string;
  plan: string | null;
  suspended: boolean;
  /** Settled balance in pUSD (credits minus charges): equals the ledger sum. */
  balance: bigint;
  /** Sum of open reservations in pUSD. */
  reserved: bigint;
  /** Requests in flight (for the concurrency limit). */
  inFlight: number;
}

export class AccountStates {
  readonly #db: Db;
  readonly #states = new Map<string, AccountState>();
  readonly #loading = new Map<string, Promise<AccountState | null>>();

  constructor(db: Db) {
    this.#db = db;
  }

  peek(id: string): AccountState | undefined {
    return this.#states.get(id);
  }

  get(id: string): AccountState | null | Promise<AccountState | null> {
    const s = this.#states.get(id);
    if (s) return s;
    let p = this.#loading.get(id);
    if (!p) {
      p = getAccount(this.#db, id).then(
        (row) => {
          this.#loading.delete(id);
          if (!row) return null;
          return this.#states.get(id) ?? this.adopt(row);
        },
        (err) => {
          this.#loading.delete(id);
          throw err;
        },
      );
      this.#loading.set(id, p);
    }
    return p;
  }

  /** Installs the state for a row just read or written by the admin API. */
  adopt(row: AccountRow): AccountState {
    const existing = this.#states.get(row.id);
    if (existing) {
      existing.name = row.name;
      existing.plan = row.plan;
      existing.suspended = row.suspended;
      return existing;
    }
    const s: AccountState = { id: row.id, name: row.name, plan: row.plan, suspended: row.suspended, balance: row.balance, reserved: 0n, inFlight: 0 };
    this.#states.set(row.id, s);
    return s;
  }

  all(): IterableIterator<AccountState> {
    return this.#states.values();
  }
}
