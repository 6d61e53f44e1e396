import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import { UnsupportedFieldError } from '../../../src/providers/unsupported.ts';
import type { ProviderConfig } from '../../../src/config/schema.ts';

const provider: ProviderConfig = {
  id: 'anthropic', kind: 'anthropic' as any, base_url: 'https://api.anthropic.com/v1', api_key: 'sk-ant-test',
  headers: {}, timeout_ms: 120_000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false,
};
const MODEL = 'claude-sonnet-4-5-20250929';

function build(body: Record<string, any>, stream = false) {
  const req = anthropicAdapter.buildChatRequest({ body, upstreamModel: MODEL, stream }, provider);
  return { ...req, json: JSON.parse(req.body) };
}

function unsupported(body: Record<string, any>, param: string | RegExp) {
  assert.throws(() => build(body), (err: unknown) => {
    assert.ok(err instanceof UnsupportedFieldError, `expected UnsupportedFieldError, got ${err}`);
    if (typeof param === 'string') assert.equal(err.param, param);
    else assert.match(err.param, param);
    assert.match(err.message, /anthropic|Anthropic|tool|reserved|JSON/);
    return true;
  });
}

test('simple request: path, headers, default max_tokens, exact body', () => {
  const req = build({ model: 'claude', messages: [{ role: 'user', content: 'Hello' }], user: 'u-1', stream_options: { include_usage: true } }, true);
  assert.equal(req.path, '/messages');
  assert.equal(req.headers['x-api-key'], 'sk-ant-test');
  assert.equal(req.headers['anthropic-version'], '2023-06-01');
  assert.equal(req.headers['content-type'], 'application/json');
  assert.deepEqual(req.json, {
    model: MODEL,
    max_tokens: 4096,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
    stream: true,
  });
});

test('authHeaders merges operator headers', () => {
  const h = anthropicAdapter.authHeaders({ ...provider, headers: { 'anthropic-beta': 'prompt-caching-2024-07-31' } });
  assert.equal(h['anthropic-beta'], 'prompt-caching-2024-07-31');
  assert.equal(h['x-api-key'], 'sk-ant-test');
});

test('system and developer messages become top-level system blocks; sampling fields map', () => {
  const { json } = build({
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.', cache_control: { type: 'ephemeral' } }] },
      { role: 'user', content: 'Hi' },
    ],
    temperature: 0.2, top_p: 0.9, max_completion_tokens: 300, max_tokens: 999, stop: 'END', seed: 7,
  });
  assert.deepEqual(json, {
    model: MODEL,
    max_tokens: 300,
    system: [
      { type: 'text', text: 'You are terse.' },
      { type: 'text', text: 'Answer in French.', cache_control: { type: 'ephemeral' } },
    ],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stop_sequences: ['END'],
    temperature: 0.2,
    top_p: 0.9,
  });
  assert.deepEqual(build({ messages: [{ role: 'user', content: 'x' }], max_tokens: 50, stop: ['a', 'b'] }).json.stop_sequences, ['a', 'b']);
  // Anthropic rejects whitespace-only stop sequences with a 400; refuse them up front.
  unsupported({ messages: [{ role: 'user', content: 'x' }], stop: ['END', '\n\n'] }, 'stop');
  unsupported({ messages: [{ role: 'user', content: 'x' }], stop: ' ' }, 'stop');
  assert.deepEqual(build({ messages: [{ role: 'user', content: 'x' }], stop: ['\nEND\n'] }).json.stop_sequences, ['\nEND\n']);
  assert.equal(build({ messages: [{ role: 'user', content: 'x' }], max_tokens: 50 }).json.max_tokens, 50);
});

test('consecutive same-role turns are merged to keep alternation', () => {
  const { json } = build({
    messages: [
      { role: 'user', content: 'one' },
      { role: 'user', content: [{ type: 'text', text: 'two' }] },
      { role: 'assistant', content: 'a' },
      { role: 'assistant', content: '' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'three' },
    ],
  });
  assert.deepEqual(json.messages, [
    { role: 'user', content: [{ type: 'text', text: 'one' }, { type: 'text', text: 'two' }] },
    { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
    { role: 'user', content: [{ type: 'text', text: 'three' }] },
  ]);
});

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] } },
};

