import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// Lists are read a page at a time: `has_more` must be exact (a full last page has no
// more), and following the cursor must visit every row once, in order.

describe('admin lists page exactly', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  /** Follows a list from its first page; returns the ids of every page. */
  async function walk(first: string, next: (lastId: string) => string): Promise<string[][]> {
    const pages: string[][] = [];
    let path = first;
    for (;;) {
      const r = await tg.admin('GET', path);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ids = r.body.data.map((x: { id: string | number }) => String(x.id));
      pages.push(ids);
      if (!r.body.has_more) return pages;
      assert.ok(pages.length < 20, 'the pages end');
      path = next(ids.at(-1)!);
    }
  }

  test('accounts: a full last page says has_more false; --after walks every account once', async () => {
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await tg.admin('POST', '/accounts', { name: `pager ${i}` })).body.id);
    const all = (await tg.admin('GET', '/accounts?limit=1000')).body;
    assert.equal(all.has_more, false);
    const total = all.data.length;
    assert.ok(total >= 5);
    const exact = await tg.admin('GET', `/accounts?limit=${total}`);
    assert.equal(exact.body.data.length, total);
    assert.equal(exact.body.has_more, false, 'a page that holds exactly the rest has no more');
    assert.equal((await tg.admin('GET', `/accounts?limit=${total - 1}`)).body.has_more, true);

    const pages = await walk('/accounts?limit=2', (last) => `/accounts?limit=2&after=${last}`);
    assert.deepEqual(pages.flat(), all.data.map((a: { id: string }) => a.id));
    assert.ok(pages.at(-1)!.length > 0, 'no empty last page');
    for (const id of created) assert.ok(pages.flat().includes(id));
  });

  test('the request log: before= walks every request once, newest first', async () => {
    const { accountId, key } = await tg.customer({ creditUsd: '1' });
    const sent = await Promise.all(
      Array.from({ length: 7 }, async () => {
        const r = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
        assert.equal(r.status, 200, r.text);
        return r.headers.get('x-request-id')!;
      }),
    );
    const first = await tg.admin('GET', `/requests?account_id=${accountId}&limit=7`);
    assert.equal(first.body.data.length, 7);
    assert.equal(first.body.has_more, false);
    const newestFirst = first.body.data.map((r: { id: string }) => r.id);
    assert.deepEqual([...newestFirst].sort().reverse(), newestFirst);
    assert.deepEqual([...newestFirst].sort(), [...sent].sort());

    const pages = await walk(`/requests?account_id=${accountId}&limit=3`, (last) => `/requests?account_id=${accountId}&limit=3&before=${last}`);
    assert.deepEqual(pages.map((p) => p.length), [3, 3, 1]);
    assert.deepEqual(pages.flat(), newestFirst);
  });

  test('the ledger: has_more is exact and before= walks every entry once', async () => {
    const { accountId } = await tg.customer({ creditUsd: '1' });
    for (let i = 0; i < 3; i++) assert.equal((await tg.admin('POST', `/accounts/${accountId}/credits`, { amount_usd: '1' })).status, 201);
    const all = (await tg.admin('GET', `/accounts/${accountId}/ledger`)).body;
    assert.equal(all.data.length, 4);
    assert.equal((await tg.admin('GET', `/accounts/${accountId}/ledger?limit=4`)).body.has_more, false);
    const pages = await walk(`/accounts/${accountId}/ledger?limit=2`, (last) => `/accounts/${accountId}/ledger?limit=2&before=${last}`);
    assert.deepEqual(pages.map((p) => p.length), [2, 2]);
    assert.deepEqual(pages.flat(), all.data.map((e: { id: number }) => String(e.id)));
  });

  test('an account\'s keys: limit, has_more exact, and after= walks every key once in creation order', async () => {
    // The list answered every key at once, has_more always false: an account with a key
    // per deployment or per end user answered thousands in one reply.
    const { accountId, keyId } = await tg.customer({ creditUsd: '0' });
    const ids = [keyId];
    for (let i = 0; i < 4; i++) ids.push((await tg.admin('POST', `/accounts/${accountId}/keys`, { name: `k${i}` })).body.id);
    const all = (await tg.admin('GET', `/accounts/${accountId}/keys`)).body;
    assert.deepEqual(all.data.map((k: { id: string }) => k.id), ids, 'oldest first, as before');
    assert.equal(all.has_more, false);
    assert.equal((await tg.admin('GET', `/accounts/${accountId}/keys?limit=5`)).body.has_more, false, 'a page that holds exactly the rest has no more');
    const pages = await walk(`/accounts/${accountId}/keys?limit=2`, (last) => `/accounts/${accountId}/keys?limit=2&after=${last}`);
    assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
    assert.deepEqual(pages.flat(), ids);
    for (const bad of ['limit=0', 'limit=1001', 'after=']) {
      const r = await tg.admin('GET', `/accounts/${accountId}/keys?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.body.error.param, bad.split('=')[0]);
    }
    // A cursor that names no key of this account is a 400, not a silent first page.
    const other = await tg.customer({ creditUsd: '0' });
    const foreign = await tg.admin('GET', `/accounts/${accountId}/keys?after=${other.keyId}`);
    assert.equal(foreign.status, 400);
    assert.equal(foreign.body.error.param, 'after');
  });

  test('a misspelt or unknown query parameter is a 400, not dropped; an empty before= is not an empty page', async () => {
    // `?acount_id=` was dropped and the request log answered with every account's requests;
    // the ledger's `before=` read as entry 0 and answered an empty page.
    const { accountId } = await tg.customer({ creditUsd: '1' });
    const unknown: Array<[string, string]> = [['/requests?acount_id=acct_x', 'acount_id'], ['/accounts?limit=1&afterr=acct_x', 'afterr'], [`/accounts/${accountId}/ledger?befor=5`, 'befor'], [`/accounts/${accountId}/usage?group=model`, 'group'], ['/usage?account_id=acct_x', 'account_id'], [`/accounts/${accountId}/keys?revoked=false`, 'revoked'], ['/plans?limit=1', 'limit']];
    for (const [path, param] of unknown) {
      const r = await tg.admin('GET', path);
      assert.equal(r.status, 400, path);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.equal(r.body.error.message, `Unrecognized key: "${param}"`);
      assert.equal(r.body.error.param, param, 'param names the unknown parameter');
      assert.ok(r.headers.get('x-request-id'));
    }
    // Lists that answer everything at once still say so, as every list does.
    for (const path of [`/accounts/${accountId}/keys`, '/plans']) assert.equal((await tg.admin('GET', path)).body.has_more, false, path);
    const empty = await tg.admin('GET', `/accounts/${accountId}/ledger?before=`);
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.param, 'before');
    assert.equal((await tg.admin('GET', `/accounts/${accountId}/ledger?before=0`)).status, 400);
  });
});
