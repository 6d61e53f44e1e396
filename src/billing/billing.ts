import type { Logger } from 'pino';
import { GatewayError } from '../protocol/errors.ts';
import { isWholeCount, type Usage } from '../protocol/usage.ts';
import type { Db } from '../store/open.ts';
import type { WriteBehind } from '../store/write-behind.ts';
import type { ModelEntry } from '../gateway/catalog.ts';
import type { AccountState, AccountStates } from './account-state.ts';
import { costOf, isFree, maxCostOf, pricesFromConfig, type Prices } from './prices.ts';
import { MAX_PICO, picoToUsd, type Pico } from './money.ts';

/** More tokens than any model reads or writes in one request (the largest context windows hold ~10M). */
const MAX_PLAUSIBLE_TOKENS = 100_000_000;

// Prepaid billing: reserve the most a request can cost before the upstream is called,
// settle to the exact metered cost when it ends. Reservations and balances live in
// memory (AccountStates), where a check-and-reserve is one synchronous step, so
// concurrent requests can never reserve more than the available balance. The store
// follows through the write-behind journal.

/** Output cap assumed for the reservation when neither request, plan nor model sets one. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 16_384;

export interface Reservation {
  readonly requestId: string;
  readonly account: AccountState;
  /** Grows only through extend(), before the request is settled. */
  amount: Pico;
  readonly prices: Prices;
  readonly createdAt: number;
  settled: boolean;
}

/** 402 account_suspended: a suspended account spends nothing, whatever its balance. */
export function refuseIfSuspended(account: AccountState): void {
  if (account.suspended) throw new GatewayError('account_suspended', 'This account is suspended. Contact the operator to reactivate it.');
}

export class Billing {
  readonly #db: Db;
  readonly #log: Logger;
  readonly #accounts: AccountStates;
  readonly #journal: WriteBehind;
  readonly #prices = new Map<string, Prices>();
  /** Reservations of requests running in this process (never orphans). */
  readonly #open = new Set<string>();

  constructor(db: Db, log: Logger, accounts: AccountStates, journal: WriteBehind, models: Iterable<ModelEntry>) {
    this.#db = db;
    this.#log = log;
    this.#accounts = accounts;
    this.#journal = journal;
    for (const m of models) this.#prices.set(m.id, pricesFromConfig(m.config.pricing));
  }

