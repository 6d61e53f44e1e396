import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator, type Migration } from 'kysely/migration';
import type { Database } from './schema.ts';
import { migrations } from './migrations.ts';
import { tuneSqlite } from './sqlite-tuning.ts';

export type Db = Kysely<Database>;

const rawHandles = new WeakMap<Db, BetterSqlite3.Database>();
const files = new WeakMap<Db, string>();

/** The SQLite file behind a store (undefined for :memory:). */
export function sqliteFile(db: Db): string | undefined {
  return files.get(db);
}

/** The SQLite connection behind a store, for the few writers that need prepared statements. */
export function sqliteHandle(db: Db): BetterSqlite3.Database | undefined {
  return rawHandles.get(db);
}

/** There is no store at the storage URL: a check of an existing store (`ledger verify`)
 *  run from the wrong directory must not find a new, empty one "ok". */
export class NoStoreError extends Error {}

/** Opens (creating and migrating) the store named by a `sqlite:<path>` URL. */
export async function openStore(url: string): Promise<Db> {
  const m = /^sqlite:(.+)$/.exec(url);
  if (!m) throw new Error(`unsupported storage URL (expected sqlite:<path>): ${url.replace(/\/\/[^@]*@/, '//***@')}`);
  const file = m[1]!;
  const sqlite = openSqlite(file);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  rawHandles.set(db, sqlite);
  if (file !== ':memory:') files.set(db, file);
  await migrate(db);
  return db;
}

/**
 * Opens an existing store only to read it (`tollgate ledger verify`, a backup's check):
 * no migration and no change of journal mode, so the file is left byte for byte as it
 * was, and a copy on a read-only mount can be checked (a backup made with VACUUM INTO is
 * in rollback mode, which SQLite reads there; a WAL store needs its -shm writable).
 */
export function openStoreReadOnly(url: string): Db {
  const m = /^sqlite:(.+)$/.exec(url);
  if (!m) throw new Error(`unsupported storage URL (expected sqlite:<path>): ${url.replace(/\/\/[^@]*@/, '//***@')}`);
  const file = m[1]!;
  if (file === ':memory:' || !existsSync(file)) throw new NoStoreError(`no database at ${file}`);
  let sqlite: BetterSqlite3.Database | undefined;
  try {
    sqlite = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    sqlite.pragma('busy_timeout = 5000');
    // Opening reads nothing: a file that is not a database says so at its first read.
    sqlite.prepare('SELECT count(*) FROM sqlite_master').get();
    sqlite.defaultSafeIntegers(true);
  } catch (err) {
    sqlite?.close();
    throw new Error(`cannot open the database ${file}: ${(err as Error).message}`);
  }
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  rawHandles.set(db, sqlite);
  files.set(db, file);
  return db;
}

/** The SQLite connection, tuned; an error names the file ("file is not a database" alone did not). */
function openSqlite(file: string): BetterSqlite3.Database {
  let sqlite: BetterSqlite3.Database | undefined;
  try {
    if (file !== ':memory:') {
      // The store holds the API keys' HMAC secret, the admin token's hash and every
      // ledger: what it creates, only its user may read (SQLite gives the -wal and -shm
      // files the database's mode). What exists already keeps the operator's modes.
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      if (!existsSync(file)) createPrivate(file);
    }
    sqlite = new BetterSqlite3(file);
    tuneSqlite(sqlite);
    return sqlite;
  } catch (err) {
    sqlite?.close();
    throw new Error(`cannot open the database ${file}: ${(err as Error).message}`);
  }
}

/** Creates an empty file only its owner may read; another process creating it first is fine. */
function createPrivate(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

export async function migrate(db: Db, list: Record<string, Migration> = migrations): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => list } });
  // Kysely runs SQLite migrations outside any transaction: a start killed between two
  // statements of a migration left it half-applied and unrecorded, and every later
  // start failed re-running it ("table ... already exists"). SQLite's DDL is
  // transactional, so the whole run is one IMMEDIATE transaction: all or nothing, and a
  // second process starting meanwhile waits for it instead of running the same steps.
  const sqlite = rawHandles.get(db);
  sqlite?.exec('BEGIN IMMEDIATE');
  const { error, results } = await migrator.migrateToLatest().catch((err: unknown) => ({ error: err, results: undefined }));
  if (sqlite?.inTransaction) sqlite.exec(error ? 'ROLLBACK' : 'COMMIT');
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message}`);
  }
}
