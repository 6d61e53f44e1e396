import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway } from '../helpers/gateway.ts';

// The sweep that releases a crashed process's reservations also runs while the gateway
// serves (every minute). A request that ran longer than request_timeout_ms and settled
// just before a sweep still had its reservation row in the store (its deletion waits
// for the next journal commit), was no longer open, and so was released as an orphan:
// its ledger said "request not charged" beside the charge that the next commit wrote.

test('a long request settled just before the orphan sweep is charged, not also released as an orphan', async (t) => {
  const up = await startFakeOpenAI({ text: 'w '.repeat(40).trim(), chunkDelayMs: 50, promptTokens: 10, completionTokens: 40 });
  // Commits a second apart, so the settlement is still queued when the sweep runs.
  const tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), request_timeout_ms: 100, flush_interval_ms: 1000 } });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const { key, accountId } = await tg.customer({ creditUsd: '1' });
  const r = await fetch(`${tg.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const id = r.headers.get('x-request-id')!;
  const reader = r.body!.getReader();
  await reader.read();
  // Its reservation reaches the store while it runs (2 s; the first commit is 1 s after it).
  const db = tg.gw.rt.db;
  while (!(await db.selectFrom('reservations').select('request_id').where('request_id', '=', id).executeTakeFirst())) await new Promise((res) => setTimeout(res, 50));
  while (!(await reader.read()).done);
  // Settled; its charge is queued for the next commit. The sweep comes now.
  const released = await tg.gw.rt.billing.resolveOrphans(100);
  assert.equal(released, 0, 'a request that settled is not an orphan');

  const ledger = (await tg.admin('GET', `/accounts/${accountId}/ledger`)).body.data.filter((e: any) => e.request_id === id);
  assert.deepEqual(ledger.map((e: any) => e.kind), ['charge']);
  assert.equal(ledger[0].amount_usd, '-0.0000136');
  assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
});
