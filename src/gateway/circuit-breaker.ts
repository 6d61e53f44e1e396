// A per-upstream circuit breaker. After `threshold` consecutive failures the upstream is
// skipped for `cooldownMs`; then one request at a time probes it (half-open): a success
// closes the breaker, a failure opens it for another cooldown.

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly threshold: number;
  readonly cooldownMs: number;
  #failures = 0;
  #openedAt = 0;
  #open = false;
  #probing = false;

  constructor(threshold: number, cooldownMs: number) {
    this.threshold = threshold;
    this.cooldownMs = cooldownMs;
  }

  state(now = Date.now()): BreakerState {
    if (!this.#open) return 'closed';
    return now - this.#openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** Whether a request may go to this upstream now; claims the probe when half-open. */
  tryAcquire(now = Date.now()): boolean {
    const s = this.state(now);
    if (s === 'closed') return true;
    if (s === 'open' || this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** Milliseconds until the breaker lets a probe through (0 when it already would). */
  retryInMs(now = Date.now()): number {
    return this.#open ? Math.max(0, this.cooldownMs - (now - this.#openedAt)) : 0;
  }

  success(): void {
    this.#failures = 0;
    this.#open = false;
    this.#probing = false;
  }

  /**
   * The upstream answered, but how the answer ends is not known yet (a stream): a probe
   * ends and the breaker closes at once, as the next requests need it closed for as long
   * as the stream runs, but the failures so far still count until success() or failure()
   * at the answer's end.
   */
  answered(): void {
    this.#open = false;
    this.#probing = false;
  }
  failure(now = Date.now()): void {
    this.#failures++;
    if (this.#probing || this.#failures >= this.threshold) {
      this.#open = true;
      this.#openedAt = now;
    }
    this.#probing = false;
  }

  /** Gives back a probe that never reached the upstream (e.g. the client went away). */
  release(): void {
    this.#probing = false;
  }
}
