import type BetterSqlite3 from 'better-sqlite3';
import { REQUEST_COLUMNS, type JournalBatch } from './write-behind.ts';

// Writes a journal batch to SQLite with statements prepared once, in one transaction.
// Why not Kysely here: this runs on the event loop every flush, and compiling and
// preparing multi-row SQL for each batch cost more than the writes themselves
// (bench/--profile showed 8–30 ms stalls); a prepared row statement costs microseconds.

export function createSqliteJournalSink(sqlite: BetterSqlite3.Database): (batch: JournalBatch) => void {
  const insertReservation = sqlite.prepare('INSERT OR IGNORE INTO reservations (request_id, account_id, amount, created_at) VALUES (?, ?, ?, ?)');
  const deleteReservation = sqlite.prepare('DELETE FROM reservations WHERE request_id = ?');
  const insertCharge = sqlite.prepare("INSERT INTO ledger (account_id, kind, amount, request_id, note, actor, detail, created_at) VALUES (?, 'charge', ?, ?, NULL, 'gateway', ?, ?)");
  const debit = sqlite.prepare('UPDATE accounts SET balance = balance - ? WHERE id = ?');
  const insertRequest = sqlite.prepare(`INSERT OR IGNORE INTO requests (${REQUEST_COLUMNS.join(', ')}) VALUES (${REQUEST_COLUMNS.map(() => '?').join(', ')})`);

  return sqlite.transaction((batch: JournalBatch) => {
    for (const r of batch.reserves) insertReservation.run(r);
    const debits = new Map<string, bigint>();
    for (const [requestId, accountId, cost, detail, createdAt, persisted] of batch.settles) {
      if (persisted === 1) deleteReservation.run(requestId);
      if (cost === 0n) continue;
      insertCharge.run(accountId, -cost, requestId, detail, createdAt);
      debits.set(accountId, (debits.get(accountId) ?? 0n) + cost);
    }
    for (const [accountId, cost] of debits) debit.run(cost, accountId);
    for (const row of batch.records) insertRequest.run(row);
  });
}
