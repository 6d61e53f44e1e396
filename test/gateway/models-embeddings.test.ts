import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import { expectError, get, post, upstreamSecrets } from '../helpers/http.ts';

// GET /v1/models, /v1/models/{id} (bare and owner/model ids), the /api/v1 prefix, and
// embeddings through the SDK.

describe('models and embeddings', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;

  onFakeOpenAI((s) => ({ up, tg, key } = s));

  for (const base of ['/v1', '/api/v1']) {
    test(`GET ${base}/models lists every configured model in OpenAI shape`, async () => {
      const client = new OpenAI({ baseURL: `${tg.url}${base}`, apiKey: key, maxRetries: 0 });
      const ids: string[] = [];
      for await (const m of client.models.list()) {
        ids.push(m.id);
        assert.equal(m.object, 'model');
        assert.equal(typeof m.created, 'number');
        assert.ok(m.created > 1_700_000_000);
      }
      assert.deepEqual(ids.sort(), ['deepseek-v4-flash', 'deepseek-v4-pro', 'embed-small']);
      const raw = JSON.parse((await get(`${tg.url}${base}/models`, { key })).text);
      assert.equal(raw.object, 'list');
      const flash = raw.data.find((m: any) => m.id === 'deepseek-v4-flash');
      assert.deepEqual(flash, { id: 'deepseek-v4-flash', object: 'model', created: flash.created, owned_by: 'deepseek', context_window: 1_000_000 });
    });

    test(`GET ${base}/models/{id} returns one model, also in owner/model form`, async () => {
      const client = new OpenAI({ baseURL: `${tg.url}${base}`, apiKey: key, maxRetries: 0 });
      const m = await client.models.retrieve('deepseek-v4-pro');
      assert.equal(m.id, 'deepseek-v4-pro');
      assert.equal(m.owned_by, 'deepseek');
      assert.equal(m.object, 'model');
      const r = await get(`${tg.url}${base}/models/deepseek/deepseek-v4-pro`, { key });
      assert.equal(r.status, 200, r.text);
      assert.equal(JSON.parse(r.text).id, 'deepseek-v4-pro');
    });
  }

  test('GET /v1/models/{id} for an unknown model, or the wrong owner, is 404 model_not_found', async () => {
    for (const id of ['no-such-model', 'openai/deepseek-v4-pro']) {
      expectError(await get(`${tg.url}/v1/models/${id}`, { key }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' }, [...upstreamSecrets(up), key]);
    }
  });

  test('the models endpoints require a valid key', async () => {
    expectError(await get(`${tg.url}/v1/models`), { status: 401, type: 'authentication_error', code: 'invalid_api_key' });
    expectError(await get(`${tg.url}/v1/models/deepseek-v4-pro`, { key: 'sk-tg-nope' }), { status: 401, type: 'authentication_error', code: 'invalid_api_key' });
  });

  for (const base of ['/v1', '/api/v1']) {
    test(`embeddings via the SDK under ${base}`, async () => {
      up.behave({ promptTokens: 12 });
      const client = new OpenAI({ baseURL: `${tg.url}${base}`, apiKey: key, maxRetries: 0 });
      const n = up.requests.length;
      const { data: r, response } = await client.embeddings.create({ model: 'embed-small', input: ['hello', 'world'], encoding_format: 'float', dimensions: 3 }).withResponse();
      const seen = up.requests[n]!;
      assert.equal(seen.path, '/v1/embeddings');
      assert.deepEqual(seen.body, { model: 'text-embedding-3-small', input: ['hello', 'world'], encoding_format: 'float', dimensions: 3 });
      assert.equal(r.model, 'embed-small');
      assert.equal(r.data.length, 2);
      assert.deepEqual(r.data[1]!.embedding, [0.1, 0.2, 0.3]);
      assert.equal(r.data[1]!.index, 1);
      assert.equal(r.usage.prompt_tokens, 12);
      // 12 × $0.02/M = $0.00000024
      assert.equal((r.usage as any).cost, '0.00000024');
      assert.equal(response.headers.get('x-tollgate-cost'), '0.00000024');
      // The same routing metadata as a chat answer's.
      assert.match(response.headers.get('x-tollgate-latency-ms') ?? '', /^\d+$/);
      assert.equal(response.headers.get('x-tollgate-provider'), 'fake');
      assert.equal(response.headers.get('x-tollgate-upstream-model'), 'text-embedding-3-small');
      assert.equal(response.headers.get('x-tollgate-failover'), 'false');
    });
  }

  test('embeddings: the upstream gets the client\'s bytes but for the model', async () => {
    up.behave({});
    const sent = '{ "input": ["a \\"quoted\\" text"], "model": "embed-small", "dimensions": 3.0 }';
    const n = up.requests.length;
    const r = await post(`${tg.url}/v1/embeddings`, sent, { key });
    assert.equal(r.status, 200, r.text);
    assert.equal(up.requests[n]!.text, sent.replace('"model": "embed-small"', '"model": "text-embedding-3-small"'));
  });

  test('embeddings: the client gets the upstream\'s float spellings, with only model and usage changed', async () => {
    // Re-serialising would print these as 0.1, -0.00001 and 2.5.
    const head = '{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.10000000000000000555, -1.0E-5, 2.50]}], "model": ';
    const tail = '}';
    up.behave({ rawBody: `${head}"text-embedding-3-small", "usage": {"prompt_tokens": 12, "total_tokens": 12}${tail}` });
    const r = await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, `${head}"embed-small", "usage": {"prompt_tokens":12,"total_tokens":12,"cost":"0.00000024"}${tail}`);
  });

  test('embeddings usage: what the upstream charged the operator is not passed on, and a report of input_tokens gets prompt_tokens', async () => {
    const answer = (usage: object) => JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5] }], model: 'text-embedding-3-small', usage });
    up.behave({ rawBody: answer({ prompt_tokens: 7, total_tokens: 7, cost: 0.5, cost_details: { upstream_inference_cost: 0.5 }, is_byok: false }) });
    const r = await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text).usage, { prompt_tokens: 7, total_tokens: 7, cost: '0.00000014' });
    up.behave({ rawBody: answer({ input_tokens: 7 }) });
    const i = await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key });
    const usage = JSON.parse(i.text).usage;
    assert.deepEqual([usage.prompt_tokens, usage.total_tokens], [7, 7], i.text);
  });

  test('embeddings usage: a completion count beside an embedding is neither billed, logged nor passed on', async () => {
    const answer = JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.5] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 2, completion_tokens: 900, total_tokens: 902 } });
    up.behave({ rawBody: answer });
    const r = await post(`${tg.url}/v1/embeddings`, { model: 'embed-small', input: 'x' }, { key });
    assert.equal(r.status, 200, r.text);
    // embed-small costs $0.02 per 1M input tokens: 2 tokens, 40,000 pUSD.
    assert.deepEqual(JSON.parse(r.text).usage, { prompt_tokens: 2, total_tokens: 2, cost: '0.00000004' });
    await tg.gw.rt.journal.flush();
    const id = r.headers.get('x-request-id');
    const row = (await tg.admin('GET', '/requests?limit=50')).body.data.find((x: any) => x.id === id);
    assert.equal(row.prompt_tokens, 2);
    assert.equal(row.completion_tokens, 0);
  });

  test('a chat model on /v1/embeddings and an embedding model on /v1/chat/completions are 400s', async () => {
    const n = up.requests.length;
    expectError(await post(`${tg.url}/v1/embeddings`, { model: 'deepseek-v4-flash', input: 'x' }, { key }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'model' });
    expectError(await post(`${tg.url}/v1/chat/completions`, { model: 'embed-small', messages: [{ role: 'user', content: 'x' }] }, { key }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'model' });
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test('embeddings input is validated before the upstream is called', async () => {
    const n = up.requests.length;
    for (const body of [{ model: 'embed-small' }, { model: 'embed-small', input: '' }, { model: 'embed-small', input: [] }, { model: 'embed-small', input: [{}] }]) {
      expectError(await post(`${tg.url}/v1/embeddings`, body, { key }), { status: 400, type: 'invalid_request_error', code: 'invalid_request', param: 'input' });
    }
    expectError(await post(`${tg.url}/v1/embeddings`, { model: 'nope', input: 'x' }, { key }), { status: 404, type: 'invalid_request_error', code: 'model_not_found', param: 'model' });
    assert.equal(up.requests.length, n);
  });
});
