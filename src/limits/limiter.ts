// Rate limiter backends. One small interface; this file holds the in-process backend.
// A shared (Redis) backend for several gateway nodes implements the same methods with
// a Lua script per method (ZSET or bucket hash per key, EXPIRE = window) and answers
// with promises; the interface allows that, and SyncRateLimiter narrows it for the
// in-process backend so admission stays synchronous (no I/O on the hot path).
//
// Algorithm: sliding-window log. Each key keeps the (time, cost) of what it consumed
// in the last `windowMs`; a request is allowed when the sum over that rolling window
// plus its cost is at most the limit. So in ANY interval of length windowMs at most
// `limit` units pass: no fixed-window edge where 2× gets through, and no GCRA burst
// allowance (GCRA admits a full burst and then one more every windowMs/limit, i.e. up
// to 2×limit−1 within one window). Retry-After is exact: the time until the oldest
// entries that must expire for the cost to fit have left the window.
//
// Memory is bounded: entries made within the same 1/1000 of the window are merged into
// one entry stamped with the latest of their times. A merged entry therefore expires up
// to windowMs/1000 (60 ms for a minute) later than its oldest part would have: the
// limiter may refuse a request up to that early, and never lets more than the limit
// through. Entries per key ≤ 1001, whatever the traffic.
//
// Why not rate-limiter-flexible: its in-memory limiter is a fixed window per key
// (RateLimiterMemory), which is exactly the 2×-at-the-edge behaviour to avoid, and it
// is async-only; this file is ~150 lines with no dependency.

export interface LimitDecision {
  /** Whether the cost fits (for consume: it was recorded). */
  allowed: boolean;
  /** Units used in the window, after this call. */
  used: number;
  /** limit − used, never below 0 (Infinity when there is no limit). */
  remaining: number;
  /** Milliseconds until the window is empty again (everything recorded has expired). */
  resetMs: number;
  /** When not allowed: milliseconds until the cost would fit; 0 when allowed. */
  retryAfterMs: number;
}

type Awaitable<T> = T | Promise<T>;

export interface RateLimiter {
  /** Records `cost` if it fits within `limit` over the rolling window; atomic. */
  consume(key: string, limit: number, windowMs: number, cost: number): Awaitable<LimitDecision>;
  /** The decision consume would take, recording nothing. */
  check(key: string, limit: number, windowMs: number, cost: number): Awaitable<LimitDecision>;
  /** Records `cost` unconditionally (usage known only after the fact: billed tokens). */
  record(key: string, windowMs: number, cost: number): Awaitable<void>;
  /** Takes back `cost` just consumed under `key` (a request refused after its slot was taken). */
  refund(key: string, cost: number): Awaitable<void>;
}

/** The in-process backend answers at once. */
export interface SyncRateLimiter extends RateLimiter {
  consume(key: string, limit: number, windowMs: number, cost: number): LimitDecision;
  check(key: string, limit: number, windowMs: number, cost: number): LimitDecision;
  record(key: string, windowMs: number, cost: number): void;
  refund(key: string, cost: number): void;
}

/** Counters per calendar period (the UTC day): a period starts at 0. */
export interface PeriodCounter {
  used(key: string, period: number): Awaitable<number>;
  add(key: string, period: number, n: number): Awaitable<void>;
}

export interface SyncPeriodCounter extends PeriodCounter {
  used(key: string, period: number): number;
  add(key: string, period: number, n: number): void;
}

/** Merged entries per window: the time resolution is windowMs / RESOLUTION. */
const RESOLUTION = 1000;

interface Log {
  times: number[];
  costs: number[];
  head: number;
  used: number;
  windowMs: number;
}

export class MemoryRateLimiter implements SyncRateLimiter {
  readonly #logs = new Map<string, Log>();
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  consume(key: string, limit: number, windowMs: number, cost: number): LimitDecision {
    const now = this.#now();
    const log = this.#log(key, windowMs, now);
    const d = decide(log, limit, cost, now);
    if (d.allowed && cost > 0) {
      append(log, cost, now);
      d.used = log.used;
      d.remaining = Math.max(0, limit - log.used);
      d.resetMs = windowMs;
    }
    this.#maybeSweep(now);
    return d;
  }

  check(key: string, limit: number, windowMs: number, cost: number): LimitDecision {
    const now = this.#now();
    const log = this.#logs.get(key);
    if (!log) return { allowed: cost <= limit, used: 0, remaining: limit, resetMs: 0, retryAfterMs: cost <= limit ? 0 : windowMs };
    prune(log, now);
    return decide(log, limit, cost, now);
  }

