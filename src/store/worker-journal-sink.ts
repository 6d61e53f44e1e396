import { Worker } from 'node:worker_threads';
import type { JournalBatch, JournalSink } from './write-behind.ts';

export interface WorkerJournalSink {
  sink: JournalSink;
  close(): Promise<void>;
}

/**
 * A journal sink that hands each batch to a worker thread (journal-worker.ts) and
 * resolves when the worker has committed it. Batches are applied in the order sent.
 */
export async function startWorkerJournalSink(file: string): Promise<WorkerJournalSink> {
  const worker = new Worker(new URL('./journal-worker.ts', import.meta.url), { workerData: { file } });
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let next = 0;
  let dead: Error | null = null;
  worker.on('message', (m: { id: number; error?: string } | 'ready') => {
    if (m === 'ready') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(m.error));
    else p.resolve();
  });
  const fail = (err: Error) => {
    dead = err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => {
    if (code !== 0) fail(new Error(`journal worker exited with code ${code}`));
  });
  // Ready once the worker has opened the file: one it cannot open fails the start.
  await new Promise<void>((resolve, reject) => {
    const onReady = (m: unknown) => {
      if (m !== 'ready') return;
      worker.off('message', onReady);
      worker.off('error', reject);
      resolve();
    };
    worker.on('message', onReady);
    worker.once('error', reject);
  });
  return {
    sink(batch: JournalBatch) {
      if (dead) return Promise.reject(dead);
      const id = next++;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, batch });
      });
    },
    async close() {
      if (dead) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.postMessage('close');
      await exited;
    },
  };
}
