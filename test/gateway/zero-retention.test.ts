import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, post } from '../helpers/http.ts';

// A request that asks for zero retention (x-tollgate-zero-retention, or idclinks'
// idc-no-retention) reaches only providers marked zero_retention, fails over only among
// them, and is refused before any reservation when its model has none.

describe('zero-retention routing', () => {
  let keeps: FakeOpenAI; // the preferred route, whose provider may keep data
  let zdr: FakeOpenAI; // a provider under a zero-retention agreement
  let tg: TestGateway;
  let key: string;
  let accountId: string;

  before(async () => {
    keeps = await startFakeOpenAI();
    zdr = await startFakeOpenAI();
    tg = await startTestGateway({
      config: {
        providers: [
          { id: 'keeps', kind: 'openai', base_url: keeps.baseUrl, api_key: 'k1' },
          { id: 'zdr', kind: 'openai', base_url: zdr.baseUrl, api_key: 'k2', zero_retention: true },
          // A zero-retention provider that is down: nothing listens on port 9.
          { id: 'zdr-down', kind: 'openai', base_url: 'http://127.0.0.1:9/v1', api_key: 'k3', zero_retention: true },
        ],
        models: [
          { id: 'mixed', upstreams: [{ provider: 'keeps', model: 'm-keeps', priority: 2 }, { provider: 'zdr', model: 'm-zdr', priority: 1 }], pricing: { input: '1', output: '2' } },
          { id: 'plain', upstreams: [{ provider: 'keeps', model: 'm-keeps' }], pricing: { input: '1', output: '2' } },
          { id: 'zdr-dead', upstreams: [{ provider: 'zdr-down', model: 'm', priority: 2 }, { provider: 'keeps', model: 'm-keeps', priority: 1 }], pricing: { input: '1', output: '2' } },
          { id: 'embed', type: 'embedding', upstreams: [{ provider: 'keeps', model: 'e' }], pricing: { input: '1', output: '0' } },
        ],
      },
    });
    ({ key, accountId } = await tg.customer({ creditUsd: '10' }));
  });
  after(async () => {
    await tg.close();
    await keeps.close();
    await zdr.close();
  });

  const chat = (model: string, headers: Record<string, string> = {}) => post(`${tg.url}/v1/chat/completions`, { model, messages: [{ role: 'user', content: 'hi' }] }, { key, headers });

  test('without the header the preferred route answers, as always', async () => {
    const res = await chat('mixed');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-tollgate-provider'), 'keeps');
    assert.equal(res.headers.get('x-tollgate-zero-retention'), null);
  });

  test('with it (either name) only the zero-retention provider is called, and the answer says so', async () => {
    for (const headers of [{ 'x-tollgate-zero-retention': 'true' }, { 'idc-no-retention': 'TRUE' }, { 'x-tollgate-zero-retention': '1' }] as Record<string, string>[]) {
      const before = keeps.requests.length;
      const res = await chat('mixed', headers);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-tollgate-provider'), 'zdr');
      assert.equal(res.headers.get('x-tollgate-zero-retention'), 'true');
      assert.equal(res.headers.get('x-tollgate-failover'), 'false', 'the restricted order starts at its own first route');
      assert.equal(keeps.requests.length, before, 'the provider that may keep data got nothing');
    }
  });

  test('"false" asks for nothing; a value that is neither is a 400 naming the header', async () => {
    const off = await chat('mixed', { 'x-tollgate-zero-retention': 'false' });
    assert.equal(off.headers.get('x-tollgate-provider'), 'keeps');
    const e = expectError(await chat('mixed', { 'idc-no-retention': 'yes' }), { status: 400, type: 'invalid_request_error', code: 'invalid_request' });
    assert.match(e.message, /idc-no-retention header must be true or false/);
  });

  test('streams through the official SDK, sent with the header', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0, defaultHeaders: { 'x-tollgate-zero-retention': 'true' } });
    const before = zdr.requests.length;
    const stream = await client.chat.completions.create({ model: 'mixed', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.ok(text.length > 0);
    assert.equal(zdr.requests.length, before + 1);
  });

  test('a model without a zero-retention route is refused before anything is reserved or sent', async () => {
    const balance = (await tg.admin('GET', `/accounts/${accountId}`)).body.balance_usd;
    const before = keeps.requests.length;
    for (const res of [await chat('plain', { 'x-tollgate-zero-retention': 'true' }), await post(`${tg.url}/v1/embeddings`, { model: 'embed', input: 'x' }, { key, headers: { 'idc-no-retention': 'true' } })]) {
      const e = expectError(res, { status: 400, type: 'invalid_request_error', code: 'zero_retention_unavailable', param: 'model' });
      assert.match(e.message, /has no zero-retention route/);
    }
    assert.equal(keeps.requests.length, before);
    await tg.gw.rt.journal.flush();
    assert.equal((await tg.admin('GET', `/accounts/${accountId}`)).body.balance_usd, balance);
  });

  test('failover stays among zero-retention providers: with them down, a 502, never the provider that keeps data', async () => {
    const before = keeps.requests.length;
    const res = await chat('zdr-dead', { 'x-tollgate-zero-retention': 'true' });
    expectError(res, { status: 502, type: 'api_error', code: 'upstream_error' });
    assert.equal(keeps.requests.length, before);
    // Without the header the same model fails over to it.
    const open = await chat('zdr-dead');
    assert.equal(open.status, 200, open.text);
    assert.equal(open.headers.get('x-tollgate-provider'), 'keeps');
  });
});
