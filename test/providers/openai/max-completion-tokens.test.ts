import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { generateText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { startFakeOpenAI } from '../../helpers/fake-openai.ts';
import { startTestGateway } from '../../helpers/gateway.ts';

// OpenAI's reasoning models answer 400 to `max_tokens`. A provider configured with
// `max_tokens_field: max_completion_tokens` gets a client's lone max_tokens under that
// name, so apps that still send max_tokens (the Vercel AI SDK for a model id it does not
// know as a reasoning model, LangChain, older SDK code) keep working through Tollgate.

test('a lone max_tokens reaches a max_completion_tokens provider as max_completion_tokens, clamped', async (t) => {
  const up = await startFakeOpenAI();
  const tg = await startTestGateway({
    config: {
      providers: [{ id: 'oai', kind: 'openai', base_url: up.baseUrl, api_key: 'sk-up', max_tokens_field: 'max_completion_tokens' }],
      models: [{ id: 'smart', owned_by: 'openai', max_output_tokens: 500, upstreams: [{ provider: 'oai', model: 'o4-mini' }], pricing: { input: '1', output: '4' } }],
    },
  });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const { key } = await tg.customer();

  const provider = createOpenAI({ baseURL: `${tg.url}/v1`, apiKey: key });
  const r = await generateText({ model: provider.chat('smart'), prompt: 'héllo ☃', maxOutputTokens: 50, maxRetries: 0 });
  assert.equal(r.text, 'Hello there, friend!');
  let sent = up.requests.at(-1)!;
  assert.equal(sent.body.max_completion_tokens, 50);
  assert.equal('max_tokens' in sent.body, false, sent.text);
  assert.equal(sent.body.model, 'o4-mini');
  assert.equal(sent.body.messages[0].content, 'héllo ☃');

  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  // Over the model's output cap: clamped, and still under the provider's name.
  await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'x' }], max_tokens: 99_999, stream: true }).then(async (s) => {
    for await (const _ of s);
  });
  sent = up.requests.at(-1)!;
  assert.equal(sent.body.max_completion_tokens, 500);
  assert.equal('max_tokens' in sent.body, false, sent.text);
  assert.equal(sent.body.stream_options.include_usage, true);

  // The client's own max_completion_tokens, or both fields, pass as sent.
  await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 40 });
  assert.equal(up.requests.at(-1)!.text.includes('"max_completion_tokens":40'), true);
  assert.equal('max_tokens' in up.requests.at(-1)!.body, false);
  await client.chat.completions.create({ model: 'smart', messages: [{ role: 'user', content: 'x' }], max_tokens: 30, max_completion_tokens: 40 });
  assert.equal(up.requests.at(-1)!.body.max_tokens, 30);
  assert.equal(up.requests.at(-1)!.body.max_completion_tokens, 40);
});
