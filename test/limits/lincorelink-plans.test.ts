import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError } from '../helpers/http.ts';
import { chat, fakeClock, holdInFlight, limitsConfig, textOfTokens, waitIdle } from './helpers.ts';

// Seed 000's table, row by row, over HTTP:
//   | Plan  | Context | Max output | Concurrency | Daily tokens | Models      |
//   | Basic | 128K    | 32K        | 10          | 100M         | flash only  |
//   | Pro   | 256K    | 32K        | 20          | Unlimited    | flash + pro |
//   | Max   | 1M      | 64K        | 20          | Unlimited    | flash + pro |

interface Row {
  plan: string;
  context: number;
  output: number;
  concurrency: number;
  daily: number | null;
  models: string[];
}

const TABLE: Row[] = [
  { plan: 'basic', context: 128_000, output: 32_000, concurrency: 10, daily: 100_000_000, models: ['deepseek-v4-flash'] },
  { plan: 'pro', context: 256_000, output: 32_000, concurrency: 20, daily: null, models: ['deepseek-v4-flash', 'deepseek-v4-pro'] },
  { plan: 'max', context: 1_000_000, output: 64_000, concurrency: 20, daily: null, models: ['deepseek-v4-flash', 'deepseek-v4-pro'] },
];

describe("lincorelink's plans behave as its table says", () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: limitsConfig(up.baseUrl) });
  });
  after(async () => {
    tg.gw.app.server.closeAllConnections(); // see release.test.ts
    await tg.close();
    await up.close();
  });

  for (const row of TABLE) {
    describe(row.plan, () => {
      test(`models: ${row.models.join(', ')}`, async () => {
        const { key } = await tg.customer({ plan: row.plan, creditUsd: '1000' });
        const models = JSON.parse(await (await fetch(`${tg.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).text()).data.map((m: any) => m.id);
        assert.deepEqual(models.sort(), row.models);
        for (const model of ['deepseek-v4-flash', 'deepseek-v4-pro']) {
          const r = await chat(tg, key, { model });
          if (row.models.includes(model)) assert.equal(r.status, 200, r.text);
          else expectError(r, { status: 403, type: 'permission_error', code: 'model_not_available', param: 'model', message: new RegExp(`plan '${row.plan}'`) });
        }
      });

      test(`context cap ${row.context / 1000}K`, async () => {
        const { key } = await tg.customer({ plan: row.plan, creditUsd: '1000' });
        const calls = up.requests.length;
        // 2% over the cap: refused without calling the upstream
        const over = await chat(tg, key, { messages: [{ role: 'user', content: textOfTokens(Math.round(row.context * 1.02)) }] });
        const e = expectError(over, { status: 413, type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
        assert.match(e.message, new RegExp(`${row.context} tokens`));
        assert.equal(up.requests.length, calls);
        // 2% under it: served (the smaller plans' caps are under the larger ones')
        const under = await chat(tg, key, { messages: [{ role: 'user', content: textOfTokens(Math.round(row.context * 0.98)) }] });
        assert.equal(under.status, 200, under.text);
      });

      test(`max output ${row.output / 1000}K: larger max_tokens clamped`, async () => {
        const { key } = await tg.customer({ plan: row.plan, creditUsd: '1000' });
        assert.equal((await chat(tg, key, { max_tokens: 200_000 })).status, 200);
        assert.equal(up.requests.at(-1)!.body.max_tokens, row.output);
        assert.equal((await chat(tg, key, { max_tokens: row.output })).status, 200);
        assert.equal(up.requests.at(-1)!.body.max_tokens, row.output);
        assert.equal((await chat(tg, key, { max_tokens: 64_000 })).status, 200);
        assert.equal(up.requests.at(-1)!.body.max_tokens, Math.min(64_000, row.output));
      });

      test(`concurrency ${row.concurrency}`, async () => {
        const { key, accountId } = await tg.customer({ plan: row.plan, creditUsd: '1000' });
        up.behave({ hang: true });
        try {
          const held = await holdInFlight(tg, up, key, row.concurrency);
          const r = await chat(tg, key);
          expectError(r, { status: 429, type: 'rate_limit_error', code: 'concurrency_limit_exceeded', param: null });
          assert.equal(r.headers.get('retry-after'), '1');
          await held.abort();
        } finally {
          up.behave({});
        }
        await waitIdle(tg, accountId);
        assert.equal((await chat(tg, key)).status, 200);
      });

      test(`daily tokens: ${row.daily === null ? 'unlimited' : `${row.daily / 1e6}M`}`, async () => {
        const { key, accountId } = await tg.customer({ plan: row.plan, creditUsd: '1000' });
        const clock = fakeClock(tg, Date.UTC(2030, 5, 1, 12, 0, 0));
        // the upstream reports 60M tokens per request (billed: flash at $0.16/M is ~$10)
        up.behave({ promptTokens: 50_000_000, completionTokens: 10_000_000 });
        try {
          assert.equal((await chat(tg, key)).status, 200);
          await waitIdle(tg, accountId);
          assert.equal((await chat(tg, key)).status, 200, 'under the cap after 60M: admitted');
          await waitIdle(tg, accountId);
          const r = await chat(tg, key);
          if (row.daily === null) assert.equal(r.status, 200, r.text);
          else {
            // 120M used ≥ 100M: refused until 00:00 UTC, 12 h away
            const e = expectError(r, { status: 429, type: 'rate_limit_error', code: 'daily_token_limit_exceeded', param: null });
            assert.match(e.message, /120000000 of 100000000/);
            assert.equal(r.headers.get('retry-after'), String(12 * 3600));
            clock.advance(12 * 3600 * 1000);
            assert.equal((await chat(tg, key)).status, 200);
          }
        } finally {
          up.behave({});
          clock.restore();
        }
      });
    });
  }
});
