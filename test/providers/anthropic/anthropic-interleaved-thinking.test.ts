import { test } from 'node:test';
import assert from 'node:assert/strict';
import { anthropicAdapter } from '../../../src/providers/anthropic/adapter.ts';
import type { ProviderConfig } from '../../../src/config/schema.ts';
import { chunks, joined, translateSse } from './translate-sse.ts';

// With interleaved thinking (and on any turn where the model's thinking is partly
// redacted) one assistant turn holds several thinking / redacted_thinking blocks, each
// thinking block under its own signature. Anthropic answers 400 to the next request of the
// tool loop unless all of them come back unmodified and in order; the gateway used to
// join every thinking text under the first block's signature and drop redacted blocks.

const provider: ProviderConfig = { id: 'a', kind: 'anthropic' as any, base_url: 'http://x', api_key: 'k', headers: {}, timeout_ms: 1000, max_tokens_field: 'max_tokens', breaker: { failures: 5, cooldown_ms: 10_000 }, zero_retention: false, simulated: false } as ProviderConfig;
const MODEL = 'claude-sonnet-4-5-20250929';
const SIG_A = 'EqQBCgIYAhIMaaaa+/bbbb==';
const SIG_B = 'ErUBCgIYAhIMcccc/+dddd=';
const REDACTED = 'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP==';

// thinking → text → tool_use → redacted_thinking → thinking → tool_use, as Anthropic sends it.
const CONTENT = [
  { type: 'thinking', thinking: 'First I look up Paris.', signature: SIG_A },
  { type: 'text', text: 'Checking both cities.' },
  { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
  { type: 'redacted_thinking', data: REDACTED },
  { type: 'thinking', thinking: 'Now Rome, ünïcode too.', signature: SIG_B },
  { type: 'tool_use', id: 'toolu_01B', name: 'get_weather', input: { city: 'Rome' } },
];

function sse(): string {
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  let s = ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: MODEL, usage: { input_tokens: 10, output_tokens: 1 } } });
  CONTENT.forEach((b, index) => {
    if (b.type === 'thinking') {
      s += ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      s += ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: b.thinking!.slice(0, 7) } });
      s += ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: b.thinking!.slice(7) } });
      s += ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'text') {
      s += ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
      s += ev('content_block_delta', { index, delta: { type: 'text_delta', text: b.text } });
    } else if (b.type === 'redacted_thinking') {
      s += ev('content_block_start', { index, content_block: b });
    } else {
      s += ev('content_block_start', { index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } });
      s += ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } });
    }
    s += ev('content_block_stop', { index });
  });
  s += ev('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 90 } });
  return s + ev('message_stop', {});
}

/** The next request of the tool loop, with the assistant message as an OpenAI client echoes it. */
function nextTurn(assistant: Record<string, any>) {
  const calls: any[] = assistant.tool_calls;
  const req = anthropicAdapter.buildChatRequest({
    upstreamModel: MODEL,
    stream: false,
    body: {
      reasoning_effort: 'low',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        assistant,
        { role: 'tool', tool_call_id: calls[0].id, content: '18 C' },
        { role: 'tool', tool_call_id: calls[1].id, content: '24 C' },
      ],
    },
  }, provider);
  return JSON.parse(req.body);
}

function assertEchoedExactly(sent: any) {
  assert.deepEqual(sent.messages[1].content, CONTENT);
  assert.deepEqual(sent.messages[2].content.map((b: any) => b.tool_use_id), ['toolu_01A', 'toolu_01B']);
}

test('non-streaming: every thinking and redacted_thinking block comes back in place with its own signature', () => {
  const { body } = anthropicAdapter.parseChatResponse({ id: 'msg_1', type: 'message', role: 'assistant', model: MODEL, content: CONTENT, stop_reason: 'tool_use', usage: { input_tokens: 10, output_tokens: 90 } });
  const msg = body.choices[0].message;
  assert.equal(msg.reasoning_content, 'First I look up Paris.Now Rome, ünïcode too.');
  assert.equal(msg.content, 'Checking both cities.');
  assertEchoedExactly(nextTurn({ role: 'assistant', content: msg.content, reasoning_content: msg.reasoning_content, tool_calls: msg.tool_calls }));
});

test('streaming: the same blocks come back from the accumulated deltas', () => {
  const items = translateSse(sse(), anthropicAdapter.createStreamTranslator({ body: { messages: [] }, upstreamModel: MODEL, stream: true }));
  const calls: any[] = [];
  for (const c of chunks(items)) for (const d of c.choices[0].delta.tool_calls ?? []) {
    if (d.id) calls[d.index] = { id: d.id, type: 'function', function: { name: d.function.name, arguments: d.function.arguments } };
    else calls[d.index].function.arguments += d.function.arguments;
  }
  assert.equal(calls.length, 2);
  assertEchoedExactly(nextTurn({ role: 'assistant', content: joined(items, 'content'), reasoning_content: joined(items, 'reasoning_content'), tool_calls: calls }));
});

test('a client that does not echo reasoning_content still sends the redacted block back', () => {
  const { body } = anthropicAdapter.parseChatResponse({ id: 'msg_1', type: 'message', role: 'assistant', model: MODEL, content: [{ type: 'redacted_thinking', data: REDACTED }, CONTENT[2]], stop_reason: 'tool_use', usage: { input_tokens: 10, output_tokens: 90 } });
  const msg = body.choices[0].message;
  const calls = msg.tool_calls;
  const sent = JSON.parse(anthropicAdapter.buildChatRequest({ upstreamModel: MODEL, stream: false, body: { messages: [{ role: 'user', content: 'Paris?' }, { role: 'assistant', content: null, tool_calls: calls }, { role: 'tool', tool_call_id: calls[0].id, content: '18 C' }] } }, provider).body);
  assert.deepEqual(sent.messages[1].content, [{ type: 'redacted_thinking', data: REDACTED }, CONTENT[2]]);
});
