import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeOpenAI } from '../helpers/fake-openai.ts';
import { startTestGateway } from '../helpers/gateway.ts';

test('the OpenAI SDK gets a completion and a stream through the gateway', async (t) => {
  const up = await startFakeOpenAI({ text: 'one two three' });
  const tg = await startTestGateway({ upstream: up.baseUrl });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const { key } = await tg.customer();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key });
  const r = await client.chat.completions.create({ model: 'deepseek-v4-flash', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(r.choices[0]!.message.content, 'one two three');
  assert.equal(r.model, 'deepseek-v4-flash');
  assert.equal(up.requests[0]!.body.model, 'upstream-flash');
  const stream = await client.chat.completions.create({ model: 'deepseek-v4-flash', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, 'one two three');
});
