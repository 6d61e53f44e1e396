// What reading upstream and client bytes as byte strings saves, against decoding them
// as UTF-8 (src/protocol/byte-strings.ts), in a loop over the gateway's own functions:
//
//   taskset -c 0 node bench/encodings.ts
//
// For each of the three places the gateway handles bytes (a 20-frame stream through
// the SSE splitter and the model rewrite; a non-streaming answer parsed and edited; a
// request body parsed, edited and sent on), the same work is timed both ways, on ASCII
// text and on Chinese text. Each figure includes turning the result into the bytes that
// are written, as node:http and the upstream pool do. See docs/architecture.md.

import { SseFrames } from '../src/gateway/sse-frames.ts';
import { replaceQuoted } from '../src/protocol/json-text.ts';
import { withTopLevelMembers } from '../src/protocol/json-members.ts';
import { openaiAdapter } from '../src/providers/openai/adapter.ts';
import type { StreamItem } from '../src/providers/types.ts';

type Encoding = 'utf8' | 'latin1';

function stream(content: string): Buffer {
  const head = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"up-model","system_fingerprint":"fp",`;
  let out = '';
  for (let i = 0; i < 20; i++) out += `data: ${head}"choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
  out += `data: ${head}"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}\n\n`;
  return Buffer.from(out + 'data: [DONE]\n\n');
}

function relay(buf: Buffer, enc: Encoding): number {
  const items: StreamItem[] = [];
  new SseFrames(openaiAdapter.createStreamTranslator({} as never), items).feed(enc === 'utf8' ? new TextDecoder().decode(buf, { stream: true }) : buf.toString('latin1'));
  let out = '';
  for (const it of items) if (it.kind === 'frames') out += replaceQuoted(it.text, '"model":"up-model"', '"model":"public"');
  return Buffer.from(out + 'data: [DONE]\n\n', enc).length;
}

function answer(content: string): Buffer {
  const usage = { prompt_tokens: 9, completion_tokens: 120, total_tokens: 129 };
  return Buffer.from(JSON.stringify({ id: 'c1', object: 'chat.completion', created: 1, model: 'up-model', choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }], usage }));
}

function edit(buf: Buffer, enc: Encoding): number {
  const text = buf.toString(enc);
  const json = JSON.parse(text) as { usage: object };
  const out = withTopLevelMembers(text, { model: 'public', usage: { ...json.usage, cost: '0.0000123' } })!;
  return Buffer.from(out, enc).length;
}

function request(content: string): Buffer {
  const messages = Array.from({ length: 20 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${content} "quoted" \n code();` }));
  return Buffer.from(JSON.stringify({ messages, model: 'public', stream: true, temperature: 0.2 }));
}

function forward(buf: Buffer, enc: Encoding): number {
  const text = buf.toString('utf8');
  JSON.parse(text); // validation and admission read the text either way
  const changes = { model: 'up-model', stream_options: { include_usage: true } };
  const out = enc === 'utf8' ? withTopLevelMembers(text, changes)! : withTopLevelMembers(buf.toString('latin1'), changes, true)!;
  return Buffer.from(out, enc).length;
}

function time(f: (b: Buffer, e: Encoding) => number, buf: Buffer, enc: Encoding, n: number): string {
  for (let i = 0; i < n / 2; i++) f(buf, enc);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) f(buf, enc);
  return (Number(process.hrtime.bigint() - t0) / n / 1000).toFixed(1);
}

const ASCII = 'This answer is about gateway performance, in plain words. ';
const CHINESE = '这是一个关于网关性能的回答，其中包含了很多中文字符。';
const cases: Array<[string, (b: Buffer, e: Encoding) => number, Buffer, number]> = [
  ['stream, 20 frames, ASCII', relay, stream(' hello world'), 50_000],
  ['stream, 20 frames, Chinese', relay, stream('你好，世界！这是一个测试。'), 50_000],
  ['answer, ASCII', edit, answer(ASCII.repeat(400)), 5_000],
  ['answer, Chinese', edit, answer(CHINESE.repeat(300)), 5_000],
  ['request, ASCII', forward, request('function add(a, b) { return a + b; } '.repeat(50)), 5_000],
  ['request, Chinese', forward, request('这是一个关于网关性能的问题，请详细回答。'.repeat(65)), 5_000],
];
console.log('case                         bytes   decoded µs   as bytes µs');
for (const [name, f, buf, n] of cases) {
  console.log(`${name.padEnd(27)} ${String(buf.length).padStart(6)}   ${time(f, buf, 'utf8', n).padStart(10)}   ${time(f, buf, 'latin1', n).padStart(11)}`);
}
