import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { runCountJob, type CountJob, type CountResult } from './token-count.ts';

// Long inputs are tokenized on threads of their own (token-count-worker.ts). The
// tokenizer takes 1–3 µs a token, and a request's input is counted whenever its size
// alone cannot show it within its context cap: on the event loop, a 150 KB coding prompt
// on a 128K plan held every other request for 45 ms, and a 4 MB one on a 1M-context model
// for 0.6 s. Here the event loop pays only for copying the text across.
//
// Threads start when first needed. Each holds its own copy of the tokenizer's tables,
// ~95 MB resident, and loads it in ~0.3 s (on the thread, not the event loop): the first
// thread stays, so that a long prompt after a quiet spell does not wait for a load, and
// any other ends after a minute without work.
//
// A free thread takes the waiting job of the owner (account) with the fewest jobs on
// threads, the oldest first among equals: one customer's flood of long prompts waits
// behind itself, not in front of everyone. A job whose client has left is dropped from
// the queue, or its thread stopped if it was running. A thread that dies takes no job
// with it: that job is measured in place, as it was before threads, and the next one
// starts a new thread.

/** One thread per core beside the event loop's, at most two: a count is CPU-bound, and
 *  each thread costs ~95 MB while it lives. */
export function defaultCountThreads(): number {
  return Math.max(1, Math.min(2, os.availableParallelism() - 1));
}

const IDLE_MS = 60_000;

interface Pending {
  job: CountJob;
  owner: string;
  resolve(result: CountResult): void;
  reject(err: unknown): void;
  /** Its client left: answered already (rejected), whatever its thread does. */
  cancelled: boolean;
  /** Stops listening to the job's signal. */
  unlisten(): void;
}

type Reply = { result: CountResult } | { error: string };

export interface TokenCountThreadsOptions {
  /** Threads at most (defaultCountThreads()). */
  size?: number;
  log?: Logger;
  /** The thread's module (tests give one that fails). */
  workerUrl?: URL;
  /** How long a thread without work lives, but the last one (IDLE_MS). */
  idleMs?: number;
}

export interface MeasureOptions {
  /** Whose job it is, for taking turns (an account id). */
  owner?: string;
  /** Aborted when the job's client leaves: the job is dropped and measure() rejects. */
  signal?: AbortSignal;
}

function cancelled(): Error {
  return Object.assign(new Error('the token count was cancelled: its client left'), { name: 'AbortError' });
}

export class TokenCountThreads {
  readonly #size: number;
  readonly #log: Logger | undefined;
  readonly #workerUrl: URL;
  readonly #idleMs: number;
  /** Timers that end threads left without work. */
  readonly #idle = new Map<Worker, NodeJS.Timeout>();
  /** Each thread and the job it is on (null: free). */
  readonly #threads = new Map<Worker, Pending | null>();
  #queue: Pending[] = [];
  /** When each owner's latest job started (a count of starts), for taking turns. */
  readonly #lastStart = new Map<string, number>();
  #starts = 0;
  #closed = false;
  /** Jobs measured in place because their thread failed or the pool was closed. */
  inPlace = 0;
  /** Jobs a thread measured. */
  done = 0;
  /** Jobs dropped because their client left. */
  dropped = 0;

  constructor(opts: TokenCountThreadsOptions = {}) {
    this.#size = opts.size ?? defaultCountThreads();
    this.#log = opts.log;
    this.#workerUrl = opts.workerUrl ?? new URL('./token-count-worker.ts', import.meta.url);
    this.#idleMs = opts.idleMs ?? IDLE_MS;
  }

  /** Threads alive now. */
  get threads(): number {
    return this.#threads.size;
  }

