import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiGateway } from '../../helpers/translated-gateway.ts';

// OpenAI answers a request whose only messages are system/developer ones; Gemini answers
// 400 "contents is not specified" when everything went into systemInstruction.

test('a request with only system/developer messages reaches Gemini with them as the user turn', async (t) => {
  const { up, client, close } = await geminiGateway();
  t.after(close);
  const r = await client.chat.completions.create({
    model: 'gemini-flash',
    messages: [{ role: 'system', content: 'Write a haiku about the sea.' }, { role: 'developer', content: 'In English.' }],
  });
  assert.ok(r.choices[0]!.message.content);
  const sent = up.requests.at(-1)!.body;
  assert.equal(sent.systemInstruction, undefined);
  assert.deepEqual(sent.contents, [{ role: 'user', parts: [{ text: 'Write a haiku about the sea.' }, { text: 'In English.' }] }]);
});