test('tools, tool_choice variants and parallel_tool_calls', () => {
  const base = { messages: [{ role: 'user', content: 'weather?' }], tools: [weatherTool] };
  const { json } = build(base);
  assert.deepEqual(json.tools, [{ name: 'get_weather', description: 'Get the weather', input_schema: weatherTool.function.parameters }]);
  assert.equal(json.tool_choice, undefined);
  assert.deepEqual(build({ ...base, tool_choice: 'auto' }).json.tool_choice, undefined);
  assert.deepEqual(build({ ...base, tool_choice: 'none' }).json.tool_choice, { type: 'none' });
  assert.deepEqual(build({ ...base, tool_choice: 'required' }).json.tool_choice, { type: 'any' });
  assert.deepEqual(build({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).json.tool_choice, { type: 'tool', name: 'get_weather' });
  assert.deepEqual(build({ ...base, parallel_tool_calls: false }).json.tool_choice, { type: 'auto', disable_parallel_tool_use: true });
  assert.deepEqual(build({ ...base, tool_choice: 'required', parallel_tool_calls: false }).json.tool_choice, { type: 'any', disable_parallel_tool_use: true });
  assert.deepEqual(build({ ...base, parallel_tool_calls: true }).json.tool_choice, undefined);
  unsupported({ ...base, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice');
  unsupported({ messages: base.messages, tool_choice: 'required' }, 'tool_choice');
  unsupported({ ...base, tools: [{ type: 'web_search' }] }, 'tools[0].type');
  // tools without parameters get an empty object schema
  assert.deepEqual(build({ ...base, tools: [{ type: 'function', function: { name: 'now' } }] }).json.tools, [{ name: 'now', input_schema: { type: 'object', properties: {} } }]);
});

test('assistant tool_calls and tool results: tool_use / tool_result blocks, merged user turn', () => {
  const { json } = build({
    messages: [
      { role: 'user', content: 'Weather in SF and Paris?' },
      {
        role: 'assistant', content: null, tool_calls: [
          { id: 'toolu_01A', type: 'function', function: { name: 'get_weather', arguments: '{"location":"SF"}' } },
          { id: 'toolu_01B', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_01A', content: '15 C' },
      { role: 'tool', tool_call_id: 'toolu_01B', content: [{ type: 'text', text: '18 C' }] },
      { role: 'user', content: 'Thanks, and tomorrow?' },
    ],
    tools: [weatherTool],
  });
  assert.deepEqual(json.messages, [
    { role: 'user', content: [{ type: 'text', text: 'Weather in SF and Paris?' }] },
    {
      role: 'assistant', content: [
        { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { location: 'SF' } },
        { type: 'tool_use', id: 'toolu_01B', name: 'get_weather', input: { location: 'Paris' } },
      ],
    },
    {
      role: 'user', content: [
        { type: 'tool_result', tool_use_id: 'toolu_01A', content: '15 C' },
        { type: 'tool_result', tool_use_id: 'toolu_01B', content: [{ type: 'text', text: '18 C' }] },
        { type: 'text', text: 'Thanks, and tomorrow?' },
      ],
    },
  ]);
});

test('tool call ids from other providers are made valid on both sides', () => {
  const { json } = build({
    messages: [
      { role: 'user', content: 'x' },
      { role: 'assistant', tool_calls: [{ id: 'call:abc.1', type: 'function', function: { name: 'f', arguments: '' } }] },
      { role: 'tool', tool_call_id: 'call:abc.1', content: 'ok' },
    ],
  });
  assert.equal(json.messages[1].content[0].id, 'call_abc_1');
  assert.deepEqual(json.messages[1].content[0].input, {});
  assert.equal(json.messages[2].content[0].tool_use_id, 'call_abc_1');
  unsupported({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, 'messages[1].tool_calls[0].function.arguments');
});

test('image_url parts: public URL and base64 data URI', () => {
  const { json } = build({
    messages: [{
      role: 'user', content: [
        { type: 'text', text: 'What is in these images?' },
        { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg', detail: 'high' } },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
      ],
    }],
  });
  assert.deepEqual(json.messages[0].content, [
    { type: 'text', text: 'What is in these images?' },
    { type: 'image', source: { type: 'url', url: 'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg' } },
    { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
  ]);
  unsupported({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/tiff;base64,AAAA' } }] }] }, 'messages[0].content[0].image_url.url');
  unsupported({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }, 'messages[0].content[0].type');
});

test('PDF file parts become document blocks', () => {
  const { json } = build({ messages: [{ role: 'user', content: [{ type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } }] }] });
  assert.deepEqual(json.messages[0].content, [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } }]);
  unsupported({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] }, 'messages[0].content[0].file');
});

test('reasoning_effort enables thinking; max_tokens leaves room for the budget', () => {
  const msgs = [{ role: 'user', content: 'Think.' }];
  assert.deepEqual(build({ messages: msgs, reasoning_effort: 'medium' }).json.thinking, { type: 'enabled', budget_tokens: 8192 });
  assert.equal(build({ messages: msgs, reasoning_effort: 'medium' }).json.max_tokens, 8192 + 4096);
  const explicit = build({ messages: msgs, reasoning_effort: 'high', max_completion_tokens: 5000 }).json;
  assert.equal(explicit.max_tokens, 5000);
  assert.deepEqual(explicit.thinking, { type: 'enabled', budget_tokens: 4999 });
  assert.equal(build({ messages: msgs, reasoning_effort: 'none' }).json.thinking, undefined);
  unsupported({ messages: msgs, reasoning_effort: 'low', max_tokens: 1000 }, 'reasoning_effort');
  unsupported({ messages: msgs, reasoning_effort: 'extreme' }, 'reasoning_effort');
});

test('second turn sends the thinking block back from reasoning_content + the signature in the tool call id', () => {
  const sig = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds+ZfqYjzwQ8tRMzAf9/+t5KIybbhc6Jk2xzPjQ2MiU4hkjVAuJTz8kDkv7l/2qNWQjb6YjJEZ0QK8uA5Et3bS8TQIRBjTuUyRkxdBRRXhCQ==';
  const id = `toolu_01CswdEQBMshySk6Y9DFKrfq__ts__${sig}`;
  const { json } = build({
    reasoning_effort: 'low',
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: null, reasoning_content: 'I should call get_weather.', tool_calls: [{ id, type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris, France"}' } }] },
      { role: 'tool', tool_call_id: id, content: '18 C, sunny' },
    ],
  });
  assert.deepEqual(json.messages[1].content, [
    { type: 'thinking', thinking: 'I should call get_weather.', signature: sig },
    { type: 'tool_use', id: 'toolu_01CswdEQBMshySk6Y9DFKrfq', name: 'get_weather', input: { location: 'Paris, France' } },
  ]);
  assert.deepEqual(json.messages[2].content, [{ type: 'tool_result', tool_use_id: 'toolu_01CswdEQBMshySk6Y9DFKrfq', content: '18 C, sunny' }]);
});

test('response_format json_schema / json_object use the forced tollgate_json_response tool', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' }, temperature_c: { type: 'number' } }, required: ['city', 'temperature_c'], additionalProperties: false };
  const { json } = build({ messages: [{ role: 'user', content: 'Paris weather as JSON' }], response_format: { type: 'json_schema', json_schema: { name: 'weather', strict: true, schema } } });
  assert.deepEqual(json.tools, [{ name: 'tollgate_json_response', description: 'Give your complete answer through this tool: its input is the response, and must match the schema.', input_schema: schema }]);
  assert.deepEqual(json.tool_choice, { type: 'tool', name: 'tollgate_json_response' });
  const obj = build({ messages: [{ role: 'user', content: 'JSON please' }], response_format: { type: 'json_object' } }).json;
  assert.deepEqual(obj.tools[0].input_schema, { type: 'object', additionalProperties: true });
  assert.equal(build({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' } }).json.tools, undefined);
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'array' } } } }, 'response_format');
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' }, tools: [weatherTool] }, 'response_format');
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' }, reasoning_effort: 'low' }, 'response_format');
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'grammar' } }, 'response_format');
  unsupported({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'tollgate_json_response' } }] }, 'tools[0].function.name');
});

