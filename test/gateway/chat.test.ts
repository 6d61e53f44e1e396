import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { post } from '../helpers/http.ts';

// Non-streaming chat completions through the gateway with the official OpenAI SDK.

describe('chat completions (non-streaming)', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let client: OpenAI;
  let key: string;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key } = await tg.customer());
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  test('content comes back; model is rewritten to the upstream name and back to the public id', async () => {
    up.behave({ text: 'The answer is 42.' });
    const n = up.requests.length;
    const { data: r, response } = await client.chat.completions
      .create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'question' }] })
      .withResponse();
    assert.equal(up.requests.length, n + 1);
    const seen = up.requests[n]!;
    assert.equal(seen.path, '/v1/chat/completions');
    assert.equal(seen.body.model, 'upstream-flash');
    assert.equal(seen.headers.authorization, 'Bearer sk-upstream-secret-value-123');
    // The customer's key never travels upstream.
    assert.ok(!JSON.stringify(seen.headers).includes(key));
    assert.ok(!JSON.stringify(seen.body).includes(key));
    assert.equal(r.model, 'deepseek-v4-flash');
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.id, 'chatcmpl-fake123');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.equal(r.choices[0]!.message.content, 'The answer is 42.');
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.equal(response.headers.get('x-tollgate-provider'), 'fake');
    assert.equal(response.headers.get('x-tollgate-upstream-model'), 'upstream-flash');
    // time-ordered: 9 base-36 digits of milliseconds, then 64 random bits in hex
    assert.match(response.headers.get('x-request-id') ?? '', /^req_[0-9a-z]{9}[0-9a-f]{16}$/);
  });

  test('the model is rewritten even when the upstream reports a dated snapshot name', async () => {
    up.behave({ reportModel: 'upstream-flash-2025-01-01' });
    const r = await client.chat.completions.create({ model: 'deepseek-v4-pro', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(up.requests.at(-1)!.body.model, 'upstream-pro');
    assert.equal(r.model, 'deepseek-v4-pro');
  });

  test('every other request field reaches the upstream untouched', async () => {
    // The answer must satisfy the json_schema below: the gateway validates it.
    up.behave({ text: '{"city":"Paris"}' });
    const body = {
      model: 'deepseek-v4-flash',
      messages: [
        { role: 'system', content: 'be terse' },
        { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_0', type: 'function', function: { name: 'noop', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'call_0', content: 'ok' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'w', schema: { type: 'object' } } },
      temperature: 0.25,
      top_p: 0.9,
      stop: ['\n\n', 'END'],
      seed: 1234,
      logprobs: true,
      top_logprobs: 3,
      user: 'user-77',
      max_tokens: 100,
      presence_penalty: 0.1,
      foo_bar: { x: 1 },
    };
    const n = up.requests.length;
    const res = await post(`${tg.url}/v1/chat/completions`, body, { key });
    assert.equal(res.status, 200, res.text);
    const { model: sentModel, ...rest } = up.requests[n]!.body;
    const { model: _m, ...expected } = body;
    assert.equal(sentModel, 'upstream-flash');
    assert.deepEqual(rest, expected);
  });

  test("the upstream gets the client's bytes, but for the members the gateway sets", async () => {
    up.behave({});
    // Re-serialising would turn 1.0 into 1, round the seed (above 2^53) to
    // 12345678901234567000 and drop the spacing and the escaped key's spelling.
    const sent = `{
  "messages" : [ {"role":"user", "content":"say \\"model\\": hi"} ],
  "temperature": 1.0,
  "seed": 12345678901234567890,
  "logit_bias": {"50256": -100},
  "m\\u006fdel": "deepseek-v4-flash",
  "stream_options": {"include_usage": false, "x": 1},
  "stream": true
}`;
    const n = up.requests.length;
    const res = await post(`${tg.url}/v1/chat/completions`, sent, { key });
    assert.equal(res.status, 200, res.text);
    const expected = sent
      .replace('"m\\u006fdel": "deepseek-v4-flash"', '"m\\u006fdel": "upstream-flash"')
      .replace('{"include_usage": false, "x": 1}', '{"include_usage":true,"x":1}')
      // The model has no max_output_tokens: the 16,384 tokens reserved are sent as its cap.
      .replace(/\n}$/, '\n,"max_tokens":16384}');
    assert.equal(up.requests[n]!.text, expected);
    // The client did not ask for usage: the frame Tollgate asked for is not relayed.
    assert.ok(!res.text.includes('"usage":{'), res.text);
  });

  test('the same fields pass through the SDK (the unknown field included)', async () => {
    up.behave({});
    const n = up.requests.length;
    await client.chat.completions.create({
      model: 'deepseek-v4-flash',
      messages: [{ role: 'user', content: 'hi' }],
      temperature: 0,
      stop: 'STOP',
      seed: 7,
      logprobs: false,
      user: 'u1',
      // @ts-expect-error a field this SDK version does not know
      foo_bar: { x: 1 },
    });
    const b = up.requests[n]!.body;
    assert.deepEqual(b, { model: 'upstream-flash', messages: [{ role: 'user', content: 'hi' }], temperature: 0, stop: 'STOP', seed: 7, logprobs: false, user: 'u1', foo_bar: { x: 1 }, max_tokens: 16384 });
  });

  test('tool_calls come back', async () => {
    up.behave({ toolCalls: [{ id: 'call_abc', name: 'get_weather', arguments: '{"city":"Paris"}' }, { id: 'call_def', name: 'get_time', arguments: '{"tz":"CET"}' }] });
    const r = await client.chat.completions.create({
      model: 'deepseek-v4-flash',
      messages: [{ role: 'user', content: 'weather and time in Paris' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string' } } } } },
      ],
    });
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.content, null);
    assert.deepEqual(c.message.tool_calls, [
      { id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_def', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
    ]);
  });

  for (const cacheStyle of ['openai', 'deepseek'] as const) {
    test(`usage carries both cache styles and the cost (upstream reports ${cacheStyle} style)`, async () => {
      up.behave({ cacheStyle, promptTokens: 100, cachedTokens: 40, completionTokens: 10 });
      const { data: r, response } = await client.chat.completions
        .create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'cache me' }] })
        .withResponse();
      const u = r.usage as any;
      assert.equal(u.prompt_tokens, 100);
      assert.equal(u.completion_tokens, 10);
      assert.equal(u.total_tokens, 110);
      assert.equal(u.prompt_tokens_details.cached_tokens, 40);
      assert.equal(u.prompt_cache_hit_tokens, 40);
      assert.equal(u.prompt_cache_miss_tokens, 60);
      // 60 × $0.16/M + 40 × $0.004/M + 10 × $0.30/M = $0.00001276
      assert.equal(u.cost, '0.00001276');
      assert.equal(response.headers.get('x-tollgate-cost'), '0.00001276');
    });
  }

  test('usage without any cache information reports zero cached tokens in both styles', async () => {
    up.behave({ usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
    const r = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] });
    const u = r.usage as any;
    assert.equal(u.prompt_tokens, 5);
    assert.equal(u.completion_tokens, 3);
    assert.equal(u.total_tokens, 8);
    assert.equal(u.prompt_tokens_details.cached_tokens, 0);
    assert.equal(u.prompt_cache_hit_tokens, 0);
    assert.equal(u.prompt_cache_miss_tokens, 5);
    // 5 × 0.16 + 3 × 0.30 = 1.7 $/M
    assert.equal(u.cost, '0.0000017');
  });

  test('the owner/model form of a model id works for chat and is echoed back as sent', async () => {
    up.behave({ text: 'hi' });
    const r = await client.chat.completions.create({ model: 'deepseek/deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(up.requests.at(-1)!.body.model, 'upstream-flash');
    assert.equal(r.choices[0]!.message.content, 'hi');
    assert.equal(r.model, 'deepseek/deepseek-v4-flash');
  });

  test('the answer is the upstream\'s own bytes but for model and usage: spacing, number spellings and escapes survive', async () => {
    // Pieces of a pretty-printed answer; only the model and usage values may change.
    const head = '{\n  "id": "chatcmpl-raw1",\n  "object": "chat.completion",\n  "created": 1764540000,\n  "model": ';
    const middle =
      ',\n  "choices": [{"index": 0, "message": {"role": "assistant", "content": "caf\\u00e9 \\"ok\\""}, "logprobs": null, "finish_reason": "stop"}],' +
      '\n  "x_vendor_score": 1.0,\n  "x_vendor_id": 12345678901234567890,\n  "usage": ';
    const usage = '{"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "prompt_cache_hit_tokens": 8, "prompt_cache_miss_tokens": 4}';
    const tail = ',\n  "system_fingerprint": "fp_raw"\n}\n';
    up.behave({ rawBody: `${head}"upstream-flash"${middle}${usage}${tail}` });
    const res = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] }, { key });
    assert.equal(res.status, 200);
    const expectedStart = `${head}"deepseek-v4-flash"${middle}`;
    assert.ok(res.text.startsWith(expectedStart), `the answer changed before its usage:\n${res.text}`);
    assert.ok(res.text.endsWith(tail), `the answer changed after its usage:\n${res.text}`);
    // 4 × $0.16/M + 8 × $0.004/M + 3 × $0.30/M = $0.000001572
    assert.deepEqual(JSON.parse(res.text.slice(expectedStart.length, res.text.length - tail.length)), {
      prompt_tokens: 12,
      completion_tokens: 3,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 8 },
      prompt_cache_hit_tokens: 8,
      prompt_cache_miss_tokens: 4,
      cost: '0.000001572',
    });
    assert.equal(res.headers.get('x-tollgate-cost'), '0.000001572');
    // And it is still what the SDK reads.
    const r = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.choices[0]!.message.content, 'café "ok"');
    assert.equal(r.model, 'deepseek-v4-flash');
    assert.equal(r.usage!.prompt_tokens_details!.cached_tokens, 8);
  });

  test('an upstream answer that names model twice is re-serialised, with the public model once', async () => {
    up.behave({
      rawBody: '{"id":"chatcmpl-dup","object":"chat.completion","created":1,"model":"upstream-flash","model":"upstream-flash-2",' +
        '"choices":[{"index":0,"message":{"role":"assistant","content":"dup"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}',
    });
    const res = await post(`${tg.url}/v1/chat/completions`, { model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] }, { key });
    assert.equal(res.status, 200);
    assert.equal(res.text.split('"model"').length - 1, 1, res.text);
    const body = JSON.parse(res.text);
    assert.equal(body.model, 'deepseek-v4-flash');
    assert.equal(body.choices[0].message.content, 'dup');
    assert.equal(body.usage.total_tokens, 3);
  });

  test('the /api/v1 prefix serves chat completions', async () => {
    up.behave({ text: 'via api prefix' });
    const c2 = new OpenAI({ baseURL: `${tg.url}/api/v1`, apiKey: key, maxRetries: 0 });
    const r = await c2.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.choices[0]!.message.content, 'via api prefix');
    assert.equal(r.model, 'deepseek-v4-flash');
  });
});
