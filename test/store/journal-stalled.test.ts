import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startGatewayOnFakeOpenAI, startTestGateway } from '../helpers/gateway.ts';
import { watchStoreFile } from '../../src/store/store-file-watch.ts';
import { WriteBehind } from '../../src/store/write-behind.ts';
import { sqliteHandle } from '../../src/store/open.ts';
import pino from 'pino';
import { expectError, post } from '../helpers/http.ts';

// A store that takes no writes (a full disk, another process holding its lock): what the
// gateway serves meanwhile is charged in memory only, and a crash would lose all of it.
// Once a commit has failed, it takes no requests (503) and /healthz says so, until a
// commit succeeds; then it serves again, and what was served before is in the ledger.

async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('while the store takes no writes, requests get 503 store_unavailable and /healthz 503; afterwards all is written', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const chat = () => post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
  const lock = new BetterSqlite3(join(tg.dir, 'tollgate.db'));
  t.after(() => {
    if (lock.inTransaction) lock.exec('ROLLBACK');
    lock.close();
  });
  lock.exec('BEGIN IMMEDIATE');

  // Served: its charge waits in the journal, whose commit waits out the busy timeout and fails.
  const before = await chat();
  assert.equal(before.status, 200, before.text);
  await until('a failed commit', () => tg.gw.rt.journal.stalled);
  const refused = expectError(await chat(), { status: 503, type: 'api_error', code: 'store_unavailable', param: null }, [key]);
  assert.match(refused.message, /nothing was charged/);
  const health = await fetch(`${tg.url}/healthz`);
  assert.equal(health.status, 503);
  assert.deepEqual(await health.json(), { status: 'store_unavailable' });

  lock.exec('ROLLBACK');
  await until('a commit that succeeds', () => !tg.gw.rt.journal.stalled);
  assert.equal((await chat()).status, 200);
  assert.equal((await fetch(`${tg.url}/healthz`)).status, 200);
  await tg.gw.rt.journal.flush();
  const charges = (await tg.admin('GET', `/accounts/${accountId}/ledger`)).body.data.filter((e: any) => e.kind === 'charge');
  assert.equal(charges.length, 2, 'the request served before the stall and the one after it; not the refused one');
  assert.ok(charges.some((c: any) => c.request_id === before.headers.get('x-request-id')));
  assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
});

test('a store file deleted under the running gateway is noticed: requests and admin writes get 503, and the shutdown fails', async (t) => {
  const up = await startFakeOpenAI();
  t.after(() => up.close());
  const tg = await startTestGateway({ upstream: up.baseUrl });
  t.after(() => rmSync(tg.dir, { recursive: true, force: true }));
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const file = join(tg.dir, 'tollgate.db');
  // The gateway checks every 5 s; a second watch checks every 50 ms, so the test need not wait.
  const watch = watchStoreFile(file, tg.gw.rt.journal, tg.gw.rt.log, 50);
  t.after(() => clearInterval(watch));
  for (const f of readdirSync(tg.dir)) if (f.startsWith('tollgate.db') && !f.endsWith('.lock')) rmSync(join(tg.dir, f));
  await until('the deletion to be noticed', () => tg.gw.rt.journal.lost !== null);
  expectError(await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key }), { status: 503, type: 'api_error', code: 'store_unavailable', param: null }, [key]);
  const credit = await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '5' });
  assert.equal(credit.status, 503, JSON.stringify(credit.body));
  assert.match(credit.body.error.message, /deleted while the gateway ran/);
  // Nor through an absolute-form target, which the router reads as the same path.
  const { port } = new URL(tg.url);
  const absolute = await new Promise<string>((resolve, reject) => {
    const body = JSON.stringify({ amount_usd: '5' });
    const socket = connect(Number(port), '127.0.0.1', () =>
      socket.write(`POST http://x/admin/v1/accounts/${accountId}/credits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tg.adminToken}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`),
    );
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (got += c));
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(5_000, () => {
      socket.destroy();
      resolve(got);
    });
  });
  assert.match(absolute, /^HTTP\/1\.1 503 /);
  assert.equal((await fetch(`${tg.url}/healthz`)).status, 503);
  await assert.rejects(tg.close(), /the store file .* was deleted while the gateway ran/);
});

test('a store file replaced by another under the same name is noticed too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-watch-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tollgate.db');
  writeFileSync(file, 'one');
  const journal = new WriteBehind(() => {}, pino({ level: 'silent' }), { flushMs: 10 });
  const watch = watchStoreFile(file, journal, pino({ level: 'silent' }), 20);
  t.after(() => clearInterval(watch));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(journal.lost, null, 'the same file: nothing to say');
  writeFileSync(join(dir, 'copy.db'), 'two');
  renameSync(join(dir, 'copy.db'), file);
  await until('the replacement to be noticed', () => journal.lost !== null);
  assert.match(journal.lost!, /was replaced while the gateway ran/);
  assert.equal(journal.stalled, true);
});

test('an admin write that meets a full store is a 503 store_unavailable that changed nothing, not a 500', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { accountId } = await tg.customer({ creditUsd: '1' });
  // The event loop's connection may not grow the file by another page: a full disk, to it.
  const sqlite = sqliteHandle(tg.gw.rt.db)!;
  sqlite.pragma(`max_page_count = ${sqlite.pragma('page_count', { simple: true })}`);
  const notes = 'a long note to need a new page '.repeat(15);
  let r: { status: number; body: any } = { status: 0, body: null };
  for (let i = 0; i < 200 && r.status !== 503; i++) r = await tg.admin('POST', '/accounts', { name: `${notes.slice(0, 190)} ${i}` });
  assert.equal(r.status, 503, JSON.stringify(r.body));
  assert.equal(r.body.error.code, 'store_unavailable');
  assert.match(r.body.error.message, /nothing was changed/);
  sqlite.pragma('max_page_count = 1073741823');
  assert.equal((await tg.admin('GET', `/accounts/${accountId}`)).status, 200);
});
