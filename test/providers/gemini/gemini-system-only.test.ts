import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeGemini } from '../../helpers/fake-gemini.ts';
import { startTestGateway } from '../../helpers/gateway.ts';

// OpenAI answers a request whose only messages are system/developer ones; Gemini answers
// 400 "contents is not specified" when everything went into systemInstruction.

test('a request with only system/developer messages reaches Gemini with them as the user turn', async (t) => {
  const up = await startFakeGemini({ scenario: 'simple' });
  const tg = await startTestGateway({
    config: {
      providers: [{ id: 'gemini', kind: 'gemini', base_url: up.baseUrl, api_key: 'gemini-upstream-key' }],
      models: [{ id: 'gemini-flash', upstreams: [{ provider: 'gemini', model: 'gemini-2.5-flash' }], pricing: { input: '0.3', output: '2.5' } }],
    },
  });
  t.after(async () => {
    await tg.close();
    await up.close();
  });
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: (await tg.customer()).key, maxRetries: 0 });
  const r = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'system', content: 'Write a haiku about the sea.' }, { role: 'developer', content: 'In English.' }],
  });
  assert.ok(r.choices[0]!.message.content);
  const sent = up.requests.at(-1)!.body;
  assert.equal(sent.systemInstruction, undefined);
  assert.deepEqual(sent.contents, [{ role: 'user', parts: [{ text: 'Write a haiku about the sea.' }, { text: 'In English.' }] }]);
});