test('fields Anthropic cannot honour raise UnsupportedFieldError naming the field', () => {
  const m = [{ role: 'user', content: 'x' }];
  for (const [field, value] of [
    ['n', 2], ['logprobs', true], ['top_logprobs', 3], ['presence_penalty', 0.5], ['frequency_penalty', -1],
    ['logit_bias', { '50256': -100 }], ['audio', { voice: 'alloy', format: 'wav' }], ['modalities', ['text', 'audio']],
    ['prediction', { type: 'content', content: 'x' }], ['functions', []], ['web_search_options', {}], ['temperature', 1.5],
    ['some_future_field', true],
  ] as const) {
    assert.throws(() => build({ messages: m, [field]: value }), (err: any) => err instanceof UnsupportedFieldError && err.param === field && err.message.includes(field), field);
  }
  // no-op values of those fields are fine, and the ignorable fields are dropped
  const ok = build({ messages: m, n: 1, logprobs: false, presence_penalty: 0, frequency_penalty: 0, logit_bias: {}, modalities: ['text'], user: 'u', metadata: { a: 'b' }, store: false, service_tier: 'auto', parallel_tool_calls: true, seed: 1 }).json;
  assert.deepEqual(Object.keys(ok).sort(), ['max_tokens', 'messages', 'model']);
  unsupported({ messages: [{ role: 'function', name: 'f', content: 'x' }] }, 'messages[0].role');
});

