import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeGemini } from '../../helpers/fake-gemini.ts';
import { startTestGateway } from '../../helpers/gateway.ts';

// Gemma models on the Gemini API refuse systemInstruction ("Developer instruction is not
// enabled for models/gemma-3-27b-it"); a system prompt, which every chat client sends,
// made them unusable through the gateway.

test('a Gemma model gets the system prompt at the head of the first user turn', async (t) => {
  const up = await startFakeGemini({ scenario: 'simple' });
  const tg = await startTestGateway({
    config: {
      providers: [{ id: 'gemini', kind: 'gemini', base_url: up.baseUrl, api_key: 'gemini-upstream-key' }],
      models: [{ id: 'gemma', upstreams: [{ provider: 'gemini', model: 'gemma-3-27b-it' }], pricing: { input: '0', output: '0' } }],
    },
  });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
  const r = await client.chat.completions.create({
    model: 'gemma',
    messages: [{ role: 'system', content: 'Answer in French.' }, { role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Bonjour' }, { role: 'user', content: 'How are you?' }],
  });
  assert.ok(r.choices[0]!.message.content);
  const sent = up.requests.at(-1)!.body;
  assert.equal(sent.systemInstruction, undefined);
  assert.deepEqual(sent.contents, [
    { role: 'user', parts: [{ text: 'Answer in French.' }, { text: 'Hello' }] },
    { role: 'model', parts: [{ text: 'Bonjour' }] },
    { role: 'user', parts: [{ text: 'How are you?' }] },
  ]);
});
