import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, post, type RawResponse } from '../helpers/http.ts';

// The operator's API: accounts, keys (shown once, stored only as a hash), revocation,
// and its errors (401 bad admin token, 400 bad bodies, 404 unknown ids).

describe('admin API', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), plans: [{ id: 'basic', rpm: 1000 }, { id: 'pro' }] } });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  /** An admin call returning the raw response, for expectError. */
  const raw = async (method: string, path: string, body?: unknown, token: string | null = tg.adminToken): Promise<RawResponse> => {
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${tg.url}/admin/v1${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const bad400 = (param: string | null, code = 'invalid_request') => ({ status: 400, type: 'invalid_request_error', code, param });
  const nf404 = { status: 404, type: 'invalid_request_error', code: 'not_found', param: null };
  const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

  describe('admin authentication', () => {
    const cases: Array<[string, string | null, Record<string, string>?]> = [
      ['no token', null],
      ['a wrong token', 'test-admin-not-the-right-one-at-all'],
      ['an empty bearer', ''],
    ];
    for (const [name, token] of cases) {
      test(`401 invalid_admin_token for ${name}`, async () => {
        for (const [method, path] of [['GET', '/accounts'], ['POST', '/accounts'], ['GET', '/requests'], ['DELETE', '/keys/key_x'], ['GET', '/accounts/acct_x']] as const) {
          const body = method === 'POST' ? { name: 'x' } : undefined;
          const e = expectError(await raw(method, path, body, token), { status: 401, type: 'authentication_error', code: 'invalid_admin_token', param: null }, [tg.adminToken]);
          assert.ok(e.message);
        }
      });
    }

    test('401 for a customer API key and for a non-Bearer scheme', async () => {
      const { key } = await tg.customer();
      expectError(await raw('GET', '/accounts', undefined, key), { status: 401, type: 'authentication_error', code: 'invalid_admin_token', param: null }, [tg.adminToken, key]);
      const res = await fetch(`${tg.url}/admin/v1/accounts`, { headers: { authorization: `Basic ${tg.adminToken}` } });
      expectError({ status: res.status, headers: res.headers, text: await res.text() }, { status: 401, type: 'authentication_error', code: 'invalid_admin_token', param: null }, [tg.adminToken]);
    });

    test('nothing was created by rejected calls', async () => {
      const list = await tg.admin('GET', '/accounts');
      assert.ok(!list.body.data.some((a: any) => a.name === 'x'));
    });
  });

  describe('accounts', () => {
    test('create, get, list and patch an account', async () => {
      const c = await tg.admin('POST', '/accounts', { name: 'Acme Corp' });
      assert.equal(c.status, 201);
      const a = c.body;
      assert.match(a.id, /^acct_/);
      assert.equal(a.name, 'Acme Corp');
      assert.equal(a.plan, null);
      assert.equal(a.suspended, false);
      assert.equal(a.balance_usd, '0.00');
      assert.equal(a.reserved_usd, '0.00');
      assert.equal(a.available_usd, '0.00');
      assert.match(a.created_at, ISO);
      assert.match(a.updated_at, ISO);

      const g = await tg.admin('GET', `/accounts/${a.id}`);
      assert.equal(g.status, 200);
      assert.deepEqual(g.body, a);

      const withPlan = await tg.admin('POST', '/accounts', { name: 'Beta', plan: 'basic' });
      assert.equal(withPlan.status, 201);
      assert.equal(withPlan.body.plan, 'basic');

      const l = await tg.admin('GET', '/accounts');
      assert.equal(l.status, 200);
      assert.equal(l.body.object, 'list');
      const ids = l.body.data.map((x: any) => x.id);
      assert.ok(ids.includes(a.id) && ids.includes(withPlan.body.id));
      assert.equal(l.body.has_more, false);
      const limited = await tg.admin('GET', '/accounts?limit=1');
      assert.equal(limited.body.data.length, 1);
      assert.equal(limited.body.has_more, true);

      const p = await tg.admin('PATCH', `/accounts/${a.id}`, { name: 'Acme Inc', plan: 'pro' });
      assert.equal(p.status, 200);
      assert.equal(p.body.name, 'Acme Inc');
      assert.equal(p.body.plan, 'pro');
      assert.equal(p.body.id, a.id);
      assert.equal((await tg.admin('GET', `/accounts/${a.id}`)).body.name, 'Acme Inc');
      const clear = await tg.admin('PATCH', `/accounts/${a.id}`, { plan: null });
      assert.equal(clear.status, 200);
      assert.equal(clear.body.plan, null);
      assert.equal(clear.body.name, 'Acme Inc');
    });

    test('a suspended account cannot use the API until it is unsuspended', async () => {
      const { accountId, key } = await tg.customer();
      const chat = () => post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] }, { key });
      assert.equal((await chat()).status, 200);
      const s = await tg.admin('PATCH', `/accounts/${accountId}`, { suspended: true });
      assert.equal(s.status, 200);
      assert.equal(s.body.suspended, true);
      expectError(await chat(), { status: 402, type: 'insufficient_quota', code: 'account_suspended', param: null }, [key]);
      assert.equal((await tg.admin('PATCH', `/accounts/${accountId}`, { suspended: false })).body.suspended, false);
      assert.equal((await chat()).status, 200);
    });

    const badCreates: Array<[string, unknown, string | null, string?]> = [
      ['no name', {}, 'name'],
      ['an empty name', { name: '' }, 'name'],
      ['a numeric name', { name: 123 }, 'name'],
      ['an unknown field', { name: 'x', color: 'red' }, 'color'],
      ['an unknown plan', { name: 'x', plan: 'platinum' }, 'plan'],
      ['a name holding a lone surrogate', { name: 'a\ud800b' }, 'name'],
      ['a name holding a terminal escape', { name: 'x\u001b[31mred' }, 'name'],
      ['a name holding a line break', { name: 'a\nb' }, 'name'],
      ['a name holding NUL', { name: 'a\u0000' }, 'name'],
      ['a JSON array', [{ name: 'x' }], null],
      ['malformed JSON', '{"name":', null, 'invalid_json'],
    ];
    for (const [name, body, param, code] of badCreates) {
      test(`POST /accounts with ${name} is 400`, async () => {
        const before = (await tg.admin('GET', '/accounts?limit=1000')).body.data.length;
        const e = expectError(await raw('POST', '/accounts', body), bad400(param, code));
        if (param) assert.ok(e.message.includes(param), e.message);
        assert.equal((await tg.admin('GET', '/accounts?limit=1000')).body.data.length, before);
      });
    }

    test('names and notes in any script are kept as sent; notes may span lines, but hold no other control character', async () => {
      const name = 'Zoë 株式会社 🚀 مرحبا';
      const a = await tg.admin('POST', '/accounts', { name });
      assert.equal(a.status, 201);
      assert.equal(a.body.name, name);
      assert.equal((await tg.admin('GET', `/accounts/${a.body.id}`)).body.name, name);
      const k = await tg.admin('POST', `/accounts/${a.body.id}/keys`, { name: '🔑 laptop' });
      assert.equal(k.body.name, '🔑 laptop');
      expectError(await raw('POST', `/accounts/${a.body.id}/keys`, { name: 'k\u0007' }), bad400('name'));
      expectError(await raw('PATCH', `/keys/${k.body.id}`, { name: '\udc00' }), bad400('name'));
      const c = await tg.admin('POST', `/accounts/${a.body.id}/credits`, { amount_usd: '1', note: 'invoice 42\npaid by wire' });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      expectError(await raw('POST', `/accounts/${a.body.id}/credits`, { amount_usd: '1', note: 'x\u001b]0;pwned\u0007' }), bad400('note'));
      expectError(await raw('POST', `/accounts/${a.body.id}/adjustments`, { kind: 'adjustment', amount_usd: '1', reason: '\ud800' }), bad400('reason'));
      assert.equal((await tg.admin('GET', `/accounts/${a.body.id}`)).body.balance_usd, '1.00');
    });

    test('PATCH with a bad body is 400 and changes nothing', async () => {
      const a = (await tg.admin('POST', '/accounts', { name: 'Patchy' })).body;
      expectError(await raw('PATCH', `/accounts/${a.id}`, { suspended: 'yes' }), bad400('suspended'));
      expectError(await raw('PATCH', `/accounts/${a.id}`, { name: '' }), bad400('name'));
      expectError(await raw('PATCH', `/accounts/${a.id}`, { plan: 'nope' }), bad400('plan'));
      expectError(await raw('PATCH', `/accounts/${a.id}`, { balance_usd: '100' }), bad400('balance_usd'));
      const g = await tg.admin('GET', `/accounts/${a.id}`);
      assert.equal(g.body.name, 'Patchy');
      assert.equal(g.body.suspended, false);
      assert.equal(g.body.balance_usd, '0.00');
    });

    test('list query parameters are validated', async () => {
      expectError(await raw('GET', '/accounts?limit=0'), bad400('limit'));
      expectError(await raw('GET', '/accounts?limit=abc'), bad400('limit'));
    });
  });

  describe('keys', () => {
    test('a key is shown once at creation, never listed, and stored only as a hash', async () => {
      const a = (await tg.admin('POST', '/accounts', { name: 'Keyholder' })).body;
      const c = await tg.admin('POST', `/accounts/${a.id}/keys`, { name: 'ci' });
      assert.equal(c.status, 201);
      const k = c.body;
      assert.match(k.key, /^sk-tg-[A-Za-z0-9_-]{43}$/);
      assert.match(k.id, /^key_/);
      assert.equal(k.account_id, a.id);
      assert.equal(k.name, 'ci');
      assert.equal(k.expires_at, null);
      assert.equal(k.revoked_at, null);
      assert.match(k.created_at, ISO);
      // The display prefix is a recognisable fragment, not the key.
      assert.ok(k.key.startsWith(k.prefix.split('…')[0]));
      assert.ok(k.prefix.length < 20);

      const second = await tg.admin('POST', `/accounts/${a.id}/keys`, {});
      assert.equal(second.status, 201);
      assert.notEqual(second.body.key, k.key);
      assert.equal(second.body.name, null);

      const l = await raw('GET', `/accounts/${a.id}/keys`);
      assert.equal(l.status, 200);
      const listed = JSON.parse(l.text);
      assert.equal(listed.object, 'list');
      assert.deepEqual(listed.data.map((x: any) => x.id).sort(), [k.id, second.body.id].sort());
      for (const x of listed.data) assert.ok(!('key' in x) && !('hash' in x), JSON.stringify(x));
      assert.ok(!l.text.includes(k.key) && !l.text.includes(second.body.key));
      const body = l.text;
      const { key: _omit, ...shown } = k;
      assert.deepEqual(listed.data.find((x: any) => x.id === k.id), shown);

      // The key works at once.
      const r = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] }, { key: k.key });
      assert.equal(r.status, 402, r.text); // no credit yet: authenticated, then refused for funds
      assert.equal(JSON.parse(r.text).error.code, 'insufficient_funds');

      // The database holds a hash, never the key.
      await tg.gw.rt.journal.flush();
      const db = new Database(join(tg.dir, 'tollgate.db'), { readonly: true });
      try {
        const row = db.prepare('SELECT * FROM api_keys WHERE id = ?').get(k.id) as Record<string, unknown>;
        assert.match(String(row.hash), /^[0-9a-f]{64}$/);
        assert.ok(!body.includes(String(row.hash)), 'the hash is not listed either');
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>;
        for (const { name } of tables) {
          for (const row2 of db.prepare(`SELECT * FROM "${name}"`).safeIntegers(true).iterate()) {
            const text = JSON.stringify(row2, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
            assert.ok(!text.includes(k.key) && !text.includes(k.key.slice(6)), `table ${name} holds the key`);
          }
        }
      } finally {
        db.close();
      }
      for (const f of readdirSync(tg.dir)) {
        const bytes = readFileSync(join(tg.dir, f));
        assert.equal(bytes.indexOf(k.key.slice(6)), -1, `${f} holds the key`);
      }
    });

    test('keys with an expiry, and bad key bodies', async () => {
      const a = (await tg.admin('POST', '/accounts', { name: 'Expiring' })).body;
      const at = new Date(Date.now() + 86_400_000).toISOString();
      const c = await tg.admin('POST', `/accounts/${a.id}/keys`, { expires_at: at });
      assert.equal(c.status, 201);
      assert.equal(c.body.expires_at, at);
      expectError(await raw('POST', `/accounts/${a.id}/keys`, { expires_at: new Date(Date.now() - 1000).toISOString() }), bad400('expires_at'));
      expectError(await raw('POST', `/accounts/${a.id}/keys`, { expires_at: 'tomorrow' }), bad400('expires_at'));
      expectError(await raw('POST', `/accounts/${a.id}/keys`, { expires_at: 1_900_000_000 }), bad400('expires_at'));
      expectError(await raw('POST', `/accounts/${a.id}/keys`, { name: 7 }), bad400('name'));
      expectError(await raw('POST', `/accounts/${a.id}/keys`, { scopes: ['all'] }), bad400('scopes'));
      assert.equal((await tg.admin('GET', `/accounts/${a.id}/keys`)).body.data.length, 1);
    });

    test('a DELETE with a JSON Content-Type and no body revokes (client libraries add the header to every call)', async () => {
      const { key, keyId } = await tg.customer();
      const res = await fetch(`${tg.url}/admin/v1/keys/${keyId}`, { method: 'DELETE', headers: { authorization: `Bearer ${tg.adminToken}`, 'content-type': 'application/json' } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(((await res.json()) as { revoked_at: string }).revoked_at, ISO);
      const chat = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] }, { key });
      assert.equal(chat.status, 401);
    });

    test('revoking a key', async () => {
      const { accountId, key, keyId } = await tg.customer();
      const chat = () => post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] }, { key });
      assert.equal((await chat()).status, 200);
      const d = await raw('DELETE', `/keys/${keyId}`);
      assert.equal(d.status, 200);
      const revoked = JSON.parse(d.text);
      assert.equal(revoked.id, keyId);
      assert.match(revoked.revoked_at, ISO);
      assert.ok(!d.text.includes(key));
      expectError(await chat(), { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null }, [key]);
      const l = await tg.admin('GET', `/accounts/${accountId}/keys`);
      assert.equal(l.body.data.find((x: any) => x.id === keyId).revoked_at, revoked.revoked_at);
      // Revoking again keeps it revoked.
      const again = await tg.admin('DELETE', `/keys/${keyId}`);
      assert.equal(again.status, 200);
      assert.ok(again.body.revoked_at);
      expectError(await chat(), { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null }, [key]);
    });
  });

  describe('requests', () => {
    test('GET /requests/{id}: the request a customer quotes by its x-request-id, with its prices, reservation and charge', async () => {
      const { accountId, key, keyId } = await tg.customer({ creditUsd: '1' });
      up.behave({ promptTokens: 120, completionTokens: 30 });
      const ok = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }, { key });
      assert.equal(ok.status, 200, ok.text);
      up.behave({});
      const id = ok.headers.get('x-request-id')!;
      const r = await raw('GET', `/requests/${id}`);
      assert.equal(r.status, 200, r.text);
      const got = JSON.parse(r.text);
      assert.equal(got.id, id);
      assert.equal(got.account_id, accountId);
      assert.equal(got.key_id, keyId);
      assert.equal(got.model, 'deepseek-v4-flash');
      assert.equal(got.upstream_model, 'upstream-flash');
      assert.equal(got.status, 200);
      assert.equal(got.prompt_tokens, 120);
      assert.equal(got.completion_tokens, 30);
      // 120 × $0.16/M + 30 × $0.30/M: what the client was told, what the ledger charged.
      assert.equal(got.cost_usd, ok.headers.get('x-tollgate-cost'));
      assert.equal(got.cost_usd, '0.0000282');
      assert.deepEqual(got.prices, { input: '0.16', cached_input: '0.004', output: '0.3', cache_write: '0.16' });
      assert.match(got.reserved_usd, /^0\.0000\d+$/);
      assert.equal(got.ledger.length, 1);
      assert.equal(got.ledger[0].kind, 'charge');
      assert.equal(got.ledger[0].amount_usd, '-0.0000282');
      assert.match(got.ledger[0].created_at, ISO);

      // A refused request is in the log too, with its code and no ledger entry.
      const refused = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', max_tokens: 10_000_000, messages: [{ role: 'user', content: 'hi' }] }, { key });
      assert.equal(refused.status, 402);
      const r2 = JSON.parse((await raw('GET', `/requests/${refused.headers.get('x-request-id')}`)).text);
      assert.equal(r2.status, 402);
      assert.equal(r2.error_code, 'insufficient_funds');
      assert.equal(r2.cost_usd, null);
      assert.deepEqual(r2.ledger, []);

      expectError(await raw('GET', '/requests/req_does_not_exist'), nf404);
      expectError(await raw('GET', `/requests/${id}`, undefined, null), { status: 401, type: 'authentication_error', code: 'invalid_admin_token', param: null });
    });
  });

  test('404 not_found for unknown ids and unknown admin endpoints', async () => {
    expectError(await raw('GET', '/accounts/acct_does_not_exist'), nf404);
    expectError(await raw('PATCH', '/accounts/acct_does_not_exist', { name: 'x' }), nf404);
    expectError(await raw('POST', '/accounts/acct_does_not_exist/keys', {}), nf404);
    expectError(await raw('GET', '/accounts/acct_does_not_exist/keys'), nf404);
    expectError(await raw('DELETE', '/keys/key_does_not_exist'), nf404);
    expectError(await raw('GET', '/nothing-here'), nf404);
  });
});
