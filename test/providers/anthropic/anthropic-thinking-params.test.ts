import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { anthropicGateway, type TranslatedGateway } from '../../helpers/translated-gateway.ts';

// With thinking on, Anthropic answers 400 to a temperature other than 1, to top_k, to
// top_p below 0.95 and to a forced tool_choice. Clients send these by habit (Aider's
// temperature 0, LangChain's top_k): the gateway refuses them itself, naming the field,
// as it does every parameter an upstream cannot honour, and calls no upstream.

let g: TranslatedGateway<FakeAnthropic>;
before(async () => {
  g = await anthropicGateway();
});
after(() => g?.close());

const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
const base = { model: 'claude', messages: [{ role: 'user' as const, content: 'Weather in Paris?' }], reasoning_effort: 'low' as const };

for (const [param, extra] of [
  ['temperature', { temperature: 0 }],
  ['top_k', { top_k: 40 }],
  ['top_p', { top_p: 0.9 }],
  ['tool_choice', { tools, tool_choice: 'required' }],
  ['tool_choice', { tools, tool_choice: { type: 'function', function: { name: 'get_weather' } } }],
] as const) {
  test(`reasoning_effort with ${JSON.stringify(extra).slice(0, 60)}: 400 unsupported_parameter naming ${param}, no upstream call`, async () => {
    const before = g.up.requests.length;
    await assert.rejects(g.client.chat.completions.create({ ...base, ...extra } as any), (err: any) => {
      assert.equal(err.status, 400);
      assert.equal(err.code, 'unsupported_parameter');
      assert.equal(err.param, param);
      return true;
    });
    assert.equal(g.up.requests.length, before);
  });
}

test('reasoning_effort with temperature 1, top_p 0.95 and tool_choice auto goes through', async () => {
  const r = await g.client.chat.completions.create({ ...base, temperature: 1, top_p: 0.95, tools, tool_choice: 'auto' });
  assert.ok(r.choices[0]);
  const sent = g.up.requests.at(-1)!.body;
  assert.equal(sent.temperature, 1);
  assert.equal(sent.thinking.type, 'enabled');
});

test('a tool message answering a call id no assistant message issued: 400 naming it, no upstream call', async () => {
  const before = g.up.requests.length;
  await assert.rejects(g.client.chat.completions.create({
    model: 'claude',
    tools,
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: '18 C' },
      { role: 'tool', tool_call_id: 'call_never_issued', content: '20 C' },
    ],
  }), (err: any) => {
    assert.equal(err.status, 400);
    assert.equal(err.param, 'messages[3].tool_call_id');
    return true;
  });
  assert.equal(g.up.requests.length, before);
});
