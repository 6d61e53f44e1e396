import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat } from 'openai/helpers/zod';
import { generateText, Output, stepCountIs, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';
import type { FakeOpenAI } from '../helpers/fake-openai.ts';
import { onFakeOpenAI, type TestGateway } from '../helpers/gateway.ts';
import { anthropicGateway, geminiGateway } from '../helpers/translated-gateway.ts';

// The client-library helpers real applications are built on, end to end through the
// gateway: the openai SDK's runTools / parse / stream helpers, its default base64
// embeddings and typed errors, and the Vercel AI SDK's multi-step tool loop and
// structured output, on OpenAI-wire, Anthropic and Gemini upstreams.

const weather = z.object({ city: z.string(), temperature_c: z.number() });

describe('openai SDK helpers on an OpenAI-wire upstream', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  let client: OpenAI;
  onFakeOpenAI((s) => {
    ({ up, tg, key } = s);
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  });

  for (const stream of [false, true]) {
    test(`runTools calls the tool, sends its result back, and returns the final answer (${stream ? 'streamed' : 'not streamed'})`, async () => {
      up.behave({ toolCalls: [{ id: 'call_w1', name: 'getWeather', arguments: '{"city":"Paris"}' }] });
      const from = up.requests.length;
      const seen: string[] = [];
      const runner = client.chat.completions.runTools({
        model: 'deepseek-v4-flash',
        stream,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'getWeather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, parse: JSON.parse, function: (a: { city: string }) => { seen.push(a.city); up.behave({ text: 'Sunny in Paris.' }); return '18C and sunny'; } } }],
      } as any);
      assert.equal(await runner.finalContent(), 'Sunny in Paris.');
      assert.deepEqual(seen, ['Paris']);
      assert.equal(up.requests.length - from, 2);
      const second = up.requests.at(-1)!.body;
      assert.equal(second.model, 'upstream-flash');
      assert.deepEqual(second.messages.at(-1), { role: 'tool', tool_call_id: 'call_w1', content: '18C and sunny' });
      assert.equal(second.messages.at(-2).tool_calls[0].id, 'call_w1');
    });
  }

  test('parse() with zodResponseFormat and the stream helper both give the parsed object and the usage', async () => {
    up.behave({ text: '{"city":"Paris","temperature_c":18}', promptTokens: 10, completionTokens: 4 });
    const r = await client.chat.completions.parse({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }], response_format: zodResponseFormat(weather, 'weather') });
    assert.deepEqual(r.choices[0]!.message.parsed, { city: 'Paris', temperature_c: 18 });
    assert.equal(up.requests.at(-1)!.body.response_format.json_schema.name, 'weather');
    const s = client.chat.completions.stream({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }], response_format: zodResponseFormat(weather, 'weather'), stream_options: { include_usage: true } });
    const f = await s.finalChatCompletion();
    assert.deepEqual(f.choices[0]!.message.parsed, { city: 'Paris', temperature_c: 18 });
    assert.equal(f.model, 'deepseek-v4-flash');
    assert.equal(f.usage?.prompt_tokens, 10);
    assert.equal(f.usage?.completion_tokens, 4);
  });

  test('default embeddings (base64 on the wire) decode to the upstream vector and are billed', async () => {
    const vector = [0.5, -1.25, 3];
    const b64 = Buffer.from(new Float32Array(vector).buffer).toString('base64');
    up.behave({ rawBody: JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: b64 }], model: 'text-embedding-3-small', usage: { prompt_tokens: 5, total_tokens: 5 } }) });
    const { data, response } = await client.embeddings.create({ model: 'embed-small', input: 'hello' }).withResponse();
    assert.equal(up.requests.at(-1)!.body.encoding_format, 'base64');
    assert.deepEqual(Array.from(data.data[0]!.embedding), vector);
    assert.equal(data.model, 'embed-small');
    // 5 tokens at $0.02 per million.
    assert.equal(response.headers.get('x-tollgate-cost'), '0.0000001');
    assert.equal((data.usage as any).cost, '0.0000001');
  });
});

