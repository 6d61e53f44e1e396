import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, type RawResponse } from '../helpers/http.ts';
import { createLimits } from '../../src/limits/create.ts';
import { chat, fakeClock, limitsConfig, limitsOf, waitIdle } from './helpers.ts';

// The admin API for plans (config plans as the base, API plans stored and overriding
// them by id), per-key overrides on create and PATCH /keys/{id}, and the account
// limits view with current usage.

describe('admin API: plans, key overrides, account limits', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: limitsConfig(up.baseUrl) });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const raw = async (method: string, path: string, body?: unknown): Promise<RawResponse> => {
    const res = await fetch(`${tg.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${tg.adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  const bad400 = (param: string | null) => ({ status: 400, type: 'invalid_request_error', code: 'invalid_request', param });

  test('GET /plans lists the config plans with every limit (null = unlimited)', async () => {
    const r = await tg.admin('GET', '/plans');
    assert.equal(r.status, 200);
    assert.equal(r.body.object, 'list');
    assert.deepEqual(r.body.data.map((p: any) => p.id), ['basic', 'max', 'pro']);
    const basic = (await tg.admin('GET', '/plans/basic')).body;
    assert.deepEqual(basic, {
      id: 'basic',
      object: 'plan',
      name: 'Basic (free)',
      models: ['deepseek-v4-flash'],
      context_tokens: 128_000,
      max_output_tokens: 32_000,
      concurrency: 10,
      rpm: null,
      tpm: null,
      daily_tokens: 100_000_000,
      source: 'config',
      created_at: null,
      updated_at: null,
    });
    expectError(await raw('GET', '/plans/nope'), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null });
  });

  test('a plan id of the longest length allowed, with every character an id may hold, can be read and changed', async () => {
    for (const id of ['p'.repeat(128), `a/b:c.d_e-${'x'.repeat(118)}`]) {
      assert.equal(id.length, 128);
      const c = await tg.admin('POST', '/plans', { id, rpm: 5 });
      assert.equal(c.status, 201, JSON.stringify(c.body));
      const path = `/plans/${encodeURIComponent(id)}`;
      assert.equal((await tg.admin('GET', path)).body.id, id);
      const p = await tg.admin('PATCH', path, { rpm: 6 });
      assert.equal(p.status, 200, JSON.stringify(p.body));
      assert.equal(p.body.rpm, 6);
    }
    expectError(await raw('POST', '/plans', { id: 'p'.repeat(129) }), { status: 400, type: 'invalid_request_error', code: 'invalid_request' });
  });

  test('POST /plans creates a stored plan; accounts can use it at once', async () => {
    const c = await tg.admin('POST', '/plans', { id: 'team', name: 'Team', models: ['deepseek-*'], rpm: 2, concurrency: 5 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.equal(c.body.source, 'api');
    assert.equal(c.body.rpm, 2);
    assert.equal(c.body.tpm, null);
    assert.match(c.body.created_at, /^\d{4}-/);
    assert.deepEqual((await tg.admin('GET', '/plans/team')).body, c.body);
    // planExists uses the registry: assign it on create and on PATCH
    const a = await tg.admin('POST', '/accounts', { name: 't', plan: 'team' });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal((await tg.admin('PATCH', `/accounts/${a.body.id}`, { plan: 'team' })).status, 200);
    expectError(await raw('PATCH', `/accounts/${a.body.id}`, { plan: 'nope' }), bad400('plan'));
    const { key } = await tg.customer({ plan: 'team' });
    const r = await chat(tg, key, { model: 'deepseek-v4-pro' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '2');
  });

  test('POST /plans validation: duplicates 409, bad fields 400, unknown exact models 400', async () => {
    expectError(await raw('POST', '/plans', { id: 'basic' }), { status: 409, type: 'invalid_request_error', code: 'conflict', param: 'id' });
    expectError(await raw('POST', '/plans', { id: 'team' }), { status: 409, type: 'invalid_request_error', code: 'conflict', param: 'id' });
    expectError(await raw('POST', '/plans', {}), bad400('id'));
    expectError(await raw('POST', '/plans', { id: 'bad id!' }), bad400('id'));
    expectError(await raw('POST', '/plans', { id: 'x1', rpm: 0 }), bad400('rpm'));
    expectError(await raw('POST', '/plans', { id: 'x1', rpm: 1.5 }), bad400('rpm'));
    expectError(await raw('POST', '/plans', { id: 'x1', tpm: '100' }), bad400('tpm'));
    expectError(await raw('POST', '/plans', { id: 'x1', models: 'deepseek-v4-pro' }), bad400('models'));
    expectError(await raw('POST', '/plans', { id: 'x1', models: ['deepseek-v5'] }), bad400('models.0'));
    expectError(await raw('POST', '/plans', { id: 'x1', burst: 3 }), bad400('burst'));
    assert.equal((await tg.admin('GET', '/plans/x1')).status, 404);
    // a glob that matches nothing yet is allowed
    assert.equal((await tg.admin('POST', '/plans', { id: 'future', models: ['gpt-9*'] })).status, 201);
  });

  test('PATCH /plans/{id}: null removes a limit; a config plan gets a stored override', async () => {
    let p = await tg.admin('PATCH', '/plans/team', { rpm: null, tpm: 5000 });
    assert.equal(p.status, 200);
    assert.equal(p.body.rpm, null);
    assert.equal(p.body.tpm, 5000);
    assert.equal(p.body.concurrency, 5, 'other fields unchanged');
    p = await tg.admin('PATCH', '/plans/pro', { rpm: 600 });
    assert.equal(p.body.source, 'api');
    assert.equal(p.body.rpm, 600);
    assert.equal(p.body.context_tokens, 256_000, 'the config values are kept');
    expectError(await raw('PATCH', '/plans/nope', { rpm: 1 }), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null });
    expectError(await raw('PATCH', '/plans/pro', { id: 'other' }), bad400('id'));
    expectError(await raw('PATCH', '/plans/pro', { concurrency: -1 }), bad400('concurrency'));
  });

  test('API plans persist: limits built again from the same store see them', async () => {
    const fresh = await createLimits(tg.gw.rt.config, tg.gw.rt.db, tg.gw.rt.log);
    assert.equal(fresh.plans.get('team')?.tpm, 5000);
    assert.equal(fresh.plans.get('pro')?.rpm, 600);
    assert.equal(fresh.plans.get('pro')?.source, 'api');
    assert.equal(fresh.plans.get('basic')?.source, 'config');
    assert.deepEqual(fresh.plans.get('future')?.models, ['gpt-9*']);
  });

  test('keys: overrides on create, PATCH /keys/{id}, validation', async () => {
    const { accountId } = await tg.customer({ plan: 'pro' });
    const c = await tg.admin('POST', `/accounts/${accountId}/keys`, { name: 'batch', models: ['deepseek-v4-flash'], rpm: 5, tpm: 1000, daily_tokens: 50_000 });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    assert.deepEqual(c.body.overrides, { models: ['deepseek-v4-flash'], rpm: 5, tpm: 1000, daily_tokens: 50_000 });
    const id = c.body.id;
    let p = await tg.admin('PATCH', `/keys/${id}`, { name: 'renamed', rpm: 7, models: null });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.name, 'renamed');
    assert.deepEqual(p.body.overrides, { rpm: 7, tpm: 1000, daily_tokens: 50_000 });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    p = await tg.admin('PATCH', `/keys/${id}`, { expires_at: future });
    assert.equal(p.body.expires_at, future);
    p = await tg.admin('PATCH', `/keys/${id}`, { expires_at: null, overrides: null });
    assert.equal(p.body.expires_at, null);
    assert.equal(p.body.overrides, null);
    // the stored row matches what GET lists
    const listed = (await tg.admin('GET', `/accounts/${accountId}/keys`)).body.data.find((k: any) => k.id === id);
    assert.deepEqual(listed, p.body);
    expectError(await raw('PATCH', `/keys/${id}`, { rpm: 0 }), bad400('rpm'));
    expectError(await raw('PATCH', `/keys/${id}`, { models: ['nope-model'] }), bad400('models.0'));
    expectError(await raw('PATCH', `/keys/${id}`, { overrides: { models: ['nope-model'] } }), bad400('overrides.models.0'));
    expectError(await raw('PATCH', `/keys/${id}`, { overrides: { burst: 1 } }), bad400('overrides.burst'));
    expectError(await raw('PATCH', `/keys/${id}`, { expires_at: new Date(Date.now() - 1000).toISOString() }), bad400('expires_at'));
    expectError(await raw('PATCH', '/keys/key_nope', { rpm: 1 }), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null });
    expectError(await raw('POST', `/accounts/${accountId}/keys`, { tpm: -5 }), bad400('tpm'));
  });

  test('a key expired through PATCH is refused on its next request', async () => {
    const { key, keyId } = await tg.customer({ plan: 'pro' });
    assert.equal((await chat(tg, key)).status, 200);
    const soon = Date.now() + 300;
    assert.equal((await tg.admin('PATCH', `/keys/${keyId}`, { expires_at: new Date(soon).toISOString() })).status, 200);
    await new Promise((r) => setTimeout(r, soon - Date.now() + 20));
    expectError(await chat(tg, key), { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null });
  });

  test('GET /accounts/{id}/limits: plan, overrides per key, usage against each limit', async () => {
    await tg.admin('POST', '/plans', { id: 'metered', models: ['deepseek-v4-flash'], concurrency: 3, rpm: 10, tpm: 10_000, daily_tokens: 1_000_000 });
    const { key, accountId, keyId } = await tg.customer({ plan: 'metered' });
    const k2 = await tg.admin('POST', `/accounts/${accountId}/keys`, { name: 'second', rpm: 2 });
    const revoked = await tg.admin('POST', `/accounts/${accountId}/keys`, { name: 'gone' });
    await tg.admin('DELETE', `/keys/${revoked.body.id}`);
    const t0 = Date.UTC(2030, 6, 1, 10, 0, 0);
    const clock = fakeClock(tg, t0);
    up.behave({ promptTokens: 100, completionTokens: 50 });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await chat(tg, key)).status, 200);
      assert.equal((await chat(tg, k2.body.key)).status, 200);
      await waitIdle(tg, accountId);
      clock.advance(20_000);
      const v = await limitsOf(tg, accountId);
      assert.equal(v.object, 'account.limits');
      assert.equal(v.account_id, accountId);
      assert.equal(v.plan_id, 'metered');
      assert.equal(v.plan.id, 'metered');
      assert.equal(v.plan.tpm, 10_000);
      assert.deepEqual(v.concurrency, { limit: 3, in_flight: 0 });
      assert.deepEqual(v.daily_tokens, { limit: 1_000_000, used: 600, remaining: 999_400, resets_at: '2030-07-02T00:00:00.000Z' });
      assert.deepEqual(v.keys.map((k: any) => k.id), [keyId, k2.body.id], 'revoked keys are left out');
      const [first, second] = v.keys;
      assert.equal(first.overrides, null);
      assert.deepEqual(first.models, { plan: ['deepseek-v4-flash'], key: null });
      assert.deepEqual(first.requests_per_minute, { limit: 10, used: 3, remaining: 7, resets_in: '40s' });
      assert.deepEqual(first.tokens_per_minute, { limit: 10_000, used: 450, remaining: 9550, resets_in: '40s' });
      assert.deepEqual(first.daily_tokens, { limit: null, used: 450, remaining: null, resets_at: '2030-07-02T00:00:00.000Z' });
      assert.deepEqual(second.overrides, { rpm: 2 });
      assert.deepEqual(second.requests_per_minute, { limit: 2, used: 1, remaining: 1, resets_in: '40s' });
      assert.equal(second.daily_tokens.used, 150);
      expectError(await raw('GET', '/accounts/acct_nope/limits'), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null });
      // an account with no plan: everything unlimited, usage still shown
      const free = await tg.admin('POST', '/accounts', { name: 'no plan', plan: null });
      const fv = await limitsOf(tg, free.body.id);
      assert.equal(fv.plan, null);
      assert.deepEqual(fv.concurrency, { limit: null, in_flight: 0 });
    } finally {
      up.behave({});
      clock.restore();
    }
  });
});
