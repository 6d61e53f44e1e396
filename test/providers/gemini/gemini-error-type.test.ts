import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeGemini } from '../../helpers/fake-gemini.ts';
import { startTestGateway } from '../../helpers/gateway.ts';

// Clients of an OpenAI-shaped API branch on OpenAI's error types; Google's status
// ("INVALID_ARGUMENT") used to reach them as the type.

test('a Gemini 400 reaches the client as an OpenAI invalid_request_error, with Google\'s status as the code', async (t) => {
  const up = await startFakeGemini({ scenario: 'error-400' });
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
  await assert.rejects(client.chat.completions.create({ model: 'gemini-flash', messages: [{ role: 'user', content: 'Hello' }] }), (e: any) => {
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.doesNotMatch(JSON.stringify(e.error), /gemini-upstream-key/);
    return true;
  });
});