test('an empty last user message is a 400 naming it, not dropped (which made the assistant turn before it a prefill)', () => {
  const turn = [{ role: 'user', content: 'Say hello' }, { role: 'assistant', content: 'Hello' }];
  unsupported({ messages: [...turn, { role: 'user', content: '' }] }, 'messages[2].content');
  unsupported({ messages: [...turn, { role: 'user', content: [{ type: 'text', text: '' }] }, { role: 'system', content: 'be brief' }] }, 'messages[2].content');
  unsupported({ messages: [{ role: 'user', content: '' }] }, 'messages[0].content');
  // After another user message it merges into that turn, as before; a prompt that is only
  // a system message still becomes the user turn.
  assert.deepEqual(build({ messages: [...turn, { role: 'user', content: 'Again' }, { role: 'user', content: '' }] }).json.messages.at(-1), { role: 'user', content: [{ type: 'text', text: 'Again' }] });
  assert.equal(build({ messages: [{ role: 'system', content: 'Say hi' }, { role: 'user', content: '' }] }).json.messages.length, 1);
});

test('a json_schema whose root is an object by its properties alone gets the type Anthropic requires', () => {
  const schema = { properties: { city: { type: 'string' } }, required: ['city'] };
  const { json } = build({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'n', schema } } });
  assert.deepEqual(json.tools.at(-1).input_schema, { type: 'object', ...schema });
});

test('top_p: 1 beside a temperature is left out (Claude 4.5 refuses the pair); alone, or any other top_p, goes up as asked', () => {
  const send = (extra: object) => build({ messages: [{ role: 'user', content: 'x' }], ...extra }).json;
  const both = send({ temperature: 0.7, top_p: 1 });
  assert.equal(both.temperature, 0.7);
  assert.equal('top_p' in both, false);
  assert.equal(send({ top_p: 1 }).top_p, 1);
  assert.deepEqual([send({ temperature: 0.7, top_p: 0.9 }).temperature, send({ temperature: 0.7, top_p: 0.9 }).top_p], [0.7, 0.9]);
});

test('cache_control passes through with the 5-minute ttl it is priced at; a 1-hour ttl, billed by Anthropic at a higher price, is a 400 naming it', () => {
  const part = (cache_control: object) => ({ messages: [{ role: 'user', content: [{ type: 'text', text: 'long document', cache_control }] }] });
  assert.deepEqual(build(part({ type: 'ephemeral' })).json.messages[0].content[0].cache_control, { type: 'ephemeral' });
  assert.deepEqual(build(part({ type: 'ephemeral', ttl: '5m' })).json.messages[0].content[0].cache_control, { type: 'ephemeral', ttl: '5m' });
  unsupported(part({ type: 'ephemeral', ttl: '1h' }), 'messages[0].content[0].cache_control.ttl');
  unsupported({ messages: [{ role: 'system', content: [{ type: 'text', text: 'rules', cache_control: { type: 'ephemeral', ttl: '1h' } }] }, { role: 'user', content: 'x' }] }, 'messages[0].content[0].cache_control.ttl');
});
