import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { FakeAnthropic } from '../../helpers/fake-anthropic.ts';
import { anthropicGateway, type TranslatedGateway } from '../../helpers/translated-gateway.ts';

// Anthropic answers 400 "text content blocks must contain non-whitespace text" to a
// message or system prompt whose only text is whitespace, and "final assistant content
// cannot end with trailing whitespace" to a prefill like "Answer: ". Chat histories hold
// both (a model's "\n\n" before its tool calls, an empty-looking system prompt), and every
// later turn of such a conversation failed; OpenAI-wire upstreams take them as they are.

describe('whitespace in system and assistant text reaches Anthropic in a form it accepts', () => {
  let g: TranslatedGateway<FakeAnthropic>;
  before(async () => {
    g = await anthropicGateway();
  });
  after(() => g?.close());

  test('whitespace-only system, assistant and tool text is left out; the conversation goes through', async () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: '\n' },
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: '\n\n', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: ' ' },
      { role: 'assistant', content: [{ type: 'text', text: '  ' }] },
      { role: 'user', content: 'And now?' },
    ];
    const r = await g.client.chat.completions.create({ model: 'claude', messages, tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }] });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    const sent = g.up.requests.at(-1)!.body;
    assert.equal(sent.system, undefined);
    assert.deepEqual(sent.messages[1], { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] });
    assert.deepEqual(sent.messages[2].content, [{ type: 'tool_result', tool_use_id: 'toolu_1' }, { type: 'text', text: 'And now?' }]);
  });

  test('an assistant prefill ending in whitespace is sent without it; text with whitespace inside is kept as is', async () => {
    await g.client.chat.completions.create({
      model: 'claude',
      messages: [
        { role: 'system', content: 'Be brief.\n' },
        { role: 'user', content: 'Name a colour.' },
        { role: 'assistant', content: 'Red \n' },
        { role: 'user', content: 'Another, in JSON.' },
        { role: 'assistant', content: 'Sure:\n{"colour": ' },
      ],
    });
    const sent = g.up.requests.at(-1)!.body;
    assert.deepEqual(sent.system, [{ type: 'text', text: 'Be brief.\n' }]);
    assert.deepEqual(sent.messages[1].content, [{ type: 'text', text: 'Red \n' }]);
    assert.deepEqual(sent.messages.at(-1), { role: 'assistant', content: [{ type: 'text', text: 'Sure:\n{"colour":' }] });
  });
});

describe('a conversation that opens with the assistant (a chat widget\'s greeting) reaches Anthropic user-first', () => {
  let g: TranslatedGateway<FakeAnthropic>;
  before(async () => {
    g = await anthropicGateway();
  });
  after(() => g?.close());

  test('a request with only system/developer messages (OpenAI answers it) sends them as the user turn', async () => {
    const r = await g.client.chat.completions.create({
      model: 'claude',
      messages: [{ role: 'system', content: 'Write a haiku about the sea.' }, { role: 'developer', content: 'In English.' }],
    });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    const sent = g.up.requests.at(-1)!.body;
    assert.equal(sent.system, undefined);
    assert.deepEqual(sent.messages, [{ role: 'user', content: [{ type: 'text', text: 'Write a haiku about the sea.' }, { type: 'text', text: 'In English.' }] }]);
  });

  test('a placeholder user turn goes first; the greeting and the rest follow unchanged', async () => {
    const r = await g.client.chat.completions.create({
      model: 'claude',
      messages: [
        { role: 'system', content: 'You are the help desk.' },
        { role: 'assistant', content: 'Hi! How can I help?' },
        { role: 'user', content: 'My order is late.' },
      ],
    });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    const sent = g.up.requests.at(-1)!.body;
    assert.deepEqual(sent.messages[0], { role: 'user', content: [{ type: 'text', text: '.' }] });
    assert.deepEqual(sent.messages.slice(1), [
      { role: 'assistant', content: [{ type: 'text', text: 'Hi! How can I help?' }] },
      { role: 'user', content: [{ type: 'text', text: 'My order is late.' }] },
    ]);
  });
});

describe('tools whose parameters schema leaves out its type', () => {
  let g: TranslatedGateway<FakeAnthropic>;
  before(async () => {
    g = await anthropicGateway();
  });
  after(() => g?.close());

  // OpenAI takes `parameters: {}` (a function without arguments) and a schema with only
  // `properties`; Anthropic answers 400 "input_schema.type: Field required".
  test('get type "object", the rest of the schema as it was', async () => {
    await g.client.chat.completions.create({
      model: 'claude',
      messages: [{ role: 'user', content: 'What time is it?' }],
      tools: [
        { type: 'function', function: { name: 'get_time', parameters: {} } },
        { type: 'function', function: { name: 'get_weather', parameters: { properties: { city: { type: 'string' } }, required: ['city'] } } },
      ],
    });
    assert.deepEqual(g.up.requests.at(-1)!.body.tools.map((t: any) => t.input_schema), [
      { type: 'object' },
      { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    ]);
  });
});
