import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway } from '../helpers/gateway.ts';
import { usdToPico, picoToUsd } from '../../src/billing/money.ts';

// 200 concurrent requests against a balance that covers exactly 10 of their estimates.

test('concurrent requests never reserve more than the balance; exactly the admissible number pass', async (t) => {
  const up = await startFakeOpenAI({ promptTokens: 30, completionTokens: 7 });
  const tg = await startTestGateway({ upstream: up.baseUrl });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const body = JSON.stringify({ model: 'deepseek-v4-pro', max_tokens: 2000, messages: [{ role: 'user', content: 'same prompt for everyone' }] });
  const call = (key: string) =>
    fetch(`${tg.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });

  // Learn one request's reservation from the ledger of a probe account.
  const probe = await tg.customer({ creditUsd: '10' });
  const pr = await call(probe.key);
  assert.equal(pr.status, 200);
  await pr.text();
  const pl = await tg.admin('GET', `/accounts/${probe.accountId}/ledger`);
  const reserve = usdToPico(pl.body.data.find((e: any) => e.kind === 'charge').detail.reserved_usd);
  const charge = 30n * 600_000n + 7n * 1_200_000n;
  assert.ok(reserve > charge);

  // Balance: 10 reservations and a bit, but not 11.
  const balance = 10n * reserve + reserve / 2n;
  const c = await tg.customer({ creditUsd: '0' });
  await tg.admin('POST', `/accounts/${c.accountId}/credits`, { amount_usd: picoToUsd(balance) });

  // Every admitted request is held at the upstream until all 200 have been decided
  // (answered 402 or arrived upstream), so no settlement can free money mid-test.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const seenBefore = up.requests.length;
  up.behave({ promptTokens: 30, completionTokens: 7, holdUntil: held });
  let maxReserved = 0n;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const a = await tg.admin('GET', `/accounts/${c.accountId}`);
      const reserved = usdToPico(a.body.reserved_usd);
      assert.ok(reserved <= usdToPico(a.body.balance_usd), `reserved ${a.body.reserved_usd} > balance ${a.body.balance_usd}`);
      if (reserved > maxReserved) maxReserved = reserved;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  let refusedSoFar = 0;
  const pending = Array.from({ length: 200 }, () =>
    call(c.key).then(async (r) => {
      if (r.status === 402) refusedSoFar++;
      return { status: r.status, body: (await r.json()) as any };
    }),
  );
  const deadline = Date.now() + 30_000;
  while (refusedSoFar + (up.requests.length - seenBefore) < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // one more sample while all are held
  release();
  const results = await Promise.all(pending);
  sampling = false;
  await sampler;

  const ok = results.filter((r) => r.status === 200);
  const refused = results.filter((r) => r.status === 402);
  assert.equal(ok.length, 10);
  assert.equal(refused.length, 190);
  for (const r of refused) assert.equal(r.body.error.code, 'insufficient_funds');
  assert.equal(maxReserved, 10n * reserve);

  const a = await tg.admin('GET', `/accounts/${c.accountId}`);
  assert.equal(usdToPico(a.body.balance_usd), balance - 10n * charge);
  assert.equal(a.body.reserved_usd, '0.00');
  const ledger = await tg.admin('GET', `/accounts/${c.accountId}/ledger?limit=1000`);
  const sum = ledger.body.data.reduce((s: bigint, e: any) => s + usdToPico(e.amount_usd), 0n);
  assert.equal(sum, balance - 10n * charge);
  assert.deepEqual((await tg.admin('GET', '/ledger/verify')).body, { ok: true, mismatches: [] });
});
