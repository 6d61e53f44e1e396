import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicGateway } from '../../helpers/translated-gateway.ts';

// A tool loop is one assistant turn, and Anthropic keeps it in one thinking mode: with
// thinking on, the assistant message answered by tool results must open with its
// thinking block. The openai SDK's runTools() and the Vercel AI SDK send the assistant
// message back without `reasoning_content`, so the block cannot be rebuilt, and the
// second step of every such loop was Anthropic's 400. The gateway now sends that step
// with thinking off (Anthropic's own advice); with the text echoed, thinking stays on.

const weatherTool = (onCall: () => void) => ({
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { location: { type: 'string' } } },
    parse: JSON.parse,
    function: () => {
      onCall();
      return 'sunny';
    },
  },
});

for (const stream of [false, true]) {
  test(`openai runTools with reasoning_effort on a thinking Anthropic model finishes its loop (stream: ${stream})`, async () => {
    const g = await anthropicGateway({ scenario: 'thinking' });
    try {
      const runner = g.client.chat.completions.runTools({
        model: 'claude',
        stream: stream as any,
        reasoning_effort: 'low',
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [weatherTool(() => g.up.setScenario('simple'))],
      } as any);
      const text = await runner.finalContent();
      assert.ok(text && text.length > 0, 'the loop ends with the answer');
      const [first, second] = g.up.requests.map((r) => r.body);
      assert.equal(g.up.requests.length, 2);
      assert.equal(first.thinking?.type, 'enabled', 'the first step thinks');
      assert.equal(second.messages[1].content[0].type, 'tool_use', 'the SDK sent no reasoning_content back');
      assert.equal(second.thinking, undefined, 'the step that cannot carry its thinking goes without it');
    } finally {
      await g.close();
    }
  });
}

test('a tool loop step that echoes reasoning_content keeps thinking on, its block first', async () => {
  const g = await anthropicGateway({ scenario: 'thinking' });
  try {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } }];
    const messages: any[] = [{ role: 'user', content: 'Weather in Paris?' }];
    const r1: any = await g.client.chat.completions.create({ model: 'claude', reasoning_effort: 'low', messages, tools } as any);
    const msg = r1.choices[0].message;
    assert.ok(msg.reasoning_content, 'the thinking text is given to the client');
    g.up.setScenario('simple');
    const call = msg.tool_calls[0];
    await g.client.chat.completions.create({
      model: 'claude',
      reasoning_effort: 'low',
      tools,
      messages: [...messages, { role: 'assistant', content: null, reasoning_content: msg.reasoning_content, tool_calls: msg.tool_calls }, { role: 'tool', tool_call_id: call.id, content: 'sunny' }],
    } as any);
    const second = g.up.requests[1]!.body;
    assert.equal(second.thinking?.type, 'enabled');
    const block = second.messages[1].content[0];
    assert.equal(block.type, 'thinking');
    assert.equal(block.thinking, msg.reasoning_content);
    assert.match(block.signature, /^EqQBCgIYAhIM1gbc/, 'the signature carried in the tool call id');
  } finally {
    await g.close();
  }
});

test('thinking stays on for a new question after a finished tool loop', async () => {
  const g = await anthropicGateway({ scenario: 'simple' });
  try {
    await g.client.chat.completions.create({
      model: 'claude',
      reasoning_effort: 'low',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: 'toolu_01A', content: 'sunny' },
        { role: 'assistant', content: 'Sunny in Paris.' },
        { role: 'user', content: 'And tomorrow?' },
      ],
    } as any);
    assert.equal(g.up.requests[0]!.body.thinking?.type, 'enabled');
  } finally {
    await g.close();
  }
});

test("a tool-loop step that goes up without thinking is not refused for thinking's rules (temperature, top_k)", async () => {
  const g = await anthropicGateway({ scenario: 'simple' });
  try {
    const messages = [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'toolu_01A', content: 'sunny' },
    ];
    const r = await g.client.chat.completions.create({ model: 'claude', reasoning_effort: 'low', temperature: 0.2, top_k: 5, messages } as any);
    assert.ok(r.choices[0]!.message.content);
    const sent = g.up.requests[0]!.body;
    assert.equal(sent.thinking, undefined);
    assert.equal(sent.temperature, 0.2);
    // A first step, which thinks, is still told what thinking refuses.
    await assert.rejects(g.client.chat.completions.create({ model: 'claude', reasoning_effort: 'low', temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] } as any), (err: any) => err.status === 400 && err.error?.param === 'temperature');
  } finally {
    await g.close();
  }
});
