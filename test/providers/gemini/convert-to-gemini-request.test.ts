import { test } from 'node:test';
import assert from 'node:assert/strict';
import { geminiAdapter } from '../../../src/providers/gemini/adapter.ts';
import { UnsupportedFieldError } from '../../../src/providers/unsupported.ts';
import type { ProviderConfig } from '../../../src/config/schema.ts';

const provider: ProviderConfig = {
  id: 'gemini', kind: 'gemini' as any, base_url: 'https://generativelanguage.googleapis.com/v1beta', api_key: 'AIza-test',
  headers: {}, timeout_ms: 120_000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false,
};

function build(body: Record<string, any>, opts: { stream?: boolean; model?: string } = {}) {
  const req = geminiAdapter.buildChatRequest({ body, upstreamModel: opts.model ?? 'gemini-2.5-flash', stream: opts.stream ?? false }, provider);
  return { ...req, json: JSON.parse(req.body) };
}

function unsupported(body: Record<string, any>, param: string, model?: string) {
  assert.throws(() => build(body, model ? { model } : {}), (err: unknown) => {
    assert.ok(err instanceof UnsupportedFieldError, `expected UnsupportedFieldError, got ${err}`);
    assert.equal(err.param, param);
    return true;
  });
}

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'], additionalProperties: false } },
};

test('paths, auth header and a simple body', () => {
  const plain = build({ model: 'g', messages: [{ role: 'user', content: 'Hello' }], user: 'u', stream_options: { include_usage: true } });
  assert.equal(plain.path, '/models/gemini-2.5-flash:generateContent');
  assert.equal(plain.headers['x-goog-api-key'], 'AIza-test');
  assert.equal(plain.headers['content-type'], 'application/json');
  assert.deepEqual(plain.json, { contents: [{ role: 'user', parts: [{ text: 'Hello' }] }] });
  const streamed = build({ messages: [{ role: 'user', content: 'Hello' }], stream: true }, { stream: true, model: 'models/gemini-2.5-pro' });
  assert.equal(streamed.path, '/models/gemini-2.5-pro:streamGenerateContent?alt=sse');
});

test('system/developer → systemInstruction; sampling → generationConfig', () => {
  const { json } = build({
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'developer', content: [{ type: 'text', text: 'Answer in French.' }] },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Salut' },
      { role: 'user', content: 'Again' },
    ],
    temperature: 1.2, top_p: 0.9, top_k: 40, max_tokens: 999, max_completion_tokens: 300, stop: ['END', 'STOP'],
    presence_penalty: 0.5, frequency_penalty: 0.25, seed: 42,
  });
  assert.deepEqual(json, {
    contents: [
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Salut' }] },
      { role: 'user', parts: [{ text: 'Again' }] },
    ],
    systemInstruction: { parts: [{ text: 'You are terse.' }, { text: 'Answer in French.' }] },
    generationConfig: { stopSequences: ['END', 'STOP'], maxOutputTokens: 300, temperature: 1.2, topP: 0.9, topK: 40, presencePenalty: 0.5, frequencyPenalty: 0.25, seed: 42 },
  });
  assert.deepEqual(build({ messages: [{ role: 'user', content: 'x' }], stop: 'END', max_tokens: 10 }).json.generationConfig, { stopSequences: ['END'], maxOutputTokens: 10 });
});

test('consecutive same-role turns merge', () => {
  const { json } = build({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'assistant', content: 'c' }, { role: 'assistant', content: null }] });
  assert.deepEqual(json.contents, [{ role: 'user', parts: [{ text: 'a' }, { text: 'b' }] }, { role: 'model', parts: [{ text: 'c' }] }]);
});

