import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

// One gateway per store. Balances, reservations and rate windows live in the serving
// process's memory; a second process on the same file admitted against its own copy of
// every balance (a $1 account served $1.75 between two of them), and its start-up sweep
// released the first one's live reservations as a crashed process's. So a serving
// gateway holds an exclusive SQLite lock on a small file beside the store for as long as
// it runs. The kernel drops the lock when the process ends, however it ends, so a crash
// never leaves it behind. (`tollgate ledger verify` and backups do not take it.)

export class StoreInUseError extends Error {}

export interface InstanceLock {
  release(): void;
}

/** Takes the store's instance lock, or throws StoreInUseError at once if another process holds it. */
export function lockStore(storageUrl: string): InstanceLock {
  const file = /^sqlite:(.+)$/.exec(storageUrl)?.[1];
  if (file === undefined || file === ':memory:') return { release() {} };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // Beside the file the path leads to: through a symlink, or another spelling of the path,
  // a second gateway would otherwise lock a file of its own.
  const real = existsSync(file) ? realpathSync(file) : join(realpathSync(dirname(file)), basename(file));
  const lockFile = `${real}.lock`;
  const lock = new BetterSqlite3(lockFile, { timeout: 0 });
  try {
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new StoreInUseError(`another gateway is serving the store ${file} (it holds ${lockFile}); run one gateway per store`);
    }
    throw new Error(`cannot lock the store ${file} (${lockFile}): ${(err as Error).message}`);
  }
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      lock.close();
    },
  };
}