  record(key: string, windowMs: number, cost: number): void {
    if (!(cost > 0)) return;
    const now = this.#now();
    append(this.#log(key, windowMs, now), cost, now);
    this.#maybeSweep(now);
  }

  refund(key: string, cost: number): void {
    const log = this.#logs.get(key);
    const n = log ? log.times.length : 0;
    if (!log || n <= log.head) return;
    // From the newest entry, where consume() put it (entries close in time are merged).
    const back = Math.min(cost, log.costs[n - 1]!);
    log.costs[n - 1]! -= back;
    log.used -= back;
    if (log.costs[n - 1] === 0) {
      log.times.pop();
      log.costs.pop();
    }
  }

  /** Keys with something in their window (for tests and introspection). */
  get size(): number {
    return this.#logs.size;
  }

  #log(key: string, windowMs: number, now: number): Log {
    let log = this.#logs.get(key);
    if (!log) {
      log = { times: [], costs: [], head: 0, used: 0, windowMs };
      this.#logs.set(key, log);
    } else prune(log, now);
    return log;
  }

  /** Drops idle keys, at most once a minute, so keys seen once do not stay forever. */
  #maybeSweep(now: number): void {
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    for (const [key, log] of this.#logs) {
      prune(log, now);
      if (log.head >= log.times.length) this.#logs.delete(key);
    }
  }
}

function prune(log: Log, now: number): void {
  const { times, costs, windowMs } = log;
  let h = log.head;
  while (h < times.length && times[h]! + windowMs <= now) {
    log.used -= costs[h]!;
    h++;
  }
  if (h === times.length) {
    times.length = 0;
    costs.length = 0;
    log.head = 0;
    log.used = 0; // no float drift: an empty window uses nothing
    return;
  }
  if (h > 64 && h * 2 > times.length) {
    times.splice(0, h);
    costs.splice(0, h);
    h = 0;
  }
  log.head = h;
}

function append(log: Log, cost: number, now: number): void {
  const n = log.times.length;
  const res = Math.max(1, Math.floor(log.windowMs / RESOLUTION));
  if (n > log.head) {
    const last = log.times[n - 1]!;
    // A clock that stepped back is treated as standing still.
    if (now <= last || Math.floor(now / res) === Math.floor(last / res)) {
      log.times[n - 1] = Math.max(now, last);
      log.costs[n - 1]! += cost;
      log.used += cost;
      return;
    }
  }
  log.times.push(now);
  log.costs.push(cost);
  log.used += cost;
}

function decide(log: Log, limit: number, cost: number, now: number): LimitDecision {
  const { times, costs, windowMs } = log;
  const n = times.length;
  const resetMs = n > log.head ? Math.max(0, times[n - 1]! + windowMs - now) : 0;
  const remaining = Math.max(0, limit - log.used);
  if (log.used + cost <= limit) return { allowed: true, used: log.used, remaining, resetMs, retryAfterMs: 0 };
  if (cost > limit) return { allowed: false, used: log.used, remaining, resetMs, retryAfterMs: Math.max(resetMs, 1) };
  // Walk from the oldest entry until enough has expired for the cost to fit.
  let need = log.used + cost - limit;
  let i = log.head;
  while (i < n && need > 0) {
    need -= costs[i]!;
    i++;
  }
  const expiresAt = times[i - 1]! + windowMs;
  return { allowed: false, used: log.used, remaining, resetMs, retryAfterMs: Math.max(1, expiresAt - now) };
}

export class MemoryPeriodCounter implements SyncPeriodCounter {
  readonly #counts = new Map<string, { period: number; used: number }>();
  #latest = -Infinity;

  used(key: string, period: number): number {
    const c = this.#counts.get(key);
    return c && c.period === period ? c.used : 0;
  }

  add(key: string, period: number, n: number): void {
    if (!(n > 0)) return;
    // Once per new period, forget the keys whose count is for an earlier one.
    if (period > this.#latest) {
      this.#latest = period;
      for (const [k, c] of this.#counts) if (c.period < period) this.#counts.delete(k);
    }
    // Tokens count for the period in which they are billed (the request's end).
    const c = this.#counts.get(key);
    if (!c || c.period !== period) this.#counts.set(key, { period, used: n });
    else c.used += n;
  }
}
