import type BetterSqlite3 from 'better-sqlite3';
import { REQUEST_COLUMNS, type JournalBatch } from './write-behind.ts';

// Writes a journal batch to SQLite with statements prepared once, in one transaction.
// Why not Kysely here: this runs on the event loop every flush, and compiling and
// preparing multi-row SQL for each batch cost more than the writes themselves
// (bench/--profile showed 8–30 ms stalls); a prepared row statement costs microseconds.

/** Rows per statement, largest first; a batch is cut into as few calls as these allow. */
const CHUNKS = [32, 8, 1] as const;

/** Runs `sqlFor(k)` (k rows of `width` parameters) over rows, in as few calls as CHUNKS allow. */
function chunked(sqlite: BetterSqlite3.Database, sqlFor: (k: number) => string, width: number): (rows: readonly (readonly unknown[])[]) => void {
  const statements = CHUNKS.map((k) => ({
    k,
    statement: sqlite.prepare(sqlFor(k)),
    // Reused for every call: better-sqlite3 binds an array's values by position.
    params: new Array<unknown>(k * width),
  }));
  return (rows) => {
    let i = 0;
    for (const { k, statement, params } of statements) {
      for (; rows.length - i >= k; i += k) {
        for (let r = 0; r < k; r++) {
          const values = rows[i + r]!;
          for (let c = 0; c < width; c++) params[r * width + c] = values[c];
        }
        statement.run(params);
      }
    }
  };
}

/**
 * Inserts rows of `width` values with prepared statements of 32, 8 and 1 rows each.
 * One call into better-sqlite3 per row was a third of the journal's CPU: 32 rows per
 * statement took the loop benchmark (a batch of 90 request rows and their charges)
 * from 7.0–9.3 to 4.9–6.0 µs of user CPU per request. Rows keep their order, so ledger ids
 * follow the batch as before.
 */
function chunkedInsert(sqlite: BetterSqlite3.Database, head: string, row: string, width: number): (rows: readonly (readonly unknown[])[]) => void {
  return chunked(sqlite, (k) => `${head} VALUES ${new Array(k).fill(row).join(', ')}`, width);
}

export function createSqliteJournalSink(sqlite: BetterSqlite3.Database): (batch: JournalBatch) => void {
  // A request that outlives a flush (every real LLM call does) has its reservation
  // written and later deleted: chunked too, as the request rows are.
  const insertReservations = chunkedInsert(sqlite, 'INSERT OR IGNORE INTO reservations (request_id, account_id, amount, created_at)', '(?, ?, ?, ?)', 4);
  const deleteReservations = chunked(sqlite, (k) => `DELETE FROM reservations WHERE request_id IN (${new Array(k).fill('?').join(', ')})`, 1);
  const insertCharges = chunkedInsert(
    sqlite,
    'INSERT INTO ledger (account_id, kind, amount, request_id, note, actor, detail, created_at)',
    "(?, 'charge', ?, ?, NULL, 'gateway', ?, ?)",
    5,
  );
  const debit = sqlite.prepare('UPDATE accounts SET balance = balance - ? WHERE id = ?');
  const insertRequests = chunkedInsert(sqlite, `INSERT OR IGNORE INTO requests (${REQUEST_COLUMNS.join(', ')})`, `(${REQUEST_COLUMNS.map(() => '?').join(', ')})`, REQUEST_COLUMNS.length);

  return sqlite.transaction((batch: JournalBatch) => {
    insertReservations(batch.reserves);
    const debits = new Map<string, bigint>();
    const charges: unknown[][] = [];
    const released: [string][] = [];
    for (const [requestId, accountId, cost, detail, createdAt, persisted] of batch.settles) {
      if (persisted === 1) released.push([requestId]);
      if (cost === 0n) continue;
      charges.push([accountId, -cost, requestId, detail, createdAt]);
      debits.set(accountId, (debits.get(accountId) ?? 0n) + cost);
    }
    deleteReservations(released);
    insertCharges(charges);
    for (const [accountId, cost] of debits) debit.run(cost, accountId);
    insertRequests(batch.records);
  });
}