test('tools and tool_choice', () => {
  const base = { messages: [{ role: 'user', content: 'weather?' }], tools: [weatherTool] };
  const { json } = build(base);
  assert.deepEqual(json.tools, [{ functionDeclarations: [{ name: 'get_weather', description: 'Get the weather', parametersJsonSchema: weatherTool.function.parameters }] }]);
  assert.equal(json.toolConfig, undefined);
  assert.equal(build({ ...base, tool_choice: 'auto' }).json.toolConfig, undefined);
  assert.deepEqual(build({ ...base, tool_choice: 'none' }).json.toolConfig, { functionCallingConfig: { mode: 'NONE' } });
  assert.deepEqual(build({ ...base, tool_choice: 'required' }).json.toolConfig, { functionCallingConfig: { mode: 'ANY' } });
  assert.deepEqual(build({ ...base, tool_choice: { type: 'function', function: { name: 'get_weather' } } }).json.toolConfig, { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] } });
  assert.deepEqual(build({ ...base, tools: [{ type: 'function', function: { name: 'now' } }] }).json.tools, [{ functionDeclarations: [{ name: 'now' }] }]);
  assert.equal(build({ ...base, parallel_tool_calls: false }).json.toolConfig, undefined);
  unsupported({ ...base, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice');
  unsupported({ messages: base.messages, tool_choice: 'required' }, 'tool_choice');
  unsupported({ ...base, tools: [{ type: 'custom', custom: { name: 'x' } }] }, 'tools[0].type');
});

test('tool calls and results: functionCall / functionResponse paired by name via tool_call_id', () => {
  const { json } = build({
    tools: [weatherTool],
    messages: [
      { role: 'user', content: 'Weather in SF and Paris?' },
      {
        role: 'assistant', content: 'Let me check.', tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"SF"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c": 15}' },
      { role: 'tool', tool_call_id: 'call_2', content: '14:05' },
      { role: 'user', content: 'Thanks' },
    ],
  });
  assert.deepEqual(json.contents, [
    { role: 'user', parts: [{ text: 'Weather in SF and Paris?' }] },
    { role: 'model', parts: [{ text: 'Let me check.' }, { functionCall: { id: 'call_1', name: 'get_weather', args: { location: 'SF' } } }, { functionCall: { id: 'call_2', name: 'get_time', args: {} } }] },
    { role: 'user', parts: [
      { functionResponse: { id: 'call_1', name: 'get_weather', response: { temp_c: 15 } } },
      { functionResponse: { id: 'call_2', name: 'get_time', response: { output: '14:05' } } },
      { text: 'Thanks' },
    ] },
  ]);
  unsupported({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'call_unknown', content: 'r' }] }, 'messages[1].tool_call_id');
  unsupported({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] }, 'messages[1].tool_calls[0].function.arguments');
});