  /** Applies prices stored through the admin API over the config file's. */
  async loadPriceOverrides(): Promise<void> {
    const rows = await this.#db.selectFrom('model_prices').selectAll().execute();
    for (const r of rows) {
      if (!this.#prices.has(r.model_id)) continue;
      this.#prices.set(r.model_id, pricesFromConfig({ input: r.input, output: r.output, ...(r.cached_input !== null ? { cached_input: r.cached_input } : {}), ...(r.cache_write !== null ? { cache_write: r.cache_write } : {}) }));
    }
  }

  pricesFor(modelId: string): Prices | undefined {
    return this.#prices.get(modelId);
  }

  /** Changes a model's prices for requests admitted from now on. */
  async setPrices(modelId: string, p: { input: string; output: string; cached_input?: string | undefined; cache_write?: string | undefined }): Promise<Prices> {
    const prices = pricesFromConfig(p);
    await this.#db
      .insertInto('model_prices')
      .values({ model_id: modelId, input: p.input, output: p.output, cached_input: p.cached_input ?? null, cache_write: p.cache_write ?? null, updated_at: Date.now() })
      .onConflict((oc) => oc.column('model_id').doUpdateSet({ input: p.input, output: p.output, cached_input: p.cached_input ?? null, cache_write: p.cache_write ?? null, updated_at: Date.now() }))
      .execute();
    this.#prices.set(modelId, prices);
    return prices;
  }

  /**
   * Reserves the request's maximum cost, or throws 402. Synchronous: the check and the
   * reservation cannot interleave with another request's.
   */
  reserve(requestId: string, account: AccountState, modelId: string, inputTokens: number, maxOutputTokens: number): Reservation {
    refuseIfSuspended(account);
    const prices = this.#prices.get(modelId)!;
    const amount = maxCostOf(inputTokens, maxOutputTokens, prices);
    const available = account.balance - account.reserved;
    // A free model's requests cost nothing, so they run at any balance. Any other request
    // needs money available, whatever it reserves: it is charged what the upstream
    // reports, so at $0 it can only add to a debt (embeddings of `[""]` reserved $0 and
    // ran without end). maxCostOf never reserves 0 on a priced model; this rule does not
    // rest on that.
    if (!isFree(prices) && (available <= 0n || available < amount)) {
      throw new GatewayError(
        'insufficient_funds',
        `Insufficient balance: this request may cost up to $${picoToUsd(amount)} (${inputTokens} input tokens, up to ${maxOutputTokens} output tokens) and $${picoToUsd(available > 0n ? available : 0n)} is available. Top up, or set a lower max_tokens.`,
      );
    }
    account.reserved += amount;
    this.#open.add(requestId);
    const r: Reservation = { requestId, account, amount, prices, createdAt: Date.now(), settled: false };
    if (amount > 0n) this.#journal.reserve(requestId, account.id, amount, r.createdAt);
    return r;
  }

  /**
   * Adds `extra` to an open reservation when the available balance covers it, in one
   * synchronous check-and-reserve as reserve() does; false, reserving nothing, when it
   * does not. For a second upstream attempt within one request (a json_schema retry), so
   * that both attempts stay within what was reserved. The store's row keeps the first
   * amount: a reservation row is only ever released, never charged (resolveOrphans).
   */
  extend(r: Reservation, extra: Pico): boolean {
    if (r.settled) return false;
    if (extra <= 0n) return true;
    if (r.account.balance - r.account.reserved < extra) return false;
    r.account.reserved += extra;
    r.amount += extra;
    return true;
  }

  /** Reservations held by requests in flight. */
  get openReservations(): number {
    return this.#open.size;
  }

  /** What `usage` costs under `r`, or null when the report is not believable (see settle). */
  #costOf(r: Reservation, usage: Usage): Pico | null {
    // Readers keep a count that is not whole as it came (protocol/usage.ts reportedCount).
    for (const n of [usage.prompt, usage.cached, usage.cacheWrite, usage.completion, usage.reasoning]) {
      if (!isWholeCount(n) || n > MAX_PLAUSIBLE_TOKENS) return null;
    }
    const cost = costOf(usage, r.prices);
    return cost > MAX_PICO || r.account.balance - cost < -MAX_PICO ? null : cost;
  }

  /** What the client is told the request cost: what settle will charge for this usage. */
  quote(r: Reservation, usage: Usage): Pico {
    return this.#costOf(r, usage) ?? r.amount;
  }

  /**
   * Replaces the reservation with the exact charge (or releases it when usage is null).
   * A charge above the reservation (an upstream that ignored max_tokens) is charged in
   * full: the balance may go below zero by that overrun only.
   *
   * A usage report that cannot be true (a count that is negative, not a whole number, not
   * a number at all, or above MAX_PLAUSIBLE_TOKENS, or a cost that would take the balance
   * out of its 64-bit range)
   * is an upstream fault. Charged as reported, one such report of 1e300 tokens made the
   * balance -1.6e293 USD and left the journal failing on every batch after it, for every
   * account. Such a request is charged its reservation, the most it was allowed to cost,
   * and its ledger entry says `usage_rejected`.
   */
  settle(r: Reservation, usage: Usage | null, exceptional: { usage_estimated?: true } = {}): { cost: Pico; rejected: boolean } {
    if (r.settled) return { cost: 0n, rejected: false };
    r.settled = true;
    this.#open.delete(r.requestId);
    const believed = usage ? this.#costOf(r, usage) : 0n;
    const rejected = believed === null;
    const cost = believed ?? r.amount;
    r.account.reserved -= r.amount;
    r.account.balance -= cost;
    if (rejected) {
      const u = usage!;
      this.#log.error({ request_id: r.requestId, prompt: u.prompt, cached: u.cached, cache_write: u.cacheWrite, completion: u.completion, reasoning: u.reasoning }, 'upstream reported usage that cannot be true; charged the reservation');
    } else if (cost > r.amount) this.#log.warn({ request_id: r.requestId, reserved: r.amount.toString(), cost: cost.toString() }, 'charge exceeded reservation');
    if (r.amount > 0n || cost > 0n) {
      // The charge's token counts, prices and reservation are in the request's log row
      // (same batch, same transaction); the ledger entry keeps only what is exceptional.
      const d = rejected ? { ...exceptional, usage_rejected: true } : cost > r.amount ? { ...exceptional, overrun_usd: picoToUsd(cost - r.amount) } : exceptional;
      const detail = Object.keys(d).length > 0 ? JSON.stringify(d) : null;
      this.#journal.settle(r.requestId, r.account.id, cost, detail, Date.now());
    }
    return { cost, rejected };
  }

