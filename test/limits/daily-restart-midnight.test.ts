import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway } from '../helpers/gateway.ts';
import { limitsConfig } from './helpers.ts';
import { requestIdFloor } from '../../src/gateway/request-id.ts';
import { createLimits } from '../../src/limits/create.ts';

// Daily tokens count for the UTC day a request is billed in, its end (docs/limits.md),
// and a restart reloads today's usage from the request log. The reload took the rows by
// their start, so a request that began before midnight and ended after it counted today
// until a restart, and then no more: the restart handed its tokens back.

const DAY = 86_400_000;

test('a restart keeps the tokens of a request that began before midnight (UTC) and ended after it', async (t) => {
  const tg = await startTestGateway({ config: limitsConfig('http://127.0.0.1:9/v1', [{ id: 'daily', daily_tokens: 1_000_000 }]) });
  t.after(() => tg.close());
  const { accountId, keyId } = await tg.customer({ plan: 'daily' });
  const dayStart = Math.floor(Date.now() / DAY) * DAY;
  const row = (startedAt: number, latencyMs: number, tokens: number, n: number) => ({
    id: `${requestIdFloor(startedAt)}${String(n).padStart(16, '0')}`, created_at: BigInt(startedAt), account_id: accountId, key_id: keyId, endpoint: 'chat', status: 200,
    stream: 1, prompt_tokens: tokens, cached_tokens: 0, cache_write_tokens: 0, completion_tokens: 0, latency_ms: latencyMs, failover: 0,
  });
  await tg.gw.rt.db.insertInto('requests').values([
    row(dayStart - 30_000, 60_000, 700, 1), // 30 s before midnight to 30 s after: today's
    row(dayStart - 30_000, 10_000, 50_000, 2), // ended 20 s before midnight: yesterday's
    row(dayStart + 5_000, 1_000, 20, 3), // today's
  ]).execute();

  const limits = await createLimits(tg.gw.rt.config, tg.gw.rt.db, tg.gw.rt.log);
  const key = { id: keyId, accountId, hash: '', prefix: '', name: null, createdAt: 0, expiresAt: null, revokedAt: null, overrides: { daily_tokens: 1_000_000 } };
  const view = limits.describe({ id: accountId, plan: 'daily' }, 0, [key]) as any;
  assert.equal(view.daily_tokens.used, 720);
  assert.equal(view.keys[0].daily_tokens.used, 720);
});