  /** Jobs on a thread or waiting for one. */
  get pending(): number {
    let n = this.#queue.length;
    for (const p of this.#threads.values()) if (p) n++;
    return n;
  }

  measure(job: CountJob, opts: MeasureOptions = {}): Promise<CountResult> {
    if (opts.signal?.aborted) return Promise.reject(cancelled());
    if (this.#closed) return this.#inPlace(job);
    return new Promise((resolve, reject) => {
      const pending: Pending = { job, owner: opts.owner ?? '', resolve, reject, cancelled: false, unlisten: () => {} };
      const signal = opts.signal;
      if (signal) {
        const onAbort = () => this.#cancel(pending);
        signal.addEventListener('abort', onAbort, { once: true });
        pending.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.#queue.push(pending);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#idle.values()) clearTimeout(timer);
    this.#idle.clear();
    const threads = [...this.#threads.keys()];
    const waiting = [...this.#threads.values(), ...this.#queue].filter((p): p is Pending => p !== null && !p.cancelled);
    this.#threads.clear();
    this.#queue = [];
    for (const p of waiting) this.#settleInPlace(p);
    await Promise.all(threads.map((w) => w.terminate()));
  }

  #cancel(p: Pending): void {
    if (p.cancelled) return;
    p.cancelled = true;
    this.dropped++;
    p.reject(cancelled());
    const queued = this.#queue.indexOf(p);
    if (queued !== -1) {
      this.#queue.splice(queued, 1);
      return;
    }
    // On a thread: the thread is stopped, since nothing else stops a count midway, and
    // forgotten at once, so that nothing it still says is taken for another job's answer.
    for (const [w, running] of this.#threads) {
      if (running !== p) continue;
      this.#threads.delete(w);
      void w.terminate();
      this.#pump();
      return;
    }
  }

  /**
   * The next job: of the owner with the fewest jobs on threads and, among those, the one
   * whose last job started longest ago; the oldest of that owner's.
   */
  #next(): Pending {
    const running = new Map<string, number>();
    for (const p of this.#threads.values()) if (p) running.set(p.owner, (running.get(p.owner) ?? 0) + 1);
    const rank = (p: Pending) => [running.get(p.owner) ?? 0, this.#lastStart.get(p.owner) ?? -1] as const;
    let best = 0;
    let [bestRunning, bestStart] = rank(this.#queue[0]!);
    for (let i = 1; i < this.#queue.length; i++) {
      const [r, s] = rank(this.#queue[i]!);
      if (r < bestRunning || (r === bestRunning && s < bestStart)) [best, bestRunning, bestStart] = [i, r, s];
    }
    const p = this.#queue.splice(best, 1)[0]!;
    this.#lastStart.set(p.owner, this.#starts++);
    // Only waiting owners need ordering: cleared when no one waits, once it has grown.
    if (this.#queue.length === 0 && this.#lastStart.size > 64) this.#lastStart.clear();
    return p;
  }

  #pump(): void {
    while (this.#queue.length) {
      let free: Worker | undefined;
      for (const [w, p] of this.#threads) {
        if (p === null) {
          free = w;
          break;
        }
      }
      if (!free) {
        if (this.#threads.size >= this.#size) return;
        try {
          free = this.#spawn();
        } catch (err) {
          // No thread can be had: the job is measured in place, as before threads.
          this.#log?.warn({ err }, 'could not start a token count thread; measuring in place');
          this.#settleInPlace(this.#next());
          continue;
        }
      }
      const pending = this.#next();
      clearTimeout(this.#idle.get(free));
      this.#idle.delete(free);
      this.#threads.set(free, pending);
      free.postMessage(pending.job);
    }
    for (const [w, p] of this.#threads) if (p === null && !this.#idle.has(w)) this.#idle.set(w, this.#endWhenIdle(w));
  }

  #endWhenIdle(w: Worker): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#idle.delete(w);
      // The last thread stays: a long prompt after a quiet spell would wait for its load.
      if (this.#threads.get(w) !== null || this.#threads.size <= 1) return;
      this.#threads.delete(w);
      void w.terminate();
    }, this.#idleMs);
    timer.unref();
    return timer;
  }

  #spawn(): Worker {
    // Messages posted before the thread has loaded wait in its port.
    const w = new Worker(this.#workerUrl);
    w.unref(); // an idle counter never keeps a process alive
    this.#threads.set(w, null);
    w.on('message', (reply: Reply) => {
      const pending = this.#threads.get(w);
      if (!pending) return; // closed, or a thread already given up on
      this.#threads.set(w, null);
      pending.unlisten();
      if (pending.cancelled) {
        // answered when its client left
      } else if ('result' in reply) {
        this.done++;
        pending.resolve(reply.result);
      } else {
        this.#log?.warn({ err: reply.error }, 'token count thread failed a job; measuring it in place');
        this.#settleInPlace(pending);
      }
      this.#pump();
    });
    const died = (err?: unknown) => {
      if (!this.#threads.has(w)) return;
      const pending = this.#threads.get(w);
      this.#threads.delete(w);
      clearTimeout(this.#idle.get(w));
      this.#idle.delete(w);
      if (pending && !pending.cancelled) {
        this.#log?.warn({ err }, 'a token count thread stopped; measuring its job in place, and starting another for the next');
        this.#settleInPlace(pending);
      }
      this.#pump();
    };
    w.on('error', died);
    w.on('exit', () => died());
    return w;
  }

  #settleInPlace(p: Pending): void {
    p.unlisten();
    this.#inPlace(p.job).then(p.resolve, p.reject);
  }

  #inPlace(job: CountJob): Promise<CountResult> {
    this.inPlace++;
    try {
      return Promise.resolve(runCountJob(job));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
