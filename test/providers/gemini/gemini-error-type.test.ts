import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiGateway } from '../../helpers/translated-gateway.ts';

// Clients of an OpenAI-shaped API branch on OpenAI's error types; Google's status
// ("INVALID_ARGUMENT") used to reach them as the type.

test('a Gemini 400 reaches the client as an OpenAI invalid_request_error, with Google\'s status as the code', async (t) => {
  const { client, close } = await geminiGateway({ scenario: 'error-400' });
  t.after(close);
  await assert.rejects(client.chat.completions.create({ model: 'gemini-flash', messages: [{ role: 'user', content: 'Hello' }] }), (e: any) => {
    assert.equal(e.status, 400);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.code, 'INVALID_ARGUMENT');
    assert.doesNotMatch(JSON.stringify(e.error), /gemini-upstream-key/);
    return true;
  });
});