  /** Credits, refunds and adjustments: written at once, in one transaction with the balance. */
  async post(accountId: string, kind: 'credit' | 'refund' | 'adjustment', amount: Pico, note: string | null, actor: string): Promise<{ entryId: number; balance: Pico }> {
    const state = await this.#accounts.get(accountId);
    if (!state) throw new GatewayError('not_found', `No account '${accountId}'.`);
    // A balance lives in a signed 64-bit column. Past it, SQLite's arithmetic turns the
    // sum into a float and the exact balance is gone, so refuse the entry instead. Checked
    // here and again by the UPDATE itself, which sees concurrent entries.
    const outOfRange = (): GatewayError =>
      new GatewayError('invalid_request', `This entry would take the balance to ${picoToUsd(state.balance + amount)} USD, beyond the ±${picoToUsd(MAX_PICO)} USD a balance can hold.`, { param: 'amount_usd' });
    const next = state.balance + amount;
    if (next > MAX_PICO || next < -MAX_PICO) throw outOfRange();
    const id = await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('ledger')
        .values({ account_id: accountId, kind, amount, request_id: null, note, actor, detail: null, created_at: Date.now() })
        .returning('id')
        .executeTakeFirstOrThrow();
      const updated = await trx
        .updateTable('accounts')
        .set((eb) => ({ balance: eb('balance', '+', amount), updated_at: Date.now() }))
        .where('id', '=', accountId)
        .where((eb) => eb.between(eb('balance', '+', amount), -MAX_PICO, MAX_PICO))
        .executeTakeFirst();
      if (updated.numUpdatedRows !== 1n) throw outOfRange(); // rolls the ledger entry back
      return Number(row.id);
    });
    state.balance += amount;
    return { entryId: id, balance: state.balance };
  }

  /**
   * Resolves reservations left by a process that died (SIGKILL, power loss): any open
   * reservation older than the request timeout belongs to no live request. The rule:
   * release it and charge nothing (the customer is never charged for a request whose
   * usage was never recorded), and write a zero-amount adjustment to the ledger saying so.
   */
  async resolveOrphans(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    // A request that settled a moment ago is no longer open, yet its reservation row is
    // deleted only by the journal's next commit: released here, its ledger said "not
    // charged" beside its charge. So take the requests open now, then commit what is
    // queued: a row of none of them is then a crashed process's (a request that settled
    // before the snapshot has had its row deleted; one admitted since is newer than the cutoff).
    const live = new Set(this.#open);
    if (!(await this.#journal.flush())) return 0; // the store is failing; the next sweep retries
    const rows = (await this.#db.selectFrom('reservations').selectAll().where('created_at', '<', BigInt(cutoff)).execute()).filter((r) => !live.has(r.request_id));
    if (rows.length === 0) return 0;
    await this.#db.transaction().execute(async (trx) => {
      for (const r of rows) {
        await trx.insertInto('ledger').values({
          account_id: r.account_id,
          kind: 'adjustment',
          amount: 0n,
          request_id: r.request_id,
          note: 'reservation released after an unclean shutdown; request not charged',
          actor: 'gateway',
          detail: JSON.stringify({ released_usd: picoToUsd(BigInt(r.amount)), reserved_at: new Date(Number(r.created_at)).toISOString() }),
          created_at: Date.now(),
        }).execute();
        await trx.deleteFrom('reservations').where('request_id', '=', r.request_id).execute();
      }
    });
    this.#log.warn({ count: rows.length }, 'released reservations left by an unclean shutdown');
    return rows.length;
  }
}
