import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { createSqliteJournalSink } from './sqlite-journal-sink.ts';
import { tuneSqlite } from './sqlite-tuning.ts';
import type { JournalBatch } from './write-behind.ts';

// Applies journal batches on a thread of its own, with its own connection to the same
// SQLite file: a commit (and now and then a WAL checkpoint with its fsync) never stalls
// the event loop that serves requests.

const sqlite = new BetterSqlite3((workerData as { file: string }).file);
tuneSqlite(sqlite);
const apply = createSqliteJournalSink(sqlite);
parentPort!.postMessage('ready');

parentPort!.on('message', (msg: { id: number; batch: JournalBatch } | 'close') => {
  if (msg === 'close') {
    sqlite.close();
    process.exit(0);
  }
  try {
    apply(msg.batch);
    parentPort!.postMessage({ id: msg.id });
  } catch (err) {
    parentPort!.postMessage({ id: msg.id, error: (err as Error).message });
  }
});
