import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError } from '../helpers/http.ts';
import { chat, holdInFlight, limitsConfig, limitsOf, waitFor, waitIdle } from './helpers.ts';

// A concurrency slot is freed when its request ends, however it ends: success, upstream
// error, upstream timeout, client abort (before or during the answer), or a refusal that
// comes after the limits admitted it (402 from the billing reservation).

describe('concurrency slots are always released', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    const config = limitsConfig(up.baseUrl, [
      { id: 'c10', concurrency: 10 },
      { id: 'c1', concurrency: 1, rpm: 1000 },
    ], [
      { id: 'slow-model', owned_by: 'test', upstreams: [{ provider: 'slow', model: 'upstream-slow' }], pricing: { input: '0.1', output: '0.1' } },
    ]);
    const fast = (config.providers as Record<string, unknown>[])[0]!;
    // No circuit breaking here: every failing request must reach the (fake) upstream.
    config.providers = [
      { ...fast, breaker: { failures: 1_000_000, cooldown_ms: 1 } },
      { ...fast, id: 'slow', timeout_ms: 200, breaker: { failures: 1_000_000, cooldown_ms: 1 } },
    ];
    tg = await startTestGateway({ config });
  });
  after(async () => {
    // Aborting fetches that were still waiting for a connection leaves sockets the client
    // opened but never sent a request on; Node does not count them as idle, so the
    // graceful close would wait for its headers timeout (60 s). Nothing is in flight here.
    tg.gw.app.server.closeAllConnections();
    await tg.close();
    await up.close();
  });

  /** All 10 slots can be taken at once and the 11th request is refused: nothing leaked. */
  async function assertFullCapacity(key: string, accountId: string): Promise<void> {
    await waitIdle(tg, accountId);
    up.behave({ hang: true });
    try {
      const held = await holdInFlight(tg, up, key, 10);
      expectError(await chat(tg, key), { status: 429, type: 'rate_limit_error', code: 'concurrency_limit_exceeded', param: null });
      await held.abort();
    } finally {
      up.behave({});
    }
    await waitIdle(tg, accountId);
  }

  test('1,000 requests aborted by the client while the upstream holds them leak no slot', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c10' });
    up.behave({ hang: true });
    const t0 = performance.now();
    try {
      // 5 at a time against a limit of 10: a leak of 6 slots would make a batch fail.
      for (let i = 0; i < 200; i++) {
        const held = await holdInFlight(tg, up, key, 5);
        await held.abort();
      }
    } finally {
      up.behave({});
    }
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 20_000, `took ${Math.round(elapsed)} ms`);
    await waitIdle(tg, accountId);
    await assertFullCapacity(key, accountId);
  });

  test('streams aborted mid-answer release their slots', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c10' });
    up.behave({ text: Array.from({ length: 50 }, (_, i) => `w${i}`).join(' '), chunkDelayMs: 20 });
    try {
      for (let round = 0; round < 10; round++) {
        const acs = Array.from({ length: 5 }, () => new AbortController());
        await Promise.all(
          acs.map(async (ac) => {
            const res = await fetch(`${tg.url}/v1/chat/completions`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'tell me' }] }),
              signal: ac.signal,
            });
            assert.equal(res.status, 200);
            const reader = res.body!.getReader();
            await reader.read();
            ac.abort();
            await reader.read().catch(() => {});
          }),
        );
      }
    } finally {
      up.behave({});
    }
    await assertFullCapacity(key, accountId);
  });

  test('upstream errors release their slots', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c10' });
    up.behave({ status: 500 });
    try {
      for (let round = 0; round < 10; round++) {
        const rs = await Promise.all(Array.from({ length: 10 }, () => chat(tg, key)));
        for (const r of rs) assert.equal(r.status, 502, r.text);
      }
    } finally {
      up.behave({});
    }
    assert.equal((await limitsOf(tg, accountId)).concurrency.in_flight, 0);
    await assertFullCapacity(key, accountId);
  });

  test('upstream timeouts release their slots', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c10' });
    up.behave({ hang: true });
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, () => chat(tg, key, { model: 'slow-model' })));
      for (const r of rs) assert.equal(r.status, 504, r.text);
    } finally {
      up.behave({});
    }
    await assertFullCapacity(key, accountId);
  });

  test('a 402 from the reservation after the limits admitted the request releases the slot', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c1', creditUsd: '0' });
    for (let i = 0; i < 3; i++) {
      const r = await chat(tg, key);
      // with a leaked slot the second attempt would be a 429 concurrency_limit_exceeded
      expectError(r, { status: 402, type: 'insufficient_quota', code: 'insufficient_funds', param: null });
      // the limits' headers are on the 402 too (they were set at admission)
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '1000');
    }
    assert.equal((await limitsOf(tg, accountId)).concurrency.in_flight, 0);
    await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '1' });
    assert.equal((await chat(tg, key)).status, 200);
  });

  test('successes release their slots', async () => {
    const { key, accountId } = await tg.customer({ plan: 'c1' });
    for (let i = 0; i < 20; i++) assert.equal((await chat(tg, key)).status, 200);
    await waitFor('idle', async () => (await limitsOf(tg, accountId)).concurrency.in_flight === 0);
  });
});
