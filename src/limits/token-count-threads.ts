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
// Threads start when first needed and end after a minute without work: each holds its
// own copy of the tokenizer's tables, ~95 MB resident, and loads it again in ~0.3 s (on
// the thread, not the event loop). Jobs wait in order for a free thread. A thread that dies takes no job with it: that job
// is measured in place, as it was before threads, and the next one starts a new thread.

/** One thread per core beside the event loop's, at most two: a count is CPU-bound, and
 *  each thread costs ~95 MB while it lives. */
export function defaultCountThreads(): number {
  return Math.max(1, Math.min(2, os.availableParallelism() - 1));
}

const IDLE_MS = 60_000;

interface Pending {
  job: CountJob;
  resolve(result: CountResult): void;
  reject(err: unknown): void;
}

type Reply = { result: CountResult } | { error: string };

export interface TokenCountThreadsOptions {
  /** Threads at most (defaultCountThreads()). */
  size?: number;
  log?: Logger;
  /** The thread's module (tests give one that fails). */
  workerUrl?: URL;
  /** How long a thread without work lives (IDLE_MS). */
  idleMs?: number;
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
  #closed = false;
  /** Jobs measured in place because their thread failed or the pool was closed. */
  inPlace = 0;
  /** Jobs a thread measured. */
  done = 0;

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

  measure(job: CountJob): Promise<CountResult> {
    if (this.#closed) return this.#inPlace(job);
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#idle.values()) clearTimeout(timer);
    this.#idle.clear();
    const threads = [...this.#threads.keys()];
    const waiting = [...this.#threads.values(), ...this.#queue].filter((p): p is Pending => p !== null);
    this.#threads.clear();
    this.#queue = [];
    for (const p of waiting) this.#settleInPlace(p);
    await Promise.all(threads.map((w) => w.terminate()));
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
        free = this.#spawn();
      }
      const pending = this.#queue.shift()!;
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
      if (this.#threads.get(w) !== null) return;
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
      if ('result' in reply) {
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
      this.#log?.warn({ err }, 'a token count thread stopped; starting another for the next job');
      if (pending) this.#settleInPlace(pending);
      this.#pump();
    };
    w.on('error', died);
    w.on('exit', () => died());
    return w;
  }

  #settleInPlace(p: Pending): void {
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
