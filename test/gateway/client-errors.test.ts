import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { defaultConfig, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { expectError, get, post, sleep, upstreamSecrets } from '../helpers/http.ts';

// Errors caused by the client: authentication, request validation, unknown models and
// endpoints, oversized bodies. Exact status, type, code and param; request_id equal to
// the x-request-id header; nothing reaches the upstream; nothing secret in the reply.

const CHAT = { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] };

describe('client errors', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let forbidden: string[];

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ config: { ...defaultConfig(up.baseUrl), max_body_bytes: 4096 } });
    ({ key } = await tg.customer());
    forbidden = [...upstreamSecrets(up), key];
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  const chat = (body: unknown, opts: { key?: string | null; headers?: Record<string, string> } = { key }) => post(`${tg.url}/v1/chat/completions`, body, opts);
  const auth401 = { status: 401, type: 'authentication_error', code: 'invalid_api_key', param: null };

  describe('authentication', () => {
    test('missing Authorization header', async () => {
      const n = up.requests.length;
      const e = expectError(await chat(CHAT, { key: null }), auth401, forbidden);
      assert.match(e.message, /Missing API key/);
      assert.equal(up.requests.length, n);
    });

    test('malformed Authorization header (no Bearer scheme)', async () => {
      for (const h of [key, `Basic ${Buffer.from(`x:${key}`).toString('base64')}`, 'Bearer', `Token ${key}`]) {
        const e = expectError(await chat(CHAT, { key: null, headers: { authorization: h } }), auth401, forbidden);
        assert.match(e.message, /Malformed Authorization header|Malformed API key/);
      }
    });

    test('a key with the wrong prefix', async () => {
      const wrong = `sk-proj-${key.slice('sk-tg-'.length)}`;
      const e = expectError(await chat(CHAT, { key: wrong }), auth401, [...forbidden, wrong]);
      assert.match(e.message, /Malformed API key/);
    });

    test('an unknown key of the right shape', async () => {
      const unknown = `sk-tg-${'A'.repeat(43)}`;
      const e = expectError(await chat(CHAT, { key: unknown }), auth401, [...forbidden, unknown]);
      assert.equal(e.message, 'Invalid API key.');
      // Asked twice (the second answer comes from the negative cache): same answer.
      expectError(await chat(CHAT, { key: unknown }), auth401, [...forbidden, unknown]);
    });

    test('an expired key stops working when it expires', async () => {
      const { accountId } = await tg.customer();
      const created = await tg.admin('POST', `/accounts/${accountId}/keys`, { name: 'short', expires_at: new Date(Date.now() + 1200).toISOString() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const short: string = created.body.key;
      assert.equal((await chat(CHAT, { key: short })).status, 200);
      await sleep(Math.max(0, Date.parse(created.body.expires_at) - Date.now()) + 50);
      const n = up.requests.length;
      const e = expectError(await chat(CHAT, { key: short }), auth401, [...forbidden, short]);
      assert.match(e.message, /expired/);
      expectError(await get(`${tg.url}/v1/models`, { key: short }), auth401, [...forbidden, short]);
      assert.equal(up.requests.length, n);
    });

    test('a revoked key is refused on the very next request', async () => {
      const c = await tg.customer();
      assert.equal((await chat(CHAT, { key: c.key })).status, 200);
      const del = await tg.admin('DELETE', `/keys/${c.keyId}`);
      assert.equal(del.status, 200);
      assert.ok(del.body.revoked_at);
      const e = expectError(await chat(CHAT, { key: c.key }), auth401, [...forbidden, c.key]);
      assert.match(e.message, /revoked/);
      expectError(await get(`${tg.url}/v1/models`, { key: c.key }), auth401, [...forbidden, c.key]);
      // Other keys are unaffected.
      assert.equal((await chat(CHAT)).status, 200);
    });

    test('the admin token is not an API key', async () => {
      expectError(await chat(CHAT, { key: tg.adminToken }), auth401, [...forbidden, tg.adminToken]);
    });
  });

  describe('request validation', () => {
    const bad = (param: string | null, code = 'invalid_request') => ({ status: 400, type: 'invalid_request_error', code, param });
    const cases: Array<[string, unknown, ReturnType<typeof bad>]> = [
      ['malformed JSON', '{"model": "deepseek-v4-flash", "messages": [', bad(null, 'invalid_json')],
      ['an empty body', '', bad(null, 'invalid_json')],
      ['a body that is an array', '[1,2,3]', bad(null)],
      ['a body that is a string', '"hello"', bad(null)],
      ['a body that is null', 'null', bad(null)],
      ['missing model', { messages: CHAT.messages }, bad('model')],
      ['model of the wrong type', { model: 42, messages: CHAT.messages }, bad('model')],
      ['empty model', { model: '', messages: CHAT.messages }, bad('model')],
      ['missing messages', { model: 'deepseek-v4-flash' }, bad('messages')],
      ['messages not an array', { model: 'deepseek-v4-flash', messages: 'hi' }, bad('messages')],
      ['empty messages', { model: 'deepseek-v4-flash', messages: [] }, bad('messages')],
      ['a message that is not an object', { model: 'deepseek-v4-flash', messages: ['hi'] }, bad('messages[0]')],
      ['a message without a role', { model: 'deepseek-v4-flash', messages: [{ content: 'hi' }] }, bad('messages[0].role')],
      ['a message with an unknown role', { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'a' }, { role: 'wizard', content: 'hi' }] }, bad('messages[1].role')],
      ['stream of the wrong type', { ...CHAT, stream: 'yes' }, bad('stream')],
      ['max_tokens 0', { ...CHAT, max_tokens: 0 }, bad('max_tokens')],
      ['max_tokens "10"', { ...CHAT, max_tokens: '10' }, bad('max_tokens')],
      ['max_tokens 1.5', { ...CHAT, max_tokens: 1.5 }, bad('max_tokens')],
      ['max_completion_tokens -1', { ...CHAT, max_completion_tokens: -1 }, bad('max_completion_tokens')],
      ['tools not an array', { ...CHAT, tools: {} }, bad('tools')],
      ['response_format not an object', { ...CHAT, response_format: 'json' }, bad('response_format')],
      ['a json_schema response_format without json_schema', { ...CHAT, response_format: { type: 'json_schema' } }, bad('response_format.json_schema')],
      ['a json_schema whose schema is false', { ...CHAT, response_format: { type: 'json_schema', json_schema: { name: 's', schema: false } } }, bad('response_format.json_schema.schema')],
      ['a json_schema whose schema is a string', { ...CHAT, response_format: { type: 'json_schema', json_schema: { name: 's', schema: 'object' } } }, bad('response_format.json_schema.schema')],
    ];
    for (const [name, body, exp] of cases) {
      test(`400 for ${name}`, async () => {
        const n = up.requests.length;
        expectError(await chat(body), exp, forbidden);
        assert.equal(up.requests.length, n, 'nothing reached the upstream');
      });
    }

    test('400s come back on the streaming path too, as JSON, not as a stream', async () => {
      expectError(await chat({ model: 'deepseek-v4-flash', stream: true, messages: [] }), bad('messages'), forbidden);
    });
  });

  test('404 model_not_found for an unknown model (and an owner/model id with the wrong owner)', async () => {
    const n = up.requests.length;
    for (const model of ['gpt-nonexistent', 'openai/deepseek-v4-flash']) {
      const e = expectError(await chat({ ...CHAT, model }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' }, forbidden);
      assert.ok(e.message.includes(model));
    }
    assert.equal(up.requests.length, n);
  });

  test('413 request_too_large for a body over max_body_bytes', async () => {
    const n = up.requests.length;
    const big = { ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(8000) }] };
    expectError(await chat(big), { status: 413, type: 'invalid_request_error', code: 'request_too_large', param: null }, forbidden);
    expectError(await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'y'.repeat(8000) }, { key }), { status: 413, type: 'invalid_request_error', code: 'request_too_large', param: null }, forbidden);
    assert.equal(up.requests.length, n);
    // Just under the limit is fine.
    assert.equal((await chat({ ...CHAT, messages: [{ role: 'user', content: 'x'.repeat(3000) }] })).status, 200);
  });

  test('404 not_found for unknown endpoints', async () => {
    const cases = [
      () => get(`${tg.url}/v1/nope`, { key }),
      () => post(`${tg.url}/v1/completions`, { model: 'deepseek-v4-flash', prompt: 'hi' }, { key }),
      () => post(`${tg.url}/v2/chat/completions`, CHAT, { key }),
      () => get(`${tg.url}/`),
    ];
    const messages: string[] = [];
    for (const c of cases) {
      const e = expectError(await c(), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null }, forbidden);
      assert.match(e.message, /Unknown endpoint/);
      messages.push(e.message);
    }
    assert.match(messages[1]!, /not the legacy Completions API: send the prompt as a user message/);
    assert.equal(messages[0], 'Unknown endpoint: GET /v1/nope.');
    // Names that are properties of every object say nothing more either.
    for (const name of ['constructor', '__proto__', 'toString']) {
      assert.equal(expectError(await get(`${tg.url}/v1/${name}`, { key }), { status: 404, type: 'invalid_request_error', code: 'not_found', param: null }, forbidden).message, `Unknown endpoint: GET /v1/${name}.`);
    }
    // A known endpoint asked with the wrong method says which one it takes.
    const e = expectError(await get(`${tg.url}/v1/chat/completions`, { key }), { status: 405, type: 'invalid_request_error', code: 'method_not_allowed', param: null }, forbidden);
    assert.match(e.message, /takes POST/);
  });

  test('URLs the router refuses (bad percent-encoding, a path segment over 384 characters) get OpenAI-shaped errors too', async () => {
    const admin = { authorization: `Bearer ${tg.adminToken}` };
    const bad = expectError(await get(`${tg.url}/admin/v1/accounts/%E0%A4%A`, { headers: admin }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: null }, forbidden);
    assert.match(bad.message, /percent-encoding/);
    const long = expectError(await get(`${tg.url}/admin/v1/accounts/${'a'.repeat(385)}`, { headers: admin }), { status: 414, type: 'invalid_request_error', code: 'invalid_request', param: null }, forbidden);
    assert.match(long.message, /longer than the 384 characters/);
    // 384 is still a (missing) account, not a refusal.
    expectError(await get(`${tg.url}/admin/v1/accounts/${'a'.repeat(384)}`, { headers: admin }), { status: 404, type: 'invalid_request_error', code: 'not_found' }, forbidden);
  });
});
