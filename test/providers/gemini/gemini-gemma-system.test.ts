import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiGateway } from '../../helpers/translated-gateway.ts';

// Gemma models on the Gemini API refuse systemInstruction ("Developer instruction is not
// enabled for models/gemma-3-27b-it"); a system prompt, which every chat client sends,
// made them unusable through the gateway.

test('a Gemma model gets the system prompt at the head of the first user turn', async (t) => {
  const { up, client, close } = await geminiGateway({}, { id: 'gemma', model: 'gemma-3-27b-it' });
  t.after(close);
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
