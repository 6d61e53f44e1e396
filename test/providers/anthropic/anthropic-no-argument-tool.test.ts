import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { startTestGateway } from '../../helpers/gateway.ts';

// A tool called without arguments: Anthropic streams its input as no input_json_delta
// text at all (or one with partial_json ""), where OpenAI streams "{}". A client that
// adds up the deltas got "" for the arguments, which JSON.parse (the OpenAI SDK's tool
// runner, most agents) refuses; the non-streamed answer already said "{}".

const MODEL = 'claude-sonnet-4-5-20250929';
const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const SSE = [
  event('message_start', { message: { id: 'msg_noargs', type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 40, output_tokens: 1 } } }),
  event('content_block_start', { index: 0, content_block: { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: {} } }),
  event('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '' } }),
  event('content_block_stop', { index: 0 }),
  event('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_date', name: 'get_date', input: {} } }),
  event('content_block_stop', { index: 1 }),
  event('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_weather', name: 'get_weather', input: {} } }),
  event('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json: '{"city": "Paris"}' } }),
  event('content_block_stop', { index: 2 }),
  event('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } }),
  event('message_stop', {}),
].join('');
const JSON_ANSWER = {
  id: 'msg_noargs', type: 'message', role: 'assistant', model: MODEL, stop_reason: 'tool_use', stop_sequence: null, usage: { input_tokens: 40, output_tokens: 30 },
  content: [
    { type: 'tool_use', id: 'toolu_time', name: 'get_time', input: {} },
    { type: 'tool_use', id: 'toolu_date', name: 'get_date', input: {} },
    { type: 'tool_use', id: 'toolu_weather', name: 'get_weather', input: { city: 'Paris' } },
  ],
};

test('a streamed tool call without arguments adds up to "{}", as OpenAI streams it and as the non-streamed answer says', async (t) => {
  const upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (JSON.parse(raw).stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(SSE);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(JSON_ANSWER));
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const tg = await startTestGateway({
    config: {
      providers: [{ id: 'anthropic', kind: 'anthropic', base_url: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, api_key: 'sk-ant-upstream-key' }],
      models: [{ id: 'claude', upstreams: [{ provider: 'anthropic', model: MODEL }], pricing: { input: '3', output: '15' } }],
    },
  });
  t.after(async () => {
    await tg.close();
    upstream.closeAllConnections();
    await new Promise<void>((r) => upstream.close(() => r()));
  });
  const { key } = await tg.customer();
  const client = new OpenAI({ baseURL: `${tg.url}/v1`, apiKey: key, maxRetries: 0 });
  const tools: OpenAI.Chat.ChatCompletionTool[] = ['get_time', 'get_date', 'get_weather'].map((name) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } }));
  const body = { model: 'claude', messages: [{ role: 'user' as const, content: 'time, date and weather?' }], tools };
  const streamed = await client.chat.completions.stream(body).finalChatCompletion();
  const answered = await client.chat.completions.create(body);
  const args = (c: OpenAI.Chat.ChatCompletion) => c.choices[0]!.message.tool_calls!.map((call) => (call as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function.arguments);
  assert.deepEqual(args(streamed).map((a) => JSON.parse(a)), [{}, {}, { city: 'Paris' }]);
  assert.deepEqual(args(streamed), ['{}', '{}', '{"city": "Paris"}']);
  assert.deepEqual(args(answered).map((a) => JSON.parse(a)), [{}, {}, { city: 'Paris' }]);
  assert.equal(streamed.choices[0]!.finish_reason, 'tool_calls');
});
