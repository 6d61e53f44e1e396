import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.ts';
import { tuneSqlite } from './sqlite-tuning.ts';
import { verifyLedger } from './ledger.ts';
import { usageTotals } from './usage.ts';
import { pruneRequestLog } from './prune.ts';
import type { MaintenanceCall } from './maintenance.ts';

// Whole-table reads (ledger verify, usage without a date range) and request-log pruning,
// on a thread of their own with their own connection: WAL lets this reader run beside the
// journal's writer, and a scan of millions of rows no longer holds the event loop that
// serves every customer. Calls run in the order sent; a prune pauses between batches, so
// calls that arrive meanwhile are answered between them.

const sqlite = new BetterSqlite3((workerData as { file: string }).file);
tuneSqlite(sqlite);
const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
let closing = false;

parentPort!.on('message', (msg: { id: number; call: MaintenanceCall } | 'close') => {
  if (msg === 'close') {
    closing = true;
    sqlite.close();
    process.exit(0);
  }
  run(msg.call).then(
    (result) => parentPort!.postMessage({ id: msg.id, result }),
    // The code (SQLITE_BUSY, ...) crosses too: the admin API answers a locked store 503.
    (err: unknown) => parentPort!.postMessage({ id: msg.id, error: (err as Error).message, code: (err as { code?: unknown }).code }),
  );
});
parentPort!.postMessage('ready');

function run(call: MaintenanceCall): Promise<unknown> {
  switch (call.op) {
    case 'verify':
      return verifyLedger(db);
    case 'usage':
      return usageTotals(db, call.accountId, call.query);
    case 'prune':
      return pruneRequestLog(sqlite, call.cutoffMs, { stop: () => closing });
  }
}
