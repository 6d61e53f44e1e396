import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicGateway } from '../../helpers/translated-gateway.ts';
import { convertToAnthropicRequest } from '../../../src/providers/anthropic/convert-to-anthropic-request.ts';

// A conversation that holds tool calls and their results, sent without `tools`: OpenAI
// takes it (coding tools do it to summarise a session, agents for the final answer after
// a tool loop); Anthropic answers 400 "Requests which include `tool_use` or `tool_result`
// blocks must define tools". The gateway defines one tool the model cannot call
// (tool_choice "none"), as an OpenAI request without tools cannot call any.

const history = [
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21°C' },
  { role: 'assistant', content: 'It is sunny in Paris.' },
  { role: 'user', content: 'Summarise this conversation in one line.' },
];

for (const stream of [false, true]) {
  test(`a history with tool calls and no tools is answered by Anthropic (stream: ${stream})`, async () => {
    const g = await anthropicGateway({ scenario: 'simple' });
    try {
      let text = '';
      if (stream) {
        const s = await g.client.chat.completions.create({ model: 'claude', stream: true, messages: history as any });
        for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
      } else {
        const r = await g.client.chat.completions.create({ model: 'claude', messages: history as any });
        text = r.choices[0]!.message.content ?? '';
        assert.equal(r.choices[0]!.message.tool_calls, undefined);
      }
      assert.ok(text.length > 0);
      const sent = g.up.requests[0]!.body;
      assert.equal(sent.tools.length, 1);
      assert.deepEqual(sent.tool_choice, { type: 'none' }, 'the model cannot call it');
      assert.equal(sent.messages[1].content[0].type, 'tool_use', 'the history goes up as it was');
    } finally {
      await g.close();
    }
  });
}

test('no tool is added to a request without tool calls in its history, nor beside the client\'s own tools', () => {
  const call = (body: Record<string, any>) => convertToAnthropicRequest({ body: { model: 'claude', ...body }, upstreamModel: 'claude-x', stream: false } as any);
  const plain = call({ messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(plain.tools, undefined);
  assert.equal(plain.tool_choice, undefined);
  const own = call({ messages: history, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }] });
  assert.deepEqual(own.tools.map((t: any) => t.name), ['get_weather']);
  assert.equal(own.tool_choice, undefined);
  const none = call({ messages: history, tool_choice: 'none' });
  assert.deepEqual(none.tool_choice, { type: 'none' });
  assert.equal(none.tools.length, 1);
});
