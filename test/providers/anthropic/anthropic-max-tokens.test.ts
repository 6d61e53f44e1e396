import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeAnthropic, type FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.ts';

// Anthropic needs max_tokens on every request. A client that sets none (Cursor, Aider,
// most chat UIs) used to get 4096, so long Claude answers stopped at 4096 tokens with
// finish_reason "length" although the model writes 64,000 and the gateway reserved for
// that many. The model's configured max_output_tokens is sent instead.

describe('Anthropic max_tokens when the request sets none', () => {
  let fake: FakeAnthropic;
  let tg: TestGateway;
  let client: OpenAI;

  before(async () => {
    fake = await startFakeAnthropic({ eventDelayMs: 0 });
    tg = await startTestGateway({
      config: {
        providers: [{ id: 'anthropic', kind: 'anthropic', base_url: fake.baseUrl, api_key: 'sk-ant-upstream-key' }],
        models: [
          { id: 'claude-sonnet-4-5', context_window: 200_000, max_output_tokens: 64_000, upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' }], pricing: { input: '3', output: '15' } },
          { id: 'claude-uncapped', context_window: 200_000, upstreams: [{ provider: 'anthropic', model: 'claude-sonnet-4-5-20250929' }], pricing: { input: '3', output: '15' } },
        ],
        plans: [{ id: 'capped', models: ['*'], max_output_tokens: 2000 }],
      },
    });
    const { key } = await tg.customer();
    client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  });
  after(async () => {
    await tg.close();
    await fake.close();
  });

  const ask = (body: Record<string, unknown>, c = client) =>
    c.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'scenario:simple hi' }], ...body } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);

  test("the model's max_output_tokens is sent, streamed or not", async () => {
    await ask({});
    assert.equal(fake.requests.at(-1)!.body.max_tokens, 64_000);
    const stream = await client.chat.completions.create({ model: 'claude-sonnet-4-5', messages: [{ role: 'user', content: 'scenario:simple hi' }], stream: true });
    for await (const _ of stream);
    assert.equal(fake.requests.at(-1)!.body.max_tokens, 64_000);
  });

  test("with reasoning_effort the thinking budget fits inside the model's cap", async () => {
    await ask({ reasoning_effort: 'high' });
    const body = fake.requests.at(-1)!.body;
    assert.equal(body.max_tokens, 64_000);
    assert.deepEqual(body.thinking, { type: 'enabled', budget_tokens: 16_384 });
  });

  test("the client's max_tokens and the plan's cap still win over the model's", async () => {
    await ask({ max_tokens: 300 });
    assert.equal(fake.requests.at(-1)!.body.max_tokens, 300);
    const { key } = await tg.customer({ plan: 'capped' });
    await ask({}, new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 }));
    assert.equal(fake.requests.at(-1)!.body.max_tokens, 2000);
  });

  test('a model without max_output_tokens keeps the 4096 default', async () => {
    await client.chat.completions.create({ model: 'claude-uncapped', messages: [{ role: 'user', content: 'scenario:simple hi' }] });
    assert.equal(fake.requests.at(-1)!.body.max_tokens, 4096);
  });

  test('with reasoning_effort and nothing capping the answer, max_tokens stays within the 16,384 output tokens reserved, and the answer keeps 4096 of them', async () => {
    // reasoning_effort → budget: minimal 1024, medium 8192, high 16,384, xhigh 32,768.
    const sent: Record<string, [number, number]> = {};
    for (const effort of ['minimal', 'medium', 'high', 'xhigh']) {
      const { response } = await client.chat.completions.create({ model: 'claude-uncapped', reasoning_effort: effort as 'high', messages: [{ role: 'user', content: 'scenario:simple hi' }] }).withResponse();
      assert.equal(response.status, 200);
      const body = fake.requests.at(-1)!.body;
      sent[effort] = [body.max_tokens, body.thinking.budget_tokens];
    }
    assert.deepEqual(sent, { minimal: [5120, 1024], medium: [12_288, 8192], high: [16_384, 12_288], xhigh: [16_384, 12_288] });
  });
});
