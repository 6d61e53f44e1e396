import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// Every request leaves one record (ids, model, provider, status, error code, tokens,
// timings) and no prompt or completion text anywhere in the store.

describe('request log', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  let keyId: string;
  const marker = `prompt-marker-${randomBytes(8).toString('hex')}`;
  const answer = `answer-marker-${randomBytes(8).toString('hex')}`;
  const ids: Record<string, string> = {};
  let records: any[];

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key, accountId, keyId } = await tg.customer());
    const chat = (body: Record<string, unknown>) => post(`${tg.url}/v1/chat/completions`, { messages: [{ role: 'user', content: `please repeat ${marker}` }], ...body }, { key });

    up.behave({ text: `${answer} plain`, promptTokens: 30, cachedTokens: 10, completionTokens: 2 });
    let r = await chat({ model: 'deepseek-v4-flash' });
    assert.equal(r.status, 200, r.text);
    ids.plain = r.headers.get('x-request-id')!;

    up.behave({ text: `${answer} streamed`, promptTokens: 31, completionTokens: 2, chunkDelayMs: 30, cacheStyle: 'deepseek' });
    r = await chat({ model: 'deepseek/deepseek-v4-pro', stream: true });
    assert.equal(r.status, 200, r.text);
    assert.ok(r.text.includes(answer));
    assert.ok(!r.text.includes('"usage"'));
    ids.stream = r.headers.get('x-request-id')!;

    r = await chat({ model: 'no-such-model' });
    assert.equal(r.status, 404);
    ids.notFound = r.headers.get('x-request-id')!;

    r = await chat({ model: 'deepseek-v4-flash', messages: [] });
    assert.equal(r.status, 400);
    ids.invalid = r.headers.get('x-request-id')!;

    up.behave({ status: 500 });
    r = await chat({ model: 'deepseek-v4-flash' });
    assert.equal(r.status, 502);
    ids.upstreamFailed = r.headers.get('x-request-id')!;

    up.behave({ promptTokens: 4 });
    r = await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: `embed ${marker}` }, { key });
    assert.equal(r.status, 200, r.text);
    ids.embed = r.headers.get('x-request-id')!;

    // A request without a valid key belongs to no account.
    r = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: marker }] }, { key: `sk-tg-${'B'.repeat(43)}` });
    assert.equal(r.status, 401);
    ids.unauthenticated = r.headers.get('x-request-id')!;

    const list = await tg.admin('GET', `/requests?account_id=${accountId}`);
    assert.equal(list.status, 200);
    records = list.body.data;
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const rec = (name: string) => {
    const r = records.find((x) => x.id === ids[name]);
    assert.ok(r, `a record for the ${name} request (${ids[name]}) in ${JSON.stringify(records.map((x) => x.id))}`);
    return r;
  };

  test('records are listed per account, newest first, one per request', () => {
    assert.equal(records.length, 6);
    for (const r of records) {
      assert.equal(r.account_id, accountId);
      assert.equal(r.key_id, keyId);
    }
    const created = records.map((r) => Date.parse(r.created_at));
    assert.deepEqual(created, [...created].sort((a, b) => b - a));
    assert.equal(records[0].id, ids.embed);
  });

  test('a successful non-streaming request', () => {
    const r = rec('plain');
    assert.equal(r.endpoint, 'chat.completions');
    assert.equal(r.model, 'deepseek-v4-flash');
    assert.equal(r.provider, 'fake');
    assert.equal(r.upstream_model, 'upstream-flash');
    assert.equal(r.status, 200);
    assert.equal(r.error_code, null);
    assert.equal(r.stream, false);
    assert.equal(r.prompt_tokens, 30);
    assert.equal(r.cached_tokens, 10);
    assert.equal(r.completion_tokens, 2);
    // 20 × 0.16 + 10 × 0.004 + 2 × 0.30 = 3.84 $/M
    assert.equal(r.cost_usd, '0.00000384');
    assert.equal(typeof r.ttfb_ms, 'number');
    assert.equal(typeof r.latency_ms, 'number');
    assert.ok(r.ttfb_ms >= 0 && r.ttfb_ms <= r.latency_ms);
  });

  test('a streamed request is metered even though the client did not ask for usage', () => {
    const r = rec('stream');
    assert.equal(r.model, 'deepseek-v4-pro');
    assert.equal(r.provider, 'fake');
    assert.equal(r.upstream_model, 'upstream-pro');
    assert.equal(r.status, 200);
    assert.equal(r.error_code, null);
    assert.equal(r.stream, true);
    assert.equal(r.prompt_tokens, 31);
    assert.equal(r.completion_tokens, 2);
    // The stream took 7 frames × 30 ms; the first byte came well before the end.
    assert.ok(r.ttfb_ms !== null && r.ttfb_ms < r.latency_ms, JSON.stringify(r));
    assert.ok(r.latency_ms >= 150, JSON.stringify(r));
  });

  test('failed requests are recorded with their status and error code', () => {
    const nf = rec('notFound');
    assert.equal(nf.status, 404);
    assert.equal(nf.error_code, 'model_not_found');
    assert.equal(nf.model, 'no-such-model');
    assert.equal(nf.provider, null);
    assert.equal(nf.prompt_tokens, 0);

    const inv = rec('invalid');
    assert.equal(inv.status, 400);
    assert.equal(inv.error_code, 'invalid_request');

    const uf = rec('upstreamFailed');
    assert.equal(uf.status, 502);
    assert.equal(uf.error_code, 'upstream_error');
    assert.equal(uf.model, 'deepseek-v4-flash');
    assert.equal(uf.provider, 'fake');
    assert.equal(uf.upstream_model, 'upstream-flash');
    assert.equal(uf.completion_tokens, 0);
    for (const r of [nf, inv, uf]) assert.equal(typeof r.latency_ms, 'number');
  });

  test('embeddings are recorded', () => {
    const r = rec('embed');
    assert.equal(r.endpoint, 'embeddings');
    assert.equal(r.model, 'embed-small');
    assert.equal(r.upstream_model, 'text-embedding-3-small');
    assert.equal(r.status, 200);
    assert.equal(r.prompt_tokens, 4);
  });

  test('an unauthenticated request is recorded without an account', async () => {
    const all = await tg.admin('GET', '/requests?limit=1000');
    const r = all.body.data.find((x: any) => x.id === ids.unauthenticated);
    assert.ok(r);
    assert.equal(r.account_id, null);
    assert.equal(r.status, 401);
    assert.equal(r.error_code, 'invalid_api_key');
  });

  test('the requests query validates its parameters', async () => {
    assert.equal((await tg.admin('GET', '/requests?limit=0')).status, 400);
    assert.equal((await tg.admin('GET', '/requests?from=yesterday')).status, 400);
    const none = await tg.admin('GET', `/requests?account_id=${accountId}&from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
    assert.equal(none.status, 200);
    assert.deepEqual(none.body.data, []);
  });

  test('no prompt or completion text anywhere in the database', () => {
    // Sanity: the markers did travel through the gateway.
    assert.ok(JSON.stringify(up.requests.map((r) => r.body)).includes(marker));
    const db = new Database(join(tg.dir, 'tollgate.db'), { readonly: true });
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
      assert.ok(tables.some((t) => t.name === 'requests'));
      let rows = 0;
      for (const { name } of tables) {
        for (const row of db.prepare(`SELECT * FROM "${name}"`).safeIntegers(true).iterate()) {
          rows++;
          const text = JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? v.toString('latin1') : v));
          assert.ok(!text.includes(marker), `table ${name} holds the prompt: ${text}`);
          assert.ok(!text.includes(answer), `table ${name} holds the completion: ${text}`);
        }
      }
      assert.ok(rows > 7);
    } finally {
      db.close();
    }
    // Nor in the raw files (database, WAL, anything else in the data directory).
    for (const f of readdirSync(tg.dir)) {
      const bytes = readFileSync(join(tg.dir, f));
      assert.equal(bytes.indexOf(marker), -1, `${f} holds the prompt`);
      assert.equal(bytes.indexOf(answer), -1, `${f} holds the completion`);
    }
  });
});
