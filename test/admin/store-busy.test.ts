import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startGatewayOnFakeOpenAI } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// Another process holding the store's write lock (a sqlite3 shell left in a transaction)
// made an admin write wait out the 5 s busy timeout on the event loop, so every request
// stalled with it, and then answer 500. Now the event loop waits at most a moment and the
// admin call is a 503 store_busy that changed nothing; the data plane keeps answering.

test('an admin write behind another process\'s lock is a quick 503 store_busy, and the data plane is not held', async (t) => {
  const { tg } = await startGatewayOnFakeOpenAI(t);
  const { accountId, key } = await tg.customer({ creditUsd: '1' });
  const lock = new BetterSqlite3(join(tg.dir, 'tollgate.db'));
  t.after(() => {
    if (lock.inTransaction) lock.exec('ROLLBACK');
    lock.close();
  });
  lock.exec('BEGIN IMMEDIATE');

  const t0 = performance.now();
  const credit = tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '5', note: 'top-up' });
  // Meanwhile a customer's request is served (it needs no write of its own).
  const chat = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
  const chatMs = performance.now() - t0;
  const refused = await credit;
  assert.equal(chat.status, 200, chat.text);
  assert.ok(chatMs < 2000, `the chat answered in ${Math.round(chatMs)} ms while the store was locked`);
  assert.equal(refused.status, 503, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'store_busy');
  assert.equal(refused.headers.get('retry-after'), '1');
  assert.ok(performance.now() - t0 < 3000, 'refused without waiting out a 5 s timeout');

  lock.exec('ROLLBACK');
  const ok = await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '5', note: 'top-up' });
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  await tg.gw.rt.journal.flush();
  const account = await tg.admin('GET', `/accounts/${accountId}`);
  // $1 + $5 once (the refused credit changed nothing), less what the chat cost.
  const ledger = await tg.admin('GET', `/accounts/${accountId}/ledger?limit=100`);
  const credits = (ledger.body.data as any[]).filter((e) => e.kind === 'credit');
  assert.equal(credits.length, 2);
  assert.ok(Number(account.body.balance_usd) > 5.9 && Number(account.body.balance_usd) <= 6);
});
