import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { migrate, openStore } from '../../src/store/open.ts';
import { migrations } from '../../src/store/migrations.ts';

// A start that dies in the middle of a migration (kill -9, OOM, power) must leave the
// store as it was, so that the next start runs the migration again and succeeds.

const openModule = fileURLToPath(new URL('../../src/store/open.ts', import.meta.url));
const migrationsModule = fileURLToPath(new URL('../../src/store/migrations.ts', import.meta.url));

function tables(file: string): string[] {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare(`select name from sqlite_master where type = 'table' and name not like 'kysely_%' order by name`).all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

test('a start killed half-way through a migration leaves no half-applied schema, and the next start migrates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-migrate-'));
  try {
    const file = join(dir, 'tollgate.db');
    // A child process applies a two-statement migration and is SIGKILLed between them.
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { openStore, migrate } from ${JSON.stringify(openModule)};
      import { migrations } from ${JSON.stringify(migrationsModule)};
      const db = await openStore('sqlite:${file}');
      await migrate(db, { ...migrations, '9999_two_steps': { async up(db) {
        await db.schema.createTable('first_step').addColumn('id', 'text').execute();
        process.kill(process.pid, 'SIGKILL');
        await db.schema.createTable('second_step').addColumn('id', 'text').execute();
      } } });
    `], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.signal, 'SIGKILL', child.stderr);
    assert.equal(tables(file).includes('first_step'), false, 'the killed migration left its first table behind');

    const db = await openStore(`sqlite:${file}`);
    try {
      await migrate(db, { ...migrations, '9999_two_steps': { async up(db: Kysely<any>) {
        await db.schema.createTable('first_step').addColumn('id', 'text').execute();
        await db.schema.createTable('second_step').addColumn('id', 'text').execute();
      } } });
      const done = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
      assert.deepEqual(done.rows.map((r) => r.name).at(-1), '9999_two_steps');
    } finally {
      await db.destroy();
    }
    assert.ok(tables(file).includes('second_step'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a migration that fails is rolled back whole and names itself', async () => {
  const db = await openStore('sqlite::memory:');
  try {
    await assert.rejects(
      migrate(db, { ...migrations, '9999_fails': { async up(db: Kysely<any>) {
        await db.schema.createTable('made_before_failing').addColumn('id', 'text').execute();
        await sql`select * from no_such_table`.execute(db);
      } } }),
      /database migration 9999_fails failed/,
    );
    const left = await sql<{ name: string }>`select name from sqlite_master where name = 'made_before_failing'`.execute(db);
    assert.equal(left.rows.length, 0);
    // The store still works after the failed run.
    const n = await db.selectFrom('accounts').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    assert.equal(Number(n.n), 0);
  } finally {
    await db.destroy();
  }
});
