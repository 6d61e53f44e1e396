import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { APICallError, embed, generateText, jsonSchema, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { startFakeOpenAI, type FakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

// The Vercel AI SDK (`ai` with `@ai-sdk/openai`) pointed at Tollgate with only a base URL
// and a key, as a customer's Next.js app would be. The SDK's default OpenAI model speaks
// the Responses API, which Tollgate does not serve; `.chat()` is the Chat Completions
// model every OpenAI-compatible provider is used with.

describe('Vercel AI SDK against the gateway', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let accountId: string;
  let provider: ReturnType<typeof createOpenAI>;

  before(async () => {
    up = await startFakeOpenAI();
    tg = await startTestGateway({ upstream: up.baseUrl });
    ({ key, accountId } = await tg.customer());
    provider = createOpenAI({ baseURL: `${tg.url}/v1`, apiKey: key });
  });
  after(async () => {
    await tg.close();
    await up.close();
  });

  /** The request log's row for the newest request (the journal writes it within a flush). */
  const lastLogged = async (): Promise<Record<string, any>> => {
    await tg.gw.rt.journal.flush();
    const r = await tg.admin('GET', `/requests?account_id=${accountId}&limit=1`);
    assert.equal(r.status, 200);
    return r.body.data[0];
  };

  test('generateText gets the answer, its usage, and the public model name', async () => {
    up.behave({ text: 'Hello from upstream', promptTokens: 11, completionTokens: 3, cacheStyle: 'deepseek', cachedTokens: 4 });
    const n = up.requests.length;
    const r = await generateText({ model: provider.chat('deepseek-v4-flash'), prompt: 'Say hello', maxRetries: 0 });
    assert.equal(r.text, 'Hello from upstream');
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.usage.inputTokens, 11);
    assert.equal(r.usage.outputTokens, 3);
    assert.equal(r.response.modelId, 'deepseek-v4-flash');
    assert.equal(up.requests[n]!.body.model, 'upstream-flash');
    const row = await lastLogged();
    assert.equal(row.model, 'deepseek-v4-flash');
    assert.equal(row.stream, false);
    assert.equal(row.prompt_tokens, 11);
    assert.equal(row.cached_tokens, 4);
  });

  test('streamText streams the words in order and reports usage at the end', async () => {
    up.behave({ text: 'one two three four five', promptTokens: 9, completionTokens: 5 });
    const n = up.requests.length;
    const r = streamText({ model: provider.chat('deepseek-v4-pro'), prompt: 'Count', maxRetries: 0 });
    const parts: string[] = [];
    for await (const delta of r.textStream) parts.push(delta);
    assert.ok(parts.length >= 5, `streamed in pieces, got ${JSON.stringify(parts)}`);
    assert.equal(parts.join(''), 'one two three four five');
    const usage = await r.usage;
    assert.equal(usage.inputTokens, 9);
    assert.equal(usage.outputTokens, 5);
    // The SDK asks for usage itself; the gateway asked the upstream for it either way.
    assert.equal(up.requests[n]!.body.stream, true);
    assert.equal(up.requests[n]!.body.stream_options?.include_usage, true);
    const row = await lastLogged();
    assert.equal(row.model, 'deepseek-v4-pro');
    assert.equal(row.stream, true);
    assert.equal(row.completion_tokens, 5);
  });

  for (const streaming of [false, true]) {
    test(`a tool call comes back whole, and the tool's schema reaches the upstream untouched (${streaming ? 'streamed' : 'not streamed'})`, async () => {
      up.behave({ toolCalls: [{ id: 'call_w1', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' }] });
      const n = up.requests.length;
      const tools = {
        get_weather: tool({
          description: 'Current weather in a city',
          inputSchema: jsonSchema<{ city: string; unit: 'celsius' | 'fahrenheit' }>({
            type: 'object',
            properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
            required: ['city', 'unit'],
            additionalProperties: false,
          }),
        }),
      };
      const opts = { model: provider.chat('deepseek-v4-flash'), prompt: 'Weather in Paris?', tools, maxRetries: 0 };
      const calls = streaming ? await streamText(opts).toolCalls : (await generateText(opts)).toolCalls;
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.toolName, 'get_weather');
      assert.equal(calls[0]!.toolCallId, 'call_w1');
      assert.deepEqual(calls[0]!.input, { city: 'Paris', unit: 'celsius' });
      const sent = up.requests[n]!.body;
      assert.equal(sent.tools[0].function.name, 'get_weather');
      assert.deepEqual(sent.tools[0].function.parameters.properties.unit.enum, ['celsius', 'fahrenheit']);
    });
  }

  test('embed returns the upstream vector through the gateway', async () => {
    const r = await embed({ model: provider.embedding('embed-small'), value: 'a sentence to embed', maxRetries: 0 });
    const last = up.requests.at(-1)!;
    assert.match(last.path, /\/embeddings$/);
    assert.equal(last.body.model, 'text-embedding-3-small');
    assert.deepEqual(last.body.input, ['a sentence to embed']);
    // The same request straight to the upstream: the vector arrives unchanged.
    const direct = await fetch(`${up.baseUrl}/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: ['a sentence to embed'] }),
    });
    const expected = ((await direct.json()) as { data: Array<{ embedding: number[] }> }).data[0]!.embedding;
    assert.ok(expected.length > 0);
    assert.deepEqual(r.embedding, expected);
  });

  test('a revoked key surfaces as the SDK\'s APICallError with the 401 and OpenAI-shaped body', async () => {
    const c = await tg.customer({ name: 'revoked' });
    assert.equal((await tg.admin('DELETE', `/keys/${c.keyId}`)).status, 200);
    const revoked = createOpenAI({ baseURL: `${tg.url}/v1`, apiKey: c.key });
    const n = up.requests.length;
    await assert.rejects(
      generateText({ model: revoked.chat('deepseek-v4-flash'), prompt: 'hi', maxRetries: 0 }),
      (err: unknown) => {
        assert.ok(APICallError.isInstance(err), `an APICallError, got ${String(err)}`);
        assert.equal(err.statusCode, 401);
        assert.equal(JSON.parse(err.responseBody ?? '{}').error.code, 'invalid_api_key');
        assert.match(err.responseHeaders?.['x-request-id'] ?? '', /^req_/);
        assert.ok(!(err.responseBody ?? '').includes(c.key), 'the key is not echoed back');
        return true;
      },
    );
    assert.equal(up.requests.length, n, 'nothing reached the upstream');
  });

  test('the provider\'s default model (the Responses API) gets a clear 404, as the README says', async () => {
    const n = up.requests.length;
    await assert.rejects(generateText({ model: provider('deepseek-v4-flash'), prompt: 'hi', maxRetries: 0 }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), `an APICallError, got ${String(err)}`);
      assert.equal(err.statusCode, 404);
      assert.match(err.url, /\/v1\/responses$/);
      const body = JSON.parse(err.responseBody ?? '{}');
      assert.equal(body.error.code, 'not_found');
      assert.match(body.error.message, /\/v1\/responses/);
      assert.match(body.error.message, /not the Responses API: with the Vercel AI SDK use openai\.chat\(model\)/, 'the 404 says what to use instead');
      return true;
    });
    assert.equal(up.requests.length, n);
  });

  test('an unknown model surfaces as a 404 model_not_found the SDK does not retry', async () => {
    const n = up.requests.length;
    await assert.rejects(generateText({ model: provider.chat('no-such-model'), prompt: 'hi' }), (err: unknown) => {
      assert.ok(APICallError.isInstance(err), `an APICallError, got ${String(err)}`);
      assert.equal(err.statusCode, 404);
      assert.equal(err.isRetryable, false);
      assert.equal(JSON.parse(err.responseBody ?? '{}').error.code, 'model_not_found');
      return true;
    });
    assert.equal(up.requests.length, n);
  });
});