test('thought signatures come back from the tool call id (or extra_content); Gemini 3 gets the placeholder otherwise', () => {
  const sig = 'CiQB0e2Kb7Ls2j5Jm3QyV3n8yCjT0Q1i6mRkq7cR6Hq9bWx0dH4KUgHR7YpH3vRz1mYq8tZ2Lw==';
  const messages = (calls: any[]) => [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content: null, tool_calls: calls },
    ...calls.map((c) => ({ role: 'tool', tool_call_id: c.id, content: 'sunny' })),
  ];
  const fromId = build({ messages: messages([
    { id: `call_abc__ts__${sig}`, type: 'function', function: { name: 'get_weather', arguments: '{"location":"SF"}' } },
    { id: 'call_def', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } },
  ]) }, { model: 'gemini-3-pro-preview' }).json;
  assert.deepEqual(fromId.contents[1].parts, [
    { functionCall: { id: 'call_abc', name: 'get_weather', args: { location: 'SF' } }, thoughtSignature: sig },
    { functionCall: { id: 'call_def', name: 'get_weather', args: { location: 'Paris' } } },
  ]);
  const fromExtra = build({ messages: messages([{ id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{}' }, extra_content: { google: { thought_signature: sig } } }]) }, { model: 'gemini-3-pro-preview' }).json;
  assert.equal(fromExtra.contents[1].parts[0].thoughtSignature, sig);
  const foreign = build({ messages: messages([{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{}' } }]) }, { model: 'gemini-3-flash-preview' }).json;
  assert.equal(foreign.contents[1].parts[0].thoughtSignature, 'skip_thought_signature_validator');
  const old = build({ messages: messages([{ id: 'toolu_01', type: 'function', function: { name: 'get_weather', arguments: '{}' } }]) }, { model: 'gemini-2.5-flash' }).json;
  assert.equal(old.contents[1].parts[0].thoughtSignature, undefined);
});

test('image_url: data URI → inlineData, URL → fileData with guessed mimeType; audio and files', () => {
  const { json } = build({
    messages: [{
      role: 'user', content: [
        { type: 'text', text: 'Describe' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'image_url', image_url: { url: 'https://upload.wikimedia.org/a/a7/Camponotus_flavomarginatus_ant.JPG?x=1' } },
        { type: 'image_url', image_url: { url: 'https://example.com/render?id=7' } },
        { type: 'image_url', image_url: { url: 'https://example.com/photo.webp' } },
        { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
        { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
      ],
    }],
  });
  assert.deepEqual(json.contents[0].parts, [
    { text: 'Describe' },
    { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
    { fileData: { mimeType: 'image/jpeg', fileUri: 'https://upload.wikimedia.org/a/a7/Camponotus_flavomarginatus_ant.JPG?x=1' } },
    { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/render?id=7' } },
    { fileData: { mimeType: 'image/webp', fileUri: 'https://example.com/photo.webp' } },
    { inlineData: { mimeType: 'audio/wav', data: 'UklGRg==' } },
    { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
  ]);
  unsupported({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }, 'messages[0].content[0].image_url.url');
  unsupported({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-1' } }] }] }, 'messages[0].content[0].file');
});

test('response_format → responseMimeType + responseJsonSchema', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false };
  assert.deepEqual(build({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'w', strict: true, schema } } }).json.generationConfig, { responseMimeType: 'application/json', responseJsonSchema: schema });
  assert.deepEqual(build({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_object' } }).json.generationConfig, { responseMimeType: 'application/json' });
  assert.equal(build({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'text' } }).json.generationConfig, undefined);
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'regex' } }, 'response_format');
  unsupported({ messages: [{ role: 'user', content: 'x' }], response_format: { type: 'json_schema', json_schema: { name: 'w' } } }, 'response_format');
});

test('reasoning_effort → thinkingConfig (budget on 2.x, level on 3)', () => {
  const m = [{ role: 'user', content: 'x' }];
  assert.deepEqual(build({ messages: m, reasoning_effort: 'medium' }).json.generationConfig, { thinkingConfig: { thinkingBudget: 8192, includeThoughts: true } });
  assert.deepEqual(build({ messages: m, reasoning_effort: 'none' }).json.generationConfig, { thinkingConfig: { thinkingBudget: 0 } });
  assert.deepEqual(build({ messages: m, reasoning_effort: 'high' }, { model: 'gemini-3-pro-preview' }).json.generationConfig, { thinkingConfig: { thinkingLevel: 'high', includeThoughts: true } });
  unsupported({ messages: m, reasoning_effort: 'none' }, 'reasoning_effort', 'gemini-3-pro-preview');
  unsupported({ messages: m, reasoning_effort: 'max' }, 'reasoning_effort');
});

test('Gemma, LearnLM and gemini-exp models get thinkingBudget, not the Gemini 3 thinkingLevel', () => {
  const m = [{ role: 'user', content: 'x' }];
  for (const model of ['gemma-3-27b-it', 'models/gemma-3n-e4b-it', 'gemini-exp-1206', 'learnlm-2.0-flash-experimental', 'gemini-2.5-pro']) {
    assert.deepEqual(build({ messages: m, reasoning_effort: 'low' }, { model }).json.generationConfig, { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } }, model);
  }
  for (const model of ['gemini-3-flash-preview', 'models/gemini-3.1-pro-preview', 'gemini-10-ultra', 'gemini-flash-latest']) {
    assert.equal(build({ messages: m, reasoning_effort: 'low' }, { model }).json.generationConfig.thinkingConfig.thinkingLevel, 'low', model);
  }
});

test('fields Gemini cannot honour raise UnsupportedFieldError naming the field', () => {
  const m = [{ role: 'user', content: 'x' }];
  for (const [field, value] of [
    ['n', 3], ['logprobs', true], ['top_logprobs', 2], ['logit_bias', { '1': 5 }], ['audio', { voice: 'alloy' }],
    ['modalities', ['audio']], ['prediction', { type: 'content' }], ['function_call', 'auto'], ['verbosity', 'low'], ['brand_new', 1],
  ] as const) {
    assert.throws(() => build({ messages: m, [field]: value }), (err: any) => err instanceof UnsupportedFieldError && err.param === field && err.message.includes(field), field);
  }
  const ok = build({ messages: m, n: 1, logprobs: false, logit_bias: {}, modalities: ['text'], user: 'u', metadata: {}, store: true, parallel_tool_calls: false, presence_penalty: 0 }).json;
  assert.deepEqual(Object.keys(ok), ['contents']);
  unsupported({ messages: [{ role: 'function', content: 'x' }] }, 'messages[0].role');
});

test('with no cap from the body, the plan or the model, the output reserved is sent as maxOutputTokens; a model with a cap of its own is left to it', () => {
  const call = (extra: Record<string, number>) =>
    JSON.parse(geminiAdapter.buildChatRequest({ body: { messages: [{ role: 'user', content: 'x' }] }, upstreamModel: 'gemini-2.5-flash', stream: false, ...extra }, provider).body).generationConfig;
  assert.deepEqual(call({ reservedOutputTokens: 16_384 }), { maxOutputTokens: 16_384 });
  assert.equal(call({ reservedOutputTokens: 65_536, modelMaxOutputTokens: 65_536 })?.maxOutputTokens, undefined);
  assert.deepEqual(call({ maxOutputTokens: 500, reservedOutputTokens: 500, modelMaxOutputTokens: 65_536 }), { maxOutputTokens: 500 });
});

test('an empty last user message is a 400 naming it, not dropped (the conversation would end on the model turn)', () => {
  const turn = [{ role: 'user', content: 'Say hello' }, { role: 'assistant', content: 'Hello' }];
  unsupported({ messages: [...turn, { role: 'user', content: '' }] }, 'messages[2].content');
  unsupported({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, 'messages[0].content');
  assert.deepEqual(build({ messages: [...turn, { role: 'user', content: 'Again' }, { role: 'user', content: '' }] }).json.contents.at(-1), { role: 'user', parts: [{ text: 'Again' }] });
});

test('a thinking budget fits under the output cap the gateway chose, leaving room for the answer; a cap the client set is left as asked', () => {
  const gen = (body: Record<string, any>, extra: Record<string, number> = {}) =>
    JSON.parse(geminiAdapter.buildChatRequest({ body: { messages: [{ role: 'user', content: 'x' }], ...body }, upstreamModel: 'gemini-2.5-flash', stream: false, ...extra }, provider).body).generationConfig;
  const imposed = gen({ reasoning_effort: 'high' }, { reservedOutputTokens: 16_384 });
  assert.equal(imposed.maxOutputTokens, 16_384);
  assert.equal(imposed.thinkingConfig.thinkingBudget, 16_384 - 4096);
  const small = gen({ reasoning_effort: 'high' }, { maxOutputTokens: 1000, reservedOutputTokens: 1000 });
  assert.deepEqual([small.maxOutputTokens, small.thinkingConfig.thinkingBudget], [1000, 500]);
  const asked = gen({ reasoning_effort: 'high', max_tokens: 2000 });
  assert.deepEqual([asked.maxOutputTokens, asked.thinkingConfig.thinkingBudget], [2000, 24_576]);
});
