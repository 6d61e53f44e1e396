import type BetterSqlite3 from 'better-sqlite3';

/** The pragmas every connection to the store uses. */
export function tuneSqlite(sqlite: BetterSqlite3.Database): void {
  // WAL lets the journal writer and admin reads run side by side; NORMAL sync is
  // durable across process crashes (only an OS crash can lose the last commits).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  sqlite.defaultSafeIntegers(true);
}
