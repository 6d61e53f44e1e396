import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/store/open.ts';
import { setSetting } from '../../src/store/settings.ts';

// The store holds the HMAC secret that API keys are hashed with, the admin token's hash,
// every account and its ledger: under the usual umask (022) it was created readable by
// every user of the machine (0644, in a 0755 directory).

test('a new store and the directories made for it are readable by their owner only', async (t) => {
  const previous = process.umask(0o022);
  const root = mkdtempSync(join(tmpdir(), 'tollgate-modes-'));
  chmodSync(root, 0o755);
  t.after(() => {
    process.umask(previous);
    rmSync(root, { recursive: true, force: true });
  });
  const file = join(root, 'state', 'data', 'tollgate.db');
  const db = await openStore(`sqlite:${file}`);
  await setSetting(db, 'probe', 'x');
  const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
  assert.equal(mode(file), '600');
  // WAL mode: SQLite gives its -wal and -shm files the database file's mode.
  assert.equal(mode(`${file}-wal`), '600');
  assert.equal(mode(`${file}-shm`), '600');
  assert.equal(mode(join(root, 'state')), '700');
  assert.equal(mode(join(root, 'state', 'data')), '700');
  // A directory that was there already is the operator's: left as it was.
  assert.equal(mode(root), '755');
  await db.destroy();
});

test('an existing store keeps the mode its operator gave it', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-modes-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const file = join(root, 'tollgate.db');
  await (await openStore(`sqlite:${file}`)).destroy();
  chmodSync(file, 0o640);
  const db = await openStore(`sqlite:${file}`);
  assert.equal((statSync(file).mode & 0o777).toString(8), '640');
  await db.destroy();
});
