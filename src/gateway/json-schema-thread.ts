import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import type { CheckJob, CheckResult } from './json-schema-worker.ts';
import type { SchemaVerdict } from './json-schema-check.ts';

// Hands json_schema checks to one worker thread (json-schema-worker.ts), one job at a
// time, so that each job's time is its own and an overrun is known to be that job's.
// The event loop pays only for copying the schema and answer text across.
//
// A job that runs past `runMs` is abandoned: the thread is terminated (the only way to
// stop a compile or a validation midway) and started again, the answer is relayed
// unchecked, and the schema is remembered so that the next request with it does not
// spend another `runMs` finding out. A job that kills the thread (out of its heap: a
// recursive anyOf piles up errors faster on a fast machine than the clock runs out) is
// remembered the same way, so that a schema cannot bring the thread down request after
// request. A job that waits past `waitMs` behind others is
// relayed unchecked too: one client's costly schemas may take the check away from
// others for a moment, never their answers or their latency beyond `waitMs` (which
// counts a new thread's loading too).

export interface SchemaCheckLimits {
  runMs: number;
  waitMs: number;
}

// Compiling and first running schemas within OpenAI's limits (5,000 properties, 10
// levels, 1,000 enum values) took 0.4–1.1 s here; 2 s leaves room for a loaded machine.
export const SCHEMA_CHECK_LIMITS: SchemaCheckLimits = { runMs: 2_000, waitMs: 1_000 };

// The worker's heap: its validator cache is bounded well below this (json-schema-worker.ts);
// a job that needs more (a vast answer) kills the worker, and its answer goes unchecked.
const WORKER_HEAP_MB = 256;
const TOO_COSTLY_MAX = 10_000;

interface Pending {
  job: CheckJob;
  resolve(verdict: SchemaVerdict): void;
  waitTimer: NodeJS.Timeout;
  schemaKey: string;
}

const unchecked = (reason: string): SchemaVerdict => ({ kind: 'unchecked', reason });

export class SchemaCheckThread {
  readonly #limits: SchemaCheckLimits;
  #worker: Worker | null = null;
  #ready = false;
  #queue: Pending[] = [];
  #running: Pending | null = null;
  #runTimer: NodeJS.Timeout | undefined;
  #nextId = 0;
  /** Digests of schemas whose check ran out of time or killed the thread, and which of the two. */
  #tooCostly = new Map<string, string>();
  #closed = false;

  constructor(limits: SchemaCheckLimits = SCHEMA_CHECK_LIMITS) {
    this.#limits = limits;
  }

  /** Starts the thread ahead of a check: loading ajv takes it ~0.3 s. */
  warm(): void {
    if (!this.#closed) this.#worker ??= this.#spawn();
  }

  check(schema: string, answer: string): Promise<SchemaVerdict> {
    if (this.#closed) return Promise.resolve(unchecked('shutting down'));
    const schemaKey = createHash('sha256').update(schema).digest('base64');
    const costly = this.#tooCostly.get(schemaKey);
    if (costly !== undefined) return Promise.resolve(unchecked(costly));
    return new Promise((resolve) => {
      const pending: Pending = {
        job: { id: this.#nextId++, schema, answer },
        resolve,
        schemaKey,
        waitTimer: setTimeout(() => {
          this.#queue = this.#queue.filter((p) => p !== pending);
          resolve(unchecked('busy'));
        }, this.#limits.waitMs),
      };
      this.#queue.push(pending);
      this.#pump();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#queue) {
      clearTimeout(p.waitTimer);
      p.resolve(unchecked('shutting down'));
    }
    this.#queue = [];
    if (this.#running) this.#finish(unchecked('shutting down'));
    await this.#stop();
  }

  #pump(): void {
    if (this.#running || !this.#queue.length) return;
    this.warm();
    if (!this.#ready) return; // the 'ready' message pumps again
    const pending = this.#queue.shift()!;
    clearTimeout(pending.waitTimer);
    this.#running = pending;
    this.#runTimer = setTimeout(() => this.#overrun(), this.#limits.runMs);
    this.#worker!.postMessage(pending.job);
  }

  #finish(verdict: SchemaVerdict): void {
    const pending = this.#running!;
    clearTimeout(this.#runTimer);
    this.#running = null;
    pending.resolve(verdict);
    this.#pump();
  }

  #remember(reason: string): void {
    if (this.#tooCostly.size >= TOO_COSTLY_MAX) this.#tooCostly.clear();
    this.#tooCostly.set(this.#running!.schemaKey, reason);
  }

  #overrun(): void {
    this.#remember('timed out');
    void this.#stop();
    this.warm(); // a new thread loads at once, so the next check does not wait for it
    this.#finish(unchecked('timed out'));
  }

  #stop(): Promise<unknown> {
    const w = this.#worker;
    this.#worker = null;
    this.#ready = false;
    return w ? w.terminate() : Promise.resolve();
  }

  #spawn(): Worker {
    const w = new Worker(new URL('./json-schema-worker.ts', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    w.unref(); // an idle checker never keeps a process alive
    w.on('message', (m: CheckResult | 'ready') => {
      if (w !== this.#worker) return; // a terminated thread's last words
      if (m === 'ready') {
        this.#ready = true;
        this.#pump();
      } else if (this.#running?.job.id === m.id) {
        this.#finish(m.verdict);
      }
    });
    // Out of heap, or crashed: the job it was on goes unchecked; the next starts a new thread.
    const died = () => {
      if (w !== this.#worker) return;
      this.#worker = null;
      this.#ready = false;
      if (!this.#running) return;
      this.#remember('checker failed');
      this.#finish(unchecked('checker failed'));
    };
    w.on('error', died);
    w.on('exit', died);
    return w;
  }
}