describe('openai SDK errors as typed classes', () => {
  let up: FakeOpenAI;
  let tg: TestGateway;
  let key: string;
  onFakeOpenAI((s) => ({ up, tg, key } = s));

  const fails = async (c: OpenAI, body: Record<string, unknown>): Promise<InstanceType<typeof OpenAI.APIError>> => {
    try {
      await c.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'x' }], ...body } as any);
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.match(e.requestID ?? '', /^req_/);
      assert.equal((e.error as any).request_id, e.requestID);
      return e;
    }
    assert.fail('expected an error');
  };

  test('each status comes out as its SDK class, with code, param and request id', async () => {
    const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
    const badKey = await fails(new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: 'sk-tg-nope', maxRetries: 0 }), {});
    assert.ok(badKey instanceof OpenAI.AuthenticationError);
    assert.equal(badKey.code, 'invalid_api_key');
    const unknown = await fails(client, { model: 'no-such-model' });
    assert.ok(unknown instanceof OpenAI.NotFoundError);
    assert.equal(unknown.code, 'model_not_found');
    assert.equal(unknown.param, 'model');
    const empty = await fails(client, { messages: [] });
    assert.ok(empty instanceof OpenAI.BadRequestError);
    assert.equal(empty.param, 'messages');
    up.behave({ status: 400, errorBody: { error: { message: 'temperature too high', type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' } } });
    const upstream400 = await fails(client, { temperature: 3 });
    assert.ok(upstream400 instanceof OpenAI.BadRequestError);
    assert.equal(upstream400.code, 'invalid_value');
    assert.equal(upstream400.param, 'temperature');
    up.behave({ status: 429, headers: { 'retry-after': '3' } });
    const limited = await fails(client, {});
    assert.ok(limited instanceof OpenAI.RateLimitError);
    assert.equal(limited.type, 'rate_limit_error');
    assert.equal(limited.headers?.get('retry-after'), '3');
  });
});

describe('translated upstreams through the SDK helpers', () => {
  test('runTools and zod parsing work on Anthropic and Gemini, streamed and not', async (t) => {
    const a = await anthropicGateway();
    const g = await geminiGateway();
    t.after(async () => {
      await a.close();
      await g.close();
    });
    for (const [gw, model] of [[a, 'claude'], [g, 'gemini-flash']] as const) {
      for (const stream of [false, true]) {
        gw.up.setScenario('tools');
        const places: string[] = [];
        const runner = gw.client.chat.completions.runTools({
          model,
          stream,
          messages: [{ role: 'user', content: 'weather?' }],
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { location: { type: 'string' }, unit: { type: 'string' } } }, parse: JSON.parse, function: (x: { location: string }) => { places.push(x.location); gw.up.setScenario('simple'); return `18C in ${x.location}`; } } }],
        } as any);
        assert.equal(await runner.finalContent(), 'Hello! How can I help you today?', `${model} stream=${stream}`);
        assert.deepEqual(places.slice(0, 2), ['San Francisco, CA', 'Paris, France']);
        // The results went back to the upstream, in its own form.
        assert.match(JSON.stringify(gw.up.requests.at(-1)!.body), /18C in Paris, France/);
      }
      gw.up.setScenario('json-schema');
      const parsed = await gw.client.chat.completions.parse({ model, messages: [{ role: 'user', content: 'x' }], response_format: zodResponseFormat(weather, 'w') });
      assert.deepEqual(parsed.choices[0]!.message.parsed, { city: 'Paris', temperature_c: 18 });
      gw.up.setScenario('tools');
      const tools = [zodFunction({ name: 'get_weather', parameters: z.object({ location: z.string(), unit: z.string() }) })];
      const streamed = await gw.client.chat.completions.stream({ model, messages: [{ role: 'user', content: 'x' }], tools }).finalChatCompletion();
      assert.deepEqual((streamed.choices[0]!.message.tool_calls![0] as OpenAI.Chat.ParsedFunctionToolCall).function.parsed_arguments, { location: 'San Francisco, CA', unit: 'celsius' });
    }
  });

  test('Vercel AI SDK: a multi-step tool loop and Output.object on Anthropic', async (t) => {
    const a = await anthropicGateway();
    t.after(() => a.close());
    const provider = createOpenAI({ baseURL: `${a.tg.url}/v1`, apiKey: (await a.tg.customer()).key });
    for (const run of ['generate', 'stream'] as const) {
      a.up.setScenario('tools');
      const opts = { model: provider.chat('claude'), prompt: 'weather?', stopWhen: stepCountIs(3), maxRetries: 0, tools: { get_weather: tool({ inputSchema: z.object({ location: z.string(), unit: z.string() }), execute: async ({ location }) => { a.up.setScenario('simple'); return `18C in ${location}`; } }) } };
      const r = run === 'generate' ? await generateText(opts) : streamText(opts);
      assert.equal(await r.text, 'Hello! How can I help you today?');
      assert.equal((await r.steps).length, 2);
      assert.ok((await r.totalUsage).inputTokens! > 0);
    }
    a.up.setScenario('json-schema');
    const o = await generateText({ model: provider.chat('claude'), prompt: 'x', maxRetries: 0, output: Output.object({ schema: weather }) });
    assert.deepEqual(o.output, { city: 'Paris', temperature_c: 18 });
  });
});
